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
import time

import grpc
from snipwise.v1 import (admin_pb2, admin_pb2_grpc, mailbox_pb2,
                         mailbox_pb2_grpc, team_pb2, team_pb2_grpc)

import bench_mailbox as b

WAIT = 3600.0  # a backfill of N messages never takes longer


def backfill(binary, d, n):
    """Seconds for binary's snipd to ingest the N seeded messages."""
    top = tempfile.mkdtemp(prefix="sw-ab-")
    proc, addr, admin_key = b.start_snipd(binary, top)
    try:
        ch = grpc.insecure_channel(addr)
        md = (("authorization", "Bearer " + admin_key),)
        t = admin_pb2_grpc.AdminServiceStub(ch).CreateTeam(
            admin_pb2.CreateTeamRequest(display_name="Bench"), metadata=md)
        md = (("authorization", "Bearer " + t.api_key),)
        team_pb2_grpc.TeamServiceStub(ch).AddTeamMember(
            team_pb2.AddTeamMemberRequest(
                member=team_pb2.TeamMember(email=b.REP)), metadata=md)
        mbx = mailbox_pb2_grpc.MailboxServiceStub(ch)
        t0 = time.monotonic()
        mid = mbx.CreateMailbox(mailbox_pb2.CreateMailboxRequest(
            rep_email=b.REP, host="127.0.0.1", port=d.port,
            tls_mode=mailbox_pb2.TLS_MODE_PLAIN_INSECURE_LOOPBACK_ONLY,
            username=b.REP, auth=mailbox_pb2.MailboxAuth(password=b.PASSWORD),
            folders=["INBOX"]), metadata=md).mailbox_id
        done = 0
        while done < n:
            if time.monotonic() - t0 > WAIT:
                raise SystemExit("backfill of %d messages timed out" % n)
            m = mbx.GetMailbox(mailbox_pb2.GetMailboxRequest(mailbox_id=mid),
                               metadata=md)
            done = sum(f.messages_ingested for f in m.folders)
            time.sleep(0.02)
        dt = time.monotonic() - t0
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
                res[k].append(n / backfill(bins[k], d, n))
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
