"""One pagination for every List and Search method (AIP-158, issue 18):
page_size may change between pages, page tokens are opaque (they name
neither the team nor a stored key) and bound to the method, the team and
the request's other fields: an altered token, one from another method or
team, or one reused with a changed filter is INVALID_ARGUMENT with reason
PAGE_TOKEN_INVALID and field page_token."""

import base64

import grpc
import pytest
from snipwise.v1 import (admin_pb2, common_pb2, ingest_pb2, ingest_pb2_grpc,
                         outcome_pb2, outcome_pb2_grpc, snippet_pb2,
                         snippet_pb2_grpc, team_pb2)

from e2e_lib import RPC_TIMEOUT, create_team, expect_reason

N = 5  # items of each kind; pages of 2 make three pages


def page_all(call, make, field, size, token=""):
    """Every item from token on, in pages of size."""
    out = []
    for _ in range(100):
        r = call(make(page_size=size, page_token=token))
        out += list(getattr(r, field))
        token = r.next_page_token
        if not token:
            return out
    pytest.fail("paging does not end")


def tampered(token):
    """The token with one character of its body changed."""
    i = len(token) // 2
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]


def check(call, make, field, ident, n, changed=None, other=None):
    """The AIP-158 checks on one list method: make(**kw) builds its request
    (the filters fixed), ident(item) names an item, n items exist; changed
    (kw) is the same request with a filter changed; other is a call of the
    same method by another team."""
    all2 = [ident(x) for x in page_all(call, make, field, 2)]
    assert len(all2) == n and len(set(all2)) == n, all2
    # Default page size, and a page_size over the maximum is capped.
    assert [ident(x) for x in page_all(call, make, field, 0)] == all2
    assert [ident(x) for x in page_all(call, make, field, 100000)] == all2
    # A changed page_size carries on where the last page ended.
    first = call(make(page_size=2, page_token=""))
    token = first.next_page_token
    assert token
    rest = page_all(call, make, field, 1, token)
    assert [ident(x) for x in getattr(first, field)] + \
        [ident(x) for x in rest] == all2
    # Opaque: the team id is not in it, even decoded.
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert b"team_" not in raw and "team_" not in token
    # Altered, or reused with a changed filter, or by another team.
    _, info, bad = expect_reason(grpc.StatusCode.INVALID_ARGUMENT,
                                 "PAGE_TOKEN_INVALID", call,
                                 make(page_size=2, page_token=tampered(token)))
    assert [v.field for v in bad.field_violations] == ["page_token"]
    if changed is not None:
        expect_reason(grpc.StatusCode.INVALID_ARGUMENT, "PAGE_TOKEN_INVALID",
                      call, changed(page_size=2, page_token=token))
    if other is not None:
        expect_reason(grpc.StatusCode.INVALID_ARGUMENT, "PAGE_TOKEN_INVALID",
                      other, make(page_size=2, page_token=token))
    expect_reason(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", call,
                  make(page_size=-1))
    return token


def bound(stub, key):
    md = (("authorization", "Bearer " + key),)
    return lambda name: (lambda req: getattr(stub, name)(
        req, metadata=md, timeout=RPC_TIMEOUT))


