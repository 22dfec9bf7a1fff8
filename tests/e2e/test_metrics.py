"""Metrics and the access log end to end: snipd with --metrics-listen on a
free loopback port counts every call by method and status code (a failing
one included) with a latency histogram, reports the extraction backlog,
ingest and extraction counters, the LMDB map and the process; each call
writes one event=rpc line naming method, team and code, and never a key."""

import os
import re

import grpc
from grpc_health.v1 import health_pb2
from snipwise.v1 import admin_pb2, common_pb2, team_pb2

from e2e_lib import expect_error
from ingest_lib import Mail
from metrics_lib import (fetch, scrape, series, start_with_metrics, value,
                         wait_for)

CALLS = "snipd_rpc_calls_total"
DUR = "snipd_rpc_duration_seconds"
MY_TEAM = "/snipwise.v1.TeamService/GetMyTeam"
LIST_TEAMS = "/snipwise.v1.AdminService/ListTeams"
CHECK = "/grpc.health.v1.Health/Check"
INGEST = "/snipwise.v1.IngestService/IngestEmail"
BOGUS_KEY = "sk_" + "7" * 64

MAIL = ("Message-ID: <metrics-1@snip.example>\r\n"
        "From: rep@snip.example\r\nTo: cfo@prospect.example\r\n"
        "Subject: The case study\r\n"
        "Date: Tue, 3 Mar 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Hi Claire,\r\n\r\nI've attached the case study we discussed, "
        "which shows how the rollout went in three weeks.\r\n\r\nBest,\r\n"
        "Rita\r\n"
        "--b\r\nContent-Type: text/plain; charset=utf-8; name=\"case.txt\"\r\n"
        "Content-Disposition: attachment; filename=\"case.txt\"\r\n\r\n"
        "The rollout took three weeks and cut onboarding time by half.\r\n"
        "--b--\r\n").encode()


def _my_team(c, **kw):
    return c.team.GetMyTeam(team_pb2.GetMyTeamRequest(), **kw)


def _calls(exp, method, code):
    return value(exp, CALLS, method=method, code=code) or 0


def test_calls_are_counted_by_method_and_code(snipd_factory):
    s, base = start_with_metrics(snipd_factory)
    before = scrape(base)
    assert before["types"][CALLS] == "counter"
    assert before["types"][DUR] == "histogram"
    team = s.client(s.demo_key)
    bad = s.client(BOGUS_KEY)
    admin = s.admin()
    for _ in range(3):
        s.client().health.Check(health_pb2.HealthCheckRequest())
    assert _my_team(team).team_id
    assert _my_team(team).team_id
    expect_error(grpc.StatusCode.UNAUTHENTICATED, _my_team, bad)
    expect_error(grpc.StatusCode.PERMISSION_DENIED, _my_team, admin)
    assert admin.admin.ListTeams(admin_pb2.ListTeamsRequest()).teams
    exp = scrape(base)

    def delta(method, code):
        return _calls(exp, method, code) - _calls(before, method, code)

    assert delta(CHECK, "OK") == 3
    assert delta(MY_TEAM, "OK") == 2
    assert delta(MY_TEAM, "UNAUTHENTICATED") == 1
    assert delta(MY_TEAM, "PERMISSION_DENIED") == 1
    assert delta(LIST_TEAMS, "OK") == 1
    assert delta(MY_TEAM, "NOT_FOUND") == 0
    # Every series of the counter names a real method and code.
    for lab, v in series(exp, CALLS):
        assert set(lab) == {"method", "code"} and v >= 1, lab
        assert lab["method"].startswith(("/snipwise.v1.", "/grpc.health.v1."))
    # The histogram of GetMyTeam: cumulative buckets, +Inf equal to the
    # count, the count equal to its calls.
    buckets = [(lab["le"], v) for lab, v in series(exp, DUR + "_bucket")
               if lab["method"] == MY_TEAM]
    assert buckets[-1][0] == "+Inf" and len(buckets) >= 10
    counts = [v for _, v in buckets]
    assert counts == sorted(counts)
    bounds = [float(le) for le, _ in buckets[:-1]]
    assert bounds == sorted(bounds)
    n = value(exp, DUR + "_count", method=MY_TEAM)
    assert n == 4 == counts[-1]
    assert 0 < value(exp, DUR + "_sum", method=MY_TEAM) < 60


