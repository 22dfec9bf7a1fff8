"""The demo team's sample (make_demo.py → service/demo/): the generator is
deterministic, the committed files are exactly what it writes, the mbox
round-trips through the build's embed.py to the mails the world sent, and
the sample is what the demo needs: a few hundred mails in time order,
outbound mail with attachments, replies, outcomes that name outbound mail
of the sample, and an open inquiry to suggest for."""

import email
import email.utils
import importlib.util
import json
import os

import pytest

import driver
import make_demo
from scenario import World, load_scenario

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO_DIR = os.path.join(os.path.dirname(os.path.dirname(HERE)), "service",
                        "demo")
MAX_BYTES = 1500 * 1000


def _embed():
    spec = importlib.util.spec_from_file_location(
        "embed", os.path.join(DEMO_DIR, "embed.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def built():
    return make_demo.build(make_demo.DEFAULT_SCENARIO, None)


def test_same_command_same_bytes(built):
    again = make_demo.build(make_demo.DEFAULT_SCENARIO, None)
    assert again == built


def test_committed_sample_is_the_generators_output(built):
    for name in make_demo.FILES:
        with open(os.path.join(DEMO_DIR, name), "rb") as f:
            assert f.read() == built[name], (
                "service/demo/%s is not what tests/sim/make_demo.py writes; "
                "run /usr/bin/python3 tests/sim/make_demo.py" % name)


def test_mbox_round_trips_through_embed(built, tmp_path):
    world = World(load_scenario(make_demo.DEFAULT_SCENARIO))
    link = make_demo.RecordingLink()
    driver.ArmRun(world, "oracle", link).run()
    mails, _, _ = make_demo.leave_open(link.mails, link.outcomes)
    p = tmp_path / "sample.mbox"
    p.write_bytes(built["sample.mbox"])
    assert _embed().split_mbox(str(p)) == mails
    # A body line starting with "From " survives the escaping.
    date = b"Date: Mon, 04 Mar 2024 09:00:00 +0000\n"
    tricky = [date + b"Subject: x\n\nFrom here on\n>From there\n",
              date + b"Subject: y\n\nok"]
    p.write_bytes(make_demo.mbox_bytes(tricky))
    assert _embed().split_mbox(str(p)) == [tricky[0], tricky[1] + b"\n"]


def test_sample_is_what_the_demo_needs(built, tmp_path):
    team = json.loads(built["team.json"])
    total = sum(len(built[n]) for n in make_demo.FILES)
    assert total < MAX_BYTES
    p = tmp_path / "sample.mbox"
    p.write_bytes(built["sample.mbox"])
    mails = [email.message_from_bytes(m) for m in _embed().split_mbox(str(p))]
    assert 200 <= len(mails) <= 500
    assert len(mails) == team["mails"]
    dates = [email.utils.parsedate_to_datetime(m["Date"]) for m in mails]
    assert dates == sorted(dates)
    mids = [m["Message-ID"] for m in mails]
    assert len(set(mids)) == len(mids)
    outbound = {m["Message-ID"]: d for m, d in zip(mails, dates)
                if m["From"].endswith("@%s>" % team["domain"])}
    with_files = [m for m in mails if m["Message-ID"] in outbound and
                  any(p.get_filename() for p in m.walk())]
    replies = [m for m in mails if m["In-Reply-To"] and
               m["Message-ID"] not in outbound]
    assert len(with_files) >= 50 and len(replies) >= 50
    outs = [json.loads(x) for x in built["outcomes.jsonl"].splitlines()]
    assert len(outs) == team["outcomes"] and len(outs) >= 20
    kinds = set()
    for o in outs:
        assert o["message_id"] in outbound, o
        sent_ms = outbound[o["message_id"]].timestamp() * 1000
        assert o["occur_time_unix_ms"] > sent_ms, o
        kinds.add(o["kind"])
    assert "OUTCOME_KIND_OPPORTUNITY_WON" in kinds
    assert len({o["idempotency_key"] for o in outs}) == len(outs)
    inq = team["open_inquiry"]
    assert inq["message_id"] in mids
    assert not any(m["In-Reply-To"] == inq["message_id"] for m in mails)

