#!/usr/bin/python3
"""Checks two simulator runs of the same scenario and seed (run_tests.sh
tiny): both wrote report.json and report.md, the JSON reports are
byte for byte identical (every arm, snipd's view and the call counts), every
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
    elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        for i, (u, v) in enumerate(zip(x, y)):
            out += describe(u, v, "%s[%d]" % (path, i))
    elif x != y:
        out.append("%s: %r vs %r" % (path, x, y))
    return out[:8]


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
        reps = [json.loads(x) for x in blobs]
        fail("the two runs with the same seed gave different report.json"
             " (%s)" % "; ".join(describe(reps[0], reps[1])))
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
