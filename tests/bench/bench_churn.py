#!/usr/bin/python3
"""Suggest under churn (issue 13, "Suggest only reads"): on one snipd
serving the team bench_rerank filled (run_churn.sh), Suggest from 1 and
then 4 callers (CHURN_CALLERS=1,4), PHASE_S seconds each, in three phases
of one run:

  idle    nothing else happens;
  churn   two background threads write to the same team meanwhile:
          IngestEmail at 5 emails/s (outbound mail of the team's reps to
          prospects, each with a framing sentence and an attachment, and
          the prospects' replies to earlier ones) and RecordOutcome at 5/s
          (by Message-ID of mail ingested earlier in this churn); and a
          probe every 3 s: a positive reply on a thread of the fill,
          then GetThread every 20 ms until the thread's outcome counts
          (from the statistics Suggest reads) include it: how long a new
          outcome takes to count (outcome_visible, p50/p99/max, probes
          unseen after 300 s, and probes the churn's end cut short);
  idle2   nothing again (what is left of the churn, e.g. extraction jobs,
          still runs).

One JSON line per phase and caller count (Suggest p50/p99/count/errors by
status code), one per phase for the writes, the churn/idle ratios (idle is
the first idle phase), the freshness of the statistics Suggest answered
from when SuggestResponse carries `statistics` (StatisticsState: current,
lag_ms), null otherwise, and a summary line. Exit status 1 if a Suggest
failed or snipd died (then the run stops there and says so).

The warm-up (the first Suggest builds the team's statistics) is not
measured. Before it the team gets its domain, team.example (as a real
team would have: ingest then finds the rep an inbound reply is addressed
to; every email also says its direction).

Usage: bench_churn.py ADDR TEAM_KEY PHASE_S [SNIPD_PID]   (run_churn.sh)"""

import json
import os
import random
import sys
import threading
import time

import grpc
from snipwise.v1 import (common_pb2, ingest_pb2, ingest_pb2_grpc,
                         outcome_pb2, outcome_pb2_grpc, suggest_pb2,
                         suggest_pb2_grpc, team_pb2, team_pb2_grpc)

# The team bench_rerank fills: reps rep0..rep19 of team.example writing to
# buyerC@coC.example, C < 50000 (bench_rerank.c, bench_put_thread).
DOMAIN = "team.example"
REPS = 20
COMPANIES = 50000
SUGGEST_DEADLINE_S = 60   # slow calls are measured, not errors
WRITE_DEADLINE_S = 60
INGEST_PER_S = 5.0
OUTCOME_PER_S = 5.0
PROBE_EVERY_S = 3.0       # an outcome probe: record one, time until it counts
PROBE_WAIT_S = 300        # a probe not counted by then is reported unseen
CALLERS = tuple(int(x) for x in
                os.environ.get("CHURN_CALLERS", "1,4").split(","))
REPLY_AFTER_S = 3.0       # a reply comes at least this long after its mail
SEED = 13                 # one seed for every run (which mail gets a reply
                          # still depends on timing; ids carry a run tag)

SUBJECTS = ["Intro", "Pricing question", "Your evaluation", "Case study",
            "Security review", "Next steps", "Pilot proposal", "Renewal",
            "Quick question", "Following up", "Demo recap",
            "Budget planning", "Integration", "Roadmap preview",
            "Onboarding plan", "Compliance docs", "Reference customers",
            "Quote", "Webinar invite", "Checking in"]
FIRST = ["Dana", "Sam", "Priya", "Jonas", "Alex", "Mei", "Luca", "Noor",
         "Chris", "Ana", "Tom", "Ines"]
