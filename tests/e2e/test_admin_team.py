"""AdminService and TeamService behaviour: pagination, validation and the
messages that explain refusals."""

import grpc
import pytest
from snipwise.v1 import admin_pb2, team_pb2

from e2e_lib import create_team, domain_names, expect_error, list_all, member_emails

INVAL = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture
def bare(snipd_factory):
    """A server without the demo team, so the tests know every team."""
    return snipd_factory(demo=False)


def test_team_pagination_follows_tokens_to_the_end(bare):
    admin = bare.admin()
    made = {create_team(admin, "Paged %d" % i)[0] for i in range(7)}
    teams, pages = list_all(admin.admin.ListTeams, admin_pb2.ListTeamsRequest,
                            "teams", 3)
    ids = [t.team_id for t in teams]
    assert len(ids) == len(set(ids)), "a team was listed twice"
    assert set(ids) == made
    assert pages == 3  # 3 + 3 + 1
    # A whole listing in one page agrees, and has no token.
    one = admin.admin.ListTeams(admin_pb2.ListTeamsRequest(page_size=100))
    assert [t.team_id for t in one.teams] == ids
    assert one.next_page_token == ""
    # A page size that divides the count exactly ends without an empty page
    # or with a token leading to an empty last page, but never repeats.
    teams7, _ = list_all(admin.admin.ListTeams, admin_pb2.ListTeamsRequest,
                         "teams", 7)
    assert [t.team_id for t in teams7] == ids


def test_default_page_size(bare):
    admin = bare.admin()
    made = {create_team(admin, "Default %d" % i)[0] for i in range(3)}
    r = admin.admin.ListTeams(admin_pb2.ListTeamsRequest(page_size=0))
    assert {t.team_id for t in r.teams} == made
    assert r.next_page_token == ""


def test_bad_page_tokens(bare):
    admin = bare.admin()
    for i in range(3):
        create_team(admin, "Tok %d" % i)
    for tok in ["garbage", "zz", "abc", "0g", "7465616d6",
                "a" * 2000]:
        err = expect_error(INVAL, admin.admin.ListTeams,
                           admin_pb2.ListTeamsRequest(page_size=1,
                                                      page_token=tok))
        assert "page_token" in err.details()


@pytest.mark.parametrize("size", [-1, -1000, -2**31])
def test_negative_page_size(bare, size):
    admin = bare.admin()
    err = expect_error(INVAL, admin.admin.ListTeams,
                       admin_pb2.ListTeamsRequest(page_size=size))
    assert "page_size" in err.details()
    c = bare.client(create_team(admin, "Neg")[1])
    expect_error(INVAL, c.team.ListTeamMembers,
                 team_pb2.ListTeamMembersRequest(page_size=size))
    expect_error(INVAL, c.team.ListTeamDomains,
                 team_pb2.ListTeamDomainsRequest(page_size=size))
    expect_error(INVAL, admin.admin.ListApiKeys,
                 admin_pb2.ListApiKeysRequest(page_size=size))


def test_large_page_size_is_capped(bare):
    admin = bare.admin()
    create_team(admin, "Big page")
    r = admin.admin.ListTeams(admin_pb2.ListTeamsRequest(page_size=5000))
    assert len(r.teams) == 1


def test_list_teams_in_id_order(bare):
    # admin.proto: teams come in team-id order, stable across pages.
    admin = bare.admin()
    made = [create_team(admin, "Order %d" % i)[0] for i in range(10)]
    teams, _ = list_all(admin.admin.ListTeams, admin_pb2.ListTeamsRequest,
                        "teams", 4)
    assert [t.team_id for t in teams] == sorted(made)


def test_member_and_domain_pagination(bare):
    admin = bare.admin()
    c = bare.client(create_team(admin, "Many")[1])
    emails = ["rep%02d@many.example" % i for i in range(11)]
    for e in reversed(emails):
        c.team.AddTeamMember(team_pb2.AddTeamMemberRequest(
            member=team_pb2.TeamMember(email=e)))
    domains = ["d%02d.many.example" % i for i in range(5)]
    for d in domains:
        c.team.AddTeamDomain(team_pb2.AddTeamDomainRequest(domain=d))
    got, pages = list_all(c.team.ListTeamMembers,
                          team_pb2.ListTeamMembersRequest, "members", 4)
    # Members are ordered by email (team.proto), across pages too.
    assert [m.email for m in got] == emails
    assert pages == 3
    got, _ = list_all(c.team.ListTeamDomains, team_pb2.ListTeamDomainsRequest,
                      "domains", 2)
    assert [d.domain for d in got] == domains


