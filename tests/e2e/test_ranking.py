"""Outcomes, feedback, Suggest and the nightly job end to end: RecordOutcome
by thread id or Message-ID with idempotency keys, RecordFeedback on
suggestion items, ListOutcomes, team isolation, Suggest's evidence counts
against what was ingested, determinism of identical calls, the ranking
modes, and re-ranking (RPC and `snipd rerank` as a second process) during a
load of Suggest calls with no failed call and the new model visible to the
next call."""

import binascii
import subprocess
import threading
import time

import grpc
import pytest
from snipwise.v1 import (admin_pb2, common_pb2, ingest_pb2, ingest_pb2_grpc, outcome_pb2,
                         outcome_pb2_grpc, ranking_pb2, ranking_pb2_grpc,
                         suggest_pb2, suggest_pb2_grpc, team_pb2)

from e2e_lib import auth_md, create_team, expect_error, snipd_path

WAIT = 90.0
DOMAIN = "seller.example"
DAY = 86400 * 1000
T0 = 1772532000000  # Tue, 3 Mar 2026 10:00:00 UTC

PRICING = ("pricing_guide.txt",
           "Our pricing is simple. Plans start at 10 dollars per seat per "
           "month. Volume discounts apply above 100 seats.")
SECURITY = ("security_brief.txt",
            "We are SOC 2 certified. Data is encrypted at rest and in "
            "transit, and we run a yearly penetration test.")
FRAME_P = "I've attached the pricing guide, which explains our plans and discounts."
FRAME_S = "I've attached the security brief, which covers our SOC 2 report."


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
    """The stubs of one team key."""

    def __init__(self, snipd, key):
        ch = snipd.channel()
        self.md = auth_md(key)
        self.ingest = ingest_pb2_grpc.IngestServiceStub(ch)
        self.outcome = outcome_pb2_grpc.OutcomeServiceStub(ch)
        self.suggest_stub = suggest_pb2_grpc.SuggestServiceStub(ch)
        self.ranking = ranking_pb2_grpc.RankingServiceStub(ch)

    def call(self, stub, name, req, timeout=30):
        return getattr(stub, name)(req, metadata=self.md, timeout=timeout)

    def mail(self, raw):
        return self.call(self.ingest, "IngestEmail",
                         ingest_pb2.IngestEmailRequest(raw_mime=raw))

    def record(self, **kw):
        return self.call(self.outcome, "RecordOutcome",
                         outcome_pb2.RecordOutcomeRequest(**kw))

    def suggest(self, **kw):
        """Suggest, asked again (bounded) until the answer comes from
        statistics that count everything stored so far: snipd builds them
        in the background, and these tests check exact evidence."""
        end = time.monotonic() + WAIT
        while True:
            r = self.call(self.suggest_stub, "Suggest",
                          suggest_pb2.SuggestRequest(**kw))
            if r.statistics.current:
                return r
            if time.monotonic() > end:
                pytest.fail("Suggest's statistics never became current "
                            "(lag %d ms)" % r.statistics.lag_ms)
            time.sleep(0.05)

    def rerank(self, **kw):
        return list(self.ranking.RunRerank(ranking_pb2.RunRerankRequest(**kw),
                                           metadata=self.md, timeout=120))


def team_with_domain(snipd, admin, name):
    _, key = create_team(admin, name)
    snipd.client(key).team.AddTeamDomain(
        team_pb2.AddTeamDomainRequest(domain=DOMAIN))
    return Team(snipd, key)


def wait_until(what, fn, timeout=WAIT):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            pytest.fail("timed out waiting for " + what)
        time.sleep(0.1)


def thread(t, i, rep, att, frame, day, prospect=None):
    """An inquiry and a rep's answer with an attachment; returns the ids."""
    who = prospect or "cfo%d@prospect%d.example" % (i, i)
    when = T0 + day * DAY
    inq = t.mail(mime("in%d@p.example" % i, who, rep, "Question %d" % i,
                      "Hi, we are a manufacturing company in the evaluation "
                      "phase. Could you send me something on pricing?\n",
                      when))
    out = t.mail(mime("out%d@%s" % (i, DOMAIN), rep, who,
                      "Re: Question %d" % i,
                      "Thanks for reaching out.\n%s\nBest regards" % frame,
                      when + 3600 * 1000, att, "in%d@p.example" % i))
    assert inq.thread_id == out.thread_id
    return out.thread_id


