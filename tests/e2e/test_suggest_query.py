"""Query decomposition in Suggest, end to end (issue 21): a team sent its
pricing guide v1 in January 2026 (the prospects went cold) and v2 in
March 2026 (they booked meetings). Asked for "the pricing guide", Suggest
puts v2 first; asked for "the pricing guide we sent in January 2026" it
puts v1 first, and SuggestResponse.query names the range and the topic. A
date in a draft that speaks of no file ("thanks for the call yesterday")
changes nothing."""

import calendar
import time

import pytest
from snipwise.v1 import common_pb2, team_pb2

from e2e_lib import create_team
from test_suggest_context import DOMAIN, REP, WAIT, Team, mime

V1 = ("pricing_guide_2026_01.txt",
      "Pricing guide. Starter plan 30 per seat per month, Growth plan 55 per "
      "seat per month, annual billing, volume discounts from 50 seats.")
V2 = ("pricing_guide_2026_03.txt",
      "Pricing guide. Starter plan 29 per seat per month, Growth plan 49 per "
      "seat per month, monthly or annual billing, volume discounts from 25 "
      "seats, free onboarding.")


def ms(y, m, d, hour=10):
    return calendar.timegm((y, m, d, hour, 0, 0)) * 1000


def sent(t, i, att, when, positive):
    who = "buyer%d@prospect%d.example" % (i, i)
    inq = t.mail(mime("q%d@prospect%d.example" % (i, i), who, REP,
                      "Pricing %d" % i, "Hi, what does it cost for our team?",
                      when))
    out = t.mail(mime("a%d@%s" % (i, DOMAIN), REP, who, "Re: Pricing %d" % i,
                      "Thanks for asking.\nI've attached our pricing guide "
                      "with the plans.\nBest regards", when + 3600 * 1000,
                      att, "q%d@prospect%d.example" % (i, i)))
    t.answered(inq, out, i, positive, when)


def first(r):
    return r.contents[0].title if r.contents else None


def test_date_in_the_draft_decides_which_content_comes_first(snipd, admin):
    _, key = create_team(admin, "Query team")
    t = Team(snipd, key)
    team = snipd.client(key).team
    team.AddTeamDomain(team_pb2.AddTeamDomainRequest(domain=DOMAIN))
    for i in range(5):
        sent(t, i, V1, ms(2026, 1, 5 + 3 * i), False)
        sent(t, 10 + i, V2, ms(2026, 3, 4 + 3 * i), True)

    # Both guides extracted from every email before anything is judged.
    end = time.monotonic() + WAIT
    while True:
        plain = t.suggest(draft_text="Here is the pricing guide",
                          max_contents=5)
        n = {c.title: c.evidence.threads for c in plain.contents}
        if n.get(V1[0]) == 5 and n.get(V2[0]) == 5:
            break
        if time.monotonic() > end:
            pytest.fail("guides never extracted: %r" % n)
        time.sleep(0.1)
    assert first(plain) == V2[0], [c.title for c in plain.contents]
    assert "pricing" in plain.query.topics
    assert not plain.query.HasField("date_range")

    jan = t.suggest(draft_text="Here is the pricing guide we sent in "
                               "January 2026", max_contents=5)
    assert first(jan) == V1[0], [c.title for c in jan.contents]
    assert jan.query.date_range.start_time_unix_ms == ms(2026, 1, 1, 0)
    assert jan.query.date_range.end_time_unix_ms == ms(2026, 2, 1, 0)
    assert list(jan.query.topics) == ["pricing"]
    assert list(jan.query.content_kinds) == []
    assert not jan.query.llm_rewritten

    mar = t.suggest(draft_text="Attaching the pricing guide from 2026-03",
                    max_contents=5)
    assert first(mar) == V2[0], [c.title for c in mar.contents]

    # A date, but no file spoken of: nothing is filtered, no range said.
    thanks = t.suggest(draft_text="Thanks for the call yesterday about "
                                  "pricing", max_contents=5)
    assert first(thanks) == V2[0]
    assert not thanks.query.HasField("date_range")

    # A kind the team has (the guides are text files) comes first; one it
    # lacks filters nothing.
    txt = t.suggest(draft_text="the pricing guide as a text file from "
                               "January 2026", max_contents=5)
    assert list(txt.query.content_kinds) == [common_pb2.CONTENT_KIND_TEXT]
    assert first(txt) == V1[0]
    deck = t.suggest(draft_text="Here is the pricing deck", max_contents=5)
    assert list(deck.query.content_kinds) == [
        common_pb2.CONTENT_KIND_PRESENTATION]
    assert first(deck) == V2[0]
