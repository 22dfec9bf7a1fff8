"""Two snipd binaries backfilling the same mailbox, interleaved (issue 16):
one local Dovecot seeded once with N messages, then each binary's backfill
of its INBOX timed in turn (a fresh data directory each time), ROUNDS
rounds alternating which goes first, with Python's imaplib fetching the
same messages once per round. On a machine others share, alternating is
what lets two builds be compared at all. JSON on stdout: messages/s per
binary and for imaplib, per round.

Usage (PYTHONPATH holding the Python stubs, as run_mailbox.sh sets it):
  bench_mailbox_ab.py N ROUNDS SNIPD_A SNIPD_B"""
import json
import os
import shutil
import sys
import tempfile

import grpc

import bench_mailbox as b


def timed(binary, d, n):
    """Seconds for binary's snipd to ingest the N seeded messages."""
    top = tempfile.mkdtemp(prefix="sw-ab-")
    proc, addr, admin_key = b.start_snipd(binary, top)
    try:
        ch = grpc.insecure_channel(addr)
        _, dt = b.backfill(ch, b.bench_team(ch, admin_key), d, n)
        ch.close()
        return dt
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(top, ignore_errors=True)


def main():
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    n, rounds = int(sys.argv[1]), int(sys.argv[2])
    b.imaplib._MAXLINE = 10 ** 7  # noqa: SLF001 (large FETCH responses)
    bins = {"a": sys.argv[3], "b": sys.argv[4]}
    d = b.dovecot_lib.Dovecot({b.REP: b.PASSWORD})
    d.start()
    try:
        b.seed(d, n)
        res = {"a": [], "b": [], "imaplib": []}
        for r in range(rounds):
            res["imaplib"].append(n / b.reference(d, n))
            for k in (["a", "b"] if r % 2 == 0 else ["b", "a"]):
                res[k].append(n / timed(bins[k], d, n))
                print("round %d %s %.0f/s load %.2f" % (
                    r, k, res[k][-1], os.getloadavg()[0]), file=sys.stderr,
                    flush=True)
        print(json.dumps({"binaries": bins,
                          **{k: [round(x) for x in v]
                             for k, v in res.items()}}))
    finally:
        d.cleanup()


if __name__ == "__main__":
    main()
