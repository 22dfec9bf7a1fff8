"""The recipients' accounts as ranking context, end to end (issue 21): a
team whose framing A wins with acme.example and loses with its other
accounts, framing B the reverse. Suggest without recipients puts the
team-wide winner B first; with an acme.example recipient (or for a thread
from acme.example given by id, whose participants count as recipients) it
puts A first, lists the account with the team's record there, and the
explanation names it."""

import time

import pytest
from snipwise.v1 import (common_pb2, ingest_pb2, ingest_pb2_grpc, outcome_pb2,
                         outcome_pb2_grpc, suggest_pb2, suggest_pb2_grpc,
                         team_pb2)

from e2e_lib import auth_md, create_team

WAIT = 90.0
DOMAIN = "seller.example"
REP = "ann@" + DOMAIN
DAY = 86400 * 1000
T0 = 1772532000000  # Tue, 3 Mar 2026 10:00:00 UTC

DOC = ("product_overview.txt",
       "Our platform plans shipments, tracks orders and reports on both. "
       "It connects to the tools teams already use.")
FRAME_A = ("I've attached the product overview; carriers like yours cut "
           "late deliveries in half with it.")
FRAME_B = ("I've attached the product overview; stores like yours doubled "
           "their repeat orders with it.")
ASK = "Hi Ann, could you tell me a little more about what you offer?"

# (framing, account, positive or not) per answered thread: A wins 6 of 6
# with acme.example and 1 of 12 elsewhere; B the reverse.
PLAN = ([(FRAME_A, "acme.example", True)] * 6 +
        [(FRAME_B, "acme.example", False)] * 6 +
        [(FRAME_A, "globex.example", i == 0) for i in range(6)] +
        [(FRAME_A, "initech.example", False) for i in range(6)] +
        [(FRAME_B, "globex.example", i != 0) for i in range(6)] +
        [(FRAME_B, "initech.example", True) for i in range(6)])


def rfc2822(ms):
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(ms / 1000))


def mime(mid, frm, to, subj, body, when, att=None, irt=None):
    s = ("Message-ID: <%s>\r\nFrom: %s\r\nTo: %s\r\nSubject: %s\r\n"
         "Date: %s\r\nMIME-Version: 1.0\r\n" % (mid, frm, to, subj,
                                                 rfc2822(when)))
    if irt:
        s += "In-Reply-To: <%s>\r\nReferences: <%s>\r\n" % (irt, irt)
    if att:
        s += ("Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
              "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n--b\r\n"
              "Content-Type: text/plain; name=\"%s\"\r\nContent-Disposition: "
              "attachment; filename=\"%s\"\r\n\r\n%s\r\n--b--\r\n" %
              (body, att[0], att[0], att[1]))
    else:
        s += "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n" % body
    return s.encode()


class Team:
    def __init__(self, snipd, key):
        ch = snipd.channel()
        self.md = auth_md(key)
        self.ingest = ingest_pb2_grpc.IngestServiceStub(ch)
        self.outcome = outcome_pb2_grpc.OutcomeServiceStub(ch)
        self.stub = suggest_pb2_grpc.SuggestServiceStub(ch)

    def mail(self, raw):
        return self.ingest.IngestEmail(
            ingest_pb2.IngestEmailRequest(raw_mime=raw), metadata=self.md,
            timeout=30)

    def inquiry(self, i, who, day):
        return self.mail(mime("in%d@%s" % (i, who.split("@")[1]), who, REP,
                              "Question %d" % i, ASK, T0 + day * DAY))

    def answered(self, inq, out, i, positive, when):
        """The thread of inquiry inq and answer out (one thread) ended well
        (a meeting booked) or badly (a negative reply) a day after when."""
        assert inq.thread_id == out.thread_id
        kind = (common_pb2.OUTCOME_KIND_MEETING_BOOKED if positive else
                common_pb2.OUTCOME_KIND_NEGATIVE_REPLY)
        self.outcome.RecordOutcome(outcome_pb2.RecordOutcomeRequest(
            thread_id=out.thread_id, kind=kind, idempotency_key="o%d" % i,
            occur_time_unix_ms=when + DAY), metadata=self.md, timeout=30)

    def suggest(self, **kw):
        """Suggest, asked again (bounded) until its statistics count
        everything stored (they are built in the background)."""
        end = time.monotonic() + WAIT
        while True:
            r = self.stub.Suggest(suggest_pb2.SuggestRequest(**kw),
                                  metadata=self.md, timeout=30)
            if r.statistics.current:
                return r
            if time.monotonic() > end:
                pytest.fail("statistics never became current")
            time.sleep(0.05)


def answered_thread(t, i, frame, account, positive):
    who = "p%d@%s" % (i, account)
    day = i % 20
    inq = t.inquiry(i, who, day)
    when = T0 + day * DAY + 3600 * 1000
    out = t.mail(mime("out%d@%s" % (i, DOMAIN), REP, who, "Re: Question %d" % i,
                      "Thanks for reaching out.\n%s\nBest regards" % frame,
                      when, DOC, "in%d@%s" % (i, account)))
    t.answered(inq, out, i, positive, when)


def first(r):
    return {FRAME_A: "A", FRAME_B: "B"}.get(r.framings[0].text, r.framings[0].text)


def test_recipients_rank_by_account(snipd, admin):
    _, key = create_team(admin, "Accounts")
    snipd.client(key).team.AddTeamDomain(
        team_pb2.AddTeamDomainRequest(domain=DOMAIN))
    t = Team(snipd, key)
    for i, (frame, account, positive) in enumerate(PLAN):
        answered_thread(t, i, frame, account, positive)
    open_acme = t.inquiry(100, "new@eu.acme.example", 30).thread_id
    open_new = t.inquiry(101, "new@fresh.example", 30).thread_id
    req = dict(draft_text="Happy to help.", explain=True, max_framings=2,
               max_contents=1)

    # Both framings extracted from every answer before anything is judged.
    end = time.monotonic() + WAIT
    while True:
        r = t.suggest(**req)
        n = {f.text: f.evidence.threads for f in r.framings}
        if n.get(FRAME_A) == 18 and n.get(FRAME_B) == 18:
            break
        if time.monotonic() > end:
            pytest.fail("framings never extracted: %r" % n)
        time.sleep(0.1)
    # Without recipients: the team-wide winner, no account context.
    assert first(r) == "B"
    assert not r.accounts and r.framings[0].score.account == 0.0

    r = t.suggest(recipients=["Cleo <cleo@acme.example>", REP], **req)
    assert first(r) == "A"
    assert [(a.domain, a.thread_count, a.positive_rate) for a in r.accounts] == [
        ("acme.example", 12, 0.5)]
    top = r.framings[0]
    assert top.score.account > 0 > r.framings[1].score.account
    assert (top.account_evidence.thread_count,
            top.account_evidence.positive_rate) == (6, 1.0)
    assert ("in 6 threads with acme.example, 100% positive (the team's 12 "
            "threads there: 50%)") in top.explanation

    # A thread given by id: its participants outside the team count.
    r = t.suggest(thread_id=open_acme, **req)
    assert first(r) == "A"
    assert [a.domain for a in r.accounts] == ["acme.example"]
    r = t.suggest(thread_id=open_new, **req)
    assert first(r) == "B"
    assert [(a.domain, a.thread_count) for a in r.accounts] == [
        ("fresh.example", 0)]
    # Another account's recipients: the team-wide order.
    r = t.suggest(recipients=["x@initech.example"], **req)
    assert first(r) == "B"
