"""Email ingest over real gRPC: the whole shared corpus twice, direction
inference, thread linking on the talon replies, content dedupe, team
isolation, errors, `snipctl ingest` on a directory, an mbox and a Maildir,
and `snipd check` on the result."""

import collections
import json
import os
import subprocess

import grpc
from snipwise.v1 import common_pb2, ingest_pb2, snippet_pb2, team_pb2

from e2e_lib import (create_team, expect_error, scratch_dir, snipctl_path,
                     snipd_path)
from ingest_lib import Mail, corpus_dir, corpus_messages

NEW = ingest_pb2.INGEST_STATUS_NEW
DUP = ingest_pb2.INGEST_STATUS_DUPLICATE
REJ = ingest_pb2.INGEST_STATUS_REJECTED
OUT = common_pb2.DIRECTION_OUTBOUND
IN = common_pb2.DIRECTION_INBOUND
CLI_TIMEOUT = 300


def team(snipd, admin, name, members=(), domains=()):
    tid, key = create_team(admin, name)
    c = snipd.client(key)
    for m in members:
        c.team.AddTeamMember(team_pb2.AddTeamMemberRequest(
            member=team_pb2.TeamMember(email=m)))
    for d in domains:
        c.team.AddTeamDomain(team_pb2.AddTeamDomainRequest(domain=d))
    return tid, key, Mail(snipd, key)