def test_record_outcome_idempotent_and_isolated(snipd, admin):
    a = team_with_domain(snipd, admin, "A")
    b = team_with_domain(snipd, admin, "B")
    th = thread(a, 1, "rep@" + DOMAIN, PRICING, FRAME_P, 0)
    r1 = a.record(message_id="out1@" + DOMAIN,
                  kind=common_pb2.OUTCOME_KIND_MEETING_BOOKED,
                  idempotency_key="crm-1", occur_time_unix_ms=T0 + DAY)
    assert r1.thread_id == th and not r1.duplicate and r1.outcome_id
    # A repeat (even with other fields) returns the first result.
    r2 = a.record(message_id="<in1@p.example>",
                  kind=common_pb2.OUTCOME_KIND_OPPORTUNITY_LOST,
                  idempotency_key="crm-1")
    assert r2.duplicate and r2.outcome_id == r1.outcome_id
    assert r2.thread_id == th
    # The key decides, not the other fields: a repeat naming another
    # thread, or a message nobody has, still returns the first result.
    th2 = thread(a, 2, "rep@" + DOMAIN, PRICING, FRAME_P, 0)
    assert th2 != th
    r2b = a.record(thread_id=th2, kind=common_pb2.OUTCOME_KIND_MEETING_BOOKED,
                   idempotency_key="crm-1")
    assert r2b.duplicate and r2b.outcome_id == r1.outcome_id
    assert r2b.thread_id == th
    r2c = a.record(message_id="nobody@nowhere",
                   kind=common_pb2.OUTCOME_KIND_MEETING_BOOKED,
                   idempotency_key="crm-1")
    assert r2c.duplicate and r2c.outcome_id == r1.outcome_id
    assert r2c.thread_id == th
    assert not [o for o in a.call(
        a.outcome, "ListOutcomes",
        outcome_pb2.ListOutcomesRequest(thread_id=th2)).outcomes
        if o.source == outcome_pb2.OUTCOME_SOURCE_RECORDED]
    r3 = a.record(thread_id=th, kind=common_pb2.OUTCOME_KIND_OPPORTUNITY_WON,
                  idempotency_key="crm-2", occur_time_unix_ms=T0 + 5 * DAY,
                  deal_value=outcome_pb2.Money(units=12500, nanos=500000000,
                                               currency_code="EUR"),
                  note="opp 42")
    assert not r3.duplicate and r3.outcome_id != r1.outcome_id
    lst = a.call(a.outcome, "ListOutcomes",
                 outcome_pb2.ListOutcomesRequest(thread_id=th))
    recorded = [o for o in lst.outcomes
                if o.source == outcome_pb2.OUTCOME_SOURCE_RECORDED]
    assert [o.outcome_id for o in recorded] == [r3.outcome_id, r1.outcome_id]
    assert (recorded[0].deal_value.units,
            recorded[0].deal_value.nanos) == (12500, 500000000)
    assert recorded[0].deal_value.amount == 12500.5  # for older clients
    assert recorded[0].deal_value.currency_code == "EUR"
    assert recorded[0].note == "opp 42"
    # An older client's floating-point amount becomes units and nanos.
    r4 = a.record(thread_id=th, kind=common_pb2.OUTCOME_KIND_OPPORTUNITY_LOST,
                  idempotency_key="crm-3",
                  deal_value=outcome_pb2.Money(amount=99.99,
                                               currency_code="USD"))
    old = [o for o in a.call(a.outcome, "ListOutcomes",
                             outcome_pb2.ListOutcomesRequest(
                                 thread_id=th)).outcomes
           if o.outcome_id == r4.outcome_id][0]
    assert (old.deal_value.units, old.deal_value.nanos) == (99, 990000000)
    # Units and nanos are kept exactly, below a thousandth too.
    r5 = a.record(thread_id=th, kind=common_pb2.OUTCOME_KIND_OPPORTUNITY_WON,
                  idempotency_key="crm-4",
                  deal_value=outcome_pb2.Money(units=7, nanos=123456789,
                                               currency_code="KWD"))
    exact = [o for o in a.call(a.outcome, "ListOutcomes",
                               outcome_pb2.ListOutcomesRequest(
                                   thread_id=th)).outcomes
             if o.outcome_id == r5.outcome_id][0]
    assert (exact.deal_value.units, exact.deal_value.nanos) == (7, 123456789)
    # Another team sees none of it and cannot reach the thread.
    assert not b.call(b.outcome, "ListOutcomes",
                      outcome_pb2.ListOutcomesRequest()).outcomes
    expect_error(grpc.StatusCode.NOT_FOUND, b.record, thread_id=th,
                 kind=common_pb2.OUTCOME_KIND_MEETING_BOOKED,
                 idempotency_key="x")
    expect_error(grpc.StatusCode.NOT_FOUND, b.record,
                 message_id="out1@" + DOMAIN,
                 kind=common_pb2.OUTCOME_KIND_MEETING_BOOKED,
                 idempotency_key="crm-1")
    # The same key in team B is B's own key space.
    for kw, why in [
        ({"kind": 1, "idempotency_key": "k"}, "thread"),
        ({"thread_id": th, "idempotency_key": "k"}, "kind"),
        ({"thread_id": th, "kind": 1}, "idempotency_key"),
        ({"thread_id": th, "kind": 4, "idempotency_key": "k",
          "deal_value": outcome_pb2.Money(units=1, currency_code="EUR")},
         "deal_value"),
        ({"thread_id": th, "kind": 2, "idempotency_key": "k",
          "deal_value": outcome_pb2.Money(units=1, currency_code="euro")},
         "currency"),
        ({"thread_id": th, "kind": 2, "idempotency_key": "k",
          "deal_value": outcome_pb2.Money(units=1, nanos=10**9,
                                          currency_code="EUR")},
         "nanos"),
        ({"thread_id": th, "kind": 2, "idempotency_key": "k",
          "deal_value": outcome_pb2.Money(units=-1, currency_code="EUR")},
         "units"),
        ({"thread_id": th, "kind": 2, "idempotency_key": "k",
          "deal_value": outcome_pb2.Money(units=1, amount=1.0,
                                          currency_code="EUR")},
         "not the deprecated amount"),
    ]:
        err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, a.record, **kw)
        assert why in err.details()
    expect_error(grpc.StatusCode.NOT_FOUND, a.record,
                 message_id="nobody@nowhere", kind=1, idempotency_key="k9")


