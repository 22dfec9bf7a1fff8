"""Bulk ingest (issue 13): one IngestEmails stream of N new emails (a
backlog, as a first mailbox sync sends it) against a running snipd; prints
JSON lines: emails/s end to end (the stream's answer means every email is
committed), and the counts. The mails are generated here, unique, of the
size of a typical sales email (a short body, no attachment, or a small
text attachment on every fifth).

Usage: PYTHONPATH=BAZEL_BIN/proto python3 bench_bulk_ingest.py ADDR KEY N
"""
import json
import random
import sys
import time

import grpc
from snipwise.v1 import common_pb2, ingest_pb2, ingest_pb2_grpc

WORDS = ("pricing security onboarding proposal contract renewal discount "
         "meeting agenda quarter budget pilot integration timeline support "
         "migration rollout training invoice procurement review case study "
         "attached deck team seats").split()


def mail(i, rng, run):
    body = " ".join(rng.choice(WORDS) for _ in range(60 + rng.randrange(80)))
    head = ("Message-ID: <bulk-%s-%d@seller.example>\r\nFrom: rep%d@seller."
            "example\r\nTo: buyer%d@prospect%d.example\r\nSubject: %s %d\r\n"
            "Date: Tue, 3 Mar 2026 10:%02d:00 +0000\r\nMIME-Version: 1.0\r\n"
            % (run, i, i % 7, i, i % 50, rng.choice(WORDS).title(), i,
               i % 60))
    if i % 5:
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n"
                "Hi,\r\n\r\n" + body + "\r\n\r\nBest,\r\nRep\r\n").encode()
    att = " ".join(rng.choice(WORDS) for _ in range(200))
    return (head + "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHi,\r\n"
            "I've attached the notes.\r\n\r\n" + body + "\r\n--b\r\n"
            "Content-Type: text/plain; name=\"notes.txt\"\r\nContent-"
            "Disposition: attachment; filename=\"notes.txt\"\r\n\r\n" + att +
            "\r\n--b--\r\n").encode()


def main():
    addr, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    run = "%x" % random.getrandbits(32)
    rng = random.Random(1)
    mails = [mail(i, rng, run) for i in range(n)]
    stub = ingest_pb2_grpc.IngestServiceStub(grpc.insecure_channel(addr))
    md = (("authorization", "Bearer " + key),)
    reqs = (ingest_pb2.IngestEmailRequest(
        raw_mime=m, direction=common_pb2.DIRECTION_OUTBOUND) for m in mails)
    t0 = time.monotonic()
    r = stub.IngestEmails(reqs, metadata=md, timeout=600)
    s = time.monotonic() - t0
    print(json.dumps({"emails": n, "seconds": round(s, 3),
                      "emails_per_s": round(n / s, 1),
                      "new": r.new_count, "duplicate": r.duplicate_count,
                      "rejected": r.rejected_count,
                      "mb": round(sum(len(m) for m in mails) / 1e6, 1)}))
    return 0 if r.new_count == n else 1


if __name__ == "__main__":
    sys.exit(main())
