"""Erasure of mail (issue 18): DeleteEmail, DeleteThread and ForgetContact
remove the mail and everything derived from it alone from every answer,
the search index, the LLM journal and the statistics, and `snipd check`
finds nothing dangling afterwards."""

import json
import os
import subprocess
import time

import grpc
import pytest
from google.protobuf import text_format
from snipwise.v1 import (common_pb2, ingest_pb2, ingest_pb2_grpc, llm_pb2,
                         llm_pb2_grpc, outcome_pb2, outcome_pb2_grpc,
                         snippet_pb2, snippet_pb2_grpc, suggest_pb2,
                         suggest_pb2_grpc, team_pb2)

from e2e_lib import RPC_TIMEOUT, expect_reason, snipctl_path, snipd_path
from test_ranking import lmdb_records

REP = "rita@seller.example"
ALICE = "Alice.Moreau@Prospect.example"  # forgotten in any case
BOB = "bob@other.example"
WAIT = 60

# Words only Alice's mail holds: none may survive her erasure.
ALICE_WORDS = ("alice.moreau", "Moreau", "Quillbrook", "quillbrook-terms",
               "fenwick")


class Team:
    """The demo team's stubs, with the rep as a member."""

    def __init__(self, snipd):
        ch = snipd.channel()
        self.snipd = snipd
        self.md = (("authorization", "Bearer " + snipd.demo_key),)
        self.ingest = ingest_pb2_grpc.IngestServiceStub(ch)
        self.snippet = snippet_pb2_grpc.SnippetServiceStub(ch)
        self.outcome = outcome_pb2_grpc.OutcomeServiceStub(ch)
        self.suggest = suggest_pb2_grpc.SuggestServiceStub(ch)
        self.llm = llm_pb2_grpc.LlmServiceStub(ch)
        self.team = snipd.client(snipd.demo_key).team
        self.team.AddTeamMember(team_pb2.AddTeamMemberRequest(
            member=team_pb2.TeamMember(email=REP)))

    def call(self, stub, name, req):
        return getattr(stub, name)(req, metadata=self.md, timeout=RPC_TIMEOUT)

    def mail(self, mid, sender, to, subject, body, reply_to="", cc=(),
             atts=()):
        pe = ingest_pb2.ParsedEmail(
            message_id=mid, in_reply_to=reply_to, from_address=sender,
            to_addresses=list(to), cc_addresses=list(cc), subject=subject,
            text_body=body)
        for name, data in atts:
            pe.attachments.append(ingest_pb2.Attachment(
                filename=name, content_type="text/plain", data=data))
        return self.call(self.ingest, "IngestEmail",
                         ingest_pb2.IngestEmailRequest(parsed=pe))

    def settled(self):
        """Waits (bounded) for extraction and the statistics to catch up."""
        end = time.monotonic() + WAIT
        while True:
            t = self.team.GetMyTeam(team_pb2.GetMyTeamRequest())
            if t.pending_extraction_jobs == 0 and t.statistics.current:
                return
            assert time.monotonic() < end, "the team never settled"
            time.sleep(0.05)

    def pages(self, stub, name, req, field):
        out = []
        for _ in range(1000):
            r = self.call(stub, name, req)
            out.extend(getattr(r, field))
            if not r.next_page_token:
                return out
            req.page_token = r.next_page_token
        pytest.fail(name + " paging did not end")

    def threads(self):
        return self.pages(self.ingest, "ListThreads",
                          ingest_pb2.ListThreadsRequest(page_size=50),
                          "threads")

    def search(self, text):
        return self.call(self.snippet, "SearchSnippets",
                         snippet_pb2.SearchSnippetsRequest(
                             text=text, page_size=50)).results

    def answers(self):
        """The text of every answer a client can get about the team's mail:
        threads with their emails, contents, outcomes, searches, a Suggest,
        the LLM journal and the team."""
        msgs = [self.team.GetMyTeam(team_pb2.GetMyTeamRequest())]
        for th in self.threads():
            full = self.call(self.ingest, "GetThread",
                             ingest_pb2.GetThreadRequest(
                                 thread_id=th.thread_id, include_emails=True))
            msgs.append(full)
            msgs.append(self.call(self.suggest, "Suggest",
                                  suggest_pb2.SuggestRequest(
                                      thread_id=th.thread_id, explain=True)))
        msgs += self.pages(self.snippet, "ListContents",
                           snippet_pb2.ListContentsRequest(page_size=50),
                           "contents")
        msgs += self.pages(self.outcome, "ListOutcomes",
                           outcome_pb2.ListOutcomesRequest(page_size=50),
                           "outcomes")
        msgs += self.pages(self.llm, "ListJournal",
                           llm_pb2.ListJournalRequest(page_size=100),
                           "entries")
        for w in ("pricing terms", "Quillbrook rollout", "security review",
                  "attached", "fenwick"):
            msgs += list(self.search(w))
        return "\n".join(text_format.MessageToString(m, as_utf8=True)
                         for m in msgs)


