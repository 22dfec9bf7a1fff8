"""Every documented field filled (issue 17): a scenario whose every count is
known, then each field read back over gRPC with its exact value:
Thread.best_outcome and outcome_counts (GetThread, ListThreads),
Snippet.stats and family_id (GetSnippet, SearchSnippets), all of
ContentStats (GetContent, ListContents), pending_extraction_jobs in
AdminService.GetTeam (an LLM endpoint that never answers keeps the jobs
queued), and RecordFeedback's NOT_FOUND for a suggestion the team never
received and for an item that was not in the suggestion."""

import socket
import time

import grpc
import pytest
from snipwise.v1 import (admin_pb2, common_pb2, ingest_pb2, ingest_pb2_grpc,
                         outcome_pb2, outcome_pb2_grpc, snippet_pb2,
                         snippet_pb2_grpc, suggest_pb2, suggest_pb2_grpc,
                         team_pb2, team_pb2_grpc)

from e2e_lib import auth_md, create_team, expect_reason

WAIT = 90.0
DOMAIN = "seller.example"
DAY = 86400 * 1000
T0 = 1772532000000  # Tue, 3 Mar 2026 10:00:00 UTC
NF = grpc.StatusCode.NOT_FOUND

DECK = ("pricing_guide.txt",
        "Our pricing is simple. Plans start at 10 dollars per seat per "
        "month. Volume discounts apply above 100 seats.")
BRIEF = ("security_brief.txt",
         "We are SOC 2 certified. Data is encrypted at rest and in "
         "transit, and we run a yearly penetration test.")
FRAME_D = ("I've attached the pricing guide, which explains our plans and "
           "discounts.")
FRAME_B = "I've attached the security brief, which covers our SOC 2 report."
FRAME_X = "Page two of the guide answers your question about annual billing."
ANN, BOB, CY = ("ann@" + DOMAIN, "bob@" + DOMAIN, "cy@" + DOMAIN)

K = common_pb2  # OutcomeKind values


def rfc2822(ms):
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(ms / 1000))


def cold_mail(i, rep, att, frame, when):
    """A rep's first mail to a prospect (no inbound mail anywhere, so no
    outcome is derived: every outcome of the scenario is recorded)."""
    return ("Message-ID: <out%d@%s>\r\nFrom: %s\r\nTo: buyer%d@p%d.example\r\n"
            "Subject: Offer %d\r\nDate: %s\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            "Thanks for your time today.\n%s\nBest regards\r\n--b\r\n"
            "Content-Type: text/plain; name=\"%s\"\r\nContent-Disposition: "
            "attachment; filename=\"%s\"\r\n\r\n%s\r\n--b--\r\n" %
            (i, DOMAIN, rep, i, i, i, rfc2822(when), frame, att[0], att[0],
             att[1])).encode()


class Team:
    """The stubs of one team key."""

    def __init__(self, snipd, key):
        ch = snipd.channel()
        self.md = auth_md(key)
        self.ingest = ingest_pb2_grpc.IngestServiceStub(ch)
        self.outcome = outcome_pb2_grpc.OutcomeServiceStub(ch)
        self.snippet = snippet_pb2_grpc.SnippetServiceStub(ch)
        self.sugg = suggest_pb2_grpc.SuggestServiceStub(ch)
        self.team = team_pb2_grpc.TeamServiceStub(ch)

    def call(self, stub, name, req):
        return getattr(stub, name)(req, metadata=self.md, timeout=30)

    def my_team(self):
        return self.call(self.team, "GetMyTeam", team_pb2.GetMyTeamRequest())

    def settled(self):
        """Waits until extraction is done and the statistics count
        everything stored (they are built in the background)."""
        end = time.monotonic() + WAIT
        while True:
            t = self.my_team()
            if t.pending_extraction_jobs == 0 and t.statistics.current:
                return
            if time.monotonic() > end:
                pytest.fail("never settled: %s" % t)
            time.sleep(0.05)


