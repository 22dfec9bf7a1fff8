#!/usr/bin/python3
"""The writer shared fairly (issue 14), on one snipd: another team's
IngestEmail latency while a large team is deleted, against the same
latency just before, in one run. Team A gets N emails through one
IngestEmails stream (bench_bulk_ingest's mail: a short body, a small text
attachment on every fifth); then team B sends one new email at a time,
first for a few seconds, then while DeleteTeam(A) runs. Prints JSON lines:
the deletion's time, and B's p50/p99/max before and during it.

Usage: bench_delete_team.py ADDR ADMIN_KEY N   (from run_delete_team.sh)"""

import json
import os
import random
import sys
import threading
import time

import grpc
from snipwise.v1 import admin_pb2, admin_pb2_grpc, ingest_pb2, ingest_pb2_grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_bulk_ingest import mail  # noqa: E402


def md(key):
    return (("authorization", "Bearer " + key),)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))] if xs else None


def summary(xs):
    return {"calls": len(xs), "p50_ms": round(pct(xs, 50) * 1e3, 2),
            "p99_ms": round(pct(xs, 99) * 1e3, 2),
            "max_ms": round(max(xs) * 1e3, 2)}


def small(i):
    raw = ("Message-ID: <b-%d@p.example>\r\nFrom: pat@p.example\r\n"
           "To: rep@b.example\r\nSubject: Question %d\r\n"
           "Date: Tue, 3 Mar 2026 10:00:00 +0000\r\n\r\nHello %d\r\n" %
           (i, i, i))
    return ingest_pb2.IngestEmailRequest(raw_mime=raw.encode())


def main(addr, admin_key, n):
    ch = grpc.insecure_channel(addr)
    admin = admin_pb2_grpc.AdminServiceStub(ch)
    ingest = ingest_pb2_grpc.IngestServiceStub(ch)
    a = admin.CreateTeam(admin_pb2.CreateTeamRequest(display_name="Big"),
                         metadata=md(admin_key), timeout=30)
    b = admin.CreateTeam(admin_pb2.CreateTeamRequest(display_name="Small"),
                         metadata=md(admin_key), timeout=30)
    rng = random.Random(7)
    t0 = time.perf_counter()
    r = ingest.IngestEmails(
        (ingest_pb2.IngestEmailRequest(raw_mime=mail(i, rng, "del"))
         for i in range(n)), metadata=md(a.api_key), timeout=3600)
    print(json.dumps({"team_a_emails": r.new_count,
                      "fill_s": round(time.perf_counter() - t0, 1)}))
    time.sleep(5)  # let the extraction of A's mail settle a little

    lat, phase, i = {"before": [], "during": []}, ["before"], [0]
    stop = threading.Event()

    def prober():
        while not stop.is_set():
            t = time.perf_counter()
            ingest.IngestEmail(small(i[0]), metadata=md(b.api_key),
                               timeout=120)
            lat[phase[0]].append(time.perf_counter() - t)
            i[0] += 1
    th = threading.Thread(target=prober)
    th.start()
    time.sleep(5)
    phase[0] = "during"
    t0 = time.perf_counter()
    admin.DeleteTeam(admin_pb2.DeleteTeamRequest(team_id=a.team.team_id),
                     metadata=md(admin_key), timeout=3600)
    took = time.perf_counter() - t0
    stop.set()
    th.join()
    print(json.dumps({"delete_team_s": round(took, 2)}))
    for k in ("before", "during"):
        print(json.dumps(dict(phase=k, **summary(lat[k]))))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
