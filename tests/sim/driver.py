"""Runs one arm of a scenario day by day against a link to snipd: prospects
write in (IngestEmail), reps ask for suggestions while writing (Suggest,
for the arms that rank through snipd), choose by their policy, send
(IngestEmail), prospects answer (IngestEmail), meetings and deals are
recorded (RecordOutcome by Message-ID) and the nightly job runs (RunRerank)
every simulated night.

The driver knows the hidden truth; snipd sees only mail and outcomes. The
truth is used to score the arm's rankings (NDCG@10) and, for the oracle
arm only, to rank.
"""

import heapq
import json
import os

import mailgen
import metrics
import model
from scenario import rng_for

ARMS = ("outcome", "popularity", "similarity", "random", "oracle")
SNIPD_ARMS = ("outcome", "popularity", "similarity")
LOCAL_ARMS = ("random", "oracle")
# RankingMode enum values of suggest.proto.
MODE = {"outcome": 1, "popularity": 2, "similarity": 3}
# OutcomeKind and FeedbackKind values of common.proto / outcome.proto.
OUTCOME_MEETING, OUTCOME_WON, OUTCOME_LOST = 1, 2, 3
FEEDBACK_INSERTED = 2
# The OutcomeKind snipd should derive from each kind of reply.
REPLY_KIND = {"positive": 4, "neutral": 5, "negative": 6, "ooo": 7,
              "unsubscribe": 8, "bounce": 9}
DAY = 1440
K = 10


def _tokens(text):
    out, cur = [], []
    for ch in text.lower():
        if ch.isalnum():
            cur.append(ch)
        elif cur:
            out.append("".join(cur))
            cur = []
    if cur:
        out.append("".join(cur))
    return out



class FamilyMatcher:
    """Maps a framing text shown by snipd back to the world's family: the
    family one of whose variants it contains best (at least 80% of the
    variant's words, and not a whole email)."""

    def __init__(self, world):
        self.entries = []
        for f in world.families:
            for v in world.variants[f.id]:
                self.entries.append((f.id, set(_tokens(v)), len(_tokens(v))))

    def match(self, text):
        toks = _tokens(text)
        st = set(toks)
        best, best_score = None, 0.0
        for fid, vt, n in self.entries:
            if not vt or len(toks) > 3 * n + 5:
                continue
            score = len(vt & st) / len(vt)
            if score > best_score + 1e-12:
                best, best_score = fid, score
        return best if best_score >= 0.8 else None