def wait_framings(t, n, **kw):
    def ready():
        r = t.suggest(**kw)
        return r if len(r.framings) >= n else None
    return wait_until("framing snippets", ready)


def test_suggest_evidence_determinism_and_feedback(snipd, admin):
    a = team_with_domain(snipd, admin, "A")
    b = team_with_domain(snipd, admin, "B")
    reps = ["ann@" + DOMAIN, "bob@" + DOMAIN]
    # The pricing framing: 3 threads by 2 reps, 2 meetings, 1 deal won.
    ths = [thread(a, i, reps[i % 2], PRICING, FRAME_P, i) for i in range(3)]
    # The security framing: 2 threads by one rep, no outcome recorded.
    for i in (3, 4):
        thread(a, i, reps[0], SECURITY, FRAME_S, i)
    for i, kind in [(0, 1), (1, 1), (1, 2)]:
        a.record(thread_id=ths[i], kind=kind, idempotency_key="o%d%d" % (i, kind),
                 occur_time_unix_ms=T0 + (i + 2) * DAY)
    req = dict(thread_id=ths[0], draft_text="Happy to help with pricing",
               explain=True, max_framings=5, max_contents=5)
    r = wait_framings(a, 2, **req)
    by_text = {f.text: f for f in r.framings}
    assert FRAME_P in by_text and FRAME_S in by_text, list(by_text)
    p, s = by_text[FRAME_P].evidence, by_text[FRAME_S].evidence
    assert (p.times_used, p.reps, p.threads) == (3, 2, 3)
    assert (p.meetings, p.deals_won) == (2, 1)
    assert (s.times_used, s.reps, s.threads) == (2, 1, 2)
    assert (s.meetings, s.deals_won) == (0, 0)
    assert "2 reps in 3 threads" in by_text[FRAME_P].explanation
    # Outcome-aware ranking puts the framing that won first.
    assert r.framings[0].text == FRAME_P
    assert r.framings[0].score.outcome > by_text[FRAME_S].score.outcome
    contents = {c.title: c for c in r.contents}
    assert contents["pricing_guide.txt"].evidence.threads == 3
    # Content already attached to the draft is not suggested again: every
    # id listed is left out, not only the last.
    assert len(r.contents) >= 2
    ids = [c.content_id for c in r.contents[:2]]
    ex = a.suggest(attachment_content_ids=ids, **req)
    assert not {c.content_id for c in ex.contents} & set(ids)
    ex1 = a.suggest(attachment_content_ids=ids[:1], **req)
    got = {c.content_id for c in ex1.contents}
    assert ids[0] not in got and ids[1] in got
    # Two identical calls give identical bytes.
    again = a.suggest(**req)
    assert again.SerializeToString() == r.SerializeToString()
    # Modes: popularity ranks by times used; all modes answer.
    pop = a.suggest(mode=suggest_pb2.RANKING_MODE_POPULARITY, **req)
    assert pop.framings[0].evidence.times_used == max(
        f.evidence.times_used for f in pop.framings)
    for m in (suggest_pb2.RANKING_MODE_SIMILARITY,
              suggest_pb2.RANKING_MODE_RANDOM):
        x = a.suggest(mode=m, **req)
        assert x.framings and x.SerializeToString() == a.suggest(
            mode=m, **req).SerializeToString()
    # Other ways to name the context.
    assert a.suggest(in_reply_to_message_id="in1@p.example",
                     draft_text="pricing").framings
    assert a.suggest(thread_text=suggest_pb2.ThreadText(
        subject="Pricing", messages=[suggest_pb2.ThreadTextMessage(
            text="What does it cost?\n> quoted\n")]),
        draft_text="pricing").framings
    expect_error(grpc.StatusCode.NOT_FOUND, a.suggest, thread_id="th_nope")
    expect_error(grpc.StatusCode.NOT_FOUND, b.suggest, thread_id=ths[0])
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, a.suggest)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, a.suggest,
                 draft_text="x y", max_framings=1000)
    # Team B sees none of A's snippets.
    assert not b.suggest(draft_text="pricing guide plans").framings
    # Feedback on an item, idempotent by key.
    it = r.framings[0].item_id
    fb = a.call(a.outcome, "RecordFeedback", outcome_pb2.RecordFeedbackRequest(
        suggestion_id=r.suggestion_id, item_id=it,
        kind=outcome_pb2.FEEDBACK_KIND_INSERTED, rep_email=reps[0],
        idempotency_key="fb-1"))
    fb2 = a.call(a.outcome, "RecordFeedback", outcome_pb2.RecordFeedbackRequest(
        suggestion_id=r.suggestion_id, item_id=it,
        kind=outcome_pb2.FEEDBACK_KIND_DISMISSED, idempotency_key="fb-1"))
    assert fb.feedback_id and not fb.duplicate
    assert fb2.duplicate and fb2.feedback_id == fb.feedback_id
    # A suggestion never given (test_fields.py has the other cases).
    expect_error(grpc.StatusCode.NOT_FOUND, a.call, a.outcome,
                 "RecordFeedback", outcome_pb2.RecordFeedbackRequest(
                     suggestion_id="sg_other", item_id=it, kind=2,
                     idempotency_key="fb-2"))
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, a.call, a.outcome,
                 "RecordFeedback", outcome_pb2.RecordFeedbackRequest(
                     suggestion_id=r.suggestion_id, item_id=it, kind=9,
                     idempotency_key="fb-3"))


