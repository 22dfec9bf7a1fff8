"""The driver and run.py: offline runs are deterministic and the oracle
wins; the online path (ingest, content-id mapping, Suggest parsing,
family matching, UNIMPLEMENTED handling) against a small fake snipd
written here with grpcio, so it is tested whatever snipd implements."""

import email
import hashlib
import os
import re
from concurrent import futures
from email import policy

import grpc
import pytest

import driver
import run
import snipd_proc
from links import OfflineLink, SnipdLink
from scenario import World, load_scenario

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "scenarios", "tiny.json")

HAVE_STUBS = snipd_proc.import_stubs()
needs_stubs = pytest.mark.skipif(not HAVE_STUBS,
                                 reason="snipwise.v1 stubs not built")


@pytest.fixture(scope="module")
def world():
    return World(load_scenario(TINY))


def test_offline_arms_are_deterministic_and_oracle_is_best(world):
    a = driver.run_arm(world, "oracle", OfflineLink()).report()
    b = driver.run_arm(World(load_scenario(TINY)), "oracle",
                       OfflineLink()).report()
    assert a == b
    r = driver.run_arm(world, "random", OfflineLink()).report()
    assert a["ndcg_at_10"]["mean"] == pytest.approx(1.0)
    assert r["ndcg_at_10"]["mean"] < a["ndcg_at_10"]["mean"]
    assert a["ndcg_at_10"]["events"] == r["ndcg_at_10"]["events"] > 0
    # Same world: the same threads are evaluated and followed in both.
    assert a["eval"]["threads"] == r["eval"]["threads"]
    assert a["eval"]["followed_share"] == r["eval"]["followed_share"]
    assert a["eval"]["mean_quality"] > r["eval"]["mean_quality"]
    # Probes say when a rep first sent them: the oracle recommends the best
    # item, so its reps send every probe, never before it exists.
    assert a["probes"]
    for pid, p in a["probes"].items():
        assert p["first_sent_day"] is not None, pid
        assert p["first_sent_day"] >= p["introduced_day"], pid


def test_run_py_offline_writes_identical_reports(tmp_path):
    outs = []
    for i in range(2):
        out = tmp_path / ("r%d" % i)
        assert run.main([TINY, "--out", str(out), "--offline",
                         "--arms", "random,oracle,outcome"]) == 0
        outs.append((out / "report.json").read_bytes())
        md = (out / "report.md").read_text()
        assert "| oracle | offline | 1.000 | 1.000 |" in md
        assert "arm outcome skipped: no snipd" in md
    assert outs[0] == outs[1]
    out = tmp_path / "seed8"
    assert run.main([TINY, "--out", str(out), "--offline", "--seed", "8",
                     "--arms", "oracle"]) == 0
    assert (out / "report.json").read_bytes() != outs[0]


def test_run_py_refuses_bad_input(tmp_path, capsys):
    p = tmp_path / "bad.json"
    p.write_text('{"name": "x"}')
    assert run.main([str(p), "--out", str(tmp_path / "o"), "--offline"]) == 1
    assert "bad scenario" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run.main([TINY, "--out", str(tmp_path / "o"), "--arms", "magic"])


# --- a fake snipd -----------------------------------------------------------


def _fake_server(suggest=True):
    from snipwise.v1 import (admin_pb2, admin_pb2_grpc, common_pb2,
                             ingest_pb2, ingest_pb2_grpc, outcome_pb2,
                             outcome_pb2_grpc, suggest_pb2,
                             suggest_pb2_grpc, team_pb2, team_pb2_grpc)
    state = {"mails": 0, "contents": {}, "sentences": {}, "outcomes": [],
             "modes": [], "feedback": 0, "requests": []}

    class Admin(admin_pb2_grpc.AdminServiceServicer):
        def CreateTeam(self, req, ctx):
            return admin_pb2.CreateTeamResponse(
                team=common_pb2.Team(team_id="t1",
                                     display_name=req.display_name),
                api_key="team-key")

    class Team(team_pb2_grpc.TeamServiceServicer):
        def AddTeamDomain(self, req, ctx):
            return team_pb2.TeamDomain(domain=req.domain)

        def AddTeamMember(self, req, ctx):
            return req.member

    class Ingest(ingest_pb2_grpc.IngestServiceServicer):
        def IngestEmail(self, req, ctx):
            m = email.message_from_bytes(req.raw_mime, policy=policy.default)
            refs = (m["References"] or "").split()
            root = refs[0] if refs else m["Message-ID"]
            state["mails"] += 1
            resp = ingest_pb2.IngestEmailResponse(
                email_id="e%d" % state["mails"], thread_id="th-" + root,
                status=ingest_pb2.INGEST_STATUS_NEW)
            for part in m.iter_attachments():
                if not part.get_filename():
                    continue
                data = part.get_payload(decode=True)
                cid = "c-" + hashlib.sha256(data).hexdigest()[:12]
                state["contents"][cid] = state["contents"].get(cid, 0) + 1
                resp.contents.add(content_id=cid,
                                  filename=part.get_filename())
                text = m.get_body(preferencelist=("plain",)).get_content()
                new = text.split("\nOn ")[0]
                for s in re.split(r"(?<=[.!?])\s+", new):
                    s = s.strip()
                    if s:
                        state["sentences"][s] = state["sentences"].get(
                            s, 0) + 1
            return resp

    class Outcome(outcome_pb2_grpc.OutcomeServiceServicer):
        def RecordOutcome(self, req, ctx):
            assert req.idempotency_key and req.message_id
            state["outcomes"].append((req.kind, req.message_id))
            return outcome_pb2.RecordOutcomeResponse(outcome_id="o")

        def RecordFeedback(self, req, ctx):
            state["feedback"] += 1
            return outcome_pb2.RecordFeedbackResponse(feedback_id="f")

    class Suggest(suggest_pb2_grpc.SuggestServiceServicer):
        def Suggest(self, req, ctx):
            state["modes"].append(req.mode)
            state["requests"].append(req)
            r = suggest_pb2.SuggestResponse(suggestion_id="s%d" %
                                            len(state["modes"]))
            top = sorted(state["contents"].items(), key=lambda kv: -kv[1])
            for i, (cid, n) in enumerate(top[:req.max_contents]):
                r.contents.add(item_id="c%d" % i, content_id=cid)
            top = sorted(state["sentences"].items(),
                         key=lambda kv: (-kv[1], kv[0]))
            for i, (s, n) in enumerate(top[:req.max_framings]):
                r.framings.add(item_id="f%d" % i, text=s)
            return r

    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    admin_pb2_grpc.add_AdminServiceServicer_to_server(Admin(), srv)
    team_pb2_grpc.add_TeamServiceServicer_to_server(Team(), srv)
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(Ingest(), srv)
    outcome_pb2_grpc.add_OutcomeServiceServicer_to_server(Outcome(), srv)
    if suggest:
        suggest_pb2_grpc.add_SuggestServiceServicer_to_server(Suggest(), srv)
    port = srv.add_insecure_port("127.0.0.1:0")
    srv.start()
    return srv, "127.0.0.1:%d" % port, state