# Attachments: a few documents the reps send again and again (the same
# bytes are one content item, as in production).
DOCS = [
    ("Case study 12.txt", "case study",
     "Case study: how a logistics team of 40 cut reporting time by 45% in "
     "one quarter. The operations managers replaced weekly spreadsheets "
     "with the analytics dashboard and saved 6 hours a week each. Churn "
     "in their own customer base dropped from 4.1% to 2.9%."),
    ("Pricing sheet 7.txt", "pricing sheet",
     "Pricing sheet: Team tier at 29 dollars per seat per month, "
     "Enterprise tier at 49 with SSO, audit log and a 99.9% uptime SLA. "
     "Volume discounts of 10% above 100 seats and 20% above 500 seats. "
     "Annual contracts include onboarding and training."),
    ("Security overview 3.txt", "security overview",
     "Security overview: SOC 2 Type II report renewed every year, GDPR "
     "data processing agreement, encryption at rest and in transit, single "
     "sign-on, role-based access and a yearly penetration test by an "
     "outside firm. Data stays in the EU region on request."),
    ("ROI calculator 4.txt", "ROI calculator",
     "ROI calculator: a retail customer with 120 seats saved 310,000 "
     "dollars in the first year, mostly from faster forecasting and fewer "
     "manual exports. Payback came after 4 months; adoption reached 87% of "
     "managers in 6 weeks."),
    ("Product deck 8.txt", "product deck",
     "Product deck: the platform connects to your CRM and data warehouse, "
     "builds the pipeline and revenue dashboards your leadership asks for, "
     "and alerts managers when a forecast slips. Rollout takes two weeks "
     "with a pilot team first."),
]
# Framing sentences: how a rep introduces the attachment ({d} its title).
FRAMES = [
    "I've attached our {d}, which shows how teams like yours {o}.",
    "Attaching the {d} we discussed; it walks through how customers {o}.",
    "Here is the {d} - the short version is that teams {o}.",
    "Please find the {d} attached, with the numbers on how customers {o}.",
    "I'm sending over our {d}: page two shows how a team like yours {o}.",
    "Sharing the {d} so your finance team can see how customers {o}.",
    "You'll find the {d} attached; it covers how similar teams {o}.",
    "Take a look at the attached {d}, especially how one customer {o}.",
]
OUTCOMES = ["cut reporting time in half", "saved six hours a week per manager",
            "reduced churn by a third", "paid back the licence in four months",
            "passed their security review in two weeks",
            "grew pipeline coverage by 30%", "rolled out to 200 seats in a month",
            "improved forecast accuracy to 95%"]
CONTEXTS = ["Following our call on {t}, as promised.",
            "You mentioned {t} is a priority this quarter.",
            "Since your procurement review starts next week,",
            "Before your budget planning meeting,",
            "As a follow-up to the demo,"]
TOPICS = ["pricing", "the security review", "onboarding", "the pilot",
          "renewal terms", "reporting", "the integration"]
REPLIES = [
    "Thanks, this looks relevant. Could we set up a call next week to go "
    "through it with my team?",
    "Thanks for sending this. We might look at this next quarter, please "
    "send more on pricing then.",
    "Not a priority for us right now, please do not follow up on this.",
    "I am out of the office until Monday with limited access to email.",
    "Great, this is useful. Can you send a quote for 80 seats and the "
    "security overview?",
    "Thanks. Our finance team will review the numbers and come back to you.",
]
OUTCOME_KINDS = [
    (common_pb2.OUTCOME_KIND_MEETING_BOOKED, 5),
    (common_pb2.OUTCOME_KIND_OPPORTUNITY_WON, 2),
    (common_pb2.OUTCOME_KIND_OPPORTUNITY_LOST, 2),
    (common_pb2.OUTCOME_KIND_POSITIVE_REPLY, 1),
]


def count_outcomes(th):
    """The outcomes a Thread's statistics count (every kind)."""
    c = th.outcome_counts
    return sum(getattr(c, f.name) for f in c.DESCRIPTOR.fields
               if f.name.endswith("_count"))


def md(key):
    return (("authorization", "Bearer " + key),)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))] if xs else None


def ms(x):
    return round(1000.0 * x, 2) if x is not None else None


def ratio(a, b):
    return float("%.3g" % (a / b)) if a is not None and b else None


def load1():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


