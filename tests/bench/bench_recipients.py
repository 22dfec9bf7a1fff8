#!/usr/bin/python3
"""Inputs with linear cost (issue 14), on one snipd: the time of a parsed
IngestEmail against its number of recipients (To and Cc, N from 10 to
100,000: stored up to the 1,000 limit, refused above it), and the time of
each email of one thread of 50 mailings with 1,000 new recipients each
(the thread keeps at most 10,000 participants). Prints one JSON line per
point: a cost linear in N shows as a flat time per recipient, and a thread
whose emails do not slow down as it grows as a flat time per email.

Usage: bench_recipients.py ADDR ADMIN_KEY   (from run_recipients.sh)"""

import json
import statistics
import sys
import time

import grpc
from snipwise.v1 import admin_pb2, admin_pb2_grpc, ingest_pb2, ingest_pb2_grpc

REPS = 5


def md(key):
    return (("authorization", "Bearer " + key),)


def parsed(tag, addrs, subject, refs=()):
    half = len(addrs) // 2
    return ingest_pb2.IngestEmailRequest(parsed=ingest_pb2.ParsedEmail(
        message_id="<%s@bench.example>" % tag, subject=subject,
        from_address="rep@seller.example", to_addresses=addrs[:half],
        cc_addresses=addrs[half:], references=list(refs),
        sent_time_unix_ms=1772532000000,
        text_body="Our pricing guide is attached."))


def timed(ingest, key, req):
    t0 = time.perf_counter()
    try:
        ingest.IngestEmail(req, metadata=md(key), timeout=120)
        status = "stored"
    except grpc.RpcError as e:
        status = e.code().name
    return time.perf_counter() - t0, status


def main(addr, admin_key):
    ch = grpc.insecure_channel(addr, options=[
        ("grpc.max_send_message_length", 64 << 20)])
    admin = admin_pb2_grpc.AdminServiceStub(ch)
    key = admin.CreateTeam(admin_pb2.CreateTeamRequest(
        display_name="Recipients"), metadata=md(admin_key),
        timeout=30).api_key
    ingest = ingest_pb2_grpc.IngestServiceStub(ch)
    every = ["p%d@prospect%d.example" % (i, i % 97) for i in range(100000)]
    for n in (10, 100, 1000, 10000, 100000):
        secs, statuses = [], set()
        for r in range(REPS):
            s, st = timed(ingest, key,
                          parsed("n%d-%d" % (n, r), every[:n],
                                 "Mailing %d %d" % (n, r)))
            secs.append(s)
            statuses.add(st)
        med = statistics.median(secs)
        print(json.dumps({"recipients": n, "status": sorted(statuses),
                          "median_ms": round(med * 1e3, 2),
                          "us_per_recipient": round(med * 1e6 / n, 2)}))
    # One thread, 50 mailings of 1,000 new recipients each, each replying
    # to the first (References): the thread's participants grow to the
    # 10,000 it keeps, then stay.
    per = []
    for i in range(50):
        req = parsed("t%d" % i, every[i * 1000:(i + 1) * 1000], "Launch",
                     refs=["<t0@bench.example>"] if i else [])
        s, st = timed(ingest, key, req)
        assert st == "stored", st
        per.append(s)
    for lo in range(0, 50, 10):
        print(json.dumps({"thread_emails": "%d-%d" % (lo + 1, lo + 10),
                          "median_ms": round(statistics.median(
                              per[lo:lo + 10]) * 1e3, 2)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
