"""Authentication: bearer keys, their roles, revocation and team deletion."""

import grpc
import pytest
from snipwise.v1 import admin_pb2, common_pb2, team_pb2

from e2e_lib import create_team, expect_error

UNAUTH = grpc.StatusCode.UNAUTHENTICATED


def _list_teams(c, **kw):
    return c.admin.ListTeams(admin_pb2.ListTeamsRequest(), **kw)


def _my_team(c, **kw):
    return c.team.GetMyTeam(team_pb2.GetMyTeamRequest(), **kw)


def test_no_key_is_unauthenticated(snipd):
    c = snipd.client()
    err = expect_error(UNAUTH, _list_teams, c)
    assert "missing API key" in err.details()
    expect_error(UNAUTH, _my_team, c)


@pytest.mark.parametrize("header", [
    "Basic x", "Bearer", "Bearerabc", "Token abc", "", "Bearer:abc"
])
def test_malformed_header_is_unauthenticated(snipd, header):
    c = snipd.client()
    err = expect_error(UNAUTH, _list_teams, c,
                       metadata=(("authorization", header),))
    assert "authorization" in err.details() or "API key" in err.details()


def test_wrong_keys_are_unauthenticated(snipd):
    admin_key = snipd.admin_key
    c = snipd.client()
    # One changed character, a truncated key, a key with a suffix, an
    # empty key and a team key used as if it were someone else's: all fail
    # the same way, with a message.
    flipped = admin_key[:-1] + ("0" if admin_key[-1] != "0" else "1")
    for bad in [flipped, admin_key[:-1], admin_key + "0", "", "sk_" + "0" * 64]:
        err = expect_error(UNAUTH, _list_teams, c,
                           metadata=(("authorization", "Bearer " + bad),))
        assert "invalid API key" in err.details()
    # The real key still works.
    assert _list_teams(snipd.admin()).teams


def test_scheme_is_case_insensitive_and_spaces_are_skipped(snipd):
    c = snipd.client()
    key = snipd.admin_key
    for value in ["bearer " + key, "BEARER " + key, "Bearer   " + key]:
        assert _list_teams(c, metadata=(("authorization", value),)).teams


def test_two_authorization_headers_are_refused(snipd):
    c = snipd.client()
    key = snipd.admin_key
    err = expect_error(UNAUTH, _list_teams, c,
                       metadata=(("authorization", "Bearer " + key),
                                 ("authorization", "Bearer " + key)))
    assert "more than one" in err.details()


def test_admin_creates_team_and_its_key_works(snipd, admin):
    team_id, key = create_team(admin, "Auth team")
    got = _my_team(snipd.client(key))
    assert got.team_id == team_id
    assert got.display_name == "Auth team"
    # The key is listed (without its secret) as the team's one key.
    keys = admin.admin.ListApiKeys(
        admin_pb2.ListApiKeysRequest(team_id=team_id)).keys
    assert len(keys) == 1
    assert keys[0].role == common_pb2.ROLE_TEAM
    assert keys[0].revoke_time_unix_ms == 0
    assert key.startswith(keys[0].key_prefix)
    assert key not in str(keys[0])


def test_revoked_key_fails_at_once_other_key_still_works(snipd, admin):
    team_id, first = create_team(admin, "Revoke team")
    made = admin.admin.CreateApiKey(
        admin_pb2.CreateApiKeyRequest(team_id=team_id, display_name="second",
                                      role=common_pb2.ROLE_TEAM))
    second = made.api_key
    assert made.key.team_id == team_id and made.key.role == common_pb2.ROLE_TEAM
    assert second != first
    c1, c2 = snipd.client(first), snipd.client(second)
    assert _my_team(c2).team_id == team_id
    assert _my_team(c1).team_id == team_id

    revoked = admin.admin.RevokeApiKey(
        admin_pb2.RevokeApiKeyRequest(key_id=made.key.key_id))
    assert revoked.key_id == made.key.key_id
    assert revoked.revoke_time_unix_ms > 0
    # The very next call with the revoked key fails; the other key works.
    err = expect_error(UNAUTH, _my_team, c2)
    assert "invalid API key" in err.details()
    assert _my_team(c1).team_id == team_id
    # Revoking again returns the key unchanged.
    again = admin.admin.RevokeApiKey(
        admin_pb2.RevokeApiKeyRequest(key_id=made.key.key_id))
    assert again.revoke_time_unix_ms == revoked.revoke_time_unix_ms
    expect_error(UNAUTH, _my_team, c2)
    # The listing shows which key is revoked.
    keys = {k.key_id: k for k in admin.admin.ListApiKeys(
        admin_pb2.ListApiKeysRequest(team_id=team_id)).keys}
    assert keys[made.key.key_id].revoke_time_unix_ms == revoked.revoke_time_unix_ms
    others = [k for k in keys.values() if k.key_id != made.key.key_id]
    assert len(others) == 1 and others[0].revoke_time_unix_ms == 0


