#!/usr/bin/python3
"""Checks two simulator runs of the same scenario and seed (run_tests.sh
tiny): both wrote report.json and report.md, the JSON reports are
identical (snipd_view and GetEmail call counts aside, see below), every
requested arm either ran or says why it was skipped, and the oracle arm
has the best NDCG@10 (strictly better than random): a sanity check that
the metric measures what it should."""

import json
import os
import sys


def fail(msg):
    print("check_reports: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def describe(x, y, path=""):
    """The paths at which two JSON values differ (at most 8)."""
    out = []
    if isinstance(x, dict) and isinstance(y, dict):
        for k in sorted(set(x) | set(y)):
            out += describe(x.get(k), y.get(k), path + "/" + str(k))
    elif x != y:
        out.append("%s: %r vs %r" % (path, x, y))
    return out[:8]


# Arms whose ranking comes from snipd's Suggest, and how far their metrics
# may move between two runs of the same seed.
SNIPD_RANKED = ("outcome", "popularity", "similarity")
TOLERANCE = 0.05


def numeric_diffs(x, y, path=""):
    """(path, a, b) for every differing number; other differences fail."""
    out = []
    if isinstance(x, dict) and isinstance(y, dict):
        for k in sorted(set(x) | set(y)):
            out += numeric_diffs(x.get(k), y.get(k), path + "/" + str(k))
    elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        for i, (u, v) in enumerate(zip(x, y)):
            out += numeric_diffs(u, v, "%s[%d]" % (path, i))
    elif x != y:
        if isinstance(x, (int, float)) and isinstance(y, (int, float)):
            out.append((path, x, y))
        else:
            out.append((path, float("inf"), 0.0))
    return out


def main(a, b):
    blobs = []
    for d in (a, b):
        for f in ("report.json", "report.md"):
            p = os.path.join(d, f)
            if not os.path.isfile(p) or os.path.getsize(p) == 0:
                fail("%s missing or empty" % p)
        with open(os.path.join(d, "report.json"), "rb") as f:
            blobs.append(f.read())
    if blobs[0] != blobs[1]:
        # The world, the arms' choices and their metrics must be identical.
        # "snipd_view" (how snipd classified the replies) depends on when
        # snipd's asynchronous extraction worker ran, so it is compared and
        # reported, not required to match (a known open issue).
        # For the same reason the number of GetEmail calls varies: the
        # driver polls GetEmail (bounded) until a reply is classified.
        reps = [json.loads(x) for x in blobs]
        views = [{k: v.pop("snipd_view", None) for k, v in r["arms"].items()}
                 for r in reps]
        for r in reps:
            for c in r["calls"].values():
                c.pop("GetEmail", None)
        # The arms ranked by snipd itself must agree closely; exact equality
        # is the goal but is not reached yet (open issue: a small timing
        # dependence inside snipd changes a few rankings under load), so
        # their numbers may differ by at most TOLERANCE and the differences
        # are printed. Everything else must be identical.
        ranked = [{k: r["arms"].pop(k, None) for k in SNIPD_RANKED}
                  for r in reps]
        if reps[0] != reps[1]:
            fail("the two runs with the same seed gave different report.json"
                 " (%s)" % "; ".join(describe(reps[0], reps[1])))
        far = [d for d in numeric_diffs(ranked[0], ranked[1])
               if abs(d[1] - d[2]) > TOLERANCE]
        if far:
            fail("snipd-ranked arms differ beyond %.2f between the runs: %s"
                 % (TOLERANCE, "; ".join("%s: %r vs %r" % d
                                         for d in far[:8])))
        near = numeric_diffs(ranked[0], ranked[1])
        if near:
            print("check_reports: warning: snipd-ranked arms differ slightly "
                  "between the runs: %s" % "; ".join(
                      "%s: %r vs %r" % d for d in near[:6]), file=sys.stderr)
        if views[0] != views[1]:
            print("check_reports: warning: snipd_view differs between the "
                  "runs (extraction timing)", file=sys.stderr)
    rep = json.loads(blobs[0])
    arms = rep["arms"]
    for arm in rep["arm_order"]:
        st = arms.get(arm, {}).get("status")
        if st not in ("ok", "offline", "skipped"):
            fail("arm %s has status %r" % (arm, st))
        if st == "skipped" and not arms[arm].get("note"):
            fail("arm %s skipped without a reason" % arm)
    ran = {k: v for k, v in arms.items() if v["status"] != "skipped"}
    for must in ("oracle", "random"):
        if must not in ran:
            fail("arm %s did not run" % must)
    best = ran["oracle"]["ndcg_at_10"]["mean"]
    for arm, v in sorted(ran.items()):
        nd = v["ndcg_at_10"]["mean"]
        if arm != "oracle" and nd is not None and nd > best + 1e-9:
            fail("arm %s NDCG %.4f beats the oracle's %.4f" % (arm, nd, best))
    if not ran["random"]["ndcg_at_10"]["mean"] < best:
        fail("random is as good as the oracle: the metric sees nothing")
    summary = ", ".join("%s %s" % (k, v["status"] if v["status"] ==
                                   "skipped" else "%.3f" %
                                   v["ndcg_at_10"]["mean"])
                        for k, v in sorted(arms.items()))
    print("check_reports: OK (%s mode; NDCG@10: %s)" % (rep["mode"],
                                                      summary))
    for n in rep["notes"]:
        print("check_reports: note: " + n)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        fail("usage: check_reports.py RUN_DIR_1 RUN_DIR_2")
    main(sys.argv[1], sys.argv[2])
