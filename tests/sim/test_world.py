"""The world model: scenario validation, determinism, the hidden truth,
framing families, habits and the reply model."""

import json
import os

import pytest

import driver
import model
from scenario import (ScenarioError, World, load_scenario, validate,
                      variants_of, rng_for)

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "scenarios", "tiny.json")


def raw_tiny():
    with open(TINY, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def world():
    return World(load_scenario(TINY))


def test_bundled_scenarios_validate():
    for name in ("tiny", "easy", "noisy", "cold_start", "account_domains",
                 "accounts"):
        s = load_scenario(os.path.join(HERE, "scenarios", name + ".json"))
        assert s["name"] == name


@pytest.mark.parametrize("edit, msg", [
    (lambda r: r.pop("name"), "missing 'name'"),
    (lambda r: r["contents"][0]["effects"].update({"industry:mining": 1}),
     "unknown key 'industry:mining'"),
    (lambda r: r["framings"].append(dict(r["framings"][0])), "unique ids"),
    (lambda r: r["contents"][0].update(source={}), "needs corpus or generate"),
    (lambda r: r["reply_model"].update(out_of_office=2), "outside"),
    (lambda r: r["framings"][0].update(topics=["weather"]), "unknown topic"),
    (lambda r: r.update(reps={"skills": []}), "non-empty list"),
])
def test_bad_scenarios_are_refused_with_a_reason(edit, msg):
    r = raw_tiny()
    edit(r)
    with pytest.raises(ScenarioError) as e:
        validate(r)
    assert msg in str(e.value)


def test_missing_file_and_bad_json(tmp_path):
    with pytest.raises(ScenarioError):
        load_scenario(str(tmp_path / "nope.json"))
    p = tmp_path / "bad.json"
    p.write_text("{")
    with pytest.raises(ScenarioError):
        load_scenario(str(p))


def _fingerprint(w):
    return (
        [(r.email, r.skill, sorted(r.habit.items())) for r in w.reps],
        [(p.email, sorted(p.segment.items())) for p in w.prospects],
        [(t.day, t.minute, t.rep, t.prospect, t.topic, t.cold)
         for t in w.threads],
        sorted(w.variants.items()),
        sorted((k, v["sha256"]) for k, v in w.documents.items()))


def test_same_seed_same_world_other_seed_other_world(world):
    again = World(load_scenario(TINY))
    assert _fingerprint(again) == _fingerprint(world)
    other = World(load_scenario(TINY), seed=8)
    assert _fingerprint(other)[2] != _fingerprint(world)[2]


def test_truth_by_hand(world):
    seg = {"industry": "manufacturing", "persona": "cfo", "stage": "discovery"}
    # airbus: base 0.2 + manufacturing 0.6, on topic analytics.
    assert world.truth("airbus", seg, "analytics") == pytest.approx(0.8)
    # Off topic (security): minus the default penalty 0.5.
    assert world.truth("airbus", seg, "security") == pytest.approx(0.3)
    # peer has no topics (never off topic): 0.0 + discovery 0.3.
    assert world.truth("peer", seg, "security") == pytest.approx(0.3)
    assert world.truth("roi", seg, "pricing") == pytest.approx(0.7)


def test_variants_are_small_edits_that_map_back(world):
    m = driver.FamilyMatcher(world)
    for f in world.families:
        vs = world.variants[f.id]
        assert vs[0] == f.spec["sentence"]
        assert len(set(vs)) == len(vs) == f.spec["variants"]
        for v in vs:
            assert m.match(v) == f.id, v
            # Inserted into a longer sentence, it still maps.
            assert m.match("I've attached the deck. " + v) == f.id
    assert m.match("Hi Dana, hope you are well.") is None
    many = variants_of("Our team can help.", 6, rng_for(1, "x"))
    assert len(set(many)) == 6


def test_new_items_have_few_adopters_and_skills_rank_weakest(world):
    probe = world.items["security_proof"]
    adopters = [r for r in world.reps if r.habit[probe.id] > 0]
    assert len(adopters) == 1  # 25% of 4 reps
    assert all(r.habit["roi"] > 0 for r in world.reps)
    assert world.weak_reps == [0]  # the 0.15 rep
    assert not world.available("security_proof", 2)
    assert world.available("security_proof", 3)


def test_habit_pick_respects_availability_and_is_deterministic(world):
    for plan in world.threads:
        f = model.habit_pick(world, plan, "framing", plan.day)
        assert world.available(f, plan.day)
        assert f == model.habit_pick(world, plan, "framing", plan.day)


def test_reply_probs_move_with_quality(world):
    rep, seg = world.reps[1], world.prospects[0].segment
    lo = model.reply_probs(world, -1.0, rep, seg)
    hi = model.reply_probs(world, 1.0, rep, seg)
    assert sum(lo) == pytest.approx(1.0) and sum(hi) == pytest.approx(1.0)
    pos, unsub = model.REPLY_ORDER.index("positive"), -1
    assert hi[pos] > lo[pos]
    assert hi[unsub] < lo[unsub]
    skilled = model.reply_probs(world, 0.0, world.reps[3], seg)
    weak = model.reply_probs(world, 0.0, world.reps[0], seg)
    assert skilled[pos] > weak[pos]


def test_common_random_numbers_make_outcomes_monotone(world):
    order = {k: i for i, k in enumerate(model.REPLY_ORDER)}
    better = worse = 0
    for plan in world.threads:
        a = model.thread_outcome(world, plan, -0.5)
        b = model.thread_outcome(world, plan, 0.8)
        assert a == model.thread_outcome(world, plan, -0.5)
        assert a["bounce"] == b["bounce"] and a["ooo"] == b["ooo"]
        if not a["bounce"]:
            assert order[b["reply"]] <= order[a["reply"]]
            better += b["reply"] == "positive"
            worse += a["reply"] == "positive"
    assert better > worse


def test_missing_corpus_file_is_a_clear_error():
    s = validate(raw_tiny())
    s["contents"][0]["corpus"] = "no/such/file.md"
    with pytest.raises(ScenarioError) as e:
        World(s)
    assert "content airbus" in str(e.value)


def test_industry_kept_out_of_the_text():
    """mail.industry_in_text false: the industry shows in no inquiry and no
    cold opener, only in the prospect's company domain; by default it is
    in the words."""
    import mailgen
    raw = raw_tiny()
    for hidden in (False, True):
        if hidden:
            raw["mail"] = {"industry_in_text": False}
        w = World(validate(raw))
        words = {"software", "manufacturing"}
        seen = False
        for p in w.threads:
            when = mailgen.sim_time(w, p.day, p.minute)
            text = mailgen.draft_text(w, p)
            if not p.cold:
                text += mailgen.inquiry(w, p, when)[2]
            seen |= any(x in text for x in words)
        assert seen != hidden
    raw["mail"] = {"industry_in_text": "no"}
    with pytest.raises(ScenarioError, match="industry_in_text"):
        validate(raw)


def _words(text):
    return set(w.strip(".,").lower() for w in text.split())


def test_accounts_paraphrases_and_industry_only_in_the_thread():
    """accounts.json (issue 21): each framing's variants are paraphrases
    (few shared words), yet each maps back to its own family; each rep
    writes one of them; the industry shows in the prospect's mail and a
    cold mail's opening, never in a topic."""
    import datetime
    import mailgen
    w = World(load_scenario(os.path.join(HERE, "scenarios",
                                         "accounts.json")))
    m = driver.FamilyMatcher(w)
    industries = set(w.s["segments"]["industry"])
    for f in w.families:
        vs = w.variants[f.id]
        assert len(set(vs)) == len(vs) >= 4
        for i, a in enumerate(vs):
            assert m.match(a) == f.id, a
            for b in vs[i + 1:]:
                wa, wb = _words(a), _words(b)
                assert len(wa & wb) / len(wa | wb) < 0.5, (a, b)
        assert len(set(r.variant[f.id] for r in w.reps)) == len(vs)
    for t in w.s["topics"]:
        assert not industries & _words(" ".join([t["id"]] + t["phrases"]))
    warm = [t for t in w.threads if not t.cold]
    cold = [t for t in w.threads if t.cold]
    assert warm and cold
    when = datetime.datetime(2024, 3, 4, tzinfo=datetime.timezone.utc)
    for plan in warm[:20]:
        ind = w.prospects[plan.prospect].segment["industry"]
        body = mailgen.inquiry(w, plan, when)[2]
        assert ind in body.lower(), body
    said = [w.prospects[p.prospect].segment["industry"] in
            mailgen.draft_text(w, p).lower() for p in cold]
    assert any(said), "no cold opening names the industry"


def test_accounts_unknown_every_thread_a_new_company():
    """accounts_unknown.json (issue 21): accounts.json's world, but no two
    threads share a company, so Suggest's recipients are always at an
    account the team has no record with; the industry is still in the
    prospect's mail. With company_per_prospect false, companies repeat."""
    import collections
    import datetime
    import mailgen
    raw = json.load(open(os.path.join(HERE, "scenarios",
                                      "accounts_unknown.json")))
    for seed in (None, 2):
        w = World(validate(raw), seed=seed)
        doms = collections.Counter(w.prospects[t.prospect].company["domain"]
                                   for t in w.threads)
        assert len(w.threads) > 300 and max(doms.values()) == 1
        assert len(set(c["industry"] for c in w.companies)) == 3
    when = datetime.datetime(2024, 3, 4, tzinfo=datetime.timezone.utc)
    for plan in [t for t in w.threads if not t.cold][:20]:
        ind = w.prospects[plan.prospect].segment["industry"]
        assert ind in mailgen.inquiry(w, plan, when)[2].lower()
    raw["prospects"] = {"count": 360, "companies": 40}
    w = World(validate(raw))
    doms = collections.Counter(w.prospects[t.prospect].company["domain"]
                               for t in w.threads)
    assert max(doms.values()) > 1
    raw["prospects"] = {"count": 360, "company_per_prospect": "yes"}
    with pytest.raises(ScenarioError, match="company_per_prospect"):
        validate(raw)
