"""Mailbox sync against a plain IMAP client (issue 16), in one run on one
local Dovecot: N messages APPENDed to a rep's INBOX, then
  - the reference: Python's imaplib fetching all of them (UID FETCH
    BODY.PEEK[] in batches of 500), messages/s;
  - snipd: a mailbox created for the rep, timed from CreateMailbox until
    GetMailbox counts N ingested, messages/s (fetch, parse, store; the
    extraction worker runs behind);
  - while snipd waits in IDLE, K more messages APPENDed one at a time,
    each an outbound mail of the rep (From the rep, so a member: the
    pipeline makes it outbound; in the INBOX, the folder IDLE watches)
    with an attachment and a framing sentence carrying a word of its own;
    for each, from the APPEND's start (polling every 10 ms): the delay
    until GetEmail finds it by its Message-ID (ingested), and the delay
    until SearchSnippets, queried with that sentence, returns its framing
    (searchable: extraction worker, commit, index); p50/p99 of each, a
    snippet not found within SEARCH_BOUND_S counts as missing. A random
    pause of 0-250 ms (fixed seed) comes before each APPEND, so that the
    APPENDs do not keep one phase against snipd's polls (the extraction
    worker's 200 ms when idle);
  - the same delay for a plain IDLE client on a socket (APPEND to the
    server's "* n EXISTS"), K messages: Dovecot's own share of it.
BENCH_LOG_LEVEL (default warn) is snipd's --log-level; with debug its
log (left in the printed directory) has one event=mailbox.idle_synced
line per IDLE wake-up: DONE and the sync that follows, in microseconds,
and the extraction worker's event=worker.group/worker.done lines. Each
message's APPEND start (wall clock) and both delays go to delays.tsv
beside the log, to line them up.
Usage (tests/bench/run_mailbox.sh does it):
  bench_mailbox.py SNIPD_BINARY N [K]
JSON on stdout; progress on stderr."""

import imaplib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
import dovecot_lib  # noqa: E402
from snipwise.v1 import (admin_pb2, admin_pb2_grpc, ingest_pb2,  # noqa: E402
                         ingest_pb2_grpc, mailbox_pb2, mailbox_pb2_grpc,
                         snippet_pb2, snippet_pb2_grpc, team_pb2,
                         team_pb2_grpc)

REP, PASSWORD = "rep@acme.example", "s3cret-pw"
SEARCH_BOUND_S = 30.0  # APPEND to searchable: longer counts as missing


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mail(i):
    body = ("Hi,\n\nfollowing up on our call %d: the pricing guide covers "
            "seats, volume discounts and the annual plan.\n\nBest,\nDana" % i)
    return dovecot_lib.message("bench-%d@prospect.example" % i,
                               "dana%d@prospect.example" % (i % 97), REP,
                               "Pricing question %d" % i, body)


def word(j):
    """A word of its own for message j: "zyq" and j in letters."""
    out = ""
    while True:
        out = chr(ord("a") + j % 26) + out
        j //= 26
        if j == 0:
            return "zyq" + out


def framing(j):
    """The sentence the builtin extractor makes message j's framing: an
    attachment cue ("attached") and its title words, plus word(j)."""
    return ("I've attached the pricing guide for the %s rollout, which "
            "covers seats, volume discounts and the annual plan." % word(j))


def sent_mail(i, j):
    """Message i, outbound: the rep's mail to a prospect, with a text
    attachment (the same bytes each time) and framing(j) in its body."""
    body = ("Hi Claire,\r\n\r\nThanks for your time today. %s\r\n\r\n"
            "Best,\r\nDana" % framing(j))
    att = ("Pricing guide. Plans start at $450 per month per team. Volume "
           "discounts reduce the seat price by 20% from 50 seats. The annual "
           "plan saves 15% over monthly billing.")
    return ("Message-ID: <bench-%d@acme.example>\r\nFrom: %s\r\n"
            "To: claire%d@prospect.example\r\nSubject: Pricing guide %d\r\n"
            "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n"
            "--b\r\nContent-Type: text/plain; charset=utf-8; "
            "name=\"pricing-guide.txt\"\r\nContent-Disposition: attachment; "
            "filename=\"pricing-guide.txt\"\r\n\r\n%s\r\n--b--\r\n" % (
                i, REP, i % 97, i, body, att)).encode("utf-8")