class Server:
    """Whether snipd still runs (a zombie counts as gone: run_churn.sh
    waits for it only at the end)."""

    def __init__(self, pid):
        self.pid = pid
        self.dead = threading.Event()

    def check(self):
        if self.pid and not self.dead.is_set():
            try:
                with open("/proc/%d/stat" % self.pid) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                if state in ("Z", "X"):
                    self.dead.set()
            except (OSError, IndexError):
                self.dead.set()
        return not self.dead.is_set()


def code_name(e):
    try:
        return e.code().name
    except Exception:  # not an RpcError with a code
        return type(e).__name__


def mime(mid, frm, to, subj, body, irt=None, att=None):
    s = ("Message-ID: <%s>\r\nFrom: %s\r\nTo: %s\r\nSubject: %s\r\n"
         "Date: %s\r\nMIME-Version: 1.0\r\n" %
         (mid, frm, to, subj,
          time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())))
    if irt:
        s += "In-Reply-To: <%s>\r\nReferences: <%s>\r\n" % (irt, irt)
    if att:
        s += ("Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
              "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n--b\r\n"
              "Content-Type: text/plain; name=\"%s\"\r\nContent-Disposition: "
              "attachment; filename=\"%s\"\r\n\r\n%s\r\n--b--\r\n" %
              (body.replace("\n", "\r\n"), att[0], att[0], att[1]))
    else:
        s += ("Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n" %
              body.replace("\n", "\r\n"))
    return s.encode()