def snipd_check(data_dir):
    r = subprocess.run([snipd_path(), "check", "--data-dir", data_dir],
                       capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    return r


def rejected_reasons(resp):
    reasons = collections.Counter()
    for it in resp.results:
        if it.status == REJ:
            assert it.reason, "rejected without a reason: %s" % it.client_ref
            reasons[it.reason] += 1
    return reasons


def test_corpus_twice(snipd, admin):
    _, _, m = team(snipd, admin, "Corpus")
    msgs = corpus_messages()
    assert len(msgs) > 400
    first = m.stream(msgs)
    total = first.new_count + first.duplicate_count + first.rejected_count
    assert total == len(msgs)
    reasons = rejected_reasons(first)
    print("\ncorpus pass 1: %d messages: new=%d duplicate=%d rejected=%d" %
          (len(msgs), first.new_count, first.duplicate_count,
           first.rejected_count))
    for r, n in reasons.most_common():
        print("  rejected %d x %s" % (n, r))
    assert sum(reasons.values()) == first.rejected_count
    # Most of the corpus is mail; what is rejected are the non-mail files
    # (licences, HTML fragments, bare reply texts, header-less mbox parts).
    assert first.new_count >= 300
    assert first.rejected_count <= 30
    rejected_refs = {it.client_ref for it in first.results
                     if it.status == REJ}
    assert any(r.endswith("COPYING") for r in rejected_refs)
    second = m.stream(msgs)
    print("corpus pass 2: new=%d duplicate=%d rejected=%d" %
          (second.new_count, second.duplicate_count, second.rejected_count))
    assert second.new_count == 0
    assert second.duplicate_count == first.new_count + first.duplicate_count
    assert second.rejected_count == first.rejected_count
    # Every message that was stored reads back, by email id and Message-ID.
    stored = [it for it in first.results if it.status != REJ]
    for it in stored[:50]:
        e = m.get_email(email_id=it.email_id)
        assert e.email_id == it.email_id and e.thread_id == it.thread_id
    # The store is consistent while the server runs.
    r = snipd_check(snipd.data_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 violations" in r.stdout


def test_unary_new_duplicate_and_defects(snipd, admin):
    _, _, m = team(snipd, admin, "Unary")
    path = os.path.join(corpus_dir(), "replies_talon", "gmail.eml")
    with open(path, "rb") as f:
        data = f.read()
    r1 = m.raw(data, ref="mine")
    assert r1.status == NEW and r1.client_ref == "mine"
    r2 = m.raw(data)
    assert r2.status == DUP
    assert (r2.email_id, r2.thread_id) == (r1.email_id, r1.thread_id)
    e = m.get_email(message_id=
                    "CAKsfaBW4hj0Gek6TwbR3erng4P1y0CZzJ0d=pXtCNnYnbe7PLg"
                    "@mail.gmail.com")
    assert e.email_id == r1.email_id
    assert e.subject == "Re: Test"
    assert e.new_text.strip()
    assert "wrote:" not in e.new_text


def test_direction_inference(snipd, admin):
    _, _, m = team(snipd, admin, "Dir", members=["rep@acme.example"],
                   domains=["acme.example"])
    r = m.parsed(message_id="d1@x", from_address="Rep <rep@acme.example>",
                 to_addresses=["pat@prospect.example"], subject="Hi",
                 text_body="Hello Pat")
    assert r.direction == OUT
    r = m.parsed(message_id="d2@x", from_address="kim@acme.example",
                 to_addresses=["pat@prospect.example"], subject="Hi",
                 text_body="Colleague on the team domain")
    assert r.direction == OUT
    r = m.parsed(message_id="d3@x", from_address="Pat <pat@prospect.example>",
                 to_addresses=["rep@acme.example"], subject="Re: Hi",
                 text_body="Thanks")
    assert r.direction == IN
    e = m.get_email(email_id=r.email_id)
    assert e.rep_email == "rep@acme.example"
    assert e.from_address == "pat@prospect.example"
    r = m.parsed(direction=OUT, message_id="d4@x",
                 from_address="pat@prospect.example",
                 to_addresses=["rep@acme.example"], subject="x",
                 text_body="explicit")
    assert r.direction == OUT


def test_talon_thread_linking(snipd, admin):
    _, _, m = team(snipd, admin, "Talon", members=["bob@example.com"])
    # The message the talon replies answer ("Test", 2 April 2012).
    orig = m.parsed(message_id="orig-test@example.com",
                    from_address="bob <bob@example.com>",
                    to_addresses=["xxx@gmail.com"], subject="Test",
                    sent_time_unix_ms=1333350000000, text_body="Test")
    assert orig.direction == OUT
    root = os.path.join(corpus_dir(), "replies_talon")
    joined = []
    for name in ["gmail.eml", "iphone.eml", "apple_mail.eml", "sparrow.eml"]:
        with open(os.path.join(root, name), "rb") as f:
            r = m.raw(f.read())
        assert r.status == NEW
        assert r.thread_id == orig.thread_id, name  # subject + participants
        joined.append(r.email_id)
    # android.eml has the same subject but goes from bob to another address
    # (bob@xxx.mailgun.org): one shared participant is not a conversation,
    # so it starts its own thread (two prospects asking the same rep about
    # "pricing" are two threads).
    with open(os.path.join(root, "android.eml"), "rb") as f:
        r = m.raw(f.read())
    assert r.status == NEW and r.thread_id != orig.thread_id
    android_thread = r.thread_id
    # yahoo.eml answers another message, by In-Reply-To, under a subject
    # that differs from the original's.
    other = m.parsed(message_id="1333374262.7063.15.camel@mg5",
                     from_address="bob@xxx.mailgun.org",
                     to_addresses=["xxx@yahoo.com"], subject="Something else",
                     sent_time_unix_ms=1333370000000, text_body="x")
    with open(os.path.join(root, "yahoo.eml"), "rb") as f:
        r = m.raw(f.read())
    assert r.thread_id == other.thread_id
    assert r.thread_id != orig.thread_id
    t = m.get_thread(orig.thread_id)
    assert t.email_count == 5 and len(t.emails) == 5
    assert t.subject == "Test"
    times = [e.sent_time_unix_ms for e in t.emails]
    assert times == sorted(times)  # oldest first
    assert {e.email_id for e in t.emails} == set(joined + [orig.email_id])
    assert "bob@example.com" in t.rep_emails
    assert "xxx@gmail.com" in t.participants
    # Inbound replies point at the rep they were sent to.
    e = m.get_email(email_id=joined[0])
    assert e.direction == IN and e.rep_email == "bob@example.com"
    # ListThreads: most recently active first, paged.
    seen, token = [], ""
    for _ in range(10):
        resp = m.call(m.ingest, "ListThreads",
                      ingest_pb2.ListThreadsRequest(page_size=1,
                                                    page_token=token))
        seen += [x.thread_id for x in resp.threads]
        token = resp.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted({orig.thread_id, other.thread_id,
                                   android_thread})
    resp = m.call(m.ingest, "ListThreads",
                  ingest_pb2.ListThreadsRequest(rep_email="nobody@x.example"))
    assert len(resp.threads) == 0


def test_content_dedupe_and_reading(snipd, admin):
    _, _, m = team(snipd, admin, "Content", members=["rep@acme.example"])
    deck = b"ACME overview: guided workflows cut onboarding time by 40%.\n"
    r1 = m.parsed(message_id="c1@x", from_address="rep@acme.example",
                  to_addresses=["a@p.example"], subject="Deck",
                  text_body="Deck attached",
                  attachments=[{"filename": "deck.txt",
                                "content_type": "text/plain", "data": deck}])
    r2 = m.parsed(message_id="c2@x", from_address="rep@acme.example",
                  to_addresses=["b@p.example"], subject="Deck",
                  text_body="Deck attached again",
                  attachments=[{"filename": "deck-copy.txt",
                                "content_type": "text/plain",
                                "data": b"  " + deck.upper()}])
    assert r1.contents[0].status == NEW
    assert r2.contents[0].status == DUP
    cid = r1.contents[0].content_id
    assert r2.contents[0].content_id == cid
    c = m.call(m.snippet, "GetContent",
               snippet_pb2.GetContentRequest(content_id=cid))
    assert c.filename == "deck.txt" and c.stats.times_used == 2
    assert c.extraction_state == common_pb2.EXTRACTION_STATE_EXTRACTED
    assert len(c.sha256) == 64 and c.size_bytes == len(deck)
    lst = m.call(m.snippet, "ListContents", snippet_pb2.ListContentsRequest())
    assert [x.content_id for x in lst.contents] == [cid]
    expect_error(grpc.StatusCode.NOT_FOUND, m.call, m.snippet, "GetContent",
                 snippet_pb2.GetContentRequest(content_id="ct_nope"))


def test_cross_team_isolation(snipd, admin):
    _, _, a = team(snipd, admin, "A")
    _, _, b = team(snipd, admin, "B")
    r = a.parsed(message_id="secret@a.example", from_address="x@a.example",
                 to_addresses=["y@p.example"], subject="Secret",
                 text_body="only for A",
                 attachments=[{"filename": "s.txt", "content_type":
                               "text/plain", "data": b"secret text of A"}])
    NF = grpc.StatusCode.NOT_FOUND
    expect_error(NF, b.get_email, email_id=r.email_id)
    expect_error(NF, b.get_email, message_id="secret@a.example")
    expect_error(NF, b.get_thread, r.thread_id)
    expect_error(NF, b.call, b.snippet, "GetContent",
                 snippet_pb2.GetContentRequest(
                     content_id=r.contents[0].content_id))
    assert len(b.call(b.ingest, "ListThreads",
                      ingest_pb2.ListThreadsRequest()).threads) == 0
    # The same message in B is new there, with its own ids.
    rb = b.parsed(message_id="secret@a.example", from_address="x@a.example",
                  to_addresses=["y@p.example"], subject="Secret",
                  text_body="only for A")
    assert rb.status == NEW and rb.email_id != r.email_id
    assert a.get_email(email_id=r.email_id).subject == "Secret"


def test_bad_mail_errors(snipd, admin):
    _, _, m = team(snipd, admin, "Bad")
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, m.raw,
                       b"\x00\x01\x02 not a mail at all")
    assert err.details()
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, m.call, m.ingest,
                       "IngestEmail", ingest_pb2.IngestEmailRequest())
    assert "raw_mime" in err.details()
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, m.parsed,
                       subject="no sender", text_body="x")
    assert "from_address" in err.details()
    expect_error(grpc.StatusCode.RESOURCE_EXHAUSTED, m.raw,
                 b"Subject: big\r\n\r\n" + b"x" * (33 << 20),
                 details=False)  # gRPC core's own, before snipd
    # A bad message in a stream is rejected and the stream goes on.
    resp = m.stream([("good1", b"Message-ID: <g1@x>\r\nFrom: a@b.example\r\n"
                      b"Subject: one\r\n\r\nbody\r\n"),
                     ("bad", b"\x00\x01"),
                     ("good2", b"Message-ID: <g2@x>\r\nFrom: a@b.example\r\n"
                      b"Subject: two\r\n\r\nbody\r\n")])
    assert (resp.new_count, resp.rejected_count) == (2, 1)
    bad = [it for it in resp.results if it.status == REJ]
    assert [(it.index, it.client_ref) for it in bad] == [(1, "bad")]


