#!/usr/bin/python3
"""Checks a simulator run of scenarios/margin.json (run_tests.sh margin):
outcome-aware ranking must beat popularity and similarity-only by a wide
margin, on NDCG@10 against the hidden truth and on the positive reply rate
of the evaluated days. The scenario is built for it: habits ignore quality
(popularity learns the team's habits, which favour the weak items), worth
does not follow topics (similarity sees nothing), and the differences in
worth are large and clean, so only outcomes reveal the best items. A
ranking bug (outcomes graded wrongly, the outcome term lost, the wrong
items credited) closes the margin and fails this check.

The runs are deterministic (sim_tiny checks byte-identical reports), so
the figures below are exact for this code; the margins leave room for
honest changes in ranking while catching broken ones."""

import json
import os
import sys

# Least lead of the outcome arm, in NDCG@10 (mean of content and framing)
# and in positive reply rate, over each baseline. Measured at the time of
# writing: NDCG 0.843 against 0.574 (popularity) and 0.756 (similarity);
# replies 41.7% against 0.0% and 27.1%.
MIN_NDCG_LEAD = 0.04
MIN_REPLY_LEAD = 0.08


def fail(msg):
    print("check_margin: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def main(run_dir):
    p = os.path.join(run_dir, "report.json")
    if not os.path.isfile(p):
        fail("%s missing" % p)
    with open(p) as f:
        arms = json.load(f)["arms"]
    for arm in ("outcome", "popularity", "similarity"):
        if arms.get(arm, {}).get("status") != "ok":
            fail("arm %s did not run against snipd (%r)" %
                 (arm, arms.get(arm, {}).get("status")))
    out = arms["outcome"]
    nd = out["ndcg_at_10"]["mean"]
    rr = out["eval"]["positive_reply_rate"]
    lines = []
    for base in ("popularity", "similarity"):
        b = arms[base]
        bnd = b["ndcg_at_10"]["mean"]
        brr = b["eval"]["positive_reply_rate"]
        lines.append("%s NDCG %.3f replies %.1f%%" % (base, bnd, 100 * brr))
        if nd < bnd + MIN_NDCG_LEAD:
            fail("outcome NDCG@10 %.3f is not %.2f above %s's %.3f" %
                 (nd, MIN_NDCG_LEAD, base, bnd))
        if rr < brr + MIN_REPLY_LEAD:
            fail("outcome positive replies %.1f%% are not %.0f points above "
                 "%s's %.1f%%" % (100 * rr, 100 * MIN_REPLY_LEAD, base,
                                  100 * brr))
    print("check_margin: OK (outcome NDCG %.3f replies %.1f%%; %s)" %
          (nd, 100 * rr, "; ".join(lines)))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        fail("usage: check_margin.py RUN_DIR")
    main(sys.argv[1])
