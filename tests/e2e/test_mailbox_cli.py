"""`snipctl mailbox` against a real snipd and a real Dovecot (issue 16):
add, show, list, pause, resume, sync, remove and set-credentials, the IMAP
URL mapped onto the TLS modes, and secrets that come from files only. Each
test starts its own Dovecot (dovecot_lib.py) and snipd on 127.0.0.1."""
import json
import os
import re
import subprocess
import time

import pytest

import dovecot_lib
from e2e_lib import scratch_dir, snipctl_path
from test_mailbox import (PASSWORD, POLL_MS, REP, WAIT, WRONG, Team, inbound,
                          outbound, seed)

pytestmark = pytest.mark.skipif(
    not dovecot_lib.available(),
    reason="Dovecot is not installed (bazel/install_deps.sh installs "
    "dovecot-imapd)")

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture
def dovecot():
    d = dovecot_lib.Dovecot({REP: PASSWORD})
    try:
        d.start()
        yield d
    finally:
        d.cleanup()


@pytest.fixture
def team(snipd_factory):
    s = snipd_factory(args=["--mailbox-poll-ms", str(POLL_MS),
                            "--mailbox-timeout-s", "10"])
    return Team(s)


class Cli:
    """snipctl bound to a team's key (from a file) and snipd's address,
    with a clean environment."""

    def __init__(self, team):
        self.team = team
        self.dir = scratch_dir("mbxcli-")
        self.key_file = self.secret_file("key", team.key)
        self.outputs = []  # every stdout and stderr, to look for secrets

    def secret_file(self, name, text):
        path = os.path.join(self.dir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text + "\n")
        return path

    def run(self, *args, stdin=None):
        env = {"PATH": "/usr/bin:/bin", "HOME": self.dir}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        r = subprocess.run(
            [snipctl_path(), "--addr", self.team.snipd.addr, "--key-file",
             self.key_file] + list(args), env=env, capture_output=True,
            text=True, timeout=60, input=stdin)
        self.outputs += [r.stdout, r.stderr]
        return r

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r

    def json(self, *args, **kw):
        return json.loads(self.ok(*(list(args) + ["--json"]), **kw).stdout)

    def show(self, mid):
        return self.json("mailbox", "show", mid)

    def add(self, url, password_file, *more):
        return self.json("mailbox", "add", REP, "--imap-url", url,
                         "--username", REP, "--password-file", password_file,
                         *more)


def folders(m):
    return {f["name"]: f for f in m["folders"]}


def wait_show(cli, mid, what, fn, timeout=WAIT):
    """Polls `mailbox show --json` until fn(m) holds (bounded)."""
    deadline = time.monotonic() + timeout
    m = None
    while time.monotonic() < deadline:
        m = cli.show(mid)
        if fn(m):
            return m
        time.sleep(0.1)
    pytest.fail("timed out waiting for %s (last: %r)" % (what, m))


def ingested(want):
    def done(m):
        f = folders(m)
        return (m["state"] == "MAILBOX_STATE_IDLE" and
                m["last_sync_time_unix_ms"] > 0 and
                all(n in f and f[n]["messages_ingested"] == k
                    for n, k in want.items()))
    return done


