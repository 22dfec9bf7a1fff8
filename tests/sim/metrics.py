"""Metrics of the team simulator: NDCG@k of a ranking against the hidden
truth, outcome rates, and the day a new item reaches the top three.
Pure functions, unit-tested in test_metrics.py."""

import math


def dcg(gains, k):
    """Discounted cumulative gain of the first k gains: sum g_i/log2(i+1),
    i counted from 1."""
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains[:k]))


def relevance(truths, grades=3.0):
    """Maps a {id: hidden effectiveness} dict to graded gains: min-max
    within the candidate set to [0, grades], then the usual exponential
    gain 2**grade - 1 (so the best item gains 2**grades - 1 = 7 and the
    worst 0). None if all are equal: such a context says nothing about a
    ranking."""
    if not truths:
        return None
    lo, hi = min(truths.values()), max(truths.values())
    if hi - lo < 1e-12:
        return None
    return {k: 2.0 ** (grades * (v - lo) / (hi - lo)) - 1.0
            for k, v in truths.items()}


def ndcg_at_k(ranked, rel, k=10):
    """NDCG@k of the ranked ids against relevance {id: gain >= 0}. Ids not
    in rel (unknown to the truth) and repeats gain 0; the ideal ranking is
    rel sorted best first. None if the ideal DCG is 0."""
    ideal = dcg(sorted(rel.values(), reverse=True), k)
    if ideal <= 0:
        return None
    seen = set()
    gains = []
    for i in ranked:
        gains.append(0.0 if (i is None or i in seen) else rel.get(i, 0.0))
        if i is not None:
            seen.add(i)
    return dcg(gains, k) / ideal


def mean(xs):
    xs = [x for x in xs if x is not None]
    return (sum(xs) / len(xs)) if xs else None


def rates(threads):
    """Outcome rates over a list of thread results (dicts with reply,
    meeting, deal, bounce)."""
    n = len(threads)

    def frac(pred):
        return (sum(1 for t in threads if pred(t)) / n) if n else None

    return {
        "threads": n,
        "positive_reply_rate": frac(lambda t: t["reply"] == "positive"),
        "negative_reply_rate": frac(lambda t: t["reply"] == "negative"),
        "unsubscribe_rate": frac(lambda t: t["reply"] == "unsubscribe"),
        "meeting_rate": frac(lambda t: t["meeting"]),
        "deal_rate": frac(lambda t: t["deal"] == "won"),
        "followed_share": frac(lambda t: t["followed"]),
        "mean_quality": ((sum(t["quality"] for t in threads) / n) if n
                         else None),
    }


def days_to_top3(events, introduced_day, share=0.5):
    """Days from introduced_day until the first day on which the probe item
    was in the arm's top three in at least `share` of that day's eligible
    events. events: list of (day, in_top3 bool), only events whose context
    has the probe truly among the best three. None if never."""
    by_day = {}
    for day, hit in events:
        h, n = by_day.get(day, (0, 0))
        by_day[day] = (h + (1 if hit else 0), n + 1)
    for day in sorted(by_day):
        h, n = by_day[day]
        if day >= introduced_day and n and h / n >= share:
            return day - introduced_day
    return None


def rounded(x, nd=6):
    """Rounds floats in nested data so the JSON report is stable."""
    if isinstance(x, float):
        r = round(x, nd)
        return 0.0 if r == 0 else r
    if isinstance(x, dict):
        return {k: rounded(v, nd) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [rounded(v, nd) for v in x]
    return x