def run_snipctl(snipd, key, *args):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SNIPWISE_")}
    r = subprocess.run([snipctl_path(), "--addr", snipd.addr, "--key", key] +
                       list(args), env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=CLI_TIMEOUT)
    return r


def _msg(i, extra_body=""):
    return ("Message-ID: <cli-%d@x.example>\nFrom: pat@p.example\n"
            "To: rep@acme.example\nSubject: Message %d\n\nBody %d\n%s" %
            (i, i, i, extra_body))


def test_snipctl_ingest(snipd, admin):
    _, key, m = team(snipd, admin, "CLI")
    d = scratch_dir("cli-mail-")
    # A Maildir: cur/ and new/ are read, tmp/ is not.
    md = os.path.join(d, "Maildir")
    for sub in ["cur", "new", "tmp"]:
        os.makedirs(os.path.join(md, sub))
    for i, sub in [(1, "cur"), (2, "new"), (3, "tmp")]:
        with open(os.path.join(md, sub, "m%d:2,S" % i), "w") as f:
            f.write(_msg(i))
    # An mbox with an escaped From line and a non-mail part.
    mbox = os.path.join(d, "box.mbox")
    with open(mbox, "w") as f:
        f.write("From pat@p.example Mon Jan  5 10:00:00 2026\n" + _msg(10) +
                "\nFrom pat@p.example Mon Jan  5 11:00:00 2026\n" +
                _msg(11, ">From the start, it worked.\n") +
                "\nFrom x Mon Jan  5 12:00:00 2026\n\njust text\n")
    r = run_snipctl(snipd, key, "--json", "ingest", md)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"new": 2, "duplicate": 0, "rejected": 0,
                                    "reasons": {}}
    r = run_snipctl(snipd, key, "--json", "ingest", mbox)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["new"], out["duplicate"], out["rejected"]) == (2, 0, 1)
    assert sum(out["reasons"].values()) == 1
    e = m.get_email(message_id="cli-11@x.example")
    assert "From the start, it worked." in e.new_text
    assert ">From the start" not in e.new_text
    # A directory holding both: everything again is a duplicate.
    r = run_snipctl(snipd, key, "ingest", "--json", d)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["new"], out["duplicate"], out["rejected"]) == (0, 4, 1)
    # Human output and the reading commands.
    r = run_snipctl(snipd, key, "ingest", os.path.join(md, "cur"))
    assert r.returncode == 0 and "duplicate: 1" in r.stdout, r.stdout
    r = run_snipctl(snipd, key, "--json", "email", "get", "cli-1@x.example")
    assert r.returncode == 0, r.stderr
    tid = json.loads(r.stdout)["thread_id"]
    r = run_snipctl(snipd, key, "--json", "thread", "get", tid)
    assert r.returncode == 0 and json.loads(r.stdout)["thread_id"] == tid
    r = run_snipctl(snipd, key, "thread", "list")
    assert r.returncode == 0 and tid in r.stdout
    r = run_snipctl(snipd, key, "email", "get", "em_0000000000000000")
    assert r.returncode == 5, r.stderr  # NOT_FOUND
    r = run_snipctl(snipd, key, "ingest", os.path.join(d, "missing"))
    assert r.returncode == 2