# OutcomeCounts' fields under their old names and their *_count names
# (snipd fills both: service/svc_alias.c).
COUNT_NAMES = {
    "positive_replies": "positive_reply_count",
    "neutral_replies": "neutral_reply_count",
    "negative_replies": "negative_reply_count",
    "out_of_office": "out_of_office_count",
    "unsubscribes": "unsubscribe_count",
    "bounces": "bounce_count",
    "meetings_booked": "meeting_booked_count",
    "deals_won": "deal_won_count",
    "deals_lost": "deal_lost_count",
}


def counts(**kw):
    """OutcomeCounts as snipd answers it: each count under both names."""
    both = dict(kw)
    both.update({COUNT_NAMES[k]: v for k, v in kw.items()})
    return common_pb2.OutcomeCounts(**both)


def scenario(snipd, admin):
    """3 reps, 5 threads: the deck sent by ann (threads 1 and 3) and bob
    (thread 2) with one framing, and by cy (thread 5) with another; the
    brief by cy (thread 4). Outcomes: thread 1 two positive replies (two
    of the prospect's people) and a meeting, thread 2 a negative reply,
    thread 3 a positive reply, threads 4 and 5 none."""
    _, key = create_team(admin, "Fields")
    snipd.client(key).team.AddTeamDomain(
        team_pb2.AddTeamDomainRequest(domain=DOMAIN))
    t = Team(snipd, key)
    sends = [(1, ANN, DECK, FRAME_D), (2, BOB, DECK, FRAME_D),
             (3, ANN, DECK, FRAME_D), (4, CY, BRIEF, FRAME_B),
             (5, CY, DECK, FRAME_X)]
    th = {}
    for i, rep, att, frame in sends:
        r = t.call(t.ingest, "IngestEmail", ingest_pb2.IngestEmailRequest(
            raw_mime=cold_mail(i, rep, att, frame, T0 + i * DAY)))
        th[i] = r.thread_id
        if i == 1:
            t.deck = r.contents[0].content_id
        if i == 4:
            t.brief = r.contents[0].content_id
    assert len(set(th.values())) == 5
    for i, kind, day in [(1, K.OUTCOME_KIND_POSITIVE_REPLY, 1),
                         (1, K.OUTCOME_KIND_MEETING_BOOKED, 2),
                         (1, K.OUTCOME_KIND_POSITIVE_REPLY, 3),
                         (2, K.OUTCOME_KIND_NEGATIVE_REPLY, 1),
                         (3, K.OUTCOME_KIND_POSITIVE_REPLY, 1)]:
        t.call(t.outcome, "RecordOutcome", outcome_pb2.RecordOutcomeRequest(
            thread_id=th[i], kind=kind,
            idempotency_key="o%d-%d-%d" % (i, kind, day),
            occur_time_unix_ms=T0 + (i + day) * DAY))
    t.settled()
    t.th = th
    return t


# The outcomes of the threads the deck went to (threads 1, 2, 3 and 5),
# the same as those of the first framing's (threads 1, 2 and 3).
DECK_OUTCOMES = counts(positive_replies=3, meetings_booked=1,
                       negative_replies=1)
THREADS = {
    1: (K.OUTCOME_KIND_MEETING_BOOKED,
        counts(positive_replies=2, meetings_booked=1)),
    2: (K.OUTCOME_KIND_NEGATIVE_REPLY, counts(negative_replies=1)),
    3: (K.OUTCOME_KIND_POSITIVE_REPLY, counts(positive_replies=1)),
    4: (K.OUTCOME_KIND_UNSPECIFIED, counts()),
    5: (K.OUTCOME_KIND_UNSPECIFIED, counts()),
}


