"""Huge and malformed mail from the IMAP server (issue 16). A Dovecot
INBOX holds good mail with, between it, bytes that are not mail (binary
garbage with NUL bytes put straight into the Maildir, a body without any
header), a 30 MB message under snipd's limit and a 34 MB one over it.
The mailbox must ingest every good message (the 30 MB one included),
refuse each bad one once with its reason (a log line, the folder's
messages_rejected and last_rejected), move its cursor past them (no
retry loop; a restart fetches nothing again), refuse the over-size one
by its RFC822.SIZE without fetching it, and keep its memory bounded.
A commit that fails while the next batch is already begun stops the
cursor before it, whatever that next batch holds."""
import base64
import os
import random
import re

import pytest

import dovecot_lib
from snipwise.v1 import ingest_pb2
from test_mailbox import (REP, S, Team, dovecot,  # noqa: F401 (fixture)
                          folder, inbound, wait_for)

pytestmark = pytest.mark.skipif(
    not dovecot_lib.available(),
    reason="Dovecot is not installed (bazel/install_deps.sh installs "
    "dovecot-imapd)")

MB = 1000 * 1000
LIMIT = 32 << 20  # snipd's default --max-message-bytes, the pipeline's cap
WAIT = 60.0  # the whole backfill: 64 MB through Dovecot and the pipeline


def with_attachments(msg_id, subject, sizes, seed):
    """A multipart message whose attachments have these decoded sizes
    (random bytes, base64: 4/3 as many on the wire)."""
    rnd = random.Random(seed)
    b = "sw-boundary-%d" % seed
    head = ("From: Buyer <buyer@customer.example>\r\nTo: %s\r\n"
            "Subject: %s\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
            "Message-ID: <%s>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n"
            "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            "The recordings of both calls are attached.\r\n" %
            (REP, subject, msg_id, b, b)).encode()
    parts = [head]
    for i, n in enumerate(sizes):
        data = rnd.randbytes(n)
        parts.append(("--%s\r\nContent-Type: application/octet-stream\r\n"
                      "Content-Disposition: attachment; filename=\"call%d"
                      ".bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" %
                      (b, i)).encode())
        enc = base64.encodebytes(data).replace(b"\n", b"\r\n")
        parts.append(enc)
    parts.append(("--%s--\r\n" % b).encode())
    return b"".join(parts)


def garbage(seed, n=4096):
    """Binary bytes, NUL included: no header block at all."""
    return b"\x00\x01\xff" + random.Random(seed).randbytes(n)


# Damage GMime recovers from: ingested, with the defect recorded.
BROKEN_MIME = (b"From: Buyer <buyer9@customer.example>\r\nTo: " +
               REP.encode() + b"\r\nSubject: broken boundary\r\n"
               b"Message-ID: <broken@customer.example>\r\n"
               b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
               b"boundary=\"never-seen\"\r\n\r\n--not-the-boundary\r\n"
               b"Content-Type: text/plain\r\n\r\nThe parts never start"
               b" nor end.\r\n--also-not--\r\n")
HUGE_HEADER = (b"From: Buyer <buyer10@customer.example>\r\nTo: " +
               REP.encode() + b"\r\nSubject: one long header line\r\n"
               b"Message-ID: <longline@customer.example>\r\nX-Junk: " +
               b"x" * (2 * MB) + b"\r\n\r\nA 2 MB header line.\r\n")

NO_HEADERS = (b"\r\n\r\nThis text came without any header: no From, no "
              b"Date, no Message-ID.\r\n")


def sent_bytes(dovecot):
    """The bytes Dovecot sent over every IMAP session that ended (its
    logout lines' out=)."""
    with open(os.path.join(dovecot.dir, "dovecot.log"), encoding="utf-8",
              errors="replace") as f:
        return sum(int(x) for x in re.findall(r" out=(\d+)", f.read()))