def test_revoke_unknown_or_empty_key_id(snipd, admin):
    expect_error(grpc.StatusCode.NOT_FOUND, admin.admin.RevokeApiKey,
                 admin_pb2.RevokeApiKeyRequest(key_id="key_0000000000000000"))
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, admin.admin.RevokeApiKey,
                 admin_pb2.RevokeApiKeyRequest(key_id=""))


def test_second_admin_key_works_until_revoked(snipd, admin):
    made = admin.admin.CreateApiKey(
        admin_pb2.CreateApiKeyRequest(display_name="ops",
                                      role=common_pb2.ROLE_ADMIN))
    assert made.key.role == common_pb2.ROLE_ADMIN and made.key.team_id == ""
    ops = snipd.client(made.api_key)
    assert _list_teams(ops).teams
    # An admin key is still no team key.
    expect_error(grpc.StatusCode.PERMISSION_DENIED, _my_team, ops)
    admin.admin.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(key_id=made.key.key_id))
    expect_error(UNAUTH, _list_teams, ops)
    assert _list_teams(admin).teams


def test_deleting_a_team_kills_its_keys_at_once(snipd, admin):
    team_id, first = create_team(admin, "Doomed team")
    second = admin.admin.CreateApiKey(
        admin_pb2.CreateApiKeyRequest(team_id=team_id,
                                      display_name="second")).api_key
    keep_id, keep_key = create_team(admin, "Kept team")
    c1, c2, keep = (snipd.client(first), snipd.client(second),
                    snipd.client(keep_key))
    c1.team.AddTeamMember(team_pb2.AddTeamMemberRequest(
        member=team_pb2.TeamMember(email="rep@doomed.example")))
    assert _my_team(c2).team_id == team_id

    admin.admin.DeleteTeam(admin_pb2.DeleteTeamRequest(team_id=team_id))
    for c in (c1, c2):
        err = expect_error(UNAUTH, _my_team, c)
        assert "invalid API key" in err.details()
        expect_error(UNAUTH, c.team.ListTeamMembers,
                     team_pb2.ListTeamMembersRequest())
    expect_error(grpc.StatusCode.NOT_FOUND, admin.admin.GetTeam,
                 admin_pb2.GetTeamRequest(team_id=team_id))
    expect_error(grpc.StatusCode.NOT_FOUND, admin.admin.DeleteTeam,
                 admin_pb2.DeleteTeamRequest(team_id=team_id))
    assert len(admin.admin.ListApiKeys(
        admin_pb2.ListApiKeysRequest(team_id=team_id)).keys) == 0
    # A new key cannot be made for the deleted team.
    expect_error(grpc.StatusCode.NOT_FOUND, admin.admin.CreateApiKey,
                 admin_pb2.CreateApiKeyRequest(team_id=team_id,
                                               display_name="late"))
    # Other teams are untouched.
    assert _my_team(keep).team_id == keep_id


def test_create_api_key_validation(snipd, admin):
    team_id, _ = create_team(admin, "Key rules")
    inval = grpc.StatusCode.INVALID_ARGUMENT
    err = expect_error(inval, admin.admin.CreateApiKey,
                       admin_pb2.CreateApiKeyRequest(
                           team_id=team_id, display_name="x",
                           role=common_pb2.ROLE_ADMIN))
    assert "team_id" in err.details()
    err = expect_error(inval, admin.admin.CreateApiKey,
                       admin_pb2.CreateApiKeyRequest(
                           display_name="x", role=common_pb2.ROLE_TEAM))
    assert "team_id" in err.details()
    err = expect_error(inval, admin.admin.CreateApiKey,
                       admin_pb2.CreateApiKeyRequest(
                           team_id=team_id, display_name="x", role=99))
    assert "role" in err.details()
    expect_error(grpc.StatusCode.NOT_FOUND, admin.admin.CreateApiKey,
                 admin_pb2.CreateApiKeyRequest(team_id="team_0000000000000000",
                                               display_name="x"))
    # ROLE_UNSPECIFIED means a team key.
    made = admin.admin.CreateApiKey(
        admin_pb2.CreateApiKeyRequest(team_id=team_id, display_name="x"))
    assert made.key.role == common_pb2.ROLE_TEAM
    assert _my_team(snipd.client(made.api_key)).team_id == team_id


def test_create_api_key_without_display_name(snipd, admin):
    team_id, _ = create_team(admin, "Unnamed key")
    made = admin.admin.CreateApiKey(admin_pb2.CreateApiKeyRequest(team_id=team_id))
    assert made.api_key


def test_list_api_keys_empty_team_lists_admin_keys_only(snipd, admin):
    create_team(admin, "Listed team")
    keys = admin.admin.ListApiKeys(admin_pb2.ListApiKeysRequest(page_size=100)).keys
    assert keys
    assert all(k.role == common_pb2.ROLE_ADMIN and k.team_id == "" for k in keys), \
        [(k.key_id, k.team_id, k.role) for k in keys]
