"""Idempotent creates (AIP-155, issue 18): a create repeated with the same
request_id returns the first response and creates nothing more, also when
the repeats come at once and after a restart; the same id for another
request is INVALID_ARGUMENT (REQUEST_ID_REUSED); no request_id, no
idempotency."""

import concurrent.futures

import grpc
from snipwise.v1 import admin_pb2, team_pb2

from e2e_lib import all_team_ids, expect_reason, member_emails


def test_create_team_once_per_request_id(snipd):
    admin = snipd.admin()
    before = set(all_team_ids(admin))
    req = admin_pb2.CreateTeamRequest(display_name="Idem Co",
                                      request_id="5d1c0f3e-create-1")
    first = admin.admin.CreateTeam(req)
    again = admin.admin.CreateTeam(req)
    assert again == first  # the same team, the same (one) key
    assert set(all_team_ids(admin)) - before == {first.team.team_id}
    keys = admin.admin.ListApiKeys(admin_pb2.ListApiKeysRequest(
        team_id=first.team.team_id)).keys
    assert len(keys) == 1
    # The key the repeat returned works.
    assert snipd.client(again.api_key).team.GetMyTeam(
        team_pb2.GetMyTeamRequest()).team_id == first.team.team_id

    # The same id for another request is refused, naming the field.
    _, _, bad = expect_reason(
        grpc.StatusCode.INVALID_ARGUMENT, "REQUEST_ID_REUSED",
        admin.admin.CreateTeam,
        admin_pb2.CreateTeamRequest(display_name="Other Co",
                                    request_id="5d1c0f3e-create-1"))
    assert [v.field for v in bad.field_violations] == ["request_id"]

    # Without a request_id every call creates.
    a = admin.admin.CreateTeam(admin_pb2.CreateTeamRequest(display_name="X"))
    b = admin.admin.CreateTeam(admin_pb2.CreateTeamRequest(display_name="X"))
    assert a.team.team_id != b.team.team_id

    # Eight identical calls at once: one team.
    before = set(all_team_ids(admin))
    race = admin_pb2.CreateTeamRequest(display_name="Race Co",
                                       request_id="race-7")
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        got = list(ex.map(lambda _: admin.admin.CreateTeam(race), range(8)))
    assert len({g.team.team_id for g in got}) == 1
    assert len(set(all_team_ids(admin)) - before) == 1

    # A restart keeps the answer.
    snipd.restart()
    admin = snipd.admin()
    assert admin.admin.CreateTeam(req) == first


def test_member_and_key_creates(snipd):
    admin = snipd.admin()
    team = admin.admin.CreateTeam(admin_pb2.CreateTeamRequest(
        display_name="Members"))
    c = snipd.client(team.api_key)
    add = team_pb2.AddTeamMemberRequest(
        member=team_pb2.TeamMember(email="ann@m.example", display_name="Ann"),
        request_id="add-ann")
    assert c.team.AddTeamMember(add) == c.team.AddTeamMember(add)
    assert member_emails(c) == ["ann@m.example"]
    # Without one, the repeat is ALREADY_EXISTS as before.
    expect_reason(grpc.StatusCode.ALREADY_EXISTS, "ALREADY_EXISTS",
                  c.team.AddTeamMember, team_pb2.AddTeamMemberRequest(
                      member=team_pb2.TeamMember(email="ann@m.example")))
    kreq = admin_pb2.CreateApiKeyRequest(team_id=team.team.team_id,
                                         display_name="ci", request_id="k-1")
    k1 = admin.admin.CreateApiKey(kreq)
    assert admin.admin.CreateApiKey(kreq) == k1
    rreq = team_pb2.CreateRepKeyRequest(rep_email="ann@m.example",
                                        request_id="rep-ann")
    r1 = c.team.CreateRepKey(rreq)
    assert c.team.CreateRepKey(rreq) == r1
    keys = admin.admin.ListApiKeys(admin_pb2.ListApiKeysRequest(
        team_id=team.team.team_id)).keys
    assert len(keys) == 3  # the first key, ci, ann's rep key
    # Request ids are per team: another team's same id is its own.
    other = admin.admin.CreateTeam(admin_pb2.CreateTeamRequest(
        display_name="Other"))
    o = snipd.client(other.api_key)
    o.team.AddTeamMember(team_pb2.AddTeamMemberRequest(
        member=team_pb2.TeamMember(email="bob@o.example"),
        request_id="add-ann"))
    assert member_emails(o) == ["bob@o.example"]


def test_create_mailbox_once_per_request_id(snipd):
    from snipwise.v1 import mailbox_pb2, mailbox_pb2_grpc
    key = snipd.demo_key
    md = (("authorization", "Bearer " + key),)
    snipd.client(key).team.AddTeamMember(team_pb2.AddTeamMemberRequest(
        member=team_pb2.TeamMember(email="rep@seller.example")))
    stub = mailbox_pb2_grpc.MailboxServiceStub(snipd.channel())
    req = mailbox_pb2.CreateMailboxRequest(
        rep_email="rep@seller.example", host="127.0.0.1", port=9,
        tls_mode=mailbox_pb2.TLS_MODE_PLAIN_INSECURE_LOOPBACK_ONLY,
        username="rep", auth=mailbox_pb2.MailboxAuth(password="pw"),
        request_id="mb-1")
    first = stub.CreateMailbox(req, metadata=md, timeout=30)
    again = stub.CreateMailbox(req, metadata=md, timeout=30)
    assert again.mailbox_id == first.mailbox_id
    listed = stub.ListMailboxes(mailbox_pb2.ListMailboxesRequest(),
                                metadata=md, timeout=30).mailboxes
    assert [m.mailbox_id for m in listed] == [first.mailbox_id]
