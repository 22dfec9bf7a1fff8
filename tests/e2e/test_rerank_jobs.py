"""Re-ranking as a job (issue 18): StartRerank returns at once; the job runs
whoever watches it; a second start while it runs is ALREADY_EXISTS with the
running job's id; a second client follows it after the first disconnects;
CancelRerankJob ends it CANCELLED; snipctl rerank follows a job to its
end."""

import os
import subprocess
import time

import grpc
from snipwise.v1 import ranking_pb2, ranking_pb2_grpc, team_pb2

from e2e_lib import RPC_TIMEOUT, auth_md, expect_reason, snipctl_path

LOAD_TIMEOUT = 120.0
S = ranking_pb2.RerankJobState


def loaded(snipd):
    """The demo team with its sample loaded and a model serving."""
    md = auth_md(snipd.demo_key)
    team = snipd.client(snipd.demo_key).team
    rk = ranking_pb2_grpc.RankingServiceStub(snipd.channel())
    end = time.monotonic() + LOAD_TIMEOUT
    while time.monotonic() < end:
        t = team.GetMyTeam(team_pb2.GetMyTeamRequest())
        try:
            rk.GetModel(ranking_pb2.GetModelRequest(), metadata=md,
                        timeout=RPC_TIMEOUT)
            if t.pending_extraction_jobs == 0 and t.statistics.current:
                return rk, md
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND, e
        time.sleep(0.05)
    raise AssertionError("the demo sample never loaded")


def watch(snipd, md, job_id):
    stub = ranking_pb2_grpc.RankingServiceStub(snipd.channel())
    return stub.WatchRerankJob(ranking_pb2.WatchRerankJobRequest(
        job_id=job_id), metadata=md, timeout=LOAD_TIMEOUT)


def test_a_job_outlives_its_client_and_a_second_client_follows(
        snipd_factory):
    snipd = snipd_factory(sample=True)
    rk, md = loaded(snipd)
    before = len(rk.ListModels(ranking_pb2.ListModelsRequest(),
                               metadata=md, timeout=RPC_TIMEOUT).models)
    job = rk.StartRerank(ranking_pb2.StartRerankRequest(force_promote=True),
                         metadata=md, timeout=RPC_TIMEOUT)
    assert job.job_id.startswith("rj_") and job.force_promote
    assert job.state in (S.RERANK_JOB_STATE_QUEUED,
                         S.RERANK_JOB_STATE_RUNNING)
    # A second start while it runs names the running job.
    _, info, _ = expect_reason(
        grpc.StatusCode.ALREADY_EXISTS, "RERANK_JOB_RUNNING", rk.StartRerank,
        ranking_pb2.StartRerankRequest(), metadata=md, timeout=RPC_TIMEOUT)
    assert info.metadata["job_id"] == job.job_id

    # The first client reads one message and goes away.
    ch = grpc.insecure_channel(snipd.addr)
    first = ranking_pb2_grpc.RankingServiceStub(ch).WatchRerankJob(
        ranking_pb2.WatchRerankJobRequest(job_id=job.job_id), metadata=md,
        timeout=LOAD_TIMEOUT)
    assert next(first).job_id == job.job_id
    first.cancel()
    ch.close()

    # A second client follows it to its end.
    seen = list(watch(snipd, md, job.job_id))
    last = seen[-1]
    assert last.state == S.RERANK_JOB_STATE_SUCCEEDED, last
    assert [m.fraction for m in seen] == sorted(m.fraction for m in seen)
    assert last.fraction == 1.0 and last.result.promoted
    assert last.result.model.model_version
    assert last.start_time_unix_ms >= last.create_time_unix_ms > 0
    assert last.end_time_unix_ms >= last.start_time_unix_ms
    models = rk.ListModels(ranking_pb2.ListModelsRequest(), metadata=md,
                           timeout=RPC_TIMEOUT).models
    assert len(models) == before + 1
    assert models[0].model_version == last.result.model.model_version
    got = rk.GetRerankJob(ranking_pb2.GetRerankJobRequest(
        job_id=job.job_id), metadata=md, timeout=RPC_TIMEOUT)
    assert got.state == S.RERANK_JOB_STATE_SUCCEEDED
    listed = rk.ListRerankJobs(ranking_pb2.ListRerankJobsRequest(),
                               metadata=md, timeout=RPC_TIMEOUT).jobs
    assert [j.job_id for j in listed] == [job.job_id]


def test_cancel_and_not_found(snipd_factory):
    snipd = snipd_factory(sample=True)
    rk, md = loaded(snipd)
    before = [m.model_version for m in rk.ListModels(
        ranking_pb2.ListModelsRequest(), metadata=md,
        timeout=RPC_TIMEOUT).models]
    job = rk.StartRerank(ranking_pb2.StartRerankRequest(force_promote=True),
                         metadata=md, timeout=RPC_TIMEOUT)
    rk.CancelRerankJob(ranking_pb2.CancelRerankJobRequest(job_id=job.job_id),
                       metadata=md, timeout=RPC_TIMEOUT)
    last = list(watch(snipd, md, job.job_id))[-1]
    assert last.state == S.RERANK_JOB_STATE_CANCELLED, last
    assert "cancel" in last.error
    after = [m.model_version for m in rk.ListModels(
        ranking_pb2.ListModelsRequest(), metadata=md,
        timeout=RPC_TIMEOUT).models]
    assert after == before  # nothing stored, nothing promoted
    # An unknown id (or another team's) is NOT_FOUND, naming the field.
    _, info, bad = expect_reason(
        grpc.StatusCode.NOT_FOUND, "RERANK_JOB_NOT_FOUND", rk.GetRerankJob,
        ranking_pb2.GetRerankJobRequest(job_id="rj_0000000000000000"),
        metadata=md, timeout=RPC_TIMEOUT)
    assert [v.field for v in bad.field_violations] == ["job_id"]
    # Ended: a new start is accepted.
    job2 = rk.StartRerank(ranking_pb2.StartRerankRequest(dry_run=True),
                          metadata=md, timeout=RPC_TIMEOUT)
    assert list(watch(snipd, md, job2.job_id))[-1].state == \
        S.RERANK_JOB_STATE_SUCCEEDED


def test_snipctl_rerank_follows_the_job(snipd_factory):
    snipd = snipd_factory(sample=True)
    loaded(snipd)
    env = dict(os.environ, SNIPWISE_ADDR=snipd.addr,
               SNIPWISE_KEY=snipd.demo_key)
    r = subprocess.run([snipctl_path(), "rerank", "--dry-run"], env=env,
                       capture_output=True, text=True, timeout=LOAD_TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert "100%" in r.stderr and "done" in r.stderr, r.stderr
    assert "model " in r.stdout  # the report and the decision
    job = r.stderr.split()[0]
    assert job.startswith("rj_"), r.stderr
    # Following an ended job by id shows its end at once.
    r = subprocess.run([snipctl_path(), "rerank", "--job", job], env=env,
                       capture_output=True, text=True, timeout=LOAD_TIMEOUT)
    assert r.returncode == 0 and "100%" in r.stderr, r.stderr
    r = subprocess.run([snipctl_path(), "rerank", "--job",
                        "rj_0000000000000000"], env=env, capture_output=True,
                       text=True, timeout=LOAD_TIMEOUT)
    assert r.returncode == 5, (r.returncode, r.stderr)
    assert "RERANK_JOB_NOT_FOUND" in r.stderr