def test_key_pagination(bare):
    admin = bare.admin()
    team_id, _ = create_team(admin, "Keys")
    made = [admin.admin.CreateApiKey(admin_pb2.CreateApiKeyRequest(
        team_id=team_id, display_name="k%d" % i)).key.key_id for i in range(4)]
    got, _ = list_all(admin.admin.ListApiKeys,
                      lambda **kw: admin_pb2.ListApiKeysRequest(team_id=team_id, **kw),
                      "keys", 2)
    ids = [k.key_id for k in got]
    assert len(ids) == 5 and len(set(ids)) == 5
    assert set(made) < set(ids)
    assert all(k.team_id == team_id for k in got)


@pytest.mark.parametrize("email", [
    "", "no-at-sign", "@nolocal.example", "nodomain@", "two@@at.example",
    "a@b@c.example", "sp ace@x.example", "x@" + "d" * 260 + ".example"
])
def test_invalid_member_email(bare, email):
    c = bare.client(create_team(bare.admin(), "Emails")[1])
    err = expect_error(INVAL, c.team.AddTeamMember,
                       team_pb2.AddTeamMemberRequest(
                           member=team_pb2.TeamMember(email=email)))
    assert "email" in err.details()
    assert member_emails(c) == []


def test_member_is_required(bare):
    c = bare.client(create_team(bare.admin(), "No member")[1])
    err = expect_error(INVAL, c.team.AddTeamMember,
                       team_pb2.AddTeamMemberRequest())
    assert "member" in err.details()


@pytest.mark.parametrize("domain", [
    "", "@a.example", "has space.example", "-lead.example", "trail-.example",
    "a..example", ".a.example", "a_b.example", "x" * 64 + ".example",
    "user@a.example"
])
def test_invalid_domain(bare, domain):
    c = bare.client(create_team(bare.admin(), "Domains")[1])
    err = expect_error(INVAL, c.team.AddTeamDomain,
                       team_pb2.AddTeamDomainRequest(domain=domain))
    assert "domain" in err.details()
    assert domain_names(c) == []


def test_members_lowercased_and_duplicates_refused(bare):
    c = bare.client(create_team(bare.admin(), "Dups")[1])
    m = c.team.AddTeamMember(team_pb2.AddTeamMemberRequest(
        member=team_pb2.TeamMember(email="Dana.Smith@ACME.example",
                                   display_name="Dana Smith")))
    assert m.email == "dana.smith@acme.example"
    assert m.display_name == "Dana Smith"
    assert m.create_time_unix_ms > 0
    for again in ["dana.smith@acme.example", "DANA.SMITH@acme.EXAMPLE"]:
        err = expect_error(grpc.StatusCode.ALREADY_EXISTS, c.team.AddTeamMember,
                           team_pb2.AddTeamMemberRequest(
                               member=team_pb2.TeamMember(email=again)))
        assert again.lower() in err.details().lower()
    assert member_emails(c) == ["dana.smith@acme.example"]
    # Removal is case-insensitive; a second removal is NOT_FOUND.
    c.team.RemoveTeamMember(team_pb2.RemoveTeamMemberRequest(
        email="DANA.smith@acme.example"))
    assert member_emails(c) == []
    expect_error(grpc.StatusCode.NOT_FOUND, c.team.RemoveTeamMember,
                 team_pb2.RemoveTeamMemberRequest(
                     email="dana.smith@acme.example"))
    # And the address can be added again.
    c.team.AddTeamMember(team_pb2.AddTeamMemberRequest(
        member=team_pb2.TeamMember(email="dana.smith@acme.example")))
    assert member_emails(c) == ["dana.smith@acme.example"]


def test_domains_lowercased_and_duplicates_refused(bare):
    c = bare.client(create_team(bare.admin(), "Dup domains")[1])
    d = c.team.AddTeamDomain(team_pb2.AddTeamDomainRequest(domain="ACME.Example"))
    assert d.domain == "acme.example"
    err = expect_error(grpc.StatusCode.ALREADY_EXISTS, c.team.AddTeamDomain,
                       team_pb2.AddTeamDomainRequest(domain="acme.example"))
    assert "acme.example" in err.details()
    c.team.RemoveTeamDomain(team_pb2.RemoveTeamDomainRequest(domain="Acme.EXAMPLE"))
    assert domain_names(c) == []
    expect_error(grpc.StatusCode.NOT_FOUND, c.team.RemoveTeamDomain,
                 team_pb2.RemoveTeamDomainRequest(domain="acme.example"))


