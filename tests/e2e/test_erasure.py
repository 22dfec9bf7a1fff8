"""Deleting a mistaken outcome (issue 18): DeleteOutcome removes it with
its idempotency key (the key may record a corrected one), from
ListOutcomes and, once the statistics are rebuilt, from the thread's
outcome counts; NOT_FOUND (OUTCOME_NOT_FOUND) the second time; snipctl
outcome delete."""

import os
import subprocess
import time

import grpc
from snipwise.v1 import (common_pb2, ingest_pb2, ingest_pb2_grpc,
                         outcome_pb2, outcome_pb2_grpc, team_pb2)

from e2e_lib import RPC_TIMEOUT, expect_reason, snipctl_path

POS = common_pb2.OUTCOME_KIND_POSITIVE_REPLY
NEG = common_pb2.OUTCOME_KIND_NEGATIVE_REPLY


def test_delete_outcome(snipd):
    key = snipd.demo_key
    md = (("authorization", "Bearer " + key),)
    ing = ingest_pb2_grpc.IngestServiceStub(snipd.channel())
    out = outcome_pb2_grpc.OutcomeServiceStub(snipd.channel())
    team = snipd.client(key).team
    # The rep is a member: the email is outbound, so no outcome is derived
    # from it (a stranger's email would be classified as a reply, and the
    # derived outcome would race the ones this test records).
    team.AddTeamMember(team_pb2.AddTeamMemberRequest(
        member=team_pb2.TeamMember(email="rep@seller.example")))
    thread = ing.IngestEmail(ingest_pb2.IngestEmailRequest(
        parsed=ingest_pb2.ParsedEmail(
            message_id="o-1@seller.example", from_address="rep@seller.example",
            to_addresses=["b@p.example"], subject="Pricing",
            text_body="Our pricing guide is attached.")),
        metadata=md, timeout=RPC_TIMEOUT).thread_id

    def record(kind, k):
        return out.RecordOutcome(outcome_pb2.RecordOutcomeRequest(
            thread_id=thread, kind=kind, idempotency_key=k), metadata=md,
            timeout=RPC_TIMEOUT)

    def listed():
        return [(o.outcome_id, o.kind) for o in out.ListOutcomes(
            outcome_pb2.ListOutcomesRequest(thread_id=thread), metadata=md,
            timeout=RPC_TIMEOUT).outcomes]

    def counts():
        """The thread's outcome counts once the statistics are current."""
        end = time.monotonic() + 60
        while not team.GetMyTeam(team_pb2.GetMyTeamRequest()).statistics \
                .current:
            assert time.monotonic() < end, "statistics never current"
            time.sleep(0.05)
        th = ing.GetThread(ingest_pb2.GetThreadRequest(thread_id=thread),
                           metadata=md, timeout=RPC_TIMEOUT)
        return th.outcome_counts

    wrong = record(POS, "crm-17")  # the CRM said positive: a mistake
    right = record(NEG, "crm-18")
    assert sorted(listed()) == sorted([(wrong.outcome_id, POS),
                                       (right.outcome_id, NEG)])
    assert counts().positive_replies == 1

    env = dict(os.environ, SNIPWISE_ADDR=snipd.addr, SNIPWISE_KEY=key)
    p = subprocess.run([snipctl_path(), "outcome", "delete", wrong.outcome_id],
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert listed() == [(right.outcome_id, NEG)]
    c = counts()
    assert (c.positive_replies, c.negative_replies) == (0, 1)
    _, info, _ = expect_reason(
        grpc.StatusCode.NOT_FOUND, "OUTCOME_NOT_FOUND", out.DeleteOutcome,
        outcome_pb2.DeleteOutcomeRequest(outcome_id=wrong.outcome_id),
        metadata=md, timeout=RPC_TIMEOUT)
    # The key is free again: the corrected outcome is recorded, not a
    # duplicate of the deleted one.
    again = record(NEG, "crm-17")
    assert not again.duplicate and again.outcome_id != wrong.outcome_id
    assert len(listed()) == 2
