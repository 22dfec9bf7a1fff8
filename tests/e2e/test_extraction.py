"""The extraction worker end to end: real outbound mail with attachments
ingested over IngestEmail(s) becomes snippets (framings and key passages)
with the builtin extractor, every attempt is readable with
LlmService.ListJournal (team-scoped), a reply gets its classified kind, and
kill -9 while a batch is being extracted loses no job: after a restart
every email is extracted, with no duplicate snippets, and `snipd check`
passes."""

import json
import os
import subprocess
import time

import grpc
import pytest
from snipwise.v1 import (common_pb2, ingest_pb2, llm_pb2, llm_pb2_grpc, snippet_pb2,
                         team_pb2)

from e2e_lib import create_team, expect_error, snipctl_path, snipd_path
from ingest_lib import Mail, corpus_dir

WAIT = 90.0  # bound of every wait for the worker (ASan is slow)
OUTBOUND = common_pb2.DIRECTION_OUTBOUND
INBOUND = common_pb2.DIRECTION_INBOUND
DONE = (llm_pb2.JOURNAL_OUTCOME_OK, llm_pb2.JOURNAL_OUTCOME_CACHED)


def mime(msgid, body, att_name, att_text, sender="rep@snip.example",
         to="cfo@prospect.example", subject="The case study"):
    return ("Message-ID: <%s>\r\nFrom: %s\r\nTo: %s\r\nSubject: %s\r\n"
            "Date: Tue, 3 Mar 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n"
            "--b\r\nContent-Type: text/plain; charset=utf-8; name=\"%s\"\r\n"
            "Content-Disposition: attachment; filename=\"%s\"\r\n\r\n%s\r\n"
            "--b--\r\n" % (msgid, sender, to, subject, body, att_name,
                           att_name, att_text)).encode()


def ingest_or_skip(m, data, direction):
    try:
        return m.raw(data, direction=direction)
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.UNIMPLEMENTED:
            pytest.skip("IngestEmail is not implemented yet: " + e.details())
        raise


class Journal:
    def __init__(self, snipd, key):
        self.stub = llm_pb2_grpc.LlmServiceStub(snipd.channel())
        self.md = (("authorization", "Bearer " + key),)

    def page(self, **kw):
        return self.stub.ListJournal(llm_pb2.ListJournalRequest(**kw),
                                     metadata=self.md, timeout=30)

    def all(self, job_id=""):
        out, tok = [], ""
        for _ in range(10000):
            r = self.page(page_size=100, page_token=tok, job_id=job_id)
            out.extend(r.entries)
            tok = r.next_page_token
            if not tok:
                return out
        pytest.fail("journal paging did not end")

    def done(self):
        return {e.job_id for e in self.all() if e.outcome in DONE}


