"""The simulator's mail, parsed back with the stdlib: threading headers,
the attachment's bytes, the framing in the body, and quoting as mail
clients do it."""

import os
from email import policy
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

import pytest

import mailgen
from scenario import World, load_scenario

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def world():
    return World(load_scenario(os.path.join(HERE, "scenarios", "tiny.json")))


def parse(raw):
    return BytesParser(policy=policy.default).parsebytes(raw)


def make_thread(world, plan, doc_id="airbus", framing="Framing sentence."):
    when = mailgen.sim_time(world, plan.day, plan.minute)
    mid, raw, body = mailgen.inquiry(world, plan, when)
    pro = world.prospects[plan.prospect]
    parent = {"message_id": mid, "when": when, "name": pro.name,
              "addr": pro.email, "body": body, "raw": raw,
              "subject": mailgen.subject_of(world, plan)}
    later = mailgen.sim_time(world, plan.day, plan.minute + 90)
    omid, oraw, obody = mailgen.outbound(world, plan, later,
                                         world.documents[doc_id], framing,
                                         parent)
    orig = {"message_id": omid, "when": later, "body": obody, "raw": oraw,
            "subject": "Re: " + parent["subject"], "references": [mid]}
    return parent, (omid, oraw, obody), orig


def test_inquiry_headers(world):
    plan = world.threads[0]
    when = mailgen.sim_time(world, plan.day, plan.minute)
    mid, raw, body = mailgen.inquiry(world, plan, when)
    m = parse(raw)
    assert m["Message-ID"] == mid
    assert m["From"].addresses[0].addr_spec == \
        world.prospects[plan.prospect].email
    assert m["To"].addresses[0].addr_spec == world.reps[plan.rep].email
    assert parsedate_to_datetime(m["Date"]) == when
    assert m.get_content() == body
    assert m["In-Reply-To"] is None


def test_outbound_is_multipart_with_real_attachment(world):
    plan = world.threads[1]
    doc = world.documents["airbus"]
    parent, (omid, oraw, obody), _ = make_thread(
        world, plan, framing="Teams like yours cut reporting time in half.")
    m = parse(oraw)
    assert m.get_content_type() == "multipart/mixed"
    assert m["Message-ID"] == omid != parent["message_id"]
    assert m["In-Reply-To"] == parent["message_id"]
    assert m["References"] == parent["message_id"]
    assert m["Subject"] == "Re: " + parent["subject"]
    atts = list(m.iter_attachments())
    assert len(atts) == 1
    assert atts[0].get_filename() == "customer_airbus.md"
    assert atts[0].get_content_type() == "text/markdown"
    assert atts[0].get_payload(decode=True) == doc["data"]
    text = m.get_body(preferencelist=("plain",)).get_content()
    assert ("I've attached the Airbus case study. Teams like yours cut "
            "reporting time in half.") in text
    # The inquiry is quoted below the reply, line by line.
    assert "wrote:\n> Hi " in text
    for line in parent["body"].rstrip("\n").split("\n"):
        assert (("> " + line) if line else ">") in text.split("\n")


def test_cold_outbound_has_no_parent(world):
    plan = [t for t in world.threads if t.cold][0]
    when = mailgen.sim_time(world, plan.day, plan.minute)
    mid, raw, body = mailgen.outbound(world, plan, when,
                                      world.documents["price_sheet"], "X.",
                                      None)
    m = parse(raw)
    assert m["In-Reply-To"] is None and m["References"] is None
    assert not m["Subject"].startswith("Re:")
    att = list(m.iter_attachments())[0]
    assert att.get_filename() == "Pricing_sheet.txt"
    assert att.get_payload(decode=True) == world.documents["price_sheet"][
        "data"]


@pytest.mark.parametrize("kind", ["positive", "neutral", "negative",
                                  "unsubscribe"])
def test_replies_quote_the_original(world, kind):
    plan = world.threads[2]
    parent, (omid, _, obody), orig = make_thread(world, plan)
    when = mailgen.sim_time(world, plan.day + 1, 600)
    rmid, raw = mailgen.reply(world, plan, kind, when, orig)
    m = parse(raw)
    assert m["Message-ID"] == rmid
    assert rmid not in (omid, parent["message_id"])
    assert m["In-Reply-To"] == omid
    assert m["References"].split() == [parent["message_id"], omid]
    assert m["Subject"] == "Re: " + parent["subject"]  # no "Re: Re:"
    text = m.get_content()
    rep = world.reps[plan.rep]
    head = "On %s, %s <%s> wrote:" % (
        orig["when"].strftime("%a, %d %b %Y at %H:%M"), rep.name, rep.email)
    assert head in text
    quoted = text.split(head, 1)[1].strip("\n").split("\n")
    want = obody.rstrip("\n").split("\n")
    assert quoted == [("> " + ln) if ln else ">" for ln in want]
    new = text.split(head, 1)[0]
    assert new.strip() and ">" not in new


def test_out_of_office_and_bounce(world):
    plan = world.threads[3]
    _, (omid, _, _), orig = make_thread(world, plan)
    when = mailgen.sim_time(world, plan.day, plan.minute + 100)
    _, raw = mailgen.reply(world, plan, "ooo", when, orig)
    m = parse(raw)
    assert m["Auto-Submitted"] == "auto-replied"
    assert m["Subject"].startswith("Automatic reply: ")
    assert m["In-Reply-To"] == omid
    _, raw = mailgen.reply(world, plan, "bounce", when, orig)
    m = parse(raw)
    assert m.get_content_type() == "multipart/report"
    assert m.get_param("report-type") == "delivery-status"
    kinds = [p.get_content_type() for p in m.iter_parts()]
    assert kinds == ["text/plain", "message/delivery-status",
                     "text/rfc822-headers"]
    assert m["In-Reply-To"] == omid
    assert omid in raw.decode()  # the original's headers are returned
    assert "5.1.1" in raw.decode()


def test_message_ids_are_unique_and_stable(world):
    ids = set()
    for plan in world.threads:
        for role in ("inq", "out", "positive", "ooo", "bounce"):
            mid = mailgen.message_id(world, plan, role)
            assert mid not in ids
            ids.add(mid)
            assert mid == mailgen.message_id(world, plan, role)


def test_same_world_same_bytes(world):
    """Every mail of a thread is the same bytes when built again, MIME
    boundaries included (Python's are random; a bounce quotes the original's
    headers, boundary and all), so two runs of one seed ingest the same
    mail and snipd sees the same contents."""
    plan = world.threads[2]
    built = []
    for _ in range(2):
        parent, out, orig = make_thread(world, plan)
        when = mailgen.sim_time(world, plan.day, plan.minute + 100)
        mails = [parent["raw"], out[1]]
        for kind in ("positive", "ooo", "bounce"):
            mails.append(mailgen.reply(world, plan, kind, when, orig)[1])
        built.append(mails)
    assert built[0] == built[1]
    assert b"boundary=" in built[0][1] and b"boundary=" in built[0][4]
