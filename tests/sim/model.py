"""The simulator's behaviour models: how a prospect answers a mail (reply
kind, delay, meeting, deal) and how a rep picks content and a framing
(follow a suggestion, or their own habits).

Common random numbers: every draw of a thread comes from generators keyed
by (seed, concern, thread index) and the same numbers are drawn whatever
the path, so two arms that make the same choice in a thread see the same
result, and a better choice can only shift the result the same way.
"""

import math

from scenario import rng_for, sigmoid

# Reply kinds in the order of the cumulative draw: better quality moves
# mass from the right end (unsubscribe, negative) to the left (positive).
REPLY_ORDER = ("positive", "neutral", "none", "negative", "unsubscribe")


def reply_probs(world, quality, rep, segment):
    """Probabilities of the five REPLY_ORDER kinds (a multinomial logit)."""
    r = world.s["reply"]
    bias = 0.0
    for dim in ("industry", "persona", "stage"):
        bias += r["segment_bias"].get("%s:%s" % (dim, segment[dim]), 0.0)
    skill = (rep.skill - 0.5) * 2.0
    scores = {
        "positive": r["pos_base"] + r["pos_quality"] * quality +
        r["pos_skill"] * skill + bias,
        "neutral": r["neutral_base"],
        "none": 0.0,
        "negative": r["neg_base"] - r["neg_quality"] * quality - bias,
        "unsubscribe": r["unsub_base"] - r["unsub_quality"] * quality,
    }
    m = max(scores.values())
    ex = [math.exp(scores[k] - m) for k in REPLY_ORDER]
    tot = sum(ex)
    return [e / tot for e in ex]


def thread_outcome(world, plan, quality):
    """What the prospect of plan does after the rep's mail of the given
    quality: a dict with bounce, ooo, reply kind and delay (days),
    meeting (bool, delay), deal ("won"/"lost"/None, delay)."""
    rep = world.reps[plan.rep]
    pro = world.prospects[plan.prospect]
    r, cv = world.s["reply"], world.s["conv"]
    g = rng_for(world.seed, "outcome", plan.idx)
    # Draw everything, in a fixed order, whatever is used.
    u_bounce, u_ooo = g.random(), g.random()
    noise = g.gauss(0.0, 1.0) * r["noise_sd"]
    u_kind, u_delay = g.random(), g.random()
    u_meet, u_meet_d, u_deal, u_deal_d = (g.random(), g.random(), g.random(),
                                          g.random())
    out = {"bounce": u_bounce < r["bounce"], "ooo": False, "reply": "none",
           "reply_delay": 0.0, "meeting": False, "meeting_delay": 0.0,
           "deal": None, "deal_delay": 0.0, "quality": quality}
    if out["bounce"]:
        return out
    out["ooo"] = u_ooo < r["ooo"]
    probs = reply_probs(world, quality + noise, rep, pro.segment)
    acc = 0.0
    kind = REPLY_ORDER[-1]
    for k, p in zip(REPLY_ORDER, probs):
        acc += p
        if u_kind < acc:
            kind = k
            break
    out["reply"] = kind
    lo, hi = r["delay_days"]
    out["reply_delay"] = lo + (hi - lo) * u_delay
    if kind != "positive":
        return out
    skill = (rep.skill - 0.5) * 2.0
    p_meet = sigmoid(cv["meet_base"] + cv["meet_quality"] * quality +
                     cv["meet_skill"] * skill)
    if u_meet >= p_meet:
        return out
    out["meeting"] = True
    lo, hi = cv["meet_delay"]
    out["meeting_delay"] = lo + (hi - lo) * u_meet_d
    p_deal = sigmoid(cv["deal_base"] + cv["deal_quality"] * quality +
                     cv["deal_skill"] * skill)
    out["deal"] = "won" if u_deal < p_deal else "lost"
    lo, hi = cv["deal_delay"]
    out["deal_delay"] = lo + (hi - lo) * u_deal_d
    return out


def habit_pick(world, plan, kind, day):
    """The item (content or framing family id) the rep of plan picks by
    habit: weights are the rep's habits, boosted for items about the
    thread's topic, among the items introduced by that day."""
    rep = world.reps[plan.rep]
    pool = world.contents if kind == "content" else world.families
    boost = world.s["policy"]["topic_match_boost"]
    cands, weights = [], []
    for it in pool:
        if not world.available(it.id, day):
            continue
        w = rep.habit.get(it.id, 0.0)
        if w <= 0.0:
            continue
        if plan.topic in it.topics:
            w *= boost
        cands.append(it.id)
        weights.append(w)
    g = rng_for(world.seed, "habit-pick", kind, plan.idx)
    u = g.random()
    if not cands:
        cands = [it.id for it in pool if world.available(it.id, day)]
        weights = [1.0] * len(cands)
    tot = sum(weights)
    acc = 0.0
    for c, w in zip(cands, weights):
        acc += w / tot
        if u < acc:
            return c
    return cands[-1]


def follows(world, plan):
    """Whether the rep follows the suggestion in this thread (one draw per
    thread, the same in every arm)."""
    rep = world.reps[plan.rep]
    return rng_for(world.seed, "follow", plan.idx).random() < rep.follow


def mail_quality(world, plan, content_id, family_id):
    """Quality of a mail: hidden effectiveness of its content plus that of
    its framing family (a framing of no known family gets the scenario's
    unmapped_framing_quality)."""
    seg = world.prospects[plan.prospect].segment
    q = world.truth(content_id, seg, plan.topic) if content_id else 0.0
    if family_id:
        q += world.truth(family_id, seg, plan.topic)
    else:
        q += world.s["unmapped_framing_quality"]
    return q
