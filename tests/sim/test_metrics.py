"""NDCG and the other metrics on cases small enough to check by hand."""

import math

import pytest

import metrics


def test_dcg_by_hand():
    # 1/log2(2) + 0.5/log2(3) + 0/log2(4)
    assert metrics.dcg([1.0, 0.5, 0.0], 10) == pytest.approx(
        1.0 + 0.5 / math.log2(3))
    assert metrics.dcg([1.0, 1.0, 1.0], 2) == pytest.approx(
        1.0 + 1 / math.log2(3))


def test_ndcg_perfect_reversed_and_partial():
    rel = {"a": 1.0, "b": 0.5, "c": 0.0}
    assert metrics.ndcg_at_k(["a", "b", "c"], rel) == pytest.approx(1.0)
    ideal = 1.0 + 0.5 / math.log2(3)
    # c, b, a: 0 + 0.5/log2(3) + 1/log2(4) = 0.3155 + 0.5
    rev = (0.5 / math.log2(3) + 1.0 / 2.0) / ideal
    assert metrics.ndcg_at_k(["c", "b", "a"], rel) == pytest.approx(rev)
    assert rev == pytest.approx(0.6199, abs=1e-4)
    # Only the second best, at the top: 0.5 / ideal.
    assert metrics.ndcg_at_k(["b"], rel) == pytest.approx(0.5 / ideal)


def test_ndcg_unknown_repeats_and_cutoff():
    rel = {"a": 1.0, "b": 0.0}
    # An unknown item (None) and a repeat earn nothing.
    assert metrics.ndcg_at_k([None, "a"], rel) == pytest.approx(
        1 / math.log2(3))
    assert metrics.ndcg_at_k(["b", "b", "a"], rel) == pytest.approx(0.5)
    # Beyond k nothing counts.
    assert metrics.ndcg_at_k(["b", "a"], rel, k=1) == 0.0
    assert metrics.ndcg_at_k([], rel) == 0.0
    assert metrics.ndcg_at_k(["a"], {"a": 0.0}) is None


def test_relevance_min_max():
    r = metrics.relevance({"x": -1.0, "y": 0.0, "z": 1.0})
    assert r == pytest.approx({"x": 0.0, "y": 2 ** 1.5 - 1, "z": 7.0})
    assert metrics.relevance({"x": 0.0, "z": 2.0}, grades=1) == {
        "x": 0.0, "z": 1.0}
    assert metrics.relevance({"x": 0.3, "y": 0.3}) is None
    assert metrics.relevance({}) is None


def test_rates_and_mean():
    ts = [
        {"reply": "positive", "meeting": True, "deal": "won",
         "followed": True, "quality": 1.0},
        {"reply": "negative", "meeting": False, "deal": None,
         "followed": False, "quality": -1.0},
        {"reply": "positive", "meeting": False, "deal": None,
         "followed": True, "quality": 0.5},
        {"reply": "unsubscribe", "meeting": False, "deal": None,
         "followed": False, "quality": -0.5},
    ]
    r = metrics.rates(ts)
    assert r["threads"] == 4
    assert r["positive_reply_rate"] == 0.5
    assert r["meeting_rate"] == 0.25
    assert r["deal_rate"] == 0.25
    assert r["unsubscribe_rate"] == 0.25
    assert r["followed_share"] == 0.5
    assert r["mean_quality"] == 0.0
    assert metrics.rates([])["positive_reply_rate"] is None
    assert metrics.mean([1.0, None, 3.0]) == 2.0
    assert metrics.mean([None]) is None


def test_days_to_top3():
    ev = [(5, False), (5, False), (6, True), (6, False), (7, True)]
    assert metrics.days_to_top3(ev, 5) == 1  # day 6: 1 of 2 = half
    assert metrics.days_to_top3(ev, 5, share=0.6) == 2
    assert metrics.days_to_top3([(3, False)], 3) is None
    assert metrics.days_to_top3([], 0) is None


def test_rounded_is_stable():
    assert metrics.rounded({"a": [1 / 3, -1e-9], "b": 2}) == {
        "a": [0.333333, 0.0], "b": 2}