class Churn:
    """The background writers: mail at INGEST_PER_S (about 60% new
    outbound mail, 40% replies to earlier outbound mail of this churn)
    and outcomes at OUTCOME_PER_S, each in its own thread, paced to a
    schedule (no catch-up bursts after a slow call)."""

    def __init__(self, ch, key, tag, fill_threads, server):
        self.server = server
        self.ingest = ingest_pb2_grpc.IngestServiceStub(ch)
        self.outcome = outcome_pb2_grpc.OutcomeServiceStub(ch)
        self.key = key
        self.tag = tag
        self.fill_threads = fill_threads
        self.rng = random.Random(SEED)
        self.orng = random.Random(SEED + 1)
        self.lock = threading.Lock()
        self.sent = []          # outbound: (msgid, rep, rep_name, prospect, subj, frame)
        self.unreplied = []     # (when ingested, index into sent)
        self.msgids = []        # every message id ingested (for outcomes)
        self.stop = threading.Event()
        self.n_mail = 0
        self.n_out = 0
        self.start_t = self.end_t = None
        self.lat = {"ingest": [], "outcome": []}
        self.calls = {"ingest": 0, "outcome": 0}
        self.kinds = {"outbound": 0, "inbound": 0, "new": 0, "duplicate": 0,
                      "outcome_by_message_id": 0, "outcome_by_fill_thread": 0,
                      "late_ticks": 0}
        self.errors = {"ingest": {}, "outcome": {}}
        self.threads = []
        self.probe_ms = []      # outcome probes: ms until counted
        self.probe_unseen = 0
        self.probe_cut = 0      # still waiting when the churn ended

    def _err(self, kind, e):
        c = code_name(e)
        with self.lock:
            self.errors[kind][c] = self.errors[kind].get(c, 0) + 1
        if c == "UNAVAILABLE" and not self.server.check():
            self.stop.set()
        print("churn: %s error: %s %s" % (kind, c, getattr(e, "details",
                                                           lambda: e)()),
              file=sys.stderr, flush=True)

    def _outbound(self):
        r = self.rng
        n = self.n_mail
        rep = r.randrange(REPS)
        c = r.randrange(COMPANIES)
        doc = DOCS[r.randrange(len(DOCS))]
        frame = r.choice(FRAMES).format(d=doc[1], o=r.choice(OUTCOMES))
        subj = r.choice(SUBJECTS)
        first = r.choice(FIRST)
        lead = r.choice(CONTEXTS).format(t=r.choice(TOPICS))
        if lead.endswith(",") and not frame.startswith("I"):
            frame = frame[0].lower() + frame[1:]
        body = ("Hi %s,\n\n%s %s\n\nHappy to walk you through it this week "
                "if that helps.\n\nBest,\nRep %d" % (first, lead, frame, rep))
        mid = "churn-%s-o%d@%s" % (self.tag, n, DOMAIN)
        repmail = "rep%d@%s" % (rep, DOMAIN)
        prospect = "buyer%d@co%d.example" % (c, c)
        raw = mime(mid, "Rep %d <%s>" % (rep, repmail),
                   "%s <%s>" % (first, prospect), subj, body,
                   att=(doc[0], doc[2]))
        return (mid, raw, common_pb2.DIRECTION_OUTBOUND,
                (mid, rep, repmail, prospect, subj, frame))

    def _inbound(self, j):
        r = self.rng
        omid, rep, repmail, prospect, subj, frame = self.sent[j]
        n = self.n_mail
        body = ("%s\n\nOn %s, Rep %d <%s> wrote:\n> %s\n" %
                (r.choice(REPLIES),
                 time.strftime("%a, %d %b %Y", time.gmtime()), rep, repmail,
                 frame))
        mid = "churn-%s-i%d@%s" % (self.tag, n, prospect.split("@")[1])
        raw = mime(mid, prospect, repmail, "Re: " + subj, body, irt=omid)
        return mid, raw, common_pb2.DIRECTION_INBOUND, None

    def _pace(self, per_s, fn):
        period = 1.0 / per_s
        nxt = time.monotonic()
        while not self.stop.is_set():
            fn()
            nxt += period
            now = time.monotonic()
            if now > nxt + 1.0:   # more than a second behind: no burst
                with self.lock:
                    self.kinds["late_ticks"] += 1
                nxt = now
            self.stop.wait(max(0.0, nxt - now))

    def _mail_once(self):
        # 40% of the time a reply to outbound mail of this churn at least
        # REPLY_AFTER_S old, if there is some; new outbound mail otherwise.
        j = None
        if self.rng.random() < 0.4:
            old = time.monotonic() - REPLY_AFTER_S
            ready = [k for k, (t, _) in enumerate(self.unreplied) if t < old]
            if ready:
                j = self.unreplied.pop(self.rng.choice(ready))[1]
        mid, raw, direction, sent = (self._inbound(j) if j is not None
                                     else self._outbound())
        self.n_mail += 1
        t0 = time.monotonic()
        try:
            r = self.ingest.IngestEmail(ingest_pb2.IngestEmailRequest(
                raw_mime=raw, direction=direction,
                client_ref="churn-%d" % self.n_mail),
                metadata=md(self.key), timeout=WRITE_DEADLINE_S)
        except grpc.RpcError as e:
            self._err("ingest", e)
            return
        dt = time.monotonic() - t0
        with self.lock:
            self.lat["ingest"].append(dt)
            self.calls["ingest"] += 1
            self.kinds["inbound" if sent is None else "outbound"] += 1
            self.kinds["new" if r.status == ingest_pb2.INGEST_STATUS_NEW
                       else "duplicate"] += 1
            self.msgids.append(mid)
            if sent is not None:
                self.sent.append(sent)
                self.unreplied.append((time.monotonic(), len(self.sent) - 1))

    def _outcome_once(self):
        r = self.orng
        with self.lock:
            mid = r.choice(self.msgids) if self.msgids else None
        kind = r.choices([k for k, _ in OUTCOME_KINDS],
                         [w for _, w in OUTCOME_KINDS])[0]
        self.n_out += 1
        req = outcome_pb2.RecordOutcomeRequest(
            kind=kind, idempotency_key="churn-%s-oc%d" % (self.tag, self.n_out),
            note="crm:opp-%d" % r.randrange(10 ** 6))
        if mid is not None:
            req.message_id = mid
        else:  # nothing ingested yet: a thread of the fill
            req.thread_id = r.choice(self.fill_threads)
        if kind in (common_pb2.OUTCOME_KIND_OPPORTUNITY_WON,
                    common_pb2.OUTCOME_KIND_OPPORTUNITY_LOST):
            req.deal_value.units = r.randrange(5, 200) * 500
            req.deal_value.currency_code = "USD"
        t0 = time.monotonic()
        try:
            self.outcome.RecordOutcome(req, metadata=md(self.key),
                                       timeout=WRITE_DEADLINE_S)
        except grpc.RpcError as e:
            self._err("outcome", e)
            return
        dt = time.monotonic() - t0
        with self.lock:
            self.lat["outcome"].append(dt)
            self.calls["outcome"] += 1
            self.kinds["outcome_by_message_id" if mid is not None
                       else "outcome_by_fill_thread"] += 1

    def start(self):
        self.start_t = time.monotonic()
        self.threads = [
            threading.Thread(target=self._pace,
                             args=(INGEST_PER_S, self._mail_once)),
            threading.Thread(target=self._pace,
                             args=(OUTCOME_PER_S, self._outcome_once)),
            threading.Thread(target=self._probe)]
        for t in self.threads:
            t.start()

    def _probe(self):
        """Every PROBE_EVERY_S: a positive reply on a thread of the fill,
        then GetThread every 20 ms until its outcome counts (which come
        from the statistics Suggest reads) have grown: how long a new
        outcome takes to count."""
        ing = self.ingest
        r = random.Random(SEED + 2)
        n = 0
        while not self.stop.is_set():
            tid = r.choice(self.fill_threads)
            n += 1
            try:
                before = count_outcomes(ing.GetThread(
                    ingest_pb2.GetThreadRequest(thread_id=tid),
                    metadata=md(self.key), timeout=WRITE_DEADLINE_S))
                self.outcome.RecordOutcome(outcome_pb2.RecordOutcomeRequest(
                    kind=common_pb2.OUTCOME_KIND_POSITIVE_REPLY,
                    thread_id=tid,
                    idempotency_key="churn-%s-probe%d" % (self.tag, n)),
                    metadata=md(self.key), timeout=WRITE_DEADLINE_S)
                t0 = time.monotonic()
                seen = None
                # The churn's end cuts a probe short (not counted): the
                # phases stay their length.
                while (time.monotonic() - t0 < PROBE_WAIT_S and
                       not self.stop.is_set()):
                    now = count_outcomes(ing.GetThread(
                        ingest_pb2.GetThreadRequest(thread_id=tid),
                        metadata=md(self.key), timeout=WRITE_DEADLINE_S))
                    if now > before:
                        seen = time.monotonic() - t0
                        break
                    time.sleep(0.02)
            except grpc.RpcError as e:
                self._err("outcome", e)
                self.stop.wait(PROBE_EVERY_S)
                continue
            with self.lock:
                if seen is None and self.stop.is_set():
                    self.probe_cut += 1
                elif seen is None:
                    self.probe_unseen += 1
                else:
                    self.probe_ms.append(1000 * seen)
            self.stop.wait(PROBE_EVERY_S)

    def finish(self):
        """Stops the writers; returns when the last write has returned."""
        self.stop.set()
        for t in self.threads:
            t.join(timeout=WRITE_DEADLINE_S + 30)
        self.end_t = time.monotonic()
        return self.end_t

    def report(self):
        secs = self.end_t - self.start_t
        out = {"phase": "churn", "writes": True, "seconds": round(secs, 1)}
        for k in ("ingest", "outcome"):
            lat = self.lat[k]
            out[k] = {"calls": self.calls[k],
                      "per_s": round(self.calls[k] / secs, 2) if secs else None,
                      "p50_ms": ms(pct(lat, 50)), "p99_ms": ms(pct(lat, 99)),
                      "max_ms": ms(max(lat)) if lat else None,
                      "errors": self.errors[k]}
        out.update(self.kinds)
        pm = self.probe_ms
        out["outcome_visible"] = {
            "probes": len(pm) + self.probe_unseen,
            "unseen": self.probe_unseen,
            "cut_by_the_end": self.probe_cut,
            "p50_ms": round(pct(pm, 50)) if pm else None,
            "p99_ms": round(pct(pm, 99)) if pm else None,
            "max_ms": round(max(pm)) if pm else None}
        return out

    def n_errors(self):
        return sum(sum(d.values()) for d in self.errors.values())