def test_thread_outcomes(snipd, admin):
    t = scenario(snipd, admin)
    for i, (best, oc) in THREADS.items():
        g = t.call(t.ingest, "GetThread",
                   ingest_pb2.GetThreadRequest(thread_id=t.th[i]))
        assert (g.best_outcome, g.outcome_counts) == (best, oc), (i, g)
    lst = t.call(t.ingest, "ListThreads",
                 ingest_pb2.ListThreadsRequest(page_size=10)).threads
    by_id = {x.thread_id: x for x in lst}
    assert len(by_id) == 5
    for i, (best, oc) in THREADS.items():
        x = by_id[t.th[i]]
        assert (x.best_outcome, x.outcome_counts) == (best, oc), (i, x)


def check_content_stats(s, times, reps, threads, oc, rate):
    assert (s.times_used, s.reps, s.threads) == (times, reps, threads), s
    assert s.outcomes == oc, s
    assert s.positive_rate == pytest.approx(rate), s


def test_content_stats(snipd, admin):
    t = scenario(snipd, admin)
    c = t.call(t.snippet, "GetContent",
               snippet_pb2.GetContentRequest(content_id=t.deck))
    # 4 sends by 3 reps in 4 threads; 2 of the 4 threads positive or better.
    check_content_stats(c.stats, 4, 3, 4, DECK_OUTCOMES, 0.5)
    lst = t.call(t.snippet, "ListContents",
                 snippet_pb2.ListContentsRequest()).contents
    by_id = {x.content_id: x for x in lst}
    assert set(by_id) == {t.deck, t.brief}
    check_content_stats(by_id[t.deck].stats, 4, 3, 4, DECK_OUTCOMES, 0.5)
    check_content_stats(by_id[t.brief].stats, 1, 1, 1, counts(), 0.0)


def test_snippet_stats_pooled_over_family(snipd, admin):
    t = scenario(snipd, admin)
    res = t.call(t.snippet, "SearchSnippets", snippet_pb2.SearchSnippetsRequest(
        text=FRAME_D, kinds=[snippet_pb2.SNIPPET_KIND_FRAMING],
        page_size=20)).results
    mine = [r.snippet for r in res if r.snippet.text == FRAME_D]
    # One framing per email that used it; one family for the three, whose
    # numbers are its own, not its document's (which cy also sent).
    assert len(mine) == 3, [r.snippet.text for r in res]
    fams = {s.family_id for s in mine}
    assert len(fams) == 1 and fams.pop().startswith("fam_"), mine
    for s in mine:
        g = t.call(t.snippet, "GetSnippet",
                   snippet_pb2.GetSnippetRequest(snippet_id=s.snippet_id))
        for x in (s, g):
            st = x.stats
            assert (st.times_used, st.reps, st.threads) == (3, 2, 3), x
            assert st.outcomes == DECK_OUTCOMES, x
            assert st.positive_rate == pytest.approx(2 / 3), x
            # The family's latest use: ann's mail of day 3.
            assert st.last_used_time_unix_ms == T0 + 3 * DAY, x
    other = [r.snippet for r in res if r.snippet.text == FRAME_B]
    assert len(other) == 1, [r.snippet.text for r in res]
    st = other[0].stats
    assert (st.times_used, st.reps, st.threads) == (1, 1, 1), other
    assert st.outcomes == counts() and st.positive_rate == 0.0
    assert other[0].family_id not in ("", mine[0].family_id)
    # A key passage goes wherever its document goes: the deck's numbers.
    kp = t.call(t.snippet, "SearchSnippets", snippet_pb2.SearchSnippetsRequest(
        text="pricing plans seat volume discounts", content_id=t.deck,
        kinds=[snippet_pb2.SNIPPET_KIND_KEY_PASSAGE], page_size=5)).results
    assert kp, "no key passage of the deck"
    st = kp[0].snippet.stats
    assert (st.times_used, st.reps, st.threads) == (4, 3, 4), kp[0]
    assert st.outcomes == DECK_OUTCOMES and kp[0].snippet.family_id == ""


def feedback(t, sid, item, key):
    return t.call(t.outcome, "RecordFeedback",
                  outcome_pb2.RecordFeedbackRequest(
                      suggestion_id=sid, item_id=item,
                      kind=outcome_pb2.FEEDBACK_KIND_INSERTED,
                      idempotency_key=key))