def snipd_check(snipd):
    r = subprocess.run([snipd_path(), "check", "--data-dir", snipd.data_dir],
                       capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def seed(t):
    """Two threads with Alice (one she started, with her own file) and one
    with Bob only."""
    a1 = t.mail("a1@seller.example", REP, [ALICE], "Quillbrook rollout",
                "Hi Alice,\n\nI've attached our security review guide, "
                "which shows how we pass a security review in two weeks.\n\n"
                "Rita",
                atts=[("security-review.txt",
                       b"Security review guide. Single sign-on, audit logs "
                       b"and encryption at rest pass most reviews in two "
                       b"weeks.\n")])
    a2 = t.mail("a2@prospect.example", ALICE, [REP], "Re: Quillbrook rollout",
                "Thanks Rita, this is great. Our fenwick board liked it; "
                "please send pricing terms.\n\nAlice Moreau\nQuillbrook",
                reply_to="a1@seller.example",
                atts=[("quillbrook-terms.txt",
                       b"Quillbrook purchasing terms: net 60, fenwick "
                       b"approval required.\n")])
    b1 = t.mail("b1@seller.example", REP, [BOB], "Pricing for Other Co",
                "Hi Bob,\n\nI've attached our pricing terms, which show the "
                "per-seat price for teams of every size.\n\nRita",
                atts=[("pricing.txt", b"Pricing: 20 USD a seat a month, "
                       b"volume discounts from 100 seats.\n")])
    c1 = t.mail("c1@seller.example", REP, [BOB], "Security review",
                "Hi Bob,\n\nI've attached our security review guide, which "
                "shows how we pass a security review in two weeks.\n\nRita",
                cc=[ALICE.lower()],
                atts=[("security-review.txt",
                       b"Security review guide. Single sign-on, audit logs "
                       b"and encryption at rest pass most reviews in two "
                       b"weeks.\n")])
    return a1, a2, b1, c1


def test_forget_contact_leaves_no_trace(snipd):
    t = Team(snipd)
    a1, a2, b1, c1 = seed(t)
    # Alice is copied on a reply in Bob's thread: the thread stays, without
    # her among its participants.
    b2 = t.mail("b2@seller.example", REP, [BOB], "Re: Pricing for Other Co",
                "Bob, copying Alice Moreau from Quillbrook, who asked the "
                "same.\n\nRita", reply_to="b1@seller.example",
                cc=[ALICE])
    assert b2.thread_id == b1.thread_id
    assert a1.thread_id == a2.thread_id
    t.call(t.outcome, "RecordOutcome", outcome_pb2.RecordOutcomeRequest(
        thread_id=a1.thread_id, kind=common_pb2.OUTCOME_KIND_MEETING_BOOKED,
        idempotency_key="crm-alice-1", note="call with Alice Moreau"))
    t.settled()
    before = t.answers()
    for w in ALICE_WORDS:  # the scan sees her: it can see her absence
        assert w.lower() in before.lower(), w
    derived = [o for o in t.pages(t.outcome, "ListOutcomes",
                                  outcome_pb2.ListOutcomesRequest(
                                      thread_id=a1.thread_id),
                                  "outcomes")
               if o.source == outcome_pb2.OUTCOME_SOURCE_DERIVED]
    assert derived, "her reply was classified"
    guide = [c for c in a1.contents if c.filename == "security-review.txt"]
    terms = [c for c in a2.contents if c.filename == "quillbrook-terms.txt"]
    assert guide and terms

    # A member is refused; a malformed address names the field.
    _, info, bad = expect_reason(
        grpc.StatusCode.FAILED_PRECONDITION, "CONTACT_IS_TEAM_MEMBER",
        t.ingest.ForgetContact,
        ingest_pb2.ForgetContactRequest(email_address=REP.upper()),
        metadata=t.md, timeout=RPC_TIMEOUT)
    _, info, bad = expect_reason(
        grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT",
        t.ingest.ForgetContact,
        ingest_pb2.ForgetContactRequest(email_address="not an address"),
        metadata=t.md, timeout=RPC_TIMEOUT)
    assert [v.field for v in bad.field_violations] == ["email_address"]

    s = t.call(t.ingest, "ForgetContact",
               ingest_pb2.ForgetContactRequest(email_address=ALICE)).summary
    # a1, a2 (to and from her), c1 and b2 (cc); the threads of a1 and c1;
    # her terms file.
    assert (s.email_count, s.thread_count, s.content_count) == (4, 2, 1)
    assert s.outcome_count >= 2 and s.snippet_count >= 2
    assert s.journal_entry_count >= 2 and s.library_bytes > 0
    t.settled()
    after = t.answers()
    for w in ALICE_WORDS:
        assert w.lower() not in after.lower(), w
    for e in (a1, a2, c1, b2):
        expect_reason(grpc.StatusCode.NOT_FOUND, "EMAIL_NOT_FOUND",
                      t.ingest.GetEmail,
                      ingest_pb2.GetEmailRequest(email_id=e.email_id),
                      metadata=t.md, timeout=RPC_TIMEOUT)
    expect_reason(grpc.StatusCode.NOT_FOUND, "CONTENT_NOT_FOUND",
                  t.snippet.GetContent,
                  snippet_pb2.GetContentRequest(
                      content_id=terms[0].content_id),
                  metadata=t.md, timeout=RPC_TIMEOUT)
    # The team's own guide stays (b1 does not carry it, but it is ours).
    t.call(t.snippet, "GetContent",
           snippet_pb2.GetContentRequest(content_id=guide[0].content_id))
    # Bob's thread keeps b1, and is still searchable.
    assert [th.thread_id for th in t.threads()] == [b1.thread_id]
    th = t.call(t.ingest, "GetThread", ingest_pb2.GetThreadRequest(
        thread_id=b1.thread_id, include_emails=True))
    assert [e.email_id for e in th.emails] == [b1.email_id]
    assert sorted(th.participants) == [BOB, REP]
    assert any(r.snippet.email_id == b1.email_id
               for r in t.search("pricing terms"))
    # Nor does the store: no record, key or index entry of any database
    # holds her address, her name or her mail's Message-IDs (read with
    # mdb_dump while snipd serves).
    for db, k, v in lmdb_records(snipd.data_dir):
        for w in ALICE_WORDS + ("prospect.example", "a1@seller.example"):
            assert w.lower().encode() not in k.lower() + b"|" + v.lower(), \
                (db, w, k[:80])
    # Forgetting her again finds nothing, and is not an error.
    s = t.call(t.ingest, "ForgetContact",
               ingest_pb2.ForgetContactRequest(email_address=ALICE)).summary
    assert s.email_count == 0
    snipd_check(snipd)
    # Her mail may come again later: it is a new email then.
    again = t.mail("a2@prospect.example", ALICE, [REP], "Re: hello", "Hi")
    assert again.status == ingest_pb2.INGEST_STATUS_NEW


def test_delete_email_rebuilds_thread(snipd):
    t = Team(snipd)
    a1, a2, b1, c1 = seed(t)
    t.settled()
    out = t.pages(t.outcome, "ListOutcomes", outcome_pb2.ListOutcomesRequest(
        thread_id=a2.thread_id), "outcomes")
    assert [o.email_id for o in out] == [a2.email_id]
    s = t.call(t.ingest, "DeleteEmail",
               ingest_pb2.DeleteEmailRequest(email_id=a2.email_id)).summary
    assert (s.email_count, s.thread_count, s.outcome_count) == (1, 0, 1)
    assert s.content_count == 0  # kept unless asked
    th = t.call(t.ingest, "GetThread", ingest_pb2.GetThreadRequest(
        thread_id=a1.thread_id, include_emails=True))
    assert [e.email_id for e in th.emails] == [a1.email_id]
    assert sorted(th.participants) == sorted([REP, ALICE.lower()])
    assert t.pages(t.outcome, "ListOutcomes", outcome_pb2.ListOutcomesRequest(
        thread_id=a1.thread_id), "outcomes") == []
    journal = t.pages(t.llm, "ListJournal", llm_pb2.ListJournalRequest(
        job_id=a2.email_id, page_size=50), "entries")
    assert journal and all(not e.raw_output for e in journal)
    # The file stays in the library, used by no email.
    terms = [c for c in a2.contents if c.filename == "quillbrook-terms.txt"]
    t.call(t.snippet, "GetContent",
           snippet_pb2.GetContentRequest(content_id=terms[0].content_id))
    expect_reason(grpc.StatusCode.NOT_FOUND, "EMAIL_NOT_FOUND",
                  t.ingest.DeleteEmail,
                  ingest_pb2.DeleteEmailRequest(email_id=a2.email_id),
                  metadata=t.md, timeout=RPC_TIMEOUT)
    _, _, bad = expect_reason(
        grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT",
        t.ingest.DeleteEmail, ingest_pb2.DeleteEmailRequest(),
        metadata=t.md, timeout=RPC_TIMEOUT)
    assert [v.field for v in bad.field_violations] == ["email_id"]
    snipd_check(snipd)


def test_delete_thread_with_its_files(snipd):
    t = Team(snipd)
    a1, a2, b1, c1 = seed(t)
    t.call(t.outcome, "RecordOutcome", outcome_pb2.RecordOutcomeRequest(
        thread_id=b1.thread_id, kind=common_pb2.OUTCOME_KIND_OPPORTUNITY_WON,
        idempotency_key="crm-bob-1"))
    t.settled()
    framings = [r.snippet.snippet_id for r in t.search("pricing terms")
                if r.snippet.email_id == b1.email_id]
    assert framings
    s = t.call(t.ingest, "DeleteThread", ingest_pb2.DeleteThreadRequest(
        thread_id=b1.thread_id, delete_unused_content=True)).summary
    assert (s.email_count, s.thread_count, s.outcome_count) == (1, 1, 1)
    assert s.content_count == 1 and s.library_bytes > 0  # pricing.txt
    expect_reason(grpc.StatusCode.NOT_FOUND, "THREAD_NOT_FOUND",
                  t.ingest.GetThread,
                  ingest_pb2.GetThreadRequest(thread_id=b1.thread_id),
                  metadata=t.md, timeout=RPC_TIMEOUT)
    for sid in framings:
        expect_reason(grpc.StatusCode.NOT_FOUND, "SNIPPET_DELETED",
                      t.snippet.GetSnippet,
                      snippet_pb2.GetSnippetRequest(snippet_id=sid),
                      metadata=t.md, timeout=RPC_TIMEOUT)
    assert not [r for r in t.search("pricing terms")
                if r.snippet.email_id == b1.email_id]
    # The guide is carried by other threads' mail: it stays.
    t.call(t.snippet, "GetContent", snippet_pb2.GetContentRequest(
        content_id=[c for c in c1.contents][0].content_id))
    expect_reason(grpc.StatusCode.NOT_FOUND, "THREAD_NOT_FOUND",
                  t.ingest.DeleteThread,
                  ingest_pb2.DeleteThreadRequest(thread_id=b1.thread_id),
                  metadata=t.md, timeout=RPC_TIMEOUT)
    t.settled()
    snipd_check(snipd)


def test_snipctl_erasure(snipd):
    t = Team(snipd)
    a1, a2, b1, c1 = seed(t)
    env = dict(os.environ, SNIPWISE_ADDR=snipd.addr,
               SNIPWISE_KEY=snipd.demo_key)

    def ctl(*args):
        return subprocess.run([snipctl_path(), *args], env=env,
                              capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)

    p = ctl("email", "delete", c1.email_id, "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["email_count"] == 1
    p = ctl("thread", "delete", b1.thread_id, "--with-files", "--json")
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout)
    assert (s["email_count"], s["thread_count"], s["content_count"]) == \
        (1, 1, 1)
    p = ctl("contact", "forget", ALICE, "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["email_count"] == 2
    assert t.threads() == []
    p = ctl("contact", "forget", REP)
    assert p.returncode == 1 and "CONTACT_IS_TEAM_MEMBER" in p.stderr, \
        p.stderr
    p = ctl("thread", "delete", b1.thread_id)
    assert p.returncode == 5 and "THREAD_NOT_FOUND" in p.stderr, p.stderr
    p = ctl("contact", "forget", ALICE, "--with-files")
    assert p.returncode == 2 and "--with-files" in p.stderr, p.stderr
    snipd_check(snipd)
