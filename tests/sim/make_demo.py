#!/usr/bin/python3
"""Writes the demo team's bundled sample (service/demo/) from the team
simulator's world, offline: no snipd is involved.

    /usr/bin/python3 tests/sim/make_demo.py [--out service/demo]
        [--scenario tests/sim/scenarios/demo.json] [--corpus DIR] [--check]

The world of the scenario is run for the oracle arm against a link that
only records (RecordingLink): every mail the reps and prospects send, in
time order, goes to sample.mbox (mboxrd: raw MIME, ">From " lines
escaped), every meeting and deal the CRM records to outcomes.jsonl (one
RecordOutcomeRequest per line: message_id of the rep's mail, kind as the
snipwise.v1.OutcomeKind name, occur_time_unix_ms, idempotency_key, note),
and the team (name, domain, reps, counts, and the open inquiry to try
Suggest on: the latest one, whose answer is left out) to team.json. snipd embeds the three files at build time
(service/BUILD, service/demo/embed.py) and loads them into the demo team
on first start (service/svc_demo.c).

Deterministic: the same scenario, corpus and Python give the same bytes
(the world draws from seeded generators, MIME boundaries derive from the
Message-IDs, nothing reads the clock). --check writes nothing and exits 1
when the files in --out differ from what the command would write.
"""

import argparse
import datetime
import email
import email.utils
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import driver  # noqa: E402
import mailgen  # noqa: E402
from links import OfflineLink  # noqa: E402
from scenario import World, load_scenario  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_SCENARIO = os.path.join(HERE, "scenarios", "demo.json")
DEFAULT_OUT = os.path.join(REPO, "service", "demo")
FILES = ("sample.mbox", "outcomes.jsonl", "team.json")

# snipwise.v1.OutcomeKind names of the outcomes a CRM records.
KIND_NAMES = {
    driver.OUTCOME_MEETING: "OUTCOME_KIND_MEETING_BOOKED",
    driver.OUTCOME_WON: "OUTCOME_KIND_OPPORTUNITY_WON",
    driver.OUTCOME_LOST: "OUTCOME_KIND_OPPORTUNITY_LOST",
}


class RecordingLink(OfflineLink):
    """No snipd: keeps what would have been sent, in order."""

    def __init__(self):
        super().__init__()
        self.mails = []
        self.outcomes = []

    def ingest(self, raw):
        self.mails.append(raw)
        return None

    def record_outcome(self, message_id, kind, when_ms, key, note=""):
        self.outcomes.append({
            "message_id": message_id,
            "kind": KIND_NAMES[kind],
            "occur_time_unix_ms": when_ms,
            "idempotency_key": key,
            "note": note,
        })
        return None


def mbox_bytes(mails):
    """mboxrd: a "From " separator line per mail (its Date as asctime),
    lines that start with ">*From " get one more '>', and a blank line
    after each mail. snipctl ingest and embed.py undo exactly this."""
    out = []
    for raw in mails:
        msg = email.message_from_bytes(raw)
        when = email.utils.parsedate_to_datetime(msg["Date"])
        when = when.astimezone(datetime.timezone.utc)
        out.append(b"From sample@snipwise.invalid " +
                   when.strftime("%a %b %d %H:%M:%S %Y").encode() + b"\n")
        body = raw if raw.endswith(b"\n") else raw + b"\n"
        for line in body.split(b"\n")[:-1]:
            if line.lstrip(b">").startswith(b"From "):
                line = b">" + line
            out.append(line + b"\n")
        out.append(b"\n")
    return b"".join(out)


def leave_open(mails, outcomes):
    """Leaves the latest prospect inquiry unanswered: the rep's answer and
    whatever followed it in that thread (replies, meetings, deals) are
    left out, so the sample ends with a thread waiting for the rep, the
    one the README's first Suggest is about. Returns (mails, outcomes,
    the inquiry as a dict)."""
    last = None
    for raw in mails:
        msg = email.message_from_bytes(raw)
        if ".inq@" in msg["Message-ID"]:
            last = msg
    if last is None:
        return mails, outcomes, None
    mid = last["Message-ID"].strip()
    tag = mid[1:].split(".inq@")[0] + "."  # "sim.demo.SEED.tN."
    kept = []
    for raw in mails:
        m = email.message_from_bytes(raw)["Message-ID"].strip()
        if m == mid or tag not in m:
            kept.append(raw)
    outs = [o for o in outcomes if tag not in o["message_id"]]
    body = last.get_payload(decode=True).decode("utf-8")
    return kept, outs, {"message_id": mid, "from": last["From"],
                        "subject": last["Subject"], "body": body}


def build(scenario, corpus):
    """Runs the world; returns {file name: bytes}."""
    world = World(load_scenario(scenario), corpus=corpus)
    link = RecordingLink()
    driver.ArmRun(world, "oracle", link).run()
    mails, outs, inquiry = leave_open(link.mails, link.outcomes)
    mbox = mbox_bytes(mails)
    outcomes = "".join(json.dumps(o, sort_keys=True) + "\n"
                       for o in outs).encode("utf-8")
    start = mailgen.sim_time(world, 0, 0)
    team = {
        "name": world.s["team_name"],
        "domain": world.s["domain"],
        "reps": [{"email": r.email, "name": r.name} for r in world.reps],
        "scenario": os.path.relpath(os.path.abspath(scenario), REPO),
        "seed": world.seed,
        "first_day": start.strftime("%Y-%m-%d"),
        "days": world.total_days,
        "threads": len(world.threads),
        "mails": len(mails),
        "outcomes": len(outs),
        "open_inquiry": inquiry,
    }
    team_json = (json.dumps(team, indent=2, sort_keys=True) + "\n").encode()
    return {"sample.mbox": mbox, "outcomes.jsonl": outcomes,
            "team.json": team_json}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default=DEFAULT_SCENARIO)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--corpus", help="root of the test corpus")
    ap.add_argument("--check", action="store_true",
                    help="compare with --out instead of writing")
    a = ap.parse_args(argv)
    files = build(a.scenario, a.corpus)
    if a.check:
        stale = []
        for name in FILES:
            try:
                with open(os.path.join(a.out, name), "rb") as f:
                    same = f.read() == files[name]
            except OSError:
                same = False
            if not same:
                stale.append(name)
        if stale:
            print("make_demo: %s differ from the generator's output; run "
                  "tests/sim/make_demo.py" % ", ".join(stale),
                  file=sys.stderr)
            return 1
        return 0
    os.makedirs(a.out, exist_ok=True)
    total = 0
    for name in FILES:
        with open(os.path.join(a.out, name), "wb") as f:
            f.write(files[name])
        total += len(files[name])
    team = json.loads(files["team.json"])
    print("make_demo: %d mails, %d outcomes, %d threads, %d bytes in %s" %
          (team["mails"], team["outcomes"], team["threads"], total, a.out),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
