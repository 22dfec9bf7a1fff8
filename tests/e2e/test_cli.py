"""snipctl against a real snipd, and snipd's own command line."""

import json
import os
import socket
import subprocess
import time

import pytest
from snipwise.v1 import admin_pb2, team_pb2

from e2e_lib import create_team, snipctl_path, snipd_path

CLI_TIMEOUT = 60


def snipctl(*args, key=None, env=None):
    """Runs snipctl with a clean environment (no SNIPWISE_* from outside)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("SNIPWISE_")}
    if key is not None:
        e["SNIPWISE_KEY"] = key
    e.update(env or {})
    return subprocess.run([snipctl_path()] + list(args), env=e,
                          stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=CLI_TIMEOUT, text=True)


def _explain(r):
    return "exit %d\nstdout:\n%s\nstderr:\n%s" % (r.returncode, r.stdout,
                                                   r.stderr)


def test_health(snipd):
    r = snipctl("--addr", snipd.addr, "health")
    assert r.returncode == 0, _explain(r)
    assert "SERVING" in r.stdout
    r = snipctl("--addr", snipd.addr, "--json", "health",
                "snipwise.v1.TeamService")
    assert r.returncode == 0, _explain(r)
    assert json.loads(r.stdout)["status"] == "SERVING"


def test_address_from_environment(snipd):
    r = snipctl("health", env={"SNIPWISE_ADDR": snipd.addr})
    assert r.returncode == 0, _explain(r)


def test_create_team_json_and_its_key(snipd):
    r = snipctl("--addr", snipd.addr, "--key", snipd.admin_key, "admin",
                "create-team", "CLI team", "--json")
    assert r.returncode == 0, _explain(r)
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stdout
    obj = json.loads(lines[0])
    assert isinstance(obj, dict)
    assert obj["team_id"] and obj["api_key"]
    assert obj["display_name"] == "CLI team"
    # The server agrees.
    got = snipd.admin().admin.GetTeam(admin_pb2.GetTeamRequest(
        team_id=obj["team_id"]))
    assert got.display_name == "CLI team"
    # And the key works through snipctl, taken from SNIPWISE_KEY.
    r = snipctl("--addr", snipd.addr, "team", "show", "--json",
                key=obj["api_key"])
    assert r.returncode == 0, _explain(r)
    shown = json.loads(r.stdout)
    assert shown["team_id"] == obj["team_id"]
    assert shown["display_name"] == "CLI team"


def test_json_escapes_names(snipd):
    name = 'Quote "q" \\ back/slash é ✓'
    r = snipctl("--addr", snipd.addr, "--key", snipd.admin_key, "--json",
                "admin", "create-team", name)
    assert r.returncode == 0, _explain(r)
    obj = json.loads(r.stdout)
    assert obj["display_name"] == name
    r = snipctl("--addr", snipd.addr, "--json", "team", "show",
                key=obj["api_key"])
    assert json.loads(r.stdout)["display_name"] == name


def test_team_commands_round_trip(snipd):
    _, key = create_team(snipd.admin(), "CLI members")
    base = ["--addr", snipd.addr]
    r = snipctl(*base, "team", "add-member", "Rep@Cli.example", "--name",
                "Rep One", key=key)
    assert r.returncode == 0, _explain(r)
    r = snipctl(*base, "team", "add-domain", "cli.example", key=key)
    assert r.returncode == 0, _explain(r)
    r = snipctl(*base, "--json", "team", "list-members", key=key)
    assert r.returncode == 0, _explain(r)
    members = json.loads(r.stdout)["members"]
    assert [(m["email"], m["display_name"]) for m in members] == [
        ("rep@cli.example", "Rep One")]
    r = snipctl(*base, "team", "list-domains", key=key)
    assert r.returncode == 0 and "cli.example" in r.stdout, _explain(r)
    c = snipd.client(key)
    assert [d.domain for d in c.team.ListTeamDomains(
        team_pb2.ListTeamDomainsRequest()).domains] == ["cli.example"]
    # A duplicate member is refused with a message (ALREADY_EXISTS -> 1).
    r = snipctl(*base, "team", "add-member", "rep@cli.example", key=key)
    assert r.returncode == 1, _explain(r)
    assert "ALREADY_EXISTS" in r.stderr
    r = snipctl(*base, "team", "remove-member", "rep@cli.example", key=key)
    assert r.returncode == 0, _explain(r)
    r = snipctl(*base, "team", "remove-member", "rep@cli.example", key=key)
    assert r.returncode == 5, _explain(r)  # NOT_FOUND


def test_admin_list_teams_and_keys(snipd):
    base = ["--addr", snipd.addr, "--key", snipd.admin_key]
    team_id, _ = create_team(snipd.admin(), "Listed by CLI")
    r = snipctl(*base, "--json", "admin", "list-teams")
    assert r.returncode == 0, _explain(r)
    ids = {t["team_id"] for t in json.loads(r.stdout)["teams"]}
    assert team_id in ids and len(ids) == 2
    r = snipctl(*base, "--json", "admin", "create-key", team_id, "--name",
                "cli key")
    assert r.returncode == 0, _explain(r)
    made = json.loads(r.stdout)
    assert made["team_id"] == team_id and made["api_key"]
    r = snipctl(*base, "admin", "revoke-key", made["key_id"])
    assert r.returncode == 0, _explain(r)
    r = snipctl("--addr", snipd.addr, "team", "show", key=made["api_key"])
    assert r.returncode == 4, _explain(r)


def test_bad_key_exits_4_with_message(snipd):
    r = snipctl("--addr", snipd.addr, "--key", "bad", "admin", "list-teams")
    assert r.returncode == 4, _explain(r)
    assert "UNAUTHENTICATED" in r.stderr
    assert "invalid API key" in r.stderr
    assert r.stdout == ""
    # With --json the error is also one JSON object on stdout.
    r = snipctl("--addr", snipd.addr, "--key", "bad", "--json", "admin",
                "list-teams")
    assert r.returncode == 4, _explain(r)
    assert json.loads(r.stdout)["error"]["code"] == "UNAUTHENTICATED"


def test_wrong_role_and_missing_key_exit_4(snipd):
    r = snipctl("--addr", snipd.addr, "admin", "list-teams",
                key=snipd.demo_key)
    assert r.returncode == 4 and "PERMISSION_DENIED" in r.stderr, _explain(r)
    r = snipctl("--addr", snipd.addr, "team", "show")
    assert r.returncode == 4 and "UNAUTHENTICATED" in r.stderr, _explain(r)


def test_not_found_and_invalid_exit_codes(snipd):
    base = ["--addr", snipd.addr, "--key", snipd.admin_key]
    r = snipctl(*base, "admin", "get-team", "team_0000000000000000")
    assert r.returncode == 5 and "NOT_FOUND" in r.stderr, _explain(r)
    r = snipctl(*base, "admin", "create-team", "")
    assert r.returncode == 6 and "INVALID_ARGUMENT" in r.stderr, _explain(r)
    r = snipctl(*base, "admin", "list-teams", "--page-token", "zz")
    assert r.returncode == 6, _explain(r)


def test_unavailable_server_exits_3():
    # A loopback port nobody listens on: bind one, then close it.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = snipctl("--addr", "127.0.0.1:%d" % port, "--timeout-ms", "3000",
                "health")
    assert r.returncode == 3, _explain(r)
    assert "UNAVAILABLE" in r.stderr or "DEADLINE_EXCEEDED" in r.stderr


@pytest.mark.parametrize("args", [
    ["frobnicate"], ["admin", "frobnicate"], ["team"], ["--bogus-flag", "health"],
    ["admin", "get-team"], ["admin", "create-team", "a", "b"], [],
    ["--page-size", "-1", "admin", "list-teams"], ["--addr"]
])
def test_usage_errors_exit_2(args):
    r = snipctl(*args)
    assert r.returncode == 2, _explain(r)
    assert r.stderr.strip(), "no message for a usage error"


def test_help_exits_0():
    for flag in ["--help", "-h"]:
        r = snipctl(flag)
        assert r.returncode == 0, _explain(r)
        assert "usage: snipctl" in r.stdout
        assert "create-team" in r.stdout and "exit codes" in r.stdout


def test_help_of_one_command_and_version():
    r = snipctl("content", "--help")
    assert r.returncode == 0, _explain(r)
    assert "content get" in r.stdout and "content delete" in r.stdout
    assert "create-team" not in r.stdout and "usage: snipctl" not in r.stdout
    r = snipctl("--json", "outcome", "--help")  # a flag before the command
    assert r.returncode == 0 and "outcome delete" in r.stdout, _explain(r)
    assert "content get" not in r.stdout
    r = snipctl("nosuch", "--help")
    assert r.returncode == 2 and "no command 'nosuch'" in r.stderr
    assert "create-team" in r.stdout  # then the whole list
    r = snipctl("--version")
    assert r.returncode == 0 and r.stdout.startswith("snipctl "), _explain(r)
    assert r.stdout.split()[1] == _snipd("--version").stdout.split()[1]


def test_flag_equals_value_and_enum_words(snipd):
    """--flag=value as well as --flag value (as getopt_long takes them);
    a bad enum word names itself and lists the valid ones."""
    r = snipctl("--addr=" + snipd.addr, "--key=" + snipd.admin_key,
                "admin", "list-teams", "--page-size=1")
    assert r.returncode == 0, _explain(r)
    r = snipctl("--addr", snipd.addr, "--key", snipd.demo_key, "suggest",
                "--mode=best", "--draft=hi")
    assert r.returncode == 2
    assert "--mode 'best' is not one of: outcome, popularity, similarity, " \
        "random" in r.stderr, r.stderr
    r = snipctl("--addr", snipd.addr, "--key", snipd.demo_key, "outcome",
                "record", "--message-id", "x@y", "--kind", "won", "--key", "k")
    assert r.returncode == 2 and "meeting_booked, opportunity_won" in r.stderr


def test_times_are_iso_8601_for_people_numbers_for_scripts(snipd):
    import re
    r = snipctl("--addr", snipd.addr, "--key", snipd.demo_key, "team", "show")
    assert r.returncode == 0, _explain(r)
    assert re.search(r"create_time_unix_ms: \d{4}-\d\d-\d\dT\d\d:\d\d:"
                     r"\d\d\.\d{3}Z", r.stdout), r.stdout
    r = snipctl("--addr", snipd.addr, "--key", snipd.demo_key, "--json",
                "team", "show")
    assert r.returncode == 0, _explain(r)
    assert isinstance(json.loads(r.stdout)["create_time_unix_ms"], int)


def test_key_file_flag_and_env(snipd, tmp_path):
    kf = tmp_path / "demo.key"
    kf.write_text(snipd.demo_key + "\n")
    bare = {k: v for k, v in os.environ.items() if not k.startswith("SNIPWISE")}
    r = subprocess.run([snipctl_path(), "--addr", snipd.addr, "--key-file",
                        str(kf), "team", "show"], capture_output=True,
                       text=True, timeout=CLI_TIMEOUT, env=bare)
    assert r.returncode == 0 and "Demo" in r.stdout, _explain(r)
    r = subprocess.run([snipctl_path(), "--addr", snipd.addr, "team", "show"],
                       capture_output=True, text=True, timeout=CLI_TIMEOUT,
                       env=dict(bare, SNIPWISE_KEY_FILE=str(kf)))
    assert r.returncode == 0 and "Demo" in r.stdout, _explain(r)
    # The flag wins over the environment.
    r = subprocess.run([snipctl_path(), "--addr", snipd.addr, "--key-file",
                        str(kf), "team", "show"], capture_output=True,
                       text=True, timeout=CLI_TIMEOUT,
                       env=dict(bare, SNIPWISE_KEY="sk_wrong"))
    assert r.returncode == 0, _explain(r)
    r = subprocess.run([snipctl_path(), "--addr", snipd.addr, "--key-file",
                        str(tmp_path / "none"), "team", "show"],
                       capture_output=True, text=True, timeout=CLI_TIMEOUT,
                       env=bare)
    assert r.returncode != 0 and "none" in r.stderr


def test_tables_fit_the_terminal(snipd):
    """A table is cut to $COLUMNS (the terminal's width when stdout is
    one) with "…"; piped without it, values stay whole."""
    create_team(snipd.admin(), "A team with a rather long display name")
    args = ["--addr", snipd.addr, "--key", snipd.admin_key, "admin",
            "list-teams"]
    r = snipctl(*args, env={"COLUMNS": "60"})
    assert r.returncode == 0, _explain(r)
    lines = r.stdout.splitlines()
    assert len(lines) >= 2 and all(len(x.rstrip()) <= 60 for x in lines), \
        r.stdout
    assert "\u2026" in r.stdout
    r = snipctl(*args, env={"COLUMNS": ""})
    assert r.returncode == 0 and "\u2026" not in r.stdout
    assert "A team with a rather long display name" in r.stdout


def test_create_key_without_name(snipd):
    team_id, _ = create_team(snipd.admin(), "No name key")
    r = snipctl("--addr", snipd.addr, "--key", snipd.admin_key, "admin",
                "create-key", team_id)
    assert r.returncode == 0, _explain(r)


# --- snipd's own command line ------------------------------------------------


def _snipd(*args):
    return subprocess.run([snipd_path()] + list(args), capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=CLI_TIMEOUT,
                          text=True,
                          cwd=os.environ.get("TEST_TMPDIR") or "/tmp")


def test_snipd_help_and_version():
    r = _snipd("--help")
    assert r.returncode == 0 and "usage: snipd" in r.stdout, r.stderr
    assert "--max-message-bytes" in r.stdout and "SNIPD_GRACE_MS" in r.stdout
    r = _snipd("--version")
    assert r.returncode == 0 and r.stdout.startswith("snipd "), r.stderr


@pytest.mark.parametrize("args", [
    ["frobnicate"], ["serve", "--bogus"], ["serve", "--threads", "0"],
    ["serve", "--max-message-bytes", "10"], ["serve", "--demo", "2"],
    ["serve", "--demo-sample", "2"],
    ["serve", "--tls-cert", "x.pem"], ["serve", "--listen"],
    ["serve", "--data-dir", ""], ["serve", "--explore-percent", "-1"]
])
def test_snipd_bad_flags_exit_2(args):
    r = _snipd(*args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.startswith("snipd: ")


def test_snipd_port_in_use_fails(snipd, snipd_factory):
    other = snipd_factory(start=False)
    os.makedirs(other.data_dir)
    r = subprocess.run([
        snipd_path(), "serve", "--listen", snipd.addr, "--data-dir",
        other.data_dir
    ], capture_output=True, stdin=subprocess.DEVNULL, timeout=CLI_TIMEOUT,
                       text=True)
    assert r.returncode != 0
    assert "cannot serve" in r.stderr, r.stderr
    # The first server is unharmed.
    from grpc_health.v1 import health_pb2
    assert snipd.client().health.Check(health_pb2.HealthCheckRequest()).status \
        == health_pb2.HealthCheckResponse.SERVING


def test_snipd_unreadable_tls_files_fail(snipd_factory):
    s = snipd_factory(start=False)
    r = subprocess.run([
        snipd_path(), "serve", "--listen", "127.0.0.1:0", "--data-dir",
        s.data_dir, "--tls-cert", "/nonexistent/cert.pem", "--tls-key",
        "/nonexistent/key.pem"
    ], capture_output=True, stdin=subprocess.DEVNULL, timeout=CLI_TIMEOUT,
                       text=True)
    assert r.returncode == 1
    assert "--tls-cert" in r.stderr


def test_environment_reaches_snipd(snipd_factory, monkeypatch):
    # snipd gets the test's whole environment: under --config=asan that is
    # how ASAN_OPTIONS=detect_leaks=1 (from .bazelrc) reaches it.
    monkeypatch.setenv("SNIPWISE_E2E_MARKER", "passed-through")
    s = snipd_factory()
    with open("/proc/%d/environ" % s.proc.pid, "rb") as f:
        env = dict(
            kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
    assert env.get(b"SNIPWISE_E2E_MARKER") == b"passed-through"
    for name in ["ASAN_OPTIONS", "UBSAN_OPTIONS"]:
        if name in os.environ:
            assert env.get(name.encode()) == os.environ[name].encode()


def _suggested_item(snipd, key):
    """A suggestion id and one of its item ids (feedback is accepted only
    on what Suggest gave): one outbound mail with a document, then Suggest
    until its extraction shows."""
    from snipwise.v1 import (ingest_pb2, ingest_pb2_grpc, suggest_pb2,
                             suggest_pb2_grpc)
    c = snipd.client(key)
    c.team.AddTeamDomain(team_pb2.AddTeamDomainRequest(domain="cli.example"))
    pe = ingest_pb2.ParsedEmail(
        message_id="fb@cli.example", from_address="rep@cli.example",
        to_addresses=["a@p.example"], subject="Guide",
        text_body="I've attached the pricing guide, which explains our plans.")
    pe.attachments.append(ingest_pb2.Attachment(
        filename="guide.txt", content_type="text/plain",
        data=b"Plans start at 10 dollars per seat per month."))
    ingest_pb2_grpc.IngestServiceStub(c.channel).IngestEmail(
        ingest_pb2.IngestEmailRequest(parsed=pe), metadata=c.md, timeout=30)
    sug = suggest_pb2_grpc.SuggestServiceStub(c.channel)
    end = time.monotonic() + 60
    while True:
        r = sug.Suggest(suggest_pb2.SuggestRequest(
            draft_text="pricing guide plans"), metadata=c.md, timeout=30)
        if r.contents:
            return r.suggestion_id, r.contents[0].item_id
        assert time.monotonic() < end, "nothing was ever suggested"
        time.sleep(0.1)


def test_feedback_outcomes_and_models_commands(snipd):
    """snipctl feedback / outcomes / models reach their RPCs: feedback is
    idempotent by key, refused on a suggestion never given, a bad kind is
    a usage error, the lists answer."""
    _, key = create_team(snipd.admin(), "CLI feedback")
    base = ["--addr", snipd.addr, "--json"]
    r = snipctl(*base, "feedback", "sg_cli", "sg_cli.f.fam_x", "inserted",
                "fb-key-0", key=key)
    assert r.returncode == 5 and "NOT_FOUND" in r.stderr, _explain(r)
    sid, item = _suggested_item(snipd, key)
    args = ["feedback", sid, item, "inserted", "fb-key-1"]
    r = snipctl(*base, *args, key=key)
    assert r.returncode == 0, _explain(r)
    first = json.loads(r.stdout)
    assert first["duplicate"] is False and first["feedback_id"]
    r = snipctl(*base, *args, key=key)
    assert r.returncode == 0, _explain(r)
    again = json.loads(r.stdout)
    assert again["duplicate"] is True
    assert again["feedback_id"] == first["feedback_id"]
    r = snipctl(*base, "feedback", "sg_cli", "x", "loved", "k", key=key)
    assert r.returncode == 2 and "loved" in r.stderr, _explain(r)
    r = snipctl(*base, "models", key=key)
    assert r.returncode == 0, _explain(r)
    assert json.loads(r.stdout)["models"] == []
    r = snipctl(*base, "outcomes", "th_none", key=key)
    assert r.returncode == 0, _explain(r)
    assert json.loads(r.stdout)["outcomes"] == []


def test_config_file_supplies_addr_and_key(snipd, tmp_path):
    """Flags beat SNIPWISE_*, which beat the config file; a broken config
    file is a clear usage error, not ignored."""
    _, key = create_team(snipd.admin(), "CLI config")
    key_file = tmp_path / "team.key"
    key_file.write_text(key + "\n")
    conf = tmp_path / "snipctl.conf"
    conf.write_text("# snipctl settings\naddr = %s\nkey_file = %s\n" %
                    (snipd.addr, key_file))
    env = {"SNIPWISE_CONFIG": str(conf)}
    r = snipctl("--json", "team", "show", env=env)
    assert r.returncode == 0, _explain(r)
    assert json.loads(r.stdout)["display_name"] == "CLI config"
    # The environment wins over the file: a bad key there is used and fails.
    r = snipctl("team", "show", key="sk_wrong", env=env)
    assert r.returncode == 4, _explain(r)
    # And --key wins over both.
    r = snipctl("--key", key, "team", "show", key="sk_wrong", env=env)
    assert r.returncode == 0, _explain(r)
    conf.write_text("addr %s\n" % snipd.addr)
    r = snipctl("team", "show", env=env)
    assert r.returncode == 2 and "NAME = VALUE" in r.stderr, _explain(r)
    r = snipctl("team", "show", env={"SNIPWISE_CONFIG": str(tmp_path / "no")})
    assert r.returncode == 2 and "No such file" in r.stderr, _explain(r)


@pytest.mark.parametrize("cmd", [
    "health", "admin create-team", "team show", "email get", "thread list",
    "content list", "snippet get", "ingest", "search", "suggest",
    "outcome record", "outcomes", "feedback", "rerank", "model show",
    "models", "llm journal"])
def test_every_subcommand_has_help(cmd):
    """`snipctl CMD --help` prints that command's usage only."""
    r = snipctl(*cmd.split(), "--help")
    assert r.returncode == 0, _explain(r)
    assert "  " + cmd in r.stdout and "exit codes" in r.stdout, r.stdout
    assert "usage: snipctl" not in r.stdout  # not the whole list
