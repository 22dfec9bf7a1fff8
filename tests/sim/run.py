#!/usr/bin/python3
"""Runs a team-simulator scenario for several arms, each against its own
fresh snipd (started and stopped here), and writes report.json and
report.md under --out.

    python3 tests/sim/run.py tests/sim/scenarios/tiny.json --out /tmp/sim
        [--snipd PATH] [--seed N] [--arms outcome,popularity,...]
        [--stubs DIR] [--corpus DIR] [--offline] [--no-adapter]

Exit status: 0 when the report is written (skipped arms are reported, not
failures); 1 on a bad scenario or arguments; 2 when a snipd exited
uncleanly (non-zero, or a sanitizer report)."""

import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import driver  # noqa: E402
import report as report_mod  # noqa: E402
from links import OfflineLink  # noqa: E402
from scenario import ScenarioError, World, load_scenario  # noqa: E402
import snipd_proc  # noqa: E402


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario")
    ap.add_argument("--out", required=True)
    ap.add_argument("--snipd")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--arms", default=",".join(driver.ARMS))
    ap.add_argument("--stubs", help="directory holding snipwise/v1 stubs")
    ap.add_argument("--corpus", help="root of the shared corpus")
    ap.add_argument("--offline", action="store_true",
                    help="run the world model without snipd")
    ap.add_argument("--workdir", help="where snipd data dirs go (temp)")
    ap.add_argument("--no-recipients", action="store_true",
                    help="Suggest without recipients, the thread as text "
                         "(no account context)")
    ap.add_argument("--thread-as-text", action="store_true",
                    help="Suggest with the thread as text (recipients as "
                         "usual): the match of --no-recipients")
    ap.add_argument("--no-adapter", action="store_true",
                    help="snipd without the query adapter "
                         "(SNIPD_ADAPTER=0: it serves none and its nightly "
                         "job learns none)")
    a = ap.parse_args(argv)
    arms = [x for x in a.arms.split(",") if x]
    bad = [x for x in arms if x not in driver.ARMS]
    if bad or not arms:
        ap.error("unknown arm(s) %s; choose from %s" %
                 (",".join(bad), ",".join(driver.ARMS)))
    a.arms = arms
    return a


def log(msg):
    print("sim: " + msg, file=sys.stderr, flush=True)


def snipd_env(a):
    """The SNIPD_* options run.py's flags set for every arm's snipd."""
    # Full builds only: a follow's families (a new framing joins only
    # the family of its very text until the next full build) depend on
    # when the builder runs, and two runs with one seed must agree.
    env = {"SNIPD_STATS_FOLLOW": "0"}
    if a.no_adapter:
        env["SNIPD_ADAPTER"] = "0"
    return env


def run_online_arm(world, arm, binary, workdir, notes, health, a):
    """Runs one arm on a fresh snipd. Returns (arm report, link); sets
    health["clean"] to False if snipd did not exit cleanly."""
    from links import SnipdLink
    proc = snipd_proc.Snipd(binary, os.path.join(workdir, arm),
                            env=snipd_env(a))
    proc.start()
    link = None
    try:
        link = SnipdLink(proc.addr, proc.admin_key(), world)
        if arm in driver.SNIPD_ARMS:
            # One probe decides whether this arm can run at all.
            link.suggest(mode=driver.MODE[arm], draft="hello", k=1)
            if not link.has("Suggest"):
                return ({"status": "skipped",
                         "note": "Suggest not implemented by this snipd"},
                        link)
            link.calls.pop("Suggest", None)
        run = driver.ArmRun(world, arm, link, recipients=not a.no_recipients,
                            thread_text=a.thread_as_text)
        return run.run().report(), link
    finally:
        if link is not None:
            link.close()
        code, san, tail = proc.stop()
        if code != 0 or san:
            health["clean"] = False
            notes.append("snipd of arm %s exited with code %d%s" %
                         (arm, code, " and a sanitizer report" if san else ""))
            log("snipd stderr tail (arm %s):\n%s" % (arm, tail))


def caps_of(link):
    if link is None or not link.online:
        return {}
    return dict(sorted(link.caps.items()))


def main(argv):
    a = parse_args(argv)
    try:
        scen = load_scenario(a.scenario)
        world = World(scen, seed=a.seed, corpus=a.corpus)
    except ScenarioError as e:
        log("bad scenario: %s" % e)
        return 1
    notes = []
    if a.no_recipients:
        notes.append("Suggest asked without recipients, the thread as text")
    elif a.thread_as_text:
        notes.append("Suggest asked with the thread as text")
    if a.no_adapter:
        notes.append("snipd without the query adapter (SNIPD_ADAPTER=0)")
    binary = None
    if not a.offline:
        binary = snipd_proc.find_snipd(a.snipd)
        if binary is None:
            notes.append("no snipd binary found: running offline")
        elif not snipd_proc.import_stubs(a.stubs):
            notes.append("Python stubs not found: running offline")
            binary = None
    workdir = a.workdir or tempfile.mkdtemp(
        prefix="sim-", dir=os.environ.get("TEST_TMPDIR"))
    arms = {}
    capabilities = {}
    calls = {}
    offline = binary is None
    ingest_missing = False
    health = {"clean": True}
    for arm in a.arms:
        log("arm %s: %s" % (arm, "offline" if offline or ingest_missing
                            else "starting snipd"))
        if offline or ingest_missing:
            if arm in driver.SNIPD_ARMS:
                why = ("IngestEmail not implemented by this snipd"
                       if ingest_missing else "no snipd")
                arms[arm] = {"status": "skipped", "note": why}
                notes.append("arm %s skipped: %s" % (arm, why))
                continue
            rep = driver.ArmRun(world, arm, OfflineLink()).run().report()
            rep["status"] = "offline"
            arms[arm] = rep
            continue
        rep, link = run_online_arm(world, arm, binary, workdir, notes,
                                   health, a)
        if link.online and not link.has("IngestEmail"):
            # Nothing reached snipd: redo this arm offline and run the
            # others offline too.
            ingest_missing = True
            notes.append("IngestEmail not implemented by this snipd: "
                         "world model run offline")
            if arm in driver.SNIPD_ARMS:
                arms[arm] = {"status": "skipped",
                             "note": "IngestEmail not implemented by this "
                                     "snipd"}
                notes.append("arm %s skipped: %s" % (arm,
                                                     arms[arm]["note"]))
            else:
                rep = driver.ArmRun(world, arm, OfflineLink()).run().report()
                rep["status"] = "offline"
                arms[arm] = rep
            capabilities[arm] = caps_of(link)
            continue
        if rep["status"] == "skipped":
            notes.append("arm %s skipped: %s" % (arm, rep["note"]))
        arms[arm] = rep
        capabilities[arm] = caps_of(link)
        calls[arm] = {m: link.calls[m] for m in sorted(link.calls)}
        for cap in ("RecordOutcome", "RunRerank", "RecordFeedback"):
            if link.caps.get(cap) == "unimplemented":
                line = "%s not implemented by this snipd" % cap
                if line not in notes:
                    notes.append(line)
    mode = "offline" if offline else (
        "offline (IngestEmail not implemented by snipd)" if ingest_missing
        else "snipd")
    rep = report_mod.build(world, a.arms, arms, capabilities, calls, notes,
                           mode)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "report.json"), "w",
              encoding="utf-8") as f:
        f.write(report_mod.to_json(rep))
    with open(os.path.join(a.out, "report.md"), "w", encoding="utf-8") as f:
        f.write(report_mod.to_markdown(rep))
    if not a.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    log("report written to %s" % a.out)
    return 0 if health["clean"] else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