def test_add_show_list_pause_resume_sync_remove(dovecot, team):
    seed(dovecot, inbox=[inbound(i) for i in range(3)],
         sent=[outbound(0), outbound(1)])
    cli = Cli(team)
    pw = cli.secret_file("pw", PASSWORD)
    made = cli.add("imap://127.0.0.1:%d" % dovecot.port, pw,
                   "--allow-plaintext", "--backfill-days", "30")
    mid = made["mailbox_id"]
    assert mid.startswith("mbx_")
    assert made["tls_mode"] == "TLS_MODE_PLAIN_INSECURE_LOOPBACK_ONLY"
    assert made["host"] == "127.0.0.1" and made["port"] == dovecot.port
    assert made["backfill_days"] == 30 and made["auth_kind"] == "password"

    m = wait_show(cli, mid, "idle with 3 + 2 ingested",
                  ingested({"INBOX": 3, "Sent": 2}))
    assert m["last_error"] == "" and m["backlog"] == 0
    assert folders(m)["INBOX"]["messages_seen"] == 3

    # People read words and ISO 8601 times; a table of folders.
    human = cli.ok("mailbox", "show", mid).stdout
    assert re.search(r"^state: +idle$", human, re.M), human
    assert re.search(r"^last_sync: +" + ISO.pattern, human, re.M), human
    assert re.search(r"^server: +imap://127\.0\.0\.1:%d \(plaintext\)$" %
                     dovecot.port, human, re.M), human
    assert re.search(r"^INBOX +3 +3 +0 ", human, re.M), human
    assert re.search(r"^Sent +2 +2 +0 ", human, re.M), human

    listed = cli.json("mailbox", "list")
    assert [x["mailbox_id"] for x in listed["mailboxes"]] == [mid]
    table = cli.ok("mailbox", "list").stdout
    assert mid in table and " idle " in table, table

    # Pause: new mail waits, and sync is refused (FAILED_PRECONDITION).
    m = cli.json("mailbox", "pause", mid)
    assert m["paused"] and m["state"] == "MAILBOX_STATE_PAUSED"
    dovecot.append(REP, "INBOX", inbound(5))
    r = cli.run("mailbox", "sync", mid)
    assert r.returncode == 1 and "FAILED_PRECONDITION" in r.stderr, r.stderr
    time.sleep(6 * POLL_MS / 1000.0)
    m = cli.show(mid)
    assert m["state"] == "MAILBOX_STATE_PAUSED"
    assert folders(m)["INBOX"]["messages_ingested"] == 3
    assert "(paused)" in cli.ok("mailbox", "show", mid).stdout

    m = cli.json("mailbox", "resume", mid)
    assert not m["paused"]
    wait_show(cli, mid, "the mail after resume",
              ingested({"INBOX": 4, "Sent": 2}))
    dovecot.append(REP, "INBOX", inbound(6))
    m = cli.json("mailbox", "sync", mid)
    assert m["mailbox_id"] == mid
    wait_show(cli, mid, "the mail after sync", ingested({"INBOX": 5}))

    assert cli.json("mailbox", "remove", mid) == {}
    r = cli.run("mailbox", "show", mid)
    assert r.returncode == 5, (r.stdout, r.stderr)
    assert "(none)" in cli.ok("mailbox", "list").stdout
    # The mail stays.
    assert team.email("in0@customer.example") is not None

    for out in cli.outputs + [team.snipd.stderr]:
        assert PASSWORD not in out


def test_wrong_password_then_new_credentials(dovecot, team):
    seed(dovecot, inbox=[inbound(0)])
    cli = Cli(team)
    bad = cli.secret_file("bad", WRONG)
    mid = cli.add("imap://127.0.0.1:%d" % dovecot.port, bad,
                  "--allow-plaintext")["mailbox_id"]
    m = wait_show(cli, mid, "auth-failed",
                  lambda m: m["state"] == "MAILBOX_STATE_AUTH_FAILED")
    assert "LOGIN rejected by 127.0.0.1" in m["last_error"], m
    assert "Authentication failed." in m["last_error"], m
    human = cli.ok("mailbox", "show", mid).stdout
    assert re.search(r"^state: +auth-failed$", human, re.M), human
    assert re.search(r"^last_error: +LOGIN rejected by 127\.0\.0\.1",
                     human, re.M), human

    # New credentials, from standard input this time.
    m = cli.json("mailbox", "set-credentials", mid, "--password-file", "-",
                 stdin=PASSWORD + "\n")
    wait_show(cli, mid, "a sync with the new password",
              ingested({"INBOX": 1}))
    for out in cli.outputs + [team.snipd.stderr]:
        assert PASSWORD not in out and WRONG not in out