def test_check_after_restart(snipd, admin):
    _, key, m = team(snipd, admin, "Restart")
    msgs = corpus_messages()[:60]
    first = m.stream(msgs)
    snipd.stop()
    r = snipd_check(snipd.data_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    snipd.start()
    m = Mail(snipd, key)
    again = m.stream(msgs)
    assert again.new_count == 0
    assert again.duplicate_count == first.new_count + first.duplicate_count


def test_delete_team_removes_mail(snipd, admin):
    from snipwise.v1 import admin_pb2
    tid, _, m = team(snipd, admin, "Doomed")
    _, _, keep = team(snipd, admin, "Kept")
    for i in range(3):
        m.parsed(message_id="doomed-%d@x" % i, from_address="p@p.example",
                 to_addresses=["r@d.example"], subject="S%d" % i,
                 text_body="inbound %d" % i,
                 attachments=[{"filename": "a.txt", "content_type":
                               "text/plain", "data": b"file %d" % i}])
    kept = keep.parsed(message_id="kept@x", from_address="p@p.example",
                       to_addresses=["r@k.example"], subject="K",
                       text_body="stays")
    r = snipd_check(snipd.data_dir)
    assert r.returncode == 0 and "4 emails" in r.stdout, r.stdout
    admin.admin.DeleteTeam(admin_pb2.DeleteTeamRequest(team_id=tid))
    r = snipd_check(snipd.data_dir)
    assert r.returncode == 0, r.stdout
    # Emails, threads and contents are gone with the team; its queued jobs
    # wait for the worker to drop them and are no violation.
    assert "1 emails, 1 threads, 0 contents" in r.stdout, r.stdout
    assert "of deleted teams" in r.stdout
    assert keep.get_email(email_id=kept.email_id).subject == "K"


def test_parsed_html_body(snipd, admin):
    _, _, m = team(snipd, admin, "Html")
    r = m.parsed(message_id="html@x", from_address="p@p.example",
                 to_addresses=["r@h.example"], subject="Html only",
                 html_body="<html><body><p>Hello <b>there</b>,</p>"
                           "<p>the pricing page.</p></body></html>")
    e = m.get_email(email_id=r.email_id)
    assert "Hello" in e.new_text and "pricing page" in e.new_text
    assert "<b>" not in e.new_text