def suggest_requests(fill_threads):
    """A few fixed Suggest requests, as bench_rpc's BENCH_SUGGEST mode
    sends (a prospect asking about pricing and a case study, a draft),
    plus threads of the fill by id."""
    reqs = []

    def text(subject, frm, body, draft, rep):
        r = suggest_pb2.SuggestRequest(draft_text=draft, rep_email=rep,
                                       max_contents=5, max_framings=5)
        r.thread_text.subject = subject
        m = r.thread_text.messages.add()
        m.from_address = frm
        m.text = body
        return r

    reqs.append(text("Pricing and case studies", "prospect@example.com",
                     "Hi, could you send me your pricing and a case study "
                     "from a company like ours? We are evaluating tools this "
                     "quarter.", "Thanks for asking. Here is",
                     "rep3@" + DOMAIN))
    reqs.append(text("Security review", "buyer4711@co4711.example",
                     "Before our procurement meeting we need your security "
                     "overview and the compliance docs, SOC 2 and GDPR in "
                     "particular.", "Hi, I've attached", "rep11@" + DOMAIN))
    for k, tid in enumerate(fill_threads[:2]):
        reqs.append(suggest_pb2.SuggestRequest(
            thread_id=tid, draft_text=["Following up on our call,",
                                       "Here is the"][k],
            rep_email="rep%d@%s" % (k * 7, DOMAIN),
            max_contents=5, max_framings=5))
    return reqs