def test_gauges_and_extraction_counters(snipd_factory):
    s, base = start_with_metrics(snipd_factory)
    exp = scrape(base)
    types = exp["types"]
    for name, typ in [("snipd_extraction_backlog_jobs", "gauge"),
                      ("snipd_store_map_bytes", "gauge"),
                      ("snipd_store_used_bytes", "gauge"),
                      ("snipd_process_resident_memory_bytes", "gauge"),
                      ("snipd_process_open_fds", "gauge"),
                      ("snipd_index_teams", "gauge"),
                      ("snipd_index_vectors", "gauge"),
                      ("snipd_index_snapshot_age_seconds", "gauge"),
                      ("snipd_ingest_emails_total", "counter"),
                      ("snipd_extraction_jobs_total", "counter"),
                      ("snipd_llm_attempts_total", "counter"),
                      ("snipd_llm_tokens_total", "counter"),
                      ("snipd_rerank_runs_total", "counter"),
                      ("snipd_rerank_duration_seconds", "histogram")]:
        assert types.get(name) == typ, name
    assert value(exp, "snipd_extraction_backlog_jobs") == 0
    mapb = value(exp, "snipd_store_map_bytes")
    used = value(exp, "snipd_store_used_bytes")
    assert 0 < used <= mapb and mapb % 4096 == 0
    assert value(exp, "snipd_process_resident_memory_bytes") > 1 << 20
    assert value(exp, "snipd_process_open_fds") >= 3
    if os.environ.get("ASAN_OPTIONS"):
        # ASan's allocator: glibc has no heap figures, none are shown.
        assert "snipd_process_heap_bytes" not in types
    else:
        assert types.get("snipd_process_heap_bytes") == "gauge"
        assert types.get("snipd_process_heap_free_bytes") == "gauge"
        heap = value(exp, "snipd_process_heap_bytes")
        rss = value(exp, "snipd_process_resident_memory_bytes")
        assert 1 << 16 < heap < rss
        assert value(exp, "snipd_process_heap_free_bytes") >= 0
    assert value(exp, "snipd_ingest_emails_total", result="new") == 0

    # One outbound email: ingested, queued, then extracted by the builtin.
    m = Mail(s, s.demo_key)
    r = m.raw(MAIL, direction=common_pb2.DIRECTION_OUTBOUND)
    assert r.email_id
    exp = scrape(base)
    assert value(exp, "snipd_ingest_emails_total", result="new") == 1
    assert _calls(exp, INGEST, "OK") == 1
    done = wait_for(
        "the extraction counters",
        lambda: (lambda e: e if value(e, "snipd_extraction_jobs_total",
                                      result="done") >= 1 and
                 value(e, "snipd_extraction_backlog_jobs") == 0 else None)(
                     scrape(base)))
    assert value(done, "snipd_llm_attempts_total", provider="builtin",
                 outcome="ok") >= 1
    assert value(done, "snipd_extraction_snippets_total") >= 1
    assert value(done, "snipd_extraction_jobs_total", result="deferred") == 0
    assert value(done, "snipd_store_used_bytes") >= used
    # The demo team's index, under its own label (one team is under the
    # cap), once the indexer has loaded it.
    team_id = _my_team(s.client(s.demo_key)).team_id
    wait_for("the demo team's index figures", lambda: value(
        scrape(base), "snipd_index_vectors", team=team_id) is not None)


def test_endpoint_answers_only_get_metrics(snipd_factory):
    _, base = start_with_metrics(snipd_factory)
    assert fetch(base + "/")[0] == 404
    assert fetch(base + "/metrics/x")[0] == 404
    import urllib.request
    req = urllib.request.Request(base + "/metrics", data=b"x", method="POST")
    try:
        code = urllib.request.urlopen(req, timeout=10).status
    except urllib.error.HTTPError as e:
        code = e.code
    assert code == 405


def _rpc_lines(text, method):
    return [ln for ln in text.splitlines()
            if " event=rpc " in ln and " method=%s " % method in ln]


def test_access_log_has_one_line_per_call_and_no_key(snipd_factory):
    s = snipd_factory()  # --access-log is on by default
    team = s.client(s.demo_key)
    team_id = _my_team(team).team_id
    s.wait_for_line(r"event=rpc method=%s team=%s code=OK status=0 ms=\d+\.\d{3} "
                    r"peer=ipv[46]:" % (re.escape(MY_TEAM), team_id))
    expect_error(grpc.StatusCode.UNAUTHENTICATED, _my_team,
                 s.client(BOGUS_KEY))
    s.wait_for_line(r"event=rpc method=%s team=- code=UNAUTHENTICATED "
                    r"status=16 " % re.escape(MY_TEAM))
    text = s.stop()
    lines = _rpc_lines(text, MY_TEAM)
    assert len(lines) == 2, lines
    assert len([ln for ln in lines if " code=OK " in ln]) == 1
    assert len([ln for ln in lines if " code=UNAUTHENTICATED " in ln]) == 1
    for secret in (s.admin_key, s.demo_key, BOGUS_KEY, BOGUS_KEY[3:]):
        assert secret not in text


def test_access_log_can_be_turned_off(snipd_factory):
    s = snipd_factory(args=["--access-log", "0"])
    assert _my_team(s.client(s.demo_key)).team_id
    text = s.stop()
    assert " event=rpc " not in text