class ArmRun:
    """The state of one arm: what the team has used so far, the threads,
    and the per-event scores."""

    def __init__(self, world, arm, link, recipients=True, thread_text=False):
        """recipients False: Suggest is asked without recipients and with
        the thread as text (its id would name the account through its
        participants); thread_text True: the thread as text, recipients
        as usual (the matched comparison)."""
        self.w, self.arm, self.link = world, arm, link
        self.recipients = recipients
        self.thread_text = thread_text or not recipients
        self.known = {"content": {}, "framing": {}}  # id -> first day used
        self.content_map = {}  # snipd content_id -> world content id
        self.matcher = FamilyMatcher(world)
        self.results = []
        self.ndcg = {"content": [], "framing": []}
        self.probe_events = {}
        self.suggest_calls = 0
        self.suggest_empty = 0
        self.status = "ok"
        self.note = ""
        self.unmapped = {"content": 0, "framing": 0}
        self._heap = []
        self._seq = 0
        self.replies = []  # (snipd email id, kind) of ingested replies
        self.started = 0  # threads whose first mail was sent

    # events -------------------------------------------------------------
    def _push(self, minute, kind, payload):
        heapq.heappush(self._heap, (int(minute), self._seq, kind, payload))
        self._seq += 1

    def run(self):
        w = self.w
        plans_by_day = {}
        for p in w.threads:
            plans_by_day.setdefault(p.day, []).append(p)
        ranks_online = self.arm in SNIPD_ARMS
        for day in range(w.total_days):
            for p in plans_by_day.get(day, []):
                self._push(day * DAY + p.minute, "start", p)
            while self._heap and self._heap[0][0] < (day + 1) * DAY:
                minute, _, kind, payload = heapq.heappop(self._heap)
                getattr(self, "_on_" + kind)(minute, payload)
                if self.status == "skipped":
                    return self
            if ranks_online and self.link.online:
                self.link.rerank()
        return self

    def _when(self, minute):
        return mailgen.sim_time(self.w, 0, minute)

    def _ingest(self, raw):
        return self.link.ingest(raw)

    def _on_start(self, minute, plan):
        w = self.w
        ctx = {"plan": plan, "parent": None, "thread_id": ""}
        self.started += 1
        if not plan.cold:
            when = self._when(minute)
            mid, raw, body = mailgen.inquiry(w, plan, when)
            resp = self._ingest(raw)
            pro = w.prospects[plan.prospect]
            ctx["parent"] = {"message_id": mid, "when": when,
                             "name": pro.name, "addr": pro.email,
                             "body": body, "raw": raw,
                             "subject": mailgen.subject_of(w, plan)}
            if resp is not None:
                ctx["thread_id"] = resp.thread_id
        delay = 20 + rng_for(w.seed, "write-delay", plan.idx).randrange(160)
        self._push(minute + delay, "write", ctx)

    # ranking --------------------------------------------------------------
    def _context_truth(self, plan, kind, extra=()):
        seg = self.w.prospects[plan.prospect].segment
        ids = list(self.known[kind]) + [i for i in extra
                                        if i not in self.known[kind]]
        return {i: self.w.truth(i, seg, plan.topic) for i in sorted(ids)}

    def _local_ranking(self, plan, kind):
        t = self._context_truth(plan, kind)
        ids = sorted(t)
        if self.arm == "oracle":
            ids.sort(key=lambda i: (-t[i], i))
        else:
            rng_for(self.w.seed, "random-arm", kind, plan.idx).shuffle(ids)
        return ids[:K]

    def _snipd_ranking(self, plan, ctx, minute):
        w = self.w
        rep = w.reps[plan.rep]
        pro = w.prospects[plan.prospect]
        par = ctx["parent"]
        text = None
        if self.thread_text and par:
            # The prospect's words without the signature, as a plugin that
            # does not know the thread would send them.
            text = (par["subject"], par["body"].split("\nThanks,")[0])
        resp = self.link.suggest(
            mode=MODE[self.arm], thread_id=ctx["thread_id"],
            in_reply_to=par["message_id"] if par else "",
            recipients=[pro.email] if self.recipients else [],
            draft=mailgen.draft_text(w, plan), rep_email=rep.email, k=K,
            thread_text=text)
        if not self.link.has("Suggest"):
            self.status = "skipped"
            self.note = "Suggest not implemented by this snipd"
            return None
        self.suggest_calls += 1
        if resp is None:
            return {"content": [], "framing": [], "sid": "",
                    "citems": [], "fitems": []}
        contents, citems = [], []
        for c in resp.contents:
            cid = self.content_map.get(c.content_id)
            if cid is None:
                self.unmapped["content"] += 1
            contents.append(cid)
            citems.append(c.item_id)
        framings, fitems = [], []
        for f in resp.framings:
            fid = self.matcher.match(f.text)
            if fid is None:
                self.unmapped["framing"] += 1
            framings.append(fid)
            fitems.append((f.item_id, f.text))
        if not contents and not framings:
            self.suggest_empty += 1
        if os.environ.get("SIM_TRACE"):
            self._trace(plan, resp, contents, framings)
        return {"content": contents[:K], "framing": framings[:K],
                "sid": resp.suggestion_id, "citems": citems,
                "fitems": fitems}

    def _trace(self, plan, resp, contents, framings):
        """SIM_TRACE=FILE appends, per Suggest, the context's hidden truth
        and each suggested item's score parts (JSON lines): for debugging
        runs that differ, and for studying the score's weights offline."""
        def parts(items, ids):
            return [[i, s.score.total, s.score.relevance, s.score.outcome,
                     s.score.collaborative, s.score.exploration,
                     s.evidence.times_used, s.score.usage]
                    for i, s in zip(ids, items)]
        rec = {"arm": self.arm, "day": plan.day, "idx": plan.idx,
               "truth": {k: self._context_truth(plan, k)
                         for k in ("content", "framing")},
               "content": parts(resp.contents, contents),
               "framing": parts(resp.framings, framings)}
        with open(os.environ["SIM_TRACE"], "a") as f:
            f.write(json.dumps(rec, sort_keys=True) + "\n")

    def _score(self, plan, ranking):
        for kind in ("content", "framing"):
            rel = metrics.relevance(self._context_truth(plan, kind))
            if rel is not None:
                self.ndcg[kind].append(metrics.ndcg_at_k(ranking[kind], rel,
                                                         K))
            pool = self.w.contents if kind == "content" else self.w.families
            for it in pool:
                if not it.probe or not self.w.available(it.id, plan.day):
                    continue
                t = self._context_truth(plan, kind, extra=[it.id])
                top3 = sorted(t, key=lambda i: (-t[i], i))[:3]
                if it.id not in top3:
                    continue
                shown = []
                for i in ranking[kind]:
                    if i is not None and i not in shown:
                        shown.append(i)
                self.probe_events.setdefault(it.id, []).append(
                    (plan.day, it.id in shown[:3]))

    # writing ----------------------------------------------------------------
    def _on_write(self, minute, ctx):
        w = self.w
        plan = ctx["plan"]
        rep = w.reps[plan.rep]
        evaluated = plan.day >= w.eval_start
        ranking = None
        if evaluated:
            if self.arm in SNIPD_ARMS:
                ranking = self._snipd_ranking(plan, ctx, minute)
                if self.status == "skipped":
                    return
            else:
                ranking = {"content": self._local_ranking(plan, "content"),
                           "framing": self._local_ranking(plan, "framing"),
                           "sid": "", "citems": [], "fitems": []}
            self._score(plan, ranking)
        follow = evaluated and model.follows(w, plan)
        content = family = framing_text = None
        used_c = used_f = None
        if follow:
            for i, cid in enumerate(ranking["content"]):
                if cid is not None:
                    content, used_c = cid, i
                    break
            if ranking["framing"]:
                family = ranking["framing"][0]
                used_f = 0
                if ranking["fitems"]:
                    framing_text = ranking["fitems"][0][1]
                else:
                    framing_text = w.variants[family][rep.variant[family]]
        followed = follow and (used_c is not None or used_f is not None)
        if content is None:
            content = model.habit_pick(w, plan, "content", plan.day)
        if used_f is None:
            family = model.habit_pick(w, plan, "framing", plan.day)
            framing_text = w.variants[family][rep.variant[family]]
        when = self._when(minute)
        doc = w.documents[content]
        mid, raw, body = mailgen.outbound(w, plan, when, doc, framing_text,
                                          ctx["parent"])
        resp = self._ingest(raw)
        if resp is not None:
            for ref in resp.contents:
                if ref.content_id:
                    self.content_map[ref.content_id] = content
        self.known["content"].setdefault(content, plan.day)
        if family is not None:
            self.known["framing"].setdefault(family, plan.day)
        if followed and ranking["sid"]:
            items = []
            if used_c is not None and ranking["citems"]:
                items.append(ranking["citems"][used_c])
            if used_f is not None and ranking["fitems"]:
                items.append(ranking["fitems"][used_f][0])
            for it in items:
                self.link.feedback(ranking["sid"], it, FEEDBACK_INSERTED,
                                   rep.email, mailgen.unix_ms(when),
                                   "sim-fb-%d-%s" % (plan.idx, it))
        quality = model.mail_quality(w, plan, content, family)
        out = model.thread_outcome(w, plan, quality)
        self.results.append({
            "idx": plan.idx, "rep": plan.rep, "day": plan.day,
            "eval": evaluated, "followed": followed, "content": content,
            "family": family, "quality": quality, "reply": out["reply"],
            "bounce": out["bounce"], "ooo": out["ooo"],
            "meeting": out["meeting"], "deal": out["deal"]})
        orig = {"message_id": mid, "when": when, "body": body, "raw": raw,
                "subject": mailgen.subject_of(w, plan) if ctx["parent"] is None
                else "Re: " + ctx["parent"]["subject"],
                "references": [ctx["parent"]["message_id"]]
                if ctx["parent"] else []}
        self._schedule(minute, plan, out, orig)

    def _schedule(self, minute, plan, out, orig):
        g = rng_for(self.w.seed, "auto-delay", plan.idx)
        auto = 1 + g.randrange(15)
        if out["bounce"]:
            self._push(minute + auto, "reply", (plan, "bounce", orig))
            return
        if out["ooo"]:
            self._push(minute + auto, "reply", (plan, "ooo", orig))
        if out["reply"] == "none":
            return
        at = minute + 30 + out["reply_delay"] * DAY
        self._push(at, "reply", (plan, out["reply"], orig))
        if out["meeting"]:
            at += out["meeting_delay"] * DAY
            self._push(at, "outcome", (plan, OUTCOME_MEETING, orig, "meeting"))
            at += out["deal_delay"] * DAY
            kind = OUTCOME_WON if out["deal"] == "won" else OUTCOME_LOST
            self._push(at, "outcome", (plan, kind, orig, out["deal"]))

    def _on_reply(self, minute, payload):
        plan, kind, orig = payload
        _, raw = mailgen.reply(self.w, plan, kind, self._when(minute), orig)
        resp = self._ingest(raw)
        if resp is not None and resp.email_id:
            self.replies.append((resp.email_id, kind))

    def snipd_view(self):
        """How snipd saw this arm's mail: its thread count against the
        world's, and how often its reply classification agrees with the
        kind of reply the world sent (per kind). None offline."""
        if not self.link.online:
            return None
        view = {"threads": self.link.count_threads(),
                "world_threads": self.started}
        per = {}
        # Classification runs in snipd's extraction worker, after the ingest
        # reply: wait (bounded) until the worker has drained, then ask once
        # per reply, so that neither the answers nor the call counts depend
        # on timing.
        self.link.settle()
        for eid, kind in self.replies:
            got = self.link.reply_kind(eid)
            if got is None:
                break
            a = per.setdefault(kind, {"n": 0, "agree": 0, "unclassified": 0})
            a["n"] += 1
            a["agree"] += int(got == REPLY_KIND[kind])
            a["unclassified"] += int(got == 0)
        if per:
            view["reply_kinds"] = {k: per[k] for k in sorted(per)}
            tot = sum(a["n"] for a in per.values())
            view["reply_kind_agreement"] = sum(
                a["agree"] for a in per.values()) / tot
        return view

    def _on_outcome(self, minute, payload):
        plan, kind, orig, tag = payload
        key = "sim-%s-%d-t%d-%s" % (self.w.s["name"], self.w.seed, plan.idx,
                                    tag)
        self.link.record_outcome(orig["message_id"], kind,
                                 mailgen.unix_ms(self._when(minute)), key,
                                 note="crm:" + key)

    # report ---------------------------------------------------------------
    def report(self):
        w = self.w
        ev = [r for r in self.results if r["eval"]]
        weak = [r for r in ev if r["rep"] in w.weak_reps]
        nd_c = metrics.mean(self.ndcg["content"])
        nd_f = metrics.mean(self.ndcg["framing"])
        probes = {}
        for it in w.contents + w.families:
            if not it.probe:
                continue
            evs = self.probe_events.get(it.id, [])
            # A snipd arm can only know an item once a rep has sent it.
            probes[it.id] = {
                "kind": it.kind, "introduced_day": it.introduced_day,
                "first_sent_day": self.known[it.kind].get(it.id),
                "eligible_events": len(evs),
                "days_to_top3": metrics.days_to_top3(evs, it.introduced_day)}
        out = {
            "status": self.status,
            "ndcg_at_10": {"content": nd_c, "framing": nd_f,
                           "mean": metrics.mean([nd_c, nd_f]),
                           "events": len(self.ndcg["content"])},
            "eval": metrics.rates(ev),
            "weak_quartile": metrics.rates(weak),
            "history": metrics.rates([r for r in self.results
                                      if not r["eval"]]),
            "probes": probes,
        }
        if self.arm in SNIPD_ARMS:
            out["suggest"] = {"calls": self.suggest_calls,
                              "empty": self.suggest_empty,
                              "unmapped_contents": self.unmapped["content"],
                              "unmapped_framings": self.unmapped["framing"]}
        if self.note:
            out["note"] = self.note
        view = self.snipd_view() if self.status == "ok" else None
        if view is not None:
            out["snipd_view"] = view
        return out


def run_arm(world, arm, link):
    """Runs one arm to the end of the timeline; returns its ArmRun."""
    return ArmRun(world, arm, link).run()
