"""The demo team's bundled sample (service/svc_demo.c, service/demo/): a
first start with --demo 1 --demo-sample 1 (snipd's defaults) serves at
once and loads the sample into the demo team in the background (mail,
CRM outcomes, extraction, the nightly job), after which Suggest for a
thread of the sample answers with content and framings and their
evidence; a restart does not load it again; a first start stopped midway
finishes the load at the next start; --demo 0 makes no demo team and
--demo-sample 0 an empty one."""

import json
import os
import re
import time

import grpc
from snipwise.v1 import (admin_pb2, ingest_pb2, ingest_pb2_grpc, outcome_pb2,
                         outcome_pb2_grpc, ranking_pb2, ranking_pb2_grpc,
                         suggest_pb2, suggest_pb2_grpc, team_pb2,
                         team_pb2_grpc)

from e2e_lib import auth_md, list_all

# The load takes a second or two (longer under ASan); the bound is wide.
LOAD_TIMEOUT = 180.0
RPC_TIMEOUT = 30.0
_REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
LOADED_RE = (r"event=snipd\.demo_loaded team_id=(\S+) mails=(\d+) "
             r"mails_new=(\d+) mails_duplicate=(\d+) mails_rejected=(\d+) "
             r"outcomes=(\d+) outcomes_new=(\d+) outcomes_duplicate=(\d+) "
             r"outcomes_rejected=(\d+) jobs_left=(\d+) model=(\S+) "
             r"promoted=(\d) ms=(\d+)")


def sample_team():
    """service/demo/team.json: the sample's team, counts and open inquiry
    (runfiles under Bazel, else the source tree)."""
    cands = []
    if os.environ.get("TEST_SRCDIR"):
        cands.append(os.path.join(os.environ["TEST_SRCDIR"], "snipwise"))
    cands.append(_REPO)
    for base in cands:
        p = os.path.join(base, "service", "demo", "team.json")
        if os.path.exists(p):
            with open(p, encoding="utf-8") as f:
                return json.load(f)
    raise AssertionError("service/demo/team.json not found in %s" % cands)


class Demo:
    """The stubs of the demo team's key."""

    def __init__(self, snipd):
        ch = snipd.channel()
        self.md = auth_md(snipd.demo_key)
        self.team = team_pb2_grpc.TeamServiceStub(ch)
        self.ingest = ingest_pb2_grpc.IngestServiceStub(ch)
        self.outcome = outcome_pb2_grpc.OutcomeServiceStub(ch)
        self.ranking = ranking_pb2_grpc.RankingServiceStub(ch)
        self.suggest_stub = suggest_pb2_grpc.SuggestServiceStub(ch)

    def call(self, stub, name, req):
        return getattr(stub, name)(req, metadata=self.md, timeout=RPC_TIMEOUT)

    def my_team(self):
        return self.call(self.team, "GetMyTeam", team_pb2.GetMyTeamRequest())

    def serving_model(self):
        """The serving model, or None while there is none."""
        try:
            return self.call(self.ranking, "GetModel",
                             ranking_pb2.GetModelRequest())
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND, e
            return None

    def models(self):
        return list(self.call(self.ranking, "ListModels",
                              ranking_pb2.ListModelsRequest()).models)

    def threads(self):
        items, _ = list_all(
            lambda r: self.call(self.ingest, "ListThreads", r),
            ingest_pb2.ListThreadsRequest, "threads", 200)
        return items

    def outcomes(self):
        items, _ = list_all(
            lambda r: self.call(self.outcome, "ListOutcomes", r),
            outcome_pb2.ListOutcomesRequest, "outcomes", 200)
        return items

    def wait_loaded(self):
        """Waits (bounded) until the team is settled and a model serves:
        no extraction job left, statistics current, GetModel answers."""
        end = time.monotonic() + LOAD_TIMEOUT
        last = None
        while time.monotonic() < end:
            t = self.my_team()
            model = self.serving_model()
            last = (t.pending_extraction_jobs, t.statistics.current, model)
            if t.pending_extraction_jobs == 0 and t.statistics.current and \
                    model is not None:
                return model
            time.sleep(0.05)
        raise AssertionError("the demo team never settled with a model: "
                             "jobs, current, model = %r" % (last,))


