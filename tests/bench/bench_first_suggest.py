"""Restart to the first Suggest (issue 13): starts snipd on an existing data
dir (one a bench fill made: DATA/bench_team.key), waits for its port, then
asks Suggest every 50 ms and prints, as JSON lines, when the port listened,
when the first answer came (and whether its statistics were ready) and
when the first answer from the team's full statistics came.

Usage: PYTHONPATH=BAZEL_BIN/proto python3 bench_first_suggest.py SNIPD DATA
  [--first-only] [SNIPD_FLAG...]
--first-only stops at the first answer (the index load alone); the other
flags go to snipd serve, e.g. --stats-save-s 0 to start without the
statistics a previous run saved.
"""
import json
import os
import socket
import subprocess
import sys
import time

import grpc
from snipwise.v1 import suggest_pb2, suggest_pb2_grpc

LIMIT_S = 300


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    snipd, data = sys.argv[1], sys.argv[2]
    first_only = "--first-only" in sys.argv[3:]
    extra = [a for a in sys.argv[3:] if a != "--first-only"]
    key = open(os.path.join(data, "bench_team.key")).read().strip()
    port = free_port()
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [snipd, "serve", "--listen", "127.0.0.1:%d" % port, "--data-dir",
         data, "--demo", "0", "--log-level", "warn", "--access-log", "0"] +
        extra,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - t0 < LIMIT_S:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.005)
        print(json.dumps({"listening_ms": round((time.monotonic() - t0) * 1000)}))
        stub = suggest_pb2_grpc.SuggestServiceStub(
            grpc.insecure_channel("127.0.0.1:%d" % port))
        md = (("authorization", "Bearer " + key),)
        first = False
        while time.monotonic() - t0 < LIMIT_S:
            try:
                r = stub.Suggest(suggest_pb2.SuggestRequest(
                    draft_text="Happy to share our pricing and a case study"),
                    metadata=md, timeout=60)
            except grpc.RpcError:
                time.sleep(0.05)
                continue
            ms = round((time.monotonic() - t0) * 1000)
            if not first:
                first = True
                print(json.dumps({"first_answer_ms": ms,
                                  "ready": r.statistics.ready,
                                  "framings": len(r.framings)}))
                if first_only:
                    return 0
            if r.statistics.ready:
                print(json.dumps({"first_full_answer_ms": ms,
                                  "current": r.statistics.current}))
                return 0
            time.sleep(0.05)
        print(json.dumps({"error": "no full answer within %d s" % LIMIT_S}))
        return 1
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    sys.exit(main())
