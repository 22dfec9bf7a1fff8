"""The simulator's report: one JSON document (stable bytes: sorted keys,
rounded floats, no paths, no clock) and a Markdown summary of it."""

import json

import metrics

FORMAT = 1


def build(world, arm_order, arms, capabilities, calls, notes, mode):
    rep = {
        "format": FORMAT,
        "scenario": world.s["name"],
        "description": world.s["description"],
        "seed": world.seed,
        "mode": mode,
        "world": world.summary(),
        "arm_order": list(arm_order),
        "arms": arms,
        "capabilities": capabilities,
        "calls": calls,
        "notes": notes,
    }
    return metrics.rounded(rep)


def to_json(rep):
    return json.dumps(rep, sort_keys=True, indent=2) + "\n"


def _f(x, pct=False):
    if x is None:
        return "–"
    return ("%.1f%%" % (100 * x)) if pct else ("%.3f" % x)


def to_markdown(rep):
    L = ["# Team simulator: %s (seed %d)" % (rep["scenario"], rep["seed"]),
         ""]
    if rep["description"]:
        L += [rep["description"], ""]
    w = rep["world"]
    L += ["%d reps, %d prospects, %d threads over %d history + %d evaluated "
          "days; %d content items, %d framing families. Mode: %s." %
          (len(w["reps"]), w["prospects"], w["threads"], w["history_days"],
           w["days"], len(w["contents"]), len(w["framings"]), rep["mode"]),
          ""]
    if rep["notes"]:
        L += ["Notes:", ""] + ["- " + n for n in rep["notes"]] + [""]
    L += ["| arm | status | NDCG@10 content | NDCG@10 framing | positive "
          "replies | meetings | deals | weakest-quartile positive | "
          "weakest-quartile meetings | followed |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for arm in rep["arm_order"]:
        a = rep["arms"].get(arm, {})
        if a.get("status") == "skipped":
            L.append("| %s | skipped: %s | | | | | | | | |" %
                     (arm, a.get("note", "")))
            continue
        nd, ev, wk = a["ndcg_at_10"], a["eval"], a["weak_quartile"]
        L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            arm, a["status"], _f(nd["content"]), _f(nd["framing"]),
            _f(ev["positive_reply_rate"], True), _f(ev["meeting_rate"], True),
            _f(ev["deal_rate"], True), _f(wk["positive_reply_rate"], True),
            _f(wk["meeting_rate"], True), _f(ev["followed_share"], True)))
    probes = []
    for arm in rep["arm_order"]:
        a = rep["arms"].get(arm, {})
        for pid, p in sorted(a.get("probes", {}).items()):
            d, s = p["days_to_top3"], p.get("first_sent_day")
            probes.append("| %s | %s | %d | %s | %d | %s |" % (
                arm, pid, p["introduced_day"],
                "never" if s is None else str(s), p["eligible_events"],
                "never" if d is None else str(d)))
    if probes:
        L += ["", "New items (probes): days until in the arm's top three in "
              "at least half of the day's contexts where they truly are. "
              "snipd learns of an item only when a rep first sends it.", "",
              "| arm | item | introduced (day) | first sent (day) | eligible "
              "events | days to top 3 |", "|---|---|---|---|---|---|"] + probes
    L += ["", "Hidden truth (mean effectiveness over all segments and "
          "topics):", ""]
    for c in w["contents"]:
        L.append("- content %s (%s, %d bytes): %.3f" %
                 (c["id"], c["file"], c["bytes"], c["mean_truth"]))
    for f in w["framings"]:
        L.append("- framing %s (%d variants%s): %.3f" %
                 (f["id"], f["variants"], ", new on day %d" %
                  f["introduced_day"] if f["introduced_day"] else "",
                  f["mean_truth"]))
    if rep["calls"]:
        L += ["", "RPCs per arm (ok / errors):", ""]
        for arm in rep["arm_order"]:
            c = rep["calls"].get(arm)
            if not c:
                continue
            parts = []
            for m in sorted(c):
                e = c[m]["errors"]
                parts.append("%s %d%s" % (m, c[m]["ok"], (" / " + ", ".join(
                    "%s %d" % (k, e[k]) for k in sorted(e))) if e else ""))
            caps = rep["capabilities"].get(arm, {})
            un = [k for k in sorted(caps) if caps[k] == "unimplemented"]
            L.append("- %s: %s%s" % (arm, "; ".join(parts), (
                "; unimplemented: " + ", ".join(un)) if un else ""))
    return "\n".join(L) + "\n"