def test_first_start_loads_the_sample_once(snipd_factory):
    team = sample_team()
    s = snipd_factory(sample=True)
    # The listener is up before the load ends: snipd does not wait for it.
    assert "event=snipd.demo_loaded" not in s.stderr.split(
        "event=server.listening")[0]
    assert os.path.exists(os.path.join(s.data_dir, "demo.key"))
    demo = Demo(s)
    model = demo.wait_loaded()
    m = s.wait_for_line(LOADED_RE)
    (team_id, mails, mails_new, _, mails_rej, outs, outs_new, _, outs_rej,
     jobs_left, version, promoted, _) = m.groups()
    assert team_id == demo.my_team().team_id
    assert int(mails) == int(mails_new) == team["mails"], s.stderr
    assert int(outs) == int(outs_new) == team["outcomes"], s.stderr
    assert (int(mails_rej), int(outs_rej), int(jobs_left)) == (0, 0, 0)
    assert int(promoted) == 1 and version == model.model_version
    assert model.promoted
    assert not os.path.exists(os.path.join(s.data_dir, "demo.pending"))

    # The team: its domain and reps, every thread of the world, the CRM's
    # outcomes recorded as RecordOutcome records them.
    domains = demo.call(demo.team, "ListTeamDomains",
                        team_pb2.ListTeamDomainsRequest()).domains
    assert [d.domain for d in domains] == [team["domain"]]
    members = demo.call(demo.team, "ListTeamMembers",
                        team_pb2.ListTeamMembersRequest()).members
    assert sorted(m.email for m in members) == sorted(
        r["email"] for r in team["reps"])
    threads = demo.threads()
    assert len(threads) == team["threads"]
    recorded = [o for o in demo.outcomes()
                if o.source == outcome_pb2.OUTCOME_SOURCE_RECORDED]
    assert len(recorded) == team["outcomes"]

    # Suggest for the sample's open inquiry: ranked content and framings,
    # each with evidence in real counts, some of it positive.
    inq = team["open_inquiry"]
    r = demo.call(demo.suggest_stub, "Suggest", suggest_pb2.SuggestRequest(
        in_reply_to_message_id=inq["message_id"],
        draft_text="Hi, happy to help with your security review.",
        explain=True))
    assert r.model_version == model.model_version
    assert r.statistics.ready
    assert len(r.contents) >= 3 and len(r.framings) >= 3, r
    items = list(r.contents) + list(r.framings)
    for it in items:
        assert it.evidence.threads > 0 and it.evidence.times_used > 0, it
        assert it.explanation, it
    assert any(it.evidence.positive_replies + it.evidence.meetings +
               it.evidence.deals_won > 0 for it in items), r
    scores = [c.score.total for c in r.contents]
    assert scores == sorted(scores, reverse=True)

    # A restart finds nothing to load: no load runs, nothing changes.
    models = [m.model_version for m in demo.models()]
    s.restart()
    demo = Demo(s)
    assert demo.wait_loaded().model_version == model.model_version
    assert len(demo.threads()) == len(threads)
    assert [m.model_version for m in demo.models()] == models
    log = s.stop()  # any load would have logged before snipd exits
    assert "event=snipd.demo_" not in log, log


def test_stopped_first_start_finishes_the_load_next_time(snipd_factory):
    team = sample_team()
    s = snipd_factory(sample=True)
    log = s.stop()  # at once: the load is cut short (or just done)
    pending = os.path.exists(os.path.join(s.data_dir, "demo.pending"))
    assert pending == ("event=snipd.demo_loaded" not in log), log
    s.start()
    demo = Demo(s)
    demo.wait_loaded()
    if pending:
        s.wait_for_line(r"event=snipd\.demo_loaded ")
    assert not os.path.exists(os.path.join(s.data_dir, "demo.pending"))
    assert len(demo.threads()) == team["threads"]
    recorded = [o for o in demo.outcomes()
                if o.source == outcome_pb2.OUTCOME_SOURCE_RECORDED]
    assert len(recorded) == team["outcomes"]


def test_demo_0_makes_no_demo_team(snipd_factory):
    s = snipd_factory(demo=False, sample=True)
    teams = s.admin().admin.ListTeams(admin_pb2.ListTeamsRequest()).teams
    assert list(teams) == []
    for name in ("demo.key", "demo.pending"):
        assert not os.path.exists(os.path.join(s.data_dir, name))
    log = s.stop()
    assert "event=snipd.demo_" not in log, log


def test_demo_sample_0_leaves_the_demo_team_empty(snipd_factory):
    s = snipd_factory(sample=False)
    demo = Demo(s)
    assert demo.my_team().display_name == "Demo team"
    assert not os.path.exists(os.path.join(s.data_dir, "demo.pending"))
    assert demo.threads() == []
    log = s.stop()
    assert "event=snipd.demo_team_created" in log
    assert "event=snipd.demo_loading" not in log, log
