"""What snipd keeps across a restart on the same data directory."""

import os
import stat
import subprocess

import grpc
import pytest
from snipwise.v1 import admin_pb2, common_pb2, team_pb2

from e2e_lib import (STOP_TIMEOUT, create_team, domain_names, expect_error,
                     member_emails, read_key, snipd_path)


def test_first_start_writes_private_keys(snipd):
    for name in ["admin.key", "demo.key"]:
        path = os.path.join(snipd.data_dir, name)
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode == 0o600, "%s has mode %o" % (name, mode)
        assert read_key(path)
    assert snipd.admin_key != snipd.demo_key
    # No temporary files are left behind.
    assert not [n for n in os.listdir(snipd.data_dir) if n.endswith(".tmp")]


def test_no_demo_team_without_demo(snipd_factory):
    s = snipd_factory(demo=False)
    assert not os.path.exists(os.path.join(s.data_dir, "demo.key"))
    teams = s.admin().admin.ListTeams(admin_pb2.ListTeamsRequest()).teams
    assert len(teams) == 0


def stored_part(team):
    """The team as stored: its statistics' freshness is the running
    process's (rebuilt in the background after a start), not data."""
    team.ClearField("statistics")
    return team


def test_everything_survives_a_restart(snipd):
    admin_key, demo_key = snipd.admin_key, snipd.demo_key
    admin = snipd.admin()
    demo_team = stored_part(snipd.client(demo_key).team.GetMyTeam(
        team_pb2.GetMyTeamRequest()))
    a_id, a_key = create_team(admin, "Kept A")
    b_id, b_key = create_team(admin, "Kept B")
    extra = admin.admin.CreateApiKey(admin_pb2.CreateApiKeyRequest(
        team_id=a_id, display_name="extra"))
    gone = admin.admin.CreateApiKey(admin_pb2.CreateApiKeyRequest(
        team_id=a_id, display_name="gone"))
    admin.admin.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(key_id=gone.key.key_id))
    ops = admin.admin.CreateApiKey(admin_pb2.CreateApiKeyRequest(
        display_name="ops", role=common_pb2.ROLE_ADMIN))
    a = snipd.client(a_key)
    for e in ["x@a.example", "y@a.example"]:
        a.team.AddTeamMember(team_pb2.AddTeamMemberRequest(
            member=team_pb2.TeamMember(email=e, display_name=e[0].upper())))
    a.team.AddTeamDomain(team_pb2.AddTeamDomainRequest(domain="a.example"))
    a.team.AddTeamMember(team_pb2.AddTeamMemberRequest(
        member=team_pb2.TeamMember(email="z@a.example")))
    a.team.RemoveTeamMember(team_pb2.RemoveTeamMemberRequest(email="z@a.example"))
    d_id, d_key = create_team(admin, "Deleted")
    admin.admin.DeleteTeam(admin_pb2.DeleteTeamRequest(team_id=d_id))
    keys_before = {k.key_id: k for k in admin.admin.ListApiKeys(
        admin_pb2.ListApiKeysRequest(team_id=a_id)).keys}
    teams_before = {t.team_id: t for t in admin.admin.ListTeams(
        admin_pb2.ListTeamsRequest()).teams}

    first_port = snipd.port
    snipd.restart()
    log = snipd.stderr
    assert "event=snipd.admin_key_created" not in log
    assert "event=snipd.demo_team_created" not in log
    assert snipd.admin_key == admin_key
    assert snipd.demo_key == demo_key
    assert first_port  # the port may change; the data may not

    admin = snipd.admin()
    teams = {t.team_id: t for t in admin.admin.ListTeams(
        admin_pb2.ListTeamsRequest()).teams}
    assert teams == teams_before
    assert [t.display_name for t in teams.values()].count("Demo team") == 1
    assert stored_part(snipd.client(demo_key).team.GetMyTeam(
        team_pb2.GetMyTeamRequest())) == demo_team
    # Old keys still authenticate; the revoked one stays revoked.
    assert snipd.client(a_key).team.GetMyTeam(team_pb2.GetMyTeamRequest()).team_id == a_id
    assert snipd.client(b_key).team.GetMyTeam(team_pb2.GetMyTeamRequest()).team_id == b_id
    assert snipd.client(extra.api_key).team.GetMyTeam(
        team_pb2.GetMyTeamRequest()).team_id == a_id
    expect_error(grpc.StatusCode.UNAUTHENTICATED,
                 snipd.client(gone.api_key).team.GetMyTeam,
                 team_pb2.GetMyTeamRequest())
    expect_error(grpc.StatusCode.UNAUTHENTICATED,
                 snipd.client(d_key).team.GetMyTeam, team_pb2.GetMyTeamRequest())
    assert snipd.client(ops.api_key).admin.ListTeams(
        admin_pb2.ListTeamsRequest()).teams
    keys = {k.key_id: k for k in admin.admin.ListApiKeys(
        admin_pb2.ListApiKeysRequest(team_id=a_id)).keys}
    assert keys == keys_before
    assert keys[gone.key.key_id].revoke_time_unix_ms > 0
    # Members and domains, including the removal.
    a = snipd.client(a_key)
    assert member_emails(a) == ["x@a.example", "y@a.example"]
    names = [m.display_name for m in a.team.ListTeamMembers(
        team_pb2.ListTeamMembersRequest()).members]
    assert names == ["X", "Y"]
    assert domain_names(a) == ["a.example"]
    assert member_emails(snipd.client(b_key)) == []


def test_restart_twice_and_check(snipd):
    admin = snipd.admin()
    team_id, key = create_team(admin, "Twice")
    snipd.restart()
    snipd.restart()
    assert snipd.client(key).team.GetMyTeam(
        team_pb2.GetMyTeamRequest()).team_id == team_id
    snipd.stop()
    # `snipd check` verifies the store offline.
    r = subprocess.run([snipd_path(), "check", "--data-dir", snipd.data_dir],
                       capture_output=True, timeout=STOP_TIMEOUT)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert b"store opened" in r.stdout


def test_second_start_changes_no_file(snipd):
    def snapshot():
        out = {}
        for n in ["admin.key", "demo.key"]:
            p = os.path.join(snipd.data_dir, n)
            st = os.stat(p)
            out[n] = (read_key(p), st.st_ino, st.st_mtime_ns)
        return out

    before = snapshot()
    snipd.restart()
    assert snapshot() == before


def test_admin_recovery_does_not_recreate_demo_team(snipd):
    admin = snipd.admin()
    demo_key = snipd.demo_key
    boot = [k for k in admin.admin.ListApiKeys(admin_pb2.ListApiKeysRequest()).keys
            if k.role == common_pb2.ROLE_ADMIN]
    assert len(boot) == 1
    admin.admin.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(key_id=boot[0].key_id))
    snipd.stop()
    snipd.start()
    snipd.wait_for_line(r"event=snipd\.admin_key_created")
    snipd.wait_for_stdout("Try it from another terminal")
    teams = snipd.admin().admin.ListTeams(admin_pb2.ListTeamsRequest()).teams
    assert [t.display_name for t in teams].count("Demo team") == 1
    assert snipd.demo_key == demo_key