def peak_rss(pid):
    """The process's peak resident set (VmHWM), in bytes."""
    with open("/proc/%d/status" % pid, encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM for %d" % pid)


def rejected_lines(text):
    """{uid: reason} of the event=mailbox.message_rejected lines."""
    out = {}
    for line in text.splitlines():
        if "event=mailbox.message_rejected" in line:
            uid = int(re.search(r" uid=(\d+)", line).group(1))
            assert uid not in out, "UID %d rejected twice:\n%s" % (uid, text)
            out[uid] = line
    return out


def test_huge_and_malformed_mail(dovecot, snipd_factory, monkeypatch):
    # Under ASan (--config=asan), freed blocks wait in a 256 MiB quarantine
    # before their memory is reused, which the peak-RSS bound below would
    # count; a small quarantine keeps the bound meaningful there too.
    if "ASAN_OPTIONS" in os.environ:
        monkeypatch.setenv("ASAN_OPTIONS",
                           os.environ["ASAN_OPTIONS"] + ":quarantine_size_mb=8")
    s = snipd_factory(args=["--mailbox-poll-ms", "300",
                            "--mailbox-timeout-s", "20"])
    team = Team(s)
    # UIDs in this order, one each (deliver_raw makes Dovecot assign the
    # UID before the next message arrives).
    plan = [
        ("good", inbound(0)),
        ("raw", garbage(1)),                      # UID 2: not mail
        ("good", inbound(1)),
        ("bad", NO_HEADERS),                      # UID 4: not mail
        ("good", with_attachments("big@customer.example", "30 MB",
                                  [11 * MB, 11 * MB], 5)),  # ~30 MB
        ("bad", with_attachments("huge@customer.example", "34 MB",
                                 [int(25.5 * MB)], 6)),     # over the limit
        ("good", inbound(2)),
        ("good", BROKEN_MIME),
        ("good", HUGE_HEADER),
        ("raw", garbage(10, 200)),                # UID 10: the last one
    ]
    for kind, raw in plan:
        if kind == "raw":
            dovecot.deliver_raw(REP, "INBOX", raw)
        else:
            dovecot.append(REP, "INBOX", raw)
    sizes = [len(raw) for _, raw in plan]
    assert 29 * MB < sizes[4] < LIMIT < sizes[5]
    n_good = sum(1 for kind, _ in plan if kind == "good")
    bad_uids = [i + 1 for i, (kind, _) in enumerate(plan) if kind != "good"]
    rss0 = peak_rss(s.proc.pid)

    mid = team.create(dovecot, folders=["INBOX"], backfill_days=-1)

    def done():
        m = team.get(mid)
        f = folder(m, "INBOX")
        return m if f and f.last_uid == len(plan) and m.last_sync_time_unix_ms \
            else None

    m = wait_for("the backfill past every message", done, timeout=WAIT)
    f = folder(m, "INBOX")
    assert m.last_error == "", m.last_error
    assert f.messages_ingested == n_good, f
    assert f.messages_rejected == len(bad_uids), f
    assert f.messages_seen == len(plan), f
    assert f.backlog == 0 and m.backlog == 0
    assert f.last_rejected.startswith("UID 10: no RFC 5322 header"), \
        f.last_rejected
    for i in range(3):
        assert team.email("in%d@customer.example" % i) is not None, i
    big = team.email("big@customer.example")
    assert big is not None
    assert team.email("huge@customer.example") is None
    assert team.email("broken@customer.example") is not None
    assert team.email("longline@customer.example") is not None

    # Each bad message was refused once, with its reason in the log.
    lines = rejected_lines(s.stderr)
    assert sorted(lines) == bad_uids, s.stderr
    for uid in (2, 4, 10):
        assert "err=SW_EPARSE" in lines[uid], lines[uid]
        assert 'reason="no RFC 5322 header block"' in lines[uid], lines[uid]
    assert "RFC822.SIZE" in lines[6] and "not fetched" in lines[6], lines[6]
    assert "over the limit of %d bytes" % LIMIT in lines[6], lines[6]

    # Memory stayed bounded: the 30 MB message is not held in many
    # copies at once, and the 34 MB one was never fetched.
    grown = peak_rss(s.proc.pid) - rss0
    assert grown < 5 * sizes[4], "peak RSS grew by %d bytes" % grown

    # No retry loop: three more passes over the folder refuse nothing again
    # and count nothing again.
    for _ in range(3):
        last = team.get(mid).last_sync_time_unix_ms
        wait_for("another pass", lambda last=last: team.get(
            mid).last_sync_time_unix_ms > last)
    assert sorted(rejected_lines(s.stderr)) == bad_uids
    assert folder(team.get(mid), "INBOX") == f

    # Nor does a restart: the cursor is past them all.
    s.stop()
    # Dovecot logs the bytes it sent each session when it ends: the 30 MB
    # message went once, the 34 MB one never.
    out = wait_for("the sessions' byte counts", lambda: (
        lambda n: n if n > sizes[4] else None)(sent_bytes(dovecot)))
    assert out < sizes[4] + sizes[5] // 2, out
    s.start()
    team.bind()
    first = team.get(mid).last_sync_time_unix_ms
    wait_for("a pass after the restart", lambda: team.get(
        mid).last_sync_time_unix_ms > first)
    assert rejected_lines(s.stderr) == {}, s.stderr
    assert folder(team.get(mid), "INBOX") == f


def test_failed_commit_with_the_next_batch_in_flight(dovecot, snipd_factory):
    """The backfill fetches and begins batch k+1 while batch k commits. When
    a commit of batch k fails (here: the team's content library is full),
    batch k+1's messages, already queued, commit without moving the
    cursor, and neither does the malformed message at its end: the cursor
    stops before the failed message, which is fetched again with all that
    follows once the cause is gone, and the repeats dedupe."""
    s = snipd_factory(args=["--mailbox-poll-ms", "300",
                            "--mailbox-timeout-s", "20",
                            "--content-quota-bytes", str(4 * MB)])
    team = Team(s)
    # Two 3.6 MB messages fill the first UID FETCH (8 MiB at most); the
    # second one's file does not fit in the quota. The 2 MB one starts the
    # next batch.
    a = with_attachments("qa@customer.example", "recording A",
                         [int(2.6 * MB)], 31)
    b = with_attachments("qb@customer.example", "recording B",
                         [int(2.6 * MB)], 32)
    p = HUGE_HEADER.replace(b"longline@", b"qp@")
    assert len(a) + len(b) < (8 << 20) < len(a) + len(b) + len(p)
    for raw in (a, b, p, inbound(1), inbound(2)):
        dovecot.append(REP, "INBOX", raw)
    dovecot.deliver_raw(REP, "INBOX", garbage(6, 300))  # UID 6
    mid = team.create(dovecot, folders=["INBOX"], backfill_days=-1)

    m = wait_for("the failed commit", lambda: (lambda m: m if m.state ==
                                               S.MAILBOX_STATE_BACKING_OFF
                                               else None)(team.get(mid)))
    assert m.last_error != ""
    # Batch 2 was begun before batch 1 ended: its mail is stored...
    assert team.email("qb@customer.example") is None
    for msg_id in ("qp@customer.example", "in1@customer.example",
                   "in2@customer.example"):
        assert team.email(msg_id) is not None, msg_id
    # ...but the cursor stopped before the failed message, with nothing
    # after it counted or stepped over (the malformed UID 6 neither).
    f = folder(m, "INBOX")
    assert (f.last_uid, f.messages_seen, f.messages_ingested,
            f.messages_rejected, f.backlog) == (1, 1, 1, 0, 5), f

    # Room in the library: the next sync fetches UIDs 2-6 again; the mail
    # batch 2 committed is found as duplicates, none stored twice.
    s.stop()
    s.args[s.args.index("--content-quota-bytes") + 1] = "0"
    s.start()
    team.bind()

    def done():
        m = team.get(mid)
        f = folder(m, "INBOX")
        return m if f and f.last_uid == 6 and m.last_error == "" else None

    m = wait_for("the backfill after the quota", done, timeout=WAIT)
    f = folder(m, "INBOX")
    assert (f.messages_seen, f.messages_ingested, f.messages_rejected,
            f.backlog) == (6, 2, 1, 0), f
    assert f.last_rejected.startswith("UID 6: "), f.last_rejected
    assert team.email("qb@customer.example") is not None
    threads = team.ingest.ListThreads(ingest_pb2.ListThreadsRequest(
        page_size=100)).threads
    assert sum(t.email_count for t in threads) == 5, threads