def test_member_display_name_rules(bare):
    c = bare.client(create_team(bare.admin(), "Names")[1])
    for bad in ["x" * 201, "tab\there", "new\nline"]:
        err = expect_error(INVAL, c.team.AddTeamMember,
                           team_pb2.AddTeamMemberRequest(
                               member=team_pb2.TeamMember(email="n@x.example",
                                                          display_name=bad)))
        assert "display_name" in err.details()
    # Empty is allowed for members; 200 bytes of UTF-8 too.
    c.team.AddTeamMember(team_pb2.AddTeamMemberRequest(
        member=team_pb2.TeamMember(email="e@x.example")))
    m = c.team.AddTeamMember(team_pb2.AddTeamMemberRequest(
        member=team_pb2.TeamMember(email="u@x.example", display_name="é" * 100)))
    assert m.display_name == "é" * 100


@pytest.mark.parametrize("name", ["", "x" * 201, "bell\x07", "line\nbreak"])
def test_team_display_name_rules(bare, name):
    admin = bare.admin()
    err = expect_error(INVAL, admin.admin.CreateTeam,
                       admin_pb2.CreateTeamRequest(display_name=name))
    assert "display_name" in err.details()
    assert len(admin.admin.ListTeams(admin_pb2.ListTeamsRequest()).teams) == 0


def test_team_display_name_limits_accepted(bare):
    admin = bare.admin()
    for name in ["x", "x" * 200, "Ventes Île-de-France ✓", "é" * 100]:
        team_id, _ = create_team(admin, name)
        assert admin.admin.GetTeam(
            admin_pb2.GetTeamRequest(team_id=team_id)).display_name == name


def test_get_team_errors(bare):
    admin = bare.admin()
    err = expect_error(grpc.StatusCode.NOT_FOUND, admin.admin.GetTeam,
                       admin_pb2.GetTeamRequest(team_id="team_0000000000000000"))
    assert "team_0000000000000000" in err.details()
    for bad in ["", "../etc", "x" * 300]:
        expect_error(INVAL, admin.admin.GetTeam,
                     admin_pb2.GetTeamRequest(team_id=bad))


def test_embedded_nul_is_refused(bare):
    admin = bare.admin()
    team_id, _ = create_team(admin, "Nul")
    # Strings must be NUL-free UTF-8: refused, never silently cut.
    err = expect_error(INVAL, admin.admin.GetTeam,
                       admin_pb2.GetTeamRequest(team_id=team_id + "\x00junk"))
    assert "team_id" in err.details()
    expect_error(INVAL, admin.admin.CreateTeam,
                 admin_pb2.CreateTeamRequest(display_name="Sales\x00Evil"))


def test_concurrent_duplicate_member_only_one_wins(bare):
    c = bare.client(create_team(bare.admin(), "Race")[1])
    add = c.channel.unary_unary(
        "/snipwise.v1.TeamService/AddTeamMember",
        request_serializer=team_pb2.AddTeamMemberRequest.SerializeToString,
        response_deserializer=team_pb2.TeamMember.FromString)
    req = team_pb2.AddTeamMemberRequest(
        member=team_pb2.TeamMember(email="same@race.example"))
    futs = [add.future(req, metadata=c.md, timeout=30) for _ in range(16)]
    codes = [f.code() for f in futs]
    assert codes.count(grpc.StatusCode.OK) == 1, codes
    assert codes.count(grpc.StatusCode.ALREADY_EXISTS) == 15, codes
    assert member_emails(c) == ["same@race.example"]


def test_concurrent_create_team_gives_distinct_teams(bare):
    admin = bare.admin()
    create = admin.channel.unary_unary(
        "/snipwise.v1.AdminService/CreateTeam",
        request_serializer=admin_pb2.CreateTeamRequest.SerializeToString,
        response_deserializer=admin_pb2.CreateTeamResponse.FromString)
    futs = [create.future(admin_pb2.CreateTeamRequest(display_name="C%d" % i),
                          metadata=admin.md, timeout=30) for i in range(24)]
    got = [f.result() for f in futs]
    assert len({r.team.team_id for r in got}) == 24
    assert len({r.api_key for r in got}) == 24
    teams, _ = list_all(admin.admin.ListTeams, admin_pb2.ListTeamsRequest,
                        "teams", 10)
    assert {t.team_id for t in teams} == {r.team.team_id for r in got}
    # Each key belongs to its own team.
    for r in got[:6]:
        assert bare.client(r.api_key).team.GetMyTeam(
            team_pb2.GetMyTeamRequest()).team_id == r.team.team_id