def test_no_secret_on_the_command_line(dovecot, team):
    cli = Cli(team)
    url = "imap://127.0.0.1:%d" % dovecot.port
    for flags in (["--password", PASSWORD], ["--password=" + PASSWORD],
                  ["--oauth2-token", PASSWORD]):
        r = cli.run("mailbox", "add", REP, "--imap-url", url, "--username",
                    REP, "--allow-plaintext", *flags)
        assert r.returncode == 2, (r.stdout, r.stderr)
        assert "never from the command line" in r.stderr, r.stderr
        assert PASSWORD not in r.stdout + r.stderr
    # Nor without any secret, nor with two.
    pw = cli.secret_file("pw", PASSWORD)
    tok = cli.secret_file("tok", "ya29.token")
    for flags in ([], ["--password-file", pw, "--oauth2-token-file", tok]):
        r = cli.run("mailbox", "add", REP, "--imap-url", url, "--username",
                    REP, "--allow-plaintext", *flags)
        assert r.returncode == 2, (r.stdout, r.stderr)
    assert cli.json("mailbox", "list")["mailboxes"] == []
    # The help offers files only.
    r = cli.ok("mailbox", "--help")
    assert "--password-file F" in r.stdout
    assert not re.search(r"--password(?!-file)", r.stdout), r.stdout


def test_url_maps_onto_tls_modes(dovecot, team, tls_files):
    cli = Cli(team)
    pw = cli.secret_file("pw", PASSWORD)
    # imap:// is STARTTLS: this Dovecot offers none, so no plaintext login.
    m = cli.add("imap://127.0.0.1:%d/" % dovecot.port, pw)
    assert m["tls_mode"] == "TLS_MODE_STARTTLS"
    m = wait_show(cli, m["mailbox_id"], "the refusal",
                  lambda m: m["state"] == "MAILBOX_STATE_BACKING_OFF")
    assert "does not offer STARTTLS" in m["last_error"], m
    cli.ok("mailbox", "remove", m["mailbox_id"])
    assert "Login: user=" not in dovecot.log()
    # Plaintext to a host that is not loopback: only because the flag asks
    # for it (CreateMailboxRequest.allow_plaintext), and shown as such.
    m = cli.add("imap://imap.example.com:143", pw, "--allow-plaintext")
    assert m["tls_mode"] == "TLS_MODE_PLAIN_INSECURE_LOOPBACK_ONLY", m
    assert m["allow_plaintext"] is True, m
    cli.ok("mailbox", "pause", m["mailbox_id"])
    r = cli.ok("mailbox", "show", m["mailbox_id"])
    assert re.search(r"^server: +imap://imap\.example\.com:143 \(plaintext\)$",
                     r.stdout, re.M), r.stdout
    assert re.search(r"^plaintext: +allowed to any host", r.stdout,
                     re.M), r.stdout
    cli.ok("mailbox", "remove", m["mailbox_id"])
    # imaps:// with defaults, IPv6 literals, and malformed URLs.
    m = cli.add("imaps://[::1]", pw, "--folders", "INBOX,Deals",
                "--folders", "Archive", "--backfill-days", "all")
    assert (m["tls_mode"], m["host"], m["port"]) == ("TLS_MODE_IMAPS", "::1",
                                                     993)
    assert m["requested_folders"] == ["INBOX", "Deals", "Archive"]
    assert m["backfill_days"] == -1
    cli.ok("mailbox", "pause", m["mailbox_id"])
    for url in ("http://127.0.0.1", "imaps://127.0.0.1:0",
                "imaps://127.0.0.1:70000", "imaps://rep@127.0.0.1",
                "imaps://127.0.0.1/INBOX", "imaps://", "imaps://:993"):
        r = cli.run("mailbox", "add", REP, "--imap-url", url, "--username",
                    REP, "--password-file", pw)
        assert r.returncode == 2, (url, r.stdout, r.stderr)
    r = cli.run("mailbox", "add", REP, "--imap-url", "imaps://127.0.0.1",
                "--username", REP, "--password-file", pw,
                "--allow-plaintext")
    assert r.returncode == 2, r.stderr

    # imaps:// with --tls-ca after "mailbox": the IMAP server's CA.
    d = dovecot_lib.Dovecot({REP: PASSWORD}, tls=tls_files)
    try:
        d.start()
        seed(d, inbox=[inbound(0)])
        m = cli.add("imaps://127.0.0.1:%d" % d.tls_port, pw, "--tls-ca",
                    tls_files[0])
        assert m["custom_ca"] and m["tls_mode"] == "TLS_MODE_IMAPS"
        wait_show(cli, m["mailbox_id"], "a sync over IMAPS",
                  ingested({"INBOX": 1}))
    finally:
        d.cleanup()