def seed(d, n):
    m = d.imap(REP)
    t0 = time.monotonic()
    for i in range(n):
        typ, data = m.append("INBOX", None, None, mail(i))
        assert typ == "OK", data
    m.logout()
    return time.monotonic() - t0


def reference(d, n):
    m = d.imap(REP)
    t0 = time.monotonic()
    m.select("INBOX", readonly=True)
    got = 0
    for lo in range(1, n + 1, 500):
        typ, data = m.uid("FETCH", "%d:%d" % (lo, min(n, lo + 499)),
                          "(BODY.PEEK[])")
        assert typ == "OK", data
        got += sum(1 for x in data if isinstance(x, tuple))
    dt = time.monotonic() - t0
    m.logout()
    assert got == n, (got, n)
    return dt


def idle_reference(d, n0, k):
    """APPEND to "* n EXISTS" on a plain IDLE session, k times (s)."""
    sock = socket.create_connection(("127.0.0.1", d.port), 10)
    f = sock.makefile("rb")

    def cmd(line, until):
        sock.sendall(line)
        while True:
            got = f.readline()
            assert got, "connection closed"
            if got.startswith(until):
                return got

    f.readline()  # greeting
    cmd(b'a LOGIN "%s" "%s"\r\n' % (REP.encode(), PASSWORD.encode()),
        b"a ")
    cmd(b"b SELECT INBOX\r\n", b"b ")
    cmd(b"c IDLE\r\n", b"+")
    out = []
    for j in range(k):
        c = d.imap(REP)
        t1 = time.monotonic()
        c.append("INBOX", None, None, mail(n0 + j))
        while not f.readline().rstrip().endswith(b"EXISTS"):
            pass
        out.append(time.monotonic() - t1)
        c.logout()
    cmd(b"DONE\r\n", b"c ")
    sock.close()
    return sorted(out)


def start_snipd(binary, top):
    port = free_port()
    p = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:%d" % port, "--data-dir",
         os.path.join(top, "data"), "--demo", "0", "--log-level",
         os.environ.get("BENCH_LOG_LEVEL", "warn"),
         "--access-log", "0", "--mailbox-poll-ms", "600000"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(top, "err"), "w"))
    key = os.path.join(top, "data", "admin.key")
    for _ in range(600):
        if os.path.exists(key):
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                pass
        time.sleep(0.1)
    with open(key, encoding="ascii") as f:
        return p, "127.0.0.1:%d" % port, f.read().strip()


def bench_team(ch, admin_key):
    """Makes a team with REP as its member on the snipd behind ch; returns
    the call metadata of its key."""
    md = (("authorization", "Bearer " + admin_key),)
    t = admin_pb2_grpc.AdminServiceStub(ch).CreateTeam(
        admin_pb2.CreateTeamRequest(display_name="Bench"), metadata=md)
    md = (("authorization", "Bearer " + t.api_key),)
    team_pb2_grpc.TeamServiceStub(ch).AddTeamMember(
        team_pb2.AddTeamMemberRequest(member=team_pb2.TeamMember(email=REP)),
        metadata=md)
    return md


def backfill(ch, md, d, n):
    """Connects REP's INBOX on Dovecot d to the team of md and waits until
    n messages are ingested (at most an hour); returns the mailbox id and
    the seconds from CreateMailbox."""
    mbx = mailbox_pb2_grpc.MailboxServiceStub(ch)
    t0 = time.monotonic()
    mid = mbx.CreateMailbox(mailbox_pb2.CreateMailboxRequest(
        rep_email=REP, host="127.0.0.1", port=d.port,
        tls_mode=mailbox_pb2.TLS_MODE_PLAIN_INSECURE_LOOPBACK_ONLY,
        username=REP, auth=mailbox_pb2.MailboxAuth(password=PASSWORD),
        folders=["INBOX"]), metadata=md).mailbox_id
    done = 0
    while done < n:
        assert time.monotonic() - t0 < 3600, "backfill took over an hour"
        m = mbx.GetMailbox(mailbox_pb2.GetMailboxRequest(mailbox_id=mid),
                           metadata=md)
        done = sum(f.messages_ingested for f in m.folders)
        time.sleep(0.02)
    return mid, time.monotonic() - t0