def feedback(t, r, item, kind, rep, key, when=0):
    return t.call(t.outcome, "RecordFeedback", outcome_pb2.RecordFeedbackRequest(
        suggestion_id=r.suggestion_id, item_id=item, kind=kind,
        rep_email=rep, time_unix_ms=when, idempotency_key=key))


def test_feedback_moves_the_ranking(snipd, admin):
    """A rep's dismissal lowers an item for that rep at once and barely for
    the others; thumbs-down from many reps lower it for everyone; an
    insert is a pending use until the mail that carries it arrives."""
    a = team_with_domain(snipd, admin, "A")
    ann, bob = "ann@" + DOMAIN, "bob@" + DOMAIN
    for i in (0, 1):
        thread(a, i, ann, PRICING, FRAME_P, i)
    for i in (2, 3):
        thread(a, i, bob, SECURITY, FRAME_S, i)
    req = dict(draft_text="Happy to help with pricing and our plans",
               explain=True, max_framings=2, max_contents=2)
    first = wait_framings(a, 2, rep_email=ann, **req)
    assert first.framings[0].text == FRAME_P, [f.text for f in first.framings]
    top = first.framings[0]
    assert top.score.feedback == 0 and not top.feedback_evidence.team.dismissed_count
    gap = top.score.total - first.framings[1].score.total
    assert 0 < gap < 0.7, gap  # the dismissal below must be able to flip it

    # Ann dismisses it: for her it falls behind at once ...
    feedback(a, first, top.item_id, outcome_pb2.FEEDBACK_KIND_DISMISSED, ann,
             "d-ann")
    mine = a.suggest(rep_email=ann, **req)
    assert mine.framings[0].text == FRAME_S, [f.text for f in mine.framings]
    low = [f for f in mine.framings if f.text == FRAME_P][0]
    assert low.feedback_evidence.rep.dismissed_count == 1
    assert low.feedback_evidence.team.dismissed_count == 1
    assert low.score.feedback < -0.7
    assert "; you: 1 dismissed; the team: 1 dismissed" in low.explanation
    # ... while for Bob, one colleague's dismissal is thin evidence.
    his = a.suggest(rep_email=bob, **req)
    assert his.framings[0].text == FRAME_P
    h = his.framings[0]
    assert h.feedback_evidence.rep.dismissed_count == 0
    assert h.feedback_evidence.team.dismissed_count == 1
    assert -0.2 < h.score.feedback < 0
    assert "; you:" not in h.explanation
    assert "; the team: 1 dismissed" in h.explanation

    # Thumbs-down from five more reps: pooled, it now falls for Bob too.
    for n in range(5):
        feedback(a, first, top.item_id, outcome_pb2.FEEDBACK_KIND_THUMBS_DOWN,
                 "rep%d@%s" % (n, DOMAIN), "down-%d" % n)
    his = a.suggest(rep_email=bob, **req)
    assert his.framings[0].text == FRAME_S, [f.text for f in his.framings]
    h = [f for f in his.framings if f.text == FRAME_P][0]
    assert h.feedback_evidence.team.thumbs_down_count == 5
    assert h.feedback_evidence.team.dismissed_count == 1  # counted once
    assert h.score.feedback < -0.3

    # An insert of the security brief is a use before its mail arrives:
    # pending, and counted by the popularity mode ...
    sec = [c for c in first.contents if c.title == "security_brief.txt"][0]
    feedback(a, first, sec.item_id, outcome_pb2.FEEDBACK_KIND_INSERTED, ann,
             "ins-1")
    pop = a.suggest(rep_email=ann, mode=suggest_pb2.RANKING_MODE_POPULARITY,
                    **req)
    c = [c for c in pop.contents if c.title == "security_brief.txt"][0]
    assert c.feedback_evidence.pending_use_count == 1
    assert c.feedback_evidence.team.inserted_count == 1
    assert c.score.total >= c.evidence.use_count + 1
    out = a.suggest(rep_email=ann, **req)
    c = [c for c in out.contents if c.title == "security_brief.txt"][0]
    assert "inserted 1 time in mail not yet sent" in c.explanation
    # ... and once that mail is in, a use like any other.
    now = int(time.time() * 1000)
    thread(a, 9, ann, SECURITY, FRAME_S, (now + 60000 - T0) // DAY + 1)
    out = a.suggest(rep_email=ann, **req)
    c = [c for c in out.contents if c.title == "security_brief.txt"][0]
    assert c.evidence.use_count == 3
    assert c.feedback_evidence.pending_use_count == 0
    assert "not yet sent" not in c.explanation


def test_explore_percent_scales_the_bonus(snipd_factory):
    """--explore-percent scales exploration in the total and nothing
    else: the same history on three servers (0, 100 and 300 percent)
    gives the same parts, and totals that differ by the bonus times the
    share."""
    totals = []
    for pct in ("0", "100", "300"):
        s = snipd_factory(args=["--explore-percent", pct])
        t = team_with_domain(s, s.admin(), "Explore " + pct)
        for i in range(2):
            thread(t, i, "ann@" + DOMAIN, PRICING, FRAME_P, i)
        r = wait_framings(t, 1, draft_text="Happy to help with pricing",
                          max_framings=5)
        f = {x.text: x for x in r.framings}[FRAME_P]
        totals.append((f.score.total, f.score.exploration, f.score.outcome))
    (t0, e0, o0), (t1, e1, o1), (t3, e3, o3) = totals
    assert e0 == e1 == e3 and e0 > 0  # a bonus for an item used twice
    assert o0 == o1 == o3
    assert t1 > t0
    assert abs((t3 - t0) - 3 * (t1 - t0)) < 1e-9


def test_rerank_during_suggest_load(snipd, admin):
    a = team_with_domain(snipd, admin, "A")
    for i in range(12):
        att, frame = (PRICING, FRAME_P) if i % 3 else (SECURITY, FRAME_S)
        th = thread(a, i, "rep%d@%s" % (i % 3, DOMAIN), att, frame, i)
        if i % 3:
            a.record(thread_id=th, kind=common_pb2.OUTCOME_KIND_MEETING_BOOKED,
                     idempotency_key="m%d" % i,
                     occur_time_unix_ms=T0 + (i + 1) * DAY)
    req = dict(draft_text="Happy to help with pricing and SOC 2")
    wait_framings(a, 2, **req)
    expect_error(grpc.StatusCode.NOT_FOUND, a.call, a.ranking, "GetModel",
                 ranking_pb2.GetModelRequest())
    stop, errors, calls = threading.Event(), [], [0]

    def load():
        while not stop.is_set():
            try:
                a.suggest(**req)
                calls[0] += 1
            except grpc.RpcError as e:
                errors.append("%s: %s" % (e.code(), e.details()))

    workers = [threading.Thread(target=load) for _ in range(3)]
    for w in workers:
        w.start()
    try:
        msgs = a.rerank(force_promote=True)
        # The second process, on the same data directory.
        p = subprocess.run([snipd_path(), "rerank", "--data-dir",
                            snipd.data_dir, "--force-promote"],
                           capture_output=True, timeout=120)
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=60)
    assert not errors, errors[:5]
    assert calls[0] > 0
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    assert b"# Re-ranking report" in p.stdout
    phases = [m.phase for m in msgs]
    assert phases[0] == "families" and phases[-1] == "done"
    assert msgs[-1].result.promoted and msgs[-1].result.model.report
    serving = a.call(a.ranking, "GetModel", ranking_pb2.GetModelRequest())
    assert serving.promoted
    assert serving.model_version != msgs[-1].result.model.model_version
    assert a.suggest(**req).model_version == serving.model_version
    models = a.call(a.ranking, "ListModels",
                    ranking_pb2.ListModelsRequest(page_size=1))
    assert len(models.models) == 1 and models.next_page_token
    assert models.models[0].model_version == serving.model_version
    older = a.call(a.ranking, "ListModels", ranking_pb2.ListModelsRequest(
        page_size=1, page_token=models.next_page_token))
    assert older.models[0].model_version == msgs[-1].result.model.model_version
    assert not older.models[0].promoted
    m = serving.metrics
    assert {b.baseline for b in m.baselines} >= {1, 2}
    # Twelve threads: too few uses that paid off for a query adapter, and
    # the report says so (rank_adapter_test covers one being learnt).
    assert m.HasField("adapter")
    assert not m.adapter.trained and not m.adapter.kept
    assert m.adapter.positive_pair_count < 30
    assert "no adapter: %d positive training pairs" % \
        m.adapter.positive_pair_count in serving.report
    # A dry run stores nothing.
    dry = a.rerank(dry_run=True)
    assert not dry[-1].result.promoted
    assert a.call(a.ranking, "GetModel", ranking_pb2.GetModelRequest(
    )).model_version == serving.model_version


