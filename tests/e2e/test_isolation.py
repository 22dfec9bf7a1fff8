"""Team isolation: a team key sees and changes its own team only, and the
admin and team roles do not mix."""

import grpc
import pytest
from snipwise.v1 import admin_pb2, common_pb2, team_pb2

from e2e_lib import (create_team, domain_names, expect_error, list_all,
                     member_emails)

DENIED = grpc.StatusCode.PERMISSION_DENIED


@pytest.fixture
def two_teams(snipd, admin):
    a_id, a_key = create_team(admin, "Team A")
    b_id, b_key = create_team(admin, "Team B")
    a, b = snipd.client(a_key), snipd.client(b_key)
    for email, name in [("dana@a.example", "Dana"), ("eli@a.example", "Eli"),
                        ("fay@a.example", "Fay")]:
        a.team.AddTeamMember(team_pb2.AddTeamMemberRequest(
            member=team_pb2.TeamMember(email=email, display_name=name)))
    for d in ["a.example", "a-sales.example"]:
        a.team.AddTeamDomain(team_pb2.AddTeamDomainRequest(domain=d))
    b.team.AddTeamMember(team_pb2.AddTeamMemberRequest(
        member=team_pb2.TeamMember(email="gus@b.example")))
    b.team.AddTeamDomain(team_pb2.AddTeamDomainRequest(domain="b.example"))
    return {"a": (a_id, a), "b": (b_id, b)}


def test_each_team_lists_only_its_own(two_teams):
    _, a = two_teams["a"]
    _, b = two_teams["b"]
    assert sorted(member_emails(a)) == [
        "dana@a.example", "eli@a.example", "fay@a.example"]
    assert sorted(domain_names(a)) == ["a-sales.example", "a.example"]
    assert member_emails(b) == ["gus@b.example"]
    assert domain_names(b) == ["b.example"]


def test_other_teams_member_and_domain_are_not_found(two_teams):
    _, a = two_teams["a"]
    _, b = two_teams["b"]
    err = expect_error(grpc.StatusCode.NOT_FOUND, b.team.RemoveTeamMember,
                       team_pb2.RemoveTeamMemberRequest(email="dana@a.example"))
    assert "dana@a.example" in err.details()
    expect_error(grpc.StatusCode.NOT_FOUND, b.team.RemoveTeamDomain,
                 team_pb2.RemoveTeamDomainRequest(domain="a.example"))
    assert "dana@a.example" in member_emails(a)
    assert "a.example" in domain_names(a)
    assert "dana@a.example" not in member_emails(b)


def test_same_email_and_domain_in_two_teams_are_independent(two_teams):
    _, a = two_teams["a"]
    _, b = two_teams["b"]
    # B may add A's rep and domain for itself; removing them from B leaves
    # A's copies alone.
    b.team.AddTeamMember(team_pb2.AddTeamMemberRequest(
        member=team_pb2.TeamMember(email="dana@a.example")))
    b.team.AddTeamDomain(team_pb2.AddTeamDomainRequest(domain="a.example"))
    b.team.RemoveTeamMember(team_pb2.RemoveTeamMemberRequest(
        email="dana@a.example"))
    b.team.RemoveTeamDomain(team_pb2.RemoveTeamDomainRequest(
        domain="a.example"))
    assert "dana@a.example" in member_emails(a)
    assert "a.example" in domain_names(a)
    assert member_emails(b) == ["gus@b.example"]


def test_page_token_of_one_team_is_useless_to_another(two_teams):
    _, a = two_teams["a"]
    _, b = two_teams["b"]
    page = a.team.ListTeamMembers(team_pb2.ListTeamMembersRequest(page_size=1))
    assert page.next_page_token
    # B replaying A's token must not walk A's members.
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, b.team.ListTeamMembers,
                       team_pb2.ListTeamMembersRequest(
                           page_size=10, page_token=page.next_page_token))
    assert "page_token" in err.details()


def test_get_my_team_is_the_keys_team(snipd, admin, two_teams):
    for tid, c in two_teams.values():
        assert c.team.GetMyTeam(team_pb2.GetMyTeamRequest()).team_id == tid
    demo = snipd.client(snipd.demo_key)
    demo_team = demo.team.GetMyTeam(team_pb2.GetMyTeamRequest())
    assert demo_team.display_name == "Demo team"
    assert demo_team.team_id not in [t for t, _ in two_teams.values()]


def test_team_key_on_admin_service_is_denied(two_teams):
    a_id, a = two_teams["a"]
    b_id, b = two_teams["b"]
    calls = [
        (b.admin.ListTeams, admin_pb2.ListTeamsRequest()),
        (b.admin.GetTeam, admin_pb2.GetTeamRequest(team_id=a_id)),
        (b.admin.CreateApiKey, admin_pb2.CreateApiKeyRequest(
            team_id=a_id, display_name="steal", role=common_pb2.ROLE_TEAM)),
        (b.admin.CreateApiKey, admin_pb2.CreateApiKeyRequest(
            display_name="escalate", role=common_pb2.ROLE_ADMIN)),
        (b.admin.ListApiKeys, admin_pb2.ListApiKeysRequest(team_id=a_id)),
        (b.admin.DeleteTeam, admin_pb2.DeleteTeamRequest(team_id=a_id)),
        (b.admin.CreateTeam, admin_pb2.CreateTeamRequest(display_name="x")),
        (a.admin.DeleteTeam, admin_pb2.DeleteTeamRequest(team_id=a_id)),
    ]
    for fn, req in calls:
        err = expect_error(DENIED, fn, req)
        assert "admin key" in err.details()
    # Nothing happened: A still exists and has its one key.
    assert a.team.GetMyTeam(team_pb2.GetMyTeamRequest()).team_id == a_id


def test_admin_key_on_team_service_is_denied(admin):
    calls = [
        (admin.team.GetMyTeam, team_pb2.GetMyTeamRequest()),
        (admin.team.ListTeamMembers, team_pb2.ListTeamMembersRequest()),
        (admin.team.AddTeamMember, team_pb2.AddTeamMemberRequest(
            member=team_pb2.TeamMember(email="x@y.example"))),
        (admin.team.ListTeamDomains, team_pb2.ListTeamDomainsRequest()),
        (admin.team.AddTeamDomain, team_pb2.AddTeamDomainRequest(
            domain="y.example")),
    ]
    for fn, req in calls:
        err = expect_error(DENIED, fn, req)
        assert "team API key" in err.details()


def test_admin_sees_every_team(admin, two_teams):
    teams, _ = list_all(admin.admin.ListTeams, admin_pb2.ListTeamsRequest,
                        "teams", 100)
    ids = {t.team_id for t in teams}
    assert {two_teams["a"][0], two_teams["b"][0]} <= ids
    got = admin.admin.GetTeam(admin_pb2.GetTeamRequest(team_id=two_teams["a"][0]))
    assert got.display_name == "Team A"