@pytest.fixture
def world(snipd):
    """Two teams; team A holds N of everything listable."""
    admin = snipd.admin()
    a_id, a_key = create_team(admin, "Paging A")
    b_id, b_key = create_team(admin, "Paging B")
    for i in range(N - 2):
        create_team(admin, "Paging extra %d" % i)
    a = snipd.client(a_key)
    for i in range(N):
        a.team.AddTeamMember(team_pb2.AddTeamMemberRequest(
            member=team_pb2.TeamMember(email="rep%d@a.example" % i)))
        a.team.AddTeamDomain(team_pb2.AddTeamDomainRequest(
            domain="d%d.example" % i))
        a.team.CreateRepKey(team_pb2.CreateRepKeyRequest(
            rep_email="rep%d@a.example" % i))
        admin.admin.CreateApiKey(admin_pb2.CreateApiKeyRequest(
            team_id=a_id, display_name="k%d" % i))
    ingest = bound(ingest_pb2_grpc.IngestServiceStub(snipd.channel()), a_key)
    threads = []
    for i in range(N):
        pe = ingest_pb2.ParsedEmail(
            message_id="p%d@d0.example" % i, from_address="rep0@a.example",
            to_addresses=["buyer%d@prospect.example" % i],
            subject="Subject %d" % i, text_body="Hello %d" % i,
            sent_time_unix_ms=1772532000000 + i * 60000)
        pe.attachments.append(ingest_pb2.Attachment(
            filename="f%d.txt" % i, content_type="text/plain",
            data=b"File number %d of the paging test.\n" % i))
        threads.append(ingest("IngestEmail")(
            ingest_pb2.IngestEmailRequest(parsed=pe)).thread_id)
    outcome = bound(outcome_pb2_grpc.OutcomeServiceStub(snipd.channel()),
                    a_key)
    for i in range(N):
        outcome("RecordOutcome")(outcome_pb2.RecordOutcomeRequest(
            thread_id=threads[0], kind=common_pb2.OUTCOME_KIND_POSITIVE_REPLY,
            idempotency_key="o%d" % i, occur_time_unix_ms=1772532000000 + i))
    return {"admin": admin, "a_id": a_id, "a_key": a_key, "b_id": b_id,
            "b_key": b_key, "threads": threads}


def test_team_and_admin_lists(snipd, world):
    admin = world["admin"]
    a = snipd.client(world["a_key"])
    b = snipd.client(world["b_key"])
    teams = admin.admin.ListTeams(admin_pb2.ListTeamsRequest()).teams
    check(admin.admin.ListTeams, admin_pb2.ListTeamsRequest, "teams",
          lambda t: t.team_id, len(teams))
    keys = lambda **kw: admin_pb2.ListApiKeysRequest(team_id=world["a_id"],
                                                      **kw)
    # The team's first key, N made by the admin and N rep keys.
    check(admin.admin.ListApiKeys, keys, "keys", lambda k: k.key_id, 2 * N + 1,
          changed=lambda **kw: admin_pb2.ListApiKeysRequest(
              team_id=world["b_id"], **kw))
    tm = check(a.team.ListTeamMembers, team_pb2.ListTeamMembersRequest,
               "members", lambda m: m.email, N, other=b.team.ListTeamMembers)
    check(a.team.ListTeamDomains, team_pb2.ListTeamDomainsRequest, "domains",
          lambda d: d.domain, N, other=b.team.ListTeamDomains)
    check(a.team.ListRepKeys, team_pb2.ListRepKeysRequest, "keys",
          lambda k: k.key_id, N, other=b.team.ListRepKeys)
    # A token of one method is refused by another with the same shape.
    expect_reason(grpc.StatusCode.INVALID_ARGUMENT, "PAGE_TOKEN_INVALID",
                  a.team.ListTeamDomains,
                  team_pb2.ListTeamDomainsRequest(page_size=2, page_token=tm))


def test_mail_and_outcome_lists(snipd, world):
    ch = snipd.channel()
    a_ing = bound(ingest_pb2_grpc.IngestServiceStub(ch), world["a_key"])
    b_ing = bound(ingest_pb2_grpc.IngestServiceStub(ch), world["b_key"])
    check(a_ing("ListThreads"), ingest_pb2.ListThreadsRequest, "threads",
          lambda t: t.thread_id, N,
          changed=lambda **kw: ingest_pb2.ListThreadsRequest(
              rep_email="rep0@a.example", **kw),
          other=b_ing("ListThreads"))
    a_snip = bound(snippet_pb2_grpc.SnippetServiceStub(ch), world["a_key"])
    check(a_snip("ListContents"), snippet_pb2.ListContentsRequest, "contents",
          lambda c: c.content_id, N,
          changed=lambda **kw: snippet_pb2.ListContentsRequest(
              kinds=[common_pb2.CONTENT_KIND_TEXT], **kw))
    a_out = bound(outcome_pb2_grpc.OutcomeServiceStub(ch), world["a_key"])
    th = world["threads"]
    check(a_out("ListOutcomes"),
          lambda **kw: outcome_pb2.ListOutcomesRequest(thread_id=th[0], **kw),
          "outcomes", lambda o: o.outcome_id, N,
          changed=lambda **kw: outcome_pb2.ListOutcomesRequest(
              thread_id=th[1], **kw))