def main():
    binary, n = sys.argv[1], int(sys.argv[2])
    k = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    top = tempfile.mkdtemp(prefix="sw-bench-mbx-")
    d = dovecot_lib.Dovecot({REP: PASSWORD})
    d.start()
    proc = None
    try:
        log("seeding %d messages by APPEND ..." % n)
        seed_s = seed(d, n)
        ref_s = reference(d, n)
        log("imaplib: %d in %.2f s" % (n, ref_s))
        ref_idle = idle_reference(d, n, k)
        n_sync = n + k  # those are in the INBOX too: snipd backfills them
        proc, addr, admin_key = start_snipd(binary, top)
        ch = grpc.insecure_channel(addr)
        md = bench_team(ch, admin_key)
        mbx = mailbox_pb2_grpc.MailboxServiceStub(ch)
        mid, snipd_s = backfill(ch, md, d, n_sync)
        log("snipd: %d in %.2f s" % (n_sync, snipd_s))
        # APPEND to GetEmail and to SearchSnippets, snipd waiting in IDLE.
        ing = ingest_pb2_grpc.IngestServiceStub(ch)
        snip = snippet_pb2_grpc.SnippetServiceStub(ch)
        delays, found, missing = [], [], 0
        tsv = open(os.path.join(top, "delays.tsv"), "w", encoding="ascii")
        tsv.write("j\tappend_unix_s\tingested_ms\tsearchable_ms\n")
        rnd = random.Random(16)
        for j in range(k):
            i = n_sync + j
            msgid = "bench-%d@acme.example" % i
            query = snippet_pb2.SearchSnippetsRequest(
                text=framing(j), kinds=[snippet_pb2.SNIPPET_KIND_FRAMING],
                page_size=10)
            c = d.imap(REP)
            time.sleep(rnd.uniform(0, 0.25))
            wall = time.time()
            t1 = time.monotonic()
            c.append("INBOX", None, None, sent_mail(i, j))
            ingested = searchable = None
            while searchable is None:
                now = time.monotonic()
                if ingested is None:
                    try:
                        ing.GetEmail(ingest_pb2.GetEmailRequest(
                            message_id=msgid), metadata=md)
                        ingested = time.monotonic() - t1
                        continue  # search at once
                    except grpc.RpcError as e:
                        if e.code() != grpc.StatusCode.NOT_FOUND:
                            raise
                    assert now - t1 < 120, "mail never arrived"
                else:
                    r = snip.SearchSnippets(query, metadata=md)
                    if any(" %s " % word(j) in h.snippet.text
                           for h in r.results):
                        searchable = time.monotonic() - t1
                        break
                    if now - t1 > SEARCH_BOUND_S:
                        break
                time.sleep(0.01)
            delays.append(ingested)
            if searchable is None:
                missing += 1
                log("message %d: no snippet within %.0f s" % (
                    j, SEARCH_BOUND_S))
            else:
                found.append(searchable)
            tsv.write("%d\t%.3f\t%.1f\t%s\n" % (
                j, wall, 1000 * ingested,
                "-" if searchable is None else "%.1f" % (1000 * searchable)))
            c.logout()  # after, as in idle_reference
        tsv.close()
        delays.sort()
        found.sort()
        nf = len(found)
        out = {
            "messages": n, "seed_s": round(seed_s, 2),
            "imaplib_s": round(ref_s, 3),
            "imaplib_msgs_per_s": round(n / ref_s, 1),
            "snipd_s": round(snipd_s, 3),
            "snipd_msgs_per_s": round(n_sync / snipd_s, 1),
            "ratio_snipd_to_imaplib": round(n_sync / snipd_s / (n / ref_s),
                                            3),
            "append_to_ingested_ms_p50": round(1000 * delays[k // 2], 1),
            "append_to_ingested_ms_p99": round(
                1000 * delays[min(k - 1, int(k * 0.99))], 1),
            "idle_samples": k,
            "append_to_searchable_ms_p50": round(
                1000 * found[nf // 2], 1) if nf else None,
            "append_to_searchable_ms_p99": round(
                1000 * found[min(nf - 1, int(nf * 0.99))], 1) if nf else None,
            "searchable_samples": nf,
            "searchable_missing": missing,
            "plain_idle_append_to_exists_ms_p50": round(
                1000 * ref_idle[k // 2], 1),
            "plain_idle_append_to_exists_ms_p99": round(
                1000 * ref_idle[min(k - 1, int(k * 0.99))], 1),
        }
        print(json.dumps(out))
    finally:
        if proc:
            proc.terminate()
            proc.wait(30)
        d.cleanup()
        log("snipd's log: %s/err" % top)


if __name__ == "__main__":
    imaplib._MAXLINE = 10 ** 7  # noqa: SLF001 (large FETCH responses)
    main()