def lmdb_records(data_dir):
    """Every (database, key, value) of the store, as bytes, read with
    lmdb-utils' mdb_dump while snipd serves (LMDB allows other readers)."""
    p = subprocess.run(["mdb_dump", "-a", data_dir], capture_output=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    out, db, data, pending = [], None, False, None
    for line in p.stdout.decode().splitlines():
        if line.startswith("database="):
            db = line[len("database="):]
        elif line == "HEADER=END":
            data, pending = True, None
        elif line == "DATA=END":
            data = False
        elif data and line.startswith(" "):
            b = binascii.unhexlify(line[1:])
            if pending is None:
                pending = b
            else:
                out.append((db, pending, b))
                pending = None
    return out


def test_delete_team_leaves_no_key(snipd, admin):
    """After ingest, extraction, outcomes, feedback and a model, deleting a
    team leaves nothing of it in any database: no key under its prefix and
    no key or value that names it. Another team's data stays."""
    tid, key = create_team(admin, "Doomed")
    snipd.client(key).team.AddTeamDomain(
        team_pb2.AddTeamDomainRequest(domain=DOMAIN))
    a = Team(snipd, key)
    keep = team_with_domain(snipd, admin, "Kept")
    for t in (a, keep):
        ths = [thread(t, i, "rep%d@%s" % (i % 2, DOMAIN), PRICING, FRAME_P, i)
               for i in range(3)]
        t.record(thread_id=ths[0], kind=common_pb2.OUTCOME_KIND_MEETING_BOOKED,
                 idempotency_key="m0", occur_time_unix_ms=T0 + DAY)
        r = wait_framings(t, 1, draft_text="pricing guide plans")
        t.call(t.outcome, "RecordFeedback", outcome_pb2.RecordFeedbackRequest(
            suggestion_id=r.suggestion_id, item_id=r.framings[0].item_id,
            kind=outcome_pb2.FEEDBACK_KIND_INSERTED, rep_email="rep0@" + DOMAIN,
            idempotency_key="fb"))
        assert t.rerank(force_promote=True)[-1].result.promoted
    name = tid.encode()
    before = lmdb_records(snipd.data_dir)
    dbs = {db for db, k, v in before if name in k or name in v}
    # The team's data reached the databases this test means to cover.
    for db in ("teams", "keys", "snippets", "emails", "threads", "contents",
               "outcomes", "feedback", "rank_models", "llm_journal"):
        assert db in dbs, (db, sorted(dbs))
    admin.admin.DeleteTeam(admin_pb2.DeleteTeamRequest(team_id=tid))
    after = lmdb_records(snipd.data_dir)
    left = [(db, k[:60]) for db, k, v in after if name in k or name in v]
    assert not left, left[:10]
    # The other team is untouched and still served.
    assert keep.suggest(draft_text="pricing guide plans").framings
    kept = {db for db, k, v in after if k.startswith(b"team_") and
            k != name}
    assert "snippets" in kept and "outcomes" in kept