def wait_until(what, fn, timeout=WAIT):
    """Polls fn (bounded) until it returns a true value, which it returns."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            pytest.fail("timed out waiting for " + what)
        time.sleep(0.05)


def search(m, text, **kw):
    return m.call(m.snippet, "SearchSnippets",
                  snippet_pb2.SearchSnippetsRequest(text=text, page_size=50,
                                                    **kw))


def collateral(name):
    with open(os.path.join(corpus_dir("sales_collateral"), "posthog_mit",
                           name), encoding="utf-8") as f:
        return f.read()


def test_outbound_with_attachment_is_extracted(snipd):
    key = snipd.demo_key
    m = Mail(snipd, key)
    j = Journal(snipd, key)
    airbus = collateral("customer_airbus.md")
    body = ("Hi Claire,\n\nThanks for your time today. I've attached the "
            "Airbus case study, which shows how they track users across "
            "3,000 web and mobile apps.\n\nBest,\nRita")
    r = ingest_or_skip(m, mime("case-1@snip.example", body,
                               "airbus-case-study.md", airbus), OUTBOUND)
    # A real corpus email with a PDF attachment, too.
    with open(os.path.join(corpus_dir(), "flanker", "attached-pdf.eml"),
              "rb") as f:
        r2 = ingest_or_skip(m, f.read(), OUTBOUND)
    assert r.email_id and r2.email_id
    done = wait_until("both emails extracted",
                      lambda: {r.email_id, r2.email_id} <= j.done() and True)
    assert done
    entries = j.all(job_id=r.email_id)
    assert entries and all(e.job_id == r.email_id for e in entries)
    e = [x for x in entries if x.outcome == llm_pb2.JOURNAL_OUTCOME_OK][0]
    assert e.provider == "builtin" and e.model == "builtin-v1"
    assert e.schema_name == "outbound_extraction" and e.schema_version >= 1
    assert len(e.request_hash) == 64 and e.attempt_number == 1
    assert e.time_unix_ms > 0 and list(e.validation_errors) == []
    ans = json.loads(e.raw_output)
    framings = [f["text"] for f in ans["framings"]]
    passages = [p["text"] for p in ans["passages"]]
    assert any("attached the Airbus case study" in f for f in framings)
    assert passages and all(p in airbus for p in passages)
    # The snippets are searchable, tied to the email and the content item.
    cid = r.contents[0].content_id
    hits = wait_until("the framing in the index", lambda: [
        h for h in search(m, "Airbus case study attached",
                          kinds=[snippet_pb2.SNIPPET_KIND_FRAMING]).results
        if h.snippet.email_id == r.email_id])
    s = hits[0].snippet
    assert "attached the Airbus case study" in s.text
    assert s.content_id == cid and s.thread_id == r.thread_id
    got = wait_until("the passages in the index", lambda: [
        h.snippet for h in search(m, passages[0], content_id=cid).results
        if h.snippet.kind == snippet_pb2.SNIPPET_KIND_KEY_PASSAGE])
    assert {g.text for g in got} <= set(passages)
    assert passages[0] in {g.text for g in got}
    # Another team sees none of it.
    _, other_key = create_team(snipd.admin(), "Other")
    j2 = Journal(snipd, other_key)
    assert j2.all() == []
    assert j2.all(job_id=r.email_id) == []


def test_reply_is_classified(snipd):
    key = snipd.demo_key
    m = Mail(snipd, key)
    out = ingest_or_skip(m, mime("case-2@snip.example", "Deck attached.",
                                 "deck.txt", "Our platform cut costs by 30%."),
                         OUTBOUND)
    reply = ("Message-ID: <re-2@prospect.example>\r\n"
             "In-Reply-To: <case-2@snip.example>\r\n"
             "From: cfo@prospect.example\r\nTo: rep@snip.example\r\n"
             "Subject: Re: The case study\r\n"
             "Date: Wed, 4 Mar 2026 10:00:00 +0000\r\n\r\n"
             "Please remove me from your mailing list.\r\n").encode()
    r = ingest_or_skip(m, reply, INBOUND)
    assert r.thread_id == out.thread_id
    em = wait_until("the reply's kind", lambda: (
        lambda e: e if e.reply_kind else None)(m.get_email(r.email_id)))
    assert em.reply_kind == common_pb2.OUTCOME_KIND_UNSUBSCRIBE
    e = [x for x in Journal(snipd, key).all(job_id=r.email_id)
         if x.outcome == llm_pb2.JOURNAL_OUTCOME_OK][0]
    assert e.schema_name == "reply_classification"
    assert json.loads(e.raw_output)["label"] == "UNSUBSCRIBE"


def ctl(snipd, key, *args):
    r = subprocess.run([snipctl_path(), "--addr", snipd.addr, "--key", key] +
                       list(args), capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout, r.stderr


def test_snipctl_journal_and_reextract(snipd):
    key = snipd.demo_key
    m = Mail(snipd, key)
    j = Journal(snipd, key)
    r = ingest_or_skip(m, mime("case-3@snip.example",
                               "I've included pricing.txt for your CFO.",
                               "pricing.txt",
                               "Plans start at $450 per month. Annual plans "
                               "save 20% over monthly billing."), OUTBOUND)
    wait_until("the extraction", lambda: r.email_id in j.done())
    code, out, err = ctl(snipd, key, "llm", "journal", "--job", r.email_id)
    assert code == 0, err
    lines = [x for x in out.splitlines() if r.email_id in x]
    assert len(lines) == 1 and " ok " in lines[0]
    assert "builtin/builtin-v1" in lines[0] and "outbound_extraction" in lines[0]
    code, out, err = ctl(snipd, key, "--json", "llm", "journal",
                         "--page-size", "1")
    assert code == 0, err
    doc = json.loads(out)
    assert len(doc["entries"]) == 1
    assert doc["entries"][0]["job_id"] == r.email_id
    assert json.loads(doc["entries"][0]["raw_output"])["framings"]
    assert ctl(snipd, key, "llm", "journal", "--job")[0] == 2
    assert ctl(snipd, key, "llm", "nonsense")[0] == 2
    assert ctl(snipd, snipd.admin_key, "llm", "journal")[0] == 4
    # snipd reextract queues the email again; the running snipd's worker
    # runs it (a cache hit: same provider, model and schema).
    team_id = snipd.client(key).team.GetMyTeam(
        team_pb2.GetMyTeamRequest()).team_id
    rx = subprocess.run([snipd_path(), "reextract", "--data-dir",
                         snipd.data_dir, "--team", team_id],
                        capture_output=True, text=True, timeout=60,
                        stdin=subprocess.DEVNULL)
    assert rx.returncode == 0, rx.stderr
    assert "1 emails queued" in rx.stdout, rx.stdout
    again = wait_until("the re-extraction", lambda: [
        e for e in j.all(job_id=r.email_id)
        if e.outcome == llm_pb2.JOURNAL_OUTCOME_CACHED])
    first = [e for e in j.all(job_id=r.email_id)
             if e.outcome == llm_pb2.JOURNAL_OUTCOME_OK]
    assert len(first) == 1
    assert json.loads(again[0].raw_output) == json.loads(first[0].raw_output)
    rx = subprocess.run([snipd_path(), "reextract", "--data-dir",
                         snipd.data_dir, "--team", "team_00000000000000ff"],
                        capture_output=True, text=True, timeout=60,
                        stdin=subprocess.DEVNULL)
    assert rx.returncode == 1 and "no such team" in rx.stderr


def test_list_journal_validation(snipd):
    j = Journal(snipd, snipd.demo_key)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, j.page, page_size=-1)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, j.page,
                 page_token="not-a-token")
    bad = Journal(snipd, "sk_not_a_key")
    expect_error(grpc.StatusCode.UNAUTHENTICATED, bad.page)
    admin = Journal(snipd, snipd.admin_key)
    expect_error(grpc.StatusCode.PERMISSION_DENIED, admin.page)


def batch(n, tag):
    out = []
    for i in range(n):
        doc = "\n".join(
            "Customer %d of batch %s saved %d hours per week in %s. "
            "Their churn fell by %d%% after the rollout of step %d." %
            (i, tag, 3 + (i * k) % 40, ["January", "March", "May"][k % 3],
             2 + k % 9, k) for k in range(60))
        body = ("Hello,\n\nI've attached the results for customer %d "
                "(results-%s-%d.txt): they saved hours every week.\n\nRita" %
                (i, tag, i))
        out.append(("%s-%d" % (tag, i),
                    mime("%s-%d@snip.example" % (tag, i), body,
                         "results-%s-%d.txt" % (tag, i), doc)))
    return out


def snipd_check(data_dir):
    r = subprocess.run([snipd_path(), "check", "--data-dir", data_dir],
                       capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr


def test_kill9_during_extraction_loses_no_job(snipd):
    key = snipd.demo_key
    m = Mail(snipd, key)
    msgs = batch(150, "k9")
    # The team's domain makes the stream's mail outbound.
    snipd.client(key).team.AddTeamDomain(
        team_pb2.AddTeamDomainRequest(domain="snip.example"))
    # One stream: the batch commits in a few group commits, so the worker
    # is still extracting it when snipd is killed.
    try:
        r = m.stream([(ref, data) for ref, data in msgs])
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.UNIMPLEMENTED:
            pytest.skip("IngestEmails is not implemented yet")
        raise
    assert r.new_count == len(msgs) and r.rejected_count == 0
    j = Journal(snipd, key)
    before = wait_until("extraction under way", lambda: len(j.done()))
    snipd.kill()
    snipd_check(snipd.data_dir)
    snipd.start()
    m = Mail(snipd, key)
    j = Journal(snipd, key)
    ems = {ref: m.get_email(message_id="%s@snip.example" % ref)
           for ref, _ in msgs}
    ids = {e.email_id for e in ems.values()}
    assert len(ids) == len(msgs)
    wait_until("every email extracted after the restart",
               lambda: ids <= j.done())
    print("extracted before kill -9: %d of %d" % (before, len(ids)))
    per = {}
    for e in j.all():
        if e.outcome in DONE:
            per[e.job_id] = per.get(e.job_id, 0) + 1
    # Each job ran once, or twice when the kill fell between its journal
    # entry and its commit; never more, and none is missing.
    assert set(per) == ids and max(per.values()) <= 2
    # No duplicate snippets: an email's passages are found once each.
    cid = ems["k9-7"].contents[0].content_id
    hits = wait_until("k9-7's passages", lambda: search(
        m, "Customer 7 of batch k9 saved hours", content_id=cid).results)
    texts = [h.snippet.text for h in hits]
    assert len(texts) == len(set(texts))
    snipd.stop()
    snipd_check(snipd.data_dir)