@needs_stubs
def test_online_arm_against_fake_snipd(world):
    srv, addr, state = _fake_server()
    try:
        link = SnipdLink(addr, "admin-key", world)
        rep = driver.run_arm(world, "popularity", link).report()
        link.close()
    finally:
        srv.stop(None)
    assert rep["status"] == "ok"
    n_eval = rep["eval"]["threads"]
    assert rep["suggest"]["calls"] == n_eval > 0
    assert set(state["modes"]) == {driver.MODE["popularity"]}
    # Every mail reached the fake; every content it suggested maps back.
    assert link.calls["IngestEmail"] == {"ok": state["mails"], "errors": {}}
    assert rep["suggest"]["unmapped_contents"] == 0
    # Greetings and closings are suggested too: they map to no family.
    assert rep["suggest"]["unmapped_framings"] > 0
    assert 0.0 < rep["ndcg_at_10"]["content"] < 1.0
    assert rep["ndcg_at_10"]["framing"] is not None
    assert link.caps["RunRerank"] == "unimplemented"
    assert "RunRerank" not in link.calls
    assert state["feedback"] > 0
    meetings = [k for k, _ in state["outcomes"] if k == driver.OUTCOME_MEETING]
    assert len(meetings) <= rep["eval"]["threads"] + rep["history"]["threads"]


@needs_stubs
@pytest.mark.parametrize("recipients", [True, False])
def test_suggest_with_and_without_recipients(world, recipients):
    """By default Suggest names the prospect as recipient and the thread by
    id; without recipients (run.py --no-recipients) it sends neither, and
    the thread as text with no sender, so nothing names the account."""
    srv, addr, state = _fake_server()
    try:
        link = SnipdLink(addr, "admin-key", world)
        driver.ArmRun(world, "outcome", link, recipients=recipients).run()
        link.close()
    finally:
        srv.stop(None)
    reqs = state["requests"]
    assert reqs
    prospects = {p.email for p in world.prospects}
    for r in reqs:
        if recipients:
            assert len(r.recipients) == 1 and r.recipients[0] in prospects
            assert r.WhichOneof("thread") in (None, "thread_id")
        else:
            assert not r.recipients
            assert r.WhichOneof("thread") in (None, "thread_text")
            if r.WhichOneof("thread"):
                m = r.thread_text.messages
                assert len(m) == 1 and not m[0].from_address
                assert "Thanks," not in m[0].text and m[0].text
    assert any(r.WhichOneof("thread") for r in reqs)


@needs_stubs
def test_unimplemented_suggest_skips_the_arm(world):
    srv, addr, state = _fake_server(suggest=False)
    try:
        link = SnipdLink(addr, "admin-key", world)
        rep = driver.run_arm(world, "outcome", link).report()
        link.close()
    finally:
        srv.stop(None)
    assert rep["status"] == "skipped"
    assert rep["note"] == "Suggest not implemented by this snipd"
    assert link.caps["Suggest"] == "unimplemented"
    # It stopped at the first evaluated day, not at the end.
    assert rep["eval"]["threads"] == 0


def test_no_adapter_reaches_every_snipd(tmp_path, monkeypatch):
    """run.py --no-adapter starts snipd with SNIPD_ADAPTER=0 (no adapter
    served or learnt: the "off" arm of issue 21's comparison); without it
    snipd's own default stands. A fake snipd writes what it was given."""
    monkeypatch.delenv("SNIPD_ADAPTER", raising=False)
    fake = tmp_path / "snipd"
    fake.write_text(
        "#!/bin/sh\n"
        "echo \"adapter=${SNIPD_ADAPTER-unset}\" > env.txt\n"
        "mkdir -p data && echo key > data/admin.key\n"
        "echo 'event=server.listening addr=127.0.0.1:1' >&2\n"
        "echo 'event=snipd.admin_key_created' >&2\n"
        "exec sleep 30\n")
    fake.chmod(0o755)
    for flags, want in (([], "unset"), (["--no-adapter"], "0")):
        a = run.parse_args([TINY, "--out", str(tmp_path / "o")] + flags)
        proc = snipd_proc.Snipd(str(fake), str(tmp_path / want),
                                env=run.snipd_env(a))
        proc.start()
        proc.stop()
        assert (tmp_path / want / "env.txt").read_text().strip() == \
            "adapter=" + want