class Freshness:
    """StatisticsState of each Suggest response, when the API has it."""

    def __init__(self):
        self.has_field = ("statistics" in
                          suggest_pb2.SuggestResponse.DESCRIPTOR.fields_by_name)

    def of(self, resp):
        """(current, lag_ms) of resp, or None when it says nothing."""
        if not self.has_field:
            return None
        try:
            if not resp.HasField("statistics"):
                return None
            st = resp.statistics
            return (bool(getattr(st, "current", False)),
                    int(getattr(st, "lag_ms", 0)))
        except (ValueError, AttributeError):
            return None


def run_callers(stub, key, reqs, fresh, n, seconds, server, samples):
    """n callers, each looping over reqs (from its own offset) until
    seconds have passed (or snipd is gone); a call started before then is
    waited for. Returns [(t_start, t_end, latency_s or None, code or None,
    fresh)]; samples counts the distinct error messages."""
    out = []
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def caller(c):
        i = c
        mine = []
        while time.monotonic() < end and not server.dead.is_set():
            req = reqs[i % len(reqs)]
            i += 1
            t0 = time.monotonic()
            try:
                r = stub.Suggest(req, metadata=md(key),
                                 timeout=SUGGEST_DEADLINE_S)
                t1 = time.monotonic()
                mine.append((t0, t1, t1 - t0, None, fresh.of(r)))
            except grpc.RpcError as e:
                t1 = time.monotonic()
                mine.append((t0, t1, None, code_name(e), None))
                msg = ("%s %s" % (code_name(e), e.details()))[:120]
                with lock:
                    samples[msg] = samples.get(msg, 0) + 1
                print("suggest error: %s" % msg, file=sys.stderr, flush=True)
                if code_name(e) == "UNAVAILABLE":
                    server.check()
                time.sleep(0.05)
        with lock:
            out.extend(mine)

    ts = [threading.Thread(target=caller, args=(c,)) for c in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sorted(out, key=lambda c: c[0])


def main(addr, key, phase_s, pid):
    tag = "%x%x" % (int(time.time()), os.getpid())
    ch = grpc.insecure_channel(addr)
    team = team_pb2_grpc.TeamServiceStub(ch)
    ingest = ingest_pb2_grpc.IngestServiceStub(ch)
    suggest = suggest_pb2_grpc.SuggestServiceStub(ch)
    fresh = Freshness()
    server = Server(pid)

    # Setup: the team's domain (so ingest finds the rep of a reply, as for
    # a real team; every email also says its direction), and a few of the
    # fill's threads.
    t0 = time.monotonic()
    team.GetMyTeam(team_pb2.GetMyTeamRequest(), metadata=md(key), timeout=60)
    domains = team.ListTeamDomains(team_pb2.ListTeamDomainsRequest(),
                                   metadata=md(key), timeout=60)
    if not any(d.domain == DOMAIN for d in domains.domains):
        team.AddTeamDomain(team_pb2.AddTeamDomainRequest(domain=DOMAIN),
                           metadata=md(key), timeout=60)
    lt = ingest.ListThreads(ingest_pb2.ListThreadsRequest(page_size=50),
                            metadata=md(key), timeout=60)
    fill_threads = [t.thread_id for t in lt.threads]
    random.Random(SEED).shuffle(fill_threads)
    if not fill_threads:
        print("bench_churn: the team has no threads", file=sys.stderr)
        return 2
    reqs = suggest_requests(fill_threads)
    print(json.dumps({"setup_ms": round(1000 * (time.monotonic() - t0)),
                      "suggest_requests": len(reqs),
                      "statistics_field": fresh.has_field,
                      "ingest_per_s": INGEST_PER_S,
                      "outcome_per_s": OUTCOME_PER_S,
                      "phase_s": phase_s, "callers": list(CALLERS),
                      "suggest_deadline_s": SUGGEST_DEADLINE_S}), flush=True)

    # Warm-up, not measured: the first Suggest loads the index snapshot
    # and builds the team's statistics. Until a round of every request
    # succeeds (bounded).
    t0 = time.monotonic()
    for attempt in range(20):
        try:
            for q in reqs:
                suggest.Suggest(q, metadata=md(key), timeout=120)
            break
        except grpc.RpcError as e:
            print("warm-up: %s" % code_name(e), file=sys.stderr, flush=True)
            time.sleep(5)
    else:
        print("bench_churn: warm-up never succeeded", file=sys.stderr)
        return 2
    print(json.dumps({"warmup_ms": round(1000 * (time.monotonic() - t0))}),
          flush=True)

    results = {}
    churn = Churn(ch, key, tag, fill_threads, server)
    churn_end = None
    died = None
    for phase in ("idle", "churn", "idle2"):
        if phase == "churn":
            churn.start()
        for n in CALLERS:
            if server.dead.is_set():
                break
            t0 = time.monotonic()
            samples = {}
            calls = run_callers(suggest, key, reqs, fresh, n, phase_s, server,
                                samples)
            secs = time.monotonic() - t0
            lat = [c[2] for c in calls if c[2] is not None]
            errs = {}
            for c in calls:
                if c[3] is not None:
                    errs[c[3]] = errs.get(c[3], 0) + 1
            fs = [c[4] for c in calls if c[4] is not None]
            lags = [f[1] for f in fs]
            line = {"phase": phase, "callers": n, "seconds": round(secs, 1),
                    "suggest_calls": len(calls), "ok": len(lat),
                    "errors": errs,
                    "calls_per_s": round(len(lat) / secs, 2) if secs else None,
                    "p50_ms": ms(pct(lat, 50)), "p99_ms": ms(pct(lat, 99)),
                    "max_ms": ms(max(lat)) if lat else None,
                    "first_ms": ms(next((c[2] for c in calls
                                         if c[2] is not None), None)),
                    "stats_reported": len(fs) if fresh.has_field else None,
                    "stats_current": (sum(1 for f in fs if f[0])
                                      if fresh.has_field else None),
                    "lag_ms_p99": pct(lags, 99) if lags else None,
                    "lag_ms_max": max(lags) if lags else None,
                    "snipd_rss_kb": rss_kb(pid) if pid else None,
                    "load1": load1()}
            if samples:
                line["error_messages"] = samples
            results[(phase, n)] = (line, calls)
            print(json.dumps(line), flush=True)
            if server.dead.is_set() and died is None:
                died = {"snipd_died": True, "phase": phase, "callers": n,
                        "ok_calls_before": len(lat)}
                print(json.dumps(died), flush=True)
        if phase == "churn":
            churn_end = churn.finish()
            print(json.dumps(churn.report()), flush=True)
        if server.dead.is_set():
            break

    # Ratios against the first idle phase.
    ratios = {}
    for n in CALLERS:
        if ("idle", n) not in results:
            continue
        idle = results[("idle", n)][0]
        for phase in ("churn", "idle2"):
            if (phase, n) not in results:
                continue
            p = results[(phase, n)][0]
            r = {"ratio": "%s/idle" % phase, "callers": n,
                 "p50": ratio(p["p50_ms"], idle["p50_ms"]),
                 "p99": ratio(p["p99_ms"], idle["p99_ms"]),
                 "calls_per_s": ratio(p["calls_per_s"], idle["calls_per_s"])}
            ratios[(phase, n)] = r
            print(json.dumps(r), flush=True)

    # Freshness: lag during the churn; from the end of the churn until a
    # Suggest (started after it) reports current statistics.
    lag_max = lag_p99 = to_current = None
    if fresh.has_field:
        lags = [c[4][1] for n in CALLERS
                for c in results.get(("churn", n), (None, []))[1]
                if c[4] is not None]
        lag_max = max(lags) if lags else None
        lag_p99 = pct(lags, 99) if lags else None
        after = [c[1] for n in CALLERS
                 for c in results.get(("idle2", n), (None, []))[1]
                 if c[4] is not None and c[4][0]]
        if after:
            to_current = round(1000 * (min(after) - churn_end))
    print(json.dumps({"freshness": True, "statistics_field": fresh.has_field,
                      "churn_lag_ms_max": lag_max,
                      "churn_lag_ms_p99": lag_p99,
                      "ms_from_churn_end_to_current": to_current}),
          flush=True)

    suggest_errors = {}
    for (_, _), (line, _) in results.items():
        for k, v in line["errors"].items():
            suggest_errors[k] = suggest_errors.get(k, 0) + v
    summary = {"summary": True, "phase_s": phase_s,
               "suggest_calls": sum(l["suggest_calls"]
                                    for l, _ in results.values()),
               "suggest_errors": suggest_errors,
               "write_errors": churn.n_errors(),
               "snipd_died": died is not None,
               "churn_emails": churn.calls["ingest"],
               "churn_outcomes": churn.calls["outcome"],
               "outcome_visible_p50_ms": churn.report()["outcome_visible"]["p50_ms"],
               "outcome_visible_p99_ms": churn.report()["outcome_visible"]["p99_ms"],
               "outcome_probes_unseen": churn.probe_unseen}
    for n in CALLERS:
        for phase in ("idle", "churn", "idle2"):
            line = results.get((phase, n), ({}, None))[0]
            summary["%s_%d_p50_ms" % (phase, n)] = line.get("p50_ms")
            summary["%s_%d_p99_ms" % (phase, n)] = line.get("p99_ms")
        r = ratios.get(("churn", n), {})
        summary["churn_idle_%d_p50" % n] = r.get("p50")
        summary["churn_idle_%d_p99" % n] = r.get("p99")
    summary.update({"statistics_field": fresh.has_field,
                    "churn_lag_ms_max": lag_max, "churn_lag_ms_p99": lag_p99,
                    "ms_from_churn_end_to_current": to_current})
    print(json.dumps(summary), flush=True)
    return 1 if suggest_errors or died else 0


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2], float(sys.argv[3]),
                  int(sys.argv[4]) if len(sys.argv) > 4 else 0))