def test_feedback_only_on_what_was_suggested(snipd, admin):
    t = scenario(snipd, admin)
    r = t.call(t.sugg, "Suggest", suggest_pb2.SuggestRequest(
        draft_text="Here is our pricing guide with plans and discounts",
        max_contents=1, max_framings=5))
    assert r.suggestion_id and r.contents and r.framings, r
    item = r.contents[0].item_id
    assert feedback(t, r.suggestion_id, item, "k1").feedback_id
    # A suggestion id never given: made up, or another team's.
    for sid in ["sg_" + "0" * 32, "sg_other", r.suggestion_id[:-1] + (
            "0" if r.suggestion_id[-1] != "0" else "1")]:
        _, info, _ = expect_reason(NF, "SUGGESTION_NOT_FOUND", feedback, t,
                                   sid, item, "k2")
        assert info.metadata["suggestion_id"] == sid[:64]
    _, other_key = create_team(snipd.admin(), "Other")
    o = Team(snipd, other_key)
    expect_reason(NF, "SUGGESTION_NOT_FOUND", feedback, o, r.suggestion_id,
                  item, "k3")
    # An item that was not in this suggestion: another target under this
    # item's tag, an item id of another suggestion, a made-up one.
    other_target = t.brief if r.contents[0].content_id == t.deck else t.deck
    forged = item.replace(r.contents[0].content_id, other_target)
    assert forged != item
    r2 = t.call(t.sugg, "Suggest", suggest_pb2.SuggestRequest(
        draft_text="Security review: SOC 2 and encryption", max_contents=2))
    assert r2.suggestion_id != r.suggestion_id and r2.contents
    for bad in [forged, r2.contents[0].item_id,
                r.suggestion_id + ".c." + other_target]:
        _, info, _ = expect_reason(NF, "SUGGESTION_ITEM_NOT_FOUND", feedback,
                                   t, r.suggestion_id, bad, "k4")
        assert info.metadata["item_id"] == bad
    # Every item Suggest gave is accepted, under its own suggestion.
    for i, it in enumerate([x.item_id for x in r.contents] +
                           [x.item_id for x in r.framings]):
        assert not feedback(t, r.suggestion_id, it, "all%d" % i).duplicate
    assert feedback(t, r2.suggestion_id, r2.contents[0].item_id, "r2")


class Stall:
    """An HTTP endpoint that accepts connections and never answers: the
    extraction worker's call waits (up to --llm-timeout-ms), so every job
    stays queued. close() resets the connections (the call fails, the job
    is deferred), so snipd can stop at once."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


def test_pending_extraction_jobs_in_get_team(snipd_factory, tmp_path):
    stall = Stall()
    try:
        keyf = tmp_path / "llm.key"
        keyf.write_text("sk-test\n")
        s = snipd_factory(args=[
            "--llm-provider", "openai", "--llm-base-url",
            "http://127.0.0.1:%d/v1" % stall.port, "--llm-key-file",
            str(keyf), "--llm-timeout-ms", "120000", "--extract-workers", "1"])
        admin = s.admin()
        team_id, key = create_team(admin, "Pending")
        s.client(key).team.AddTeamDomain(
            team_pb2.AddTeamDomainRequest(domain=DOMAIN))
        idle_id, _ = create_team(admin, "Idle")
        t = Team(s, key)
        for i in (1, 2, 3):
            t.call(t.ingest, "IngestEmail", ingest_pb2.IngestEmailRequest(
                raw_mime=cold_mail(i, ANN, DECK, FRAME_D, T0 + i * DAY)))
        g = admin.admin.GetTeam(admin_pb2.GetTeamRequest(team_id=team_id))
        assert g.pending_extraction_jobs == 3, g
        assert t.my_team().pending_extraction_jobs == 3
        g = admin.admin.GetTeam(admin_pb2.GetTeamRequest(team_id=idle_id))
        assert g.pending_extraction_jobs == 0, g
    finally:
        stall.close()
