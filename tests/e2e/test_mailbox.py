"""Mailbox sync over IMAP against a real Dovecot (issue 16): a team connects
a rep's mailbox with MailboxService and its INBOX and \\Sent mail flows in
by itself. Each test starts its own Dovecot (dovecot_lib.py) and snipd on
127.0.0.1 and stops both. Skipped only when Dovecot is not installed."""
import os
import stat
import time

import grpc
import pytest

import dovecot_lib
from dovecot_lib import message
from e2e_lib import _Bound, create_team, expect_error, list_all
from snipwise.v1 import common_pb2, ingest_pb2, ingest_pb2_grpc
from snipwise.v1 import mailbox_pb2, mailbox_pb2_grpc, team_pb2

REP = "rep@acme.example"
PASSWORD = "Corr3ct-Horse-Battery-4217"
WRONG = "Wr0ng-Staple-9931"
POLL_MS = 300
WAIT = 20.0  # bound of every wait for the sync (many poll intervals)

OUT = common_pb2.DIRECTION_OUTBOUND
IN = common_pb2.DIRECTION_INBOUND
S = mailbox_pb2

pytestmark = pytest.mark.skipif(
    not dovecot_lib.available(),
    reason="Dovecot is not installed (bazel/install_deps.sh installs "
    "dovecot-imapd)")


@pytest.fixture
def dovecot():
    d = dovecot_lib.Dovecot({REP: PASSWORD})
    try:
        d.start()
        yield d
    finally:
        d.cleanup()


class Team:
    """A team on a running snipd with the rep as member and acme.example as
    its domain; .mbx and .ingest are bound stubs."""

    def __init__(self, snipd):
        self.snipd = snipd
        _, self.key = create_team(snipd.admin(), "Mailbox team")
        self.bind()
        self.client.team.AddTeamMember(team_pb2.AddTeamMemberRequest(
            member=team_pb2.TeamMember(email=REP)))
        self.client.team.AddTeamDomain(team_pb2.AddTeamDomainRequest(
            domain="acme.example"))

    def bind(self):
        """(Re)binds the stubs, e.g. after a restart of snipd."""
        self.client = self.snipd.client(self.key)
        ch = self.client.channel
        self.mbx = _Bound(mailbox_pb2_grpc.MailboxServiceStub(ch), self.client)
        self.ingest = _Bound(ingest_pb2_grpc.IngestServiceStub(ch),
                             self.client)

    def create(self, dovecot, password=PASSWORD, folders=(), backfill_days=0):
        m = self.mbx.CreateMailbox(S.CreateMailboxRequest(
            rep_email=REP, host="127.0.0.1", port=dovecot.port,
            tls_mode=S.TLS_MODE_PLAIN_INSECURE_LOOPBACK_ONLY, username=REP,
            auth=S.MailboxAuth(password=password), folders=list(folders),
            backfill_days=backfill_days))
        assert m.mailbox_id.startswith("mbx_")
        return m.mailbox_id

    def get(self, mailbox_id):
        return self.mbx.GetMailbox(S.GetMailboxRequest(mailbox_id=mailbox_id))

    def email(self, msg_id):
        """The stored email with this Message-ID, or None."""
        try:
            return self.ingest.GetEmail(
                ingest_pb2.GetEmailRequest(message_id=msg_id))
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND, e
            return None


def folder(m, name):
    for f in m.folders:
        if f.name == name:
            return f
    return None


def wait_for(what, fn, timeout=WAIT):
    """Polls fn until it returns a true value (bounded); returns it."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.1)
    pytest.fail("timed out waiting for %s (last: %r)" % (what, last))


def synced(team, mailbox_id, want):
    """Waits until every folder of want ({name: ingested}) has ingested that
    many messages and a sync completed; returns the Mailbox."""

    def done():
        m = team.get(mailbox_id)
        ok = m.last_sync_time_unix_ms > 0 and all(
            folder(m, n) is not None and folder(m, n).messages_ingested == k
            for n, k in want.items())
        return m if ok else None

    return wait_for("folders %r" % (want,), done)


def seed(dovecot, inbox=(), sent=()):
    for raw in inbox:
        dovecot.append(REP, "INBOX", raw)
    for raw in sent:
        dovecot.append(REP, "Sent", raw)


def inbound(i):
    return message("in%d@customer.example" % i, "Buyer %d <buyer%d@customer."
                   "example>" % (i, i), REP, "Re: pricing %d" % i,
                   "Sounds good, let's talk on Tuesday. (%d)" % i,
                   in_reply_to="out%d@acme.example" % i)


def outbound(i, sender=REP):
    return message("out%d@acme.example" % i, sender,
                   "buyer%d@customer.example" % i, "pricing %d" % i,
                   "Here is our pricing sheet, happy to walk you through "
                   "it. (%d)" % i)


@pytest.fixture
def team(snipd_factory):
    s = snipd_factory(args=["--mailbox-poll-ms", str(POLL_MS),
                            "--mailbox-timeout-s", "10"])
    return Team(s)


def test_backfill_new_mail_and_directions(dovecot, team):
    # The second Sent message comes from an alias whose domain is not a
    # team domain: being in \Sent makes it outbound all the same.
    seed(dovecot, inbox=[inbound(i) for i in range(3)],
         sent=[outbound(0), outbound(1, "Rep <rep@acme-alias.example>")])
    mid = team.create(dovecot)
    m = synced(team, mid, {"INBOX": 3, "Sent": 2})
    assert m.state in (S.MAILBOX_STATE_IDLE, S.MAILBOX_STATE_SYNCING)
    assert m.last_error == ""
    assert m.auth_kind == "password" and m.backlog == 0
    for i in range(3):
        assert team.email("in%d@customer.example" % i).direction == IN
    for i in range(2):
        assert team.email("out%d@acme.example" % i).direction == OUT
    # BODY.PEEK: syncing marks nothing \Seen on the server.
    for flags in dovecot.flags(REP, "INBOX") + dovecot.flags(REP, "Sent"):
        assert b"\\Seen" not in flags, flags

    # New mail arrives by itself within a few poll intervals.
    dovecot.append(REP, "INBOX", inbound(7))
    wait_for("the appended mail", lambda: team.email("in7@customer.example"))
    m = synced(team, mid, {"INBOX": 4, "Sent": 2})
    assert folder(m, "INBOX").messages_seen == 4


def test_idle_brings_new_mail_at_once(dovecot, snipd_factory):
    """With a poll interval of ten minutes only IMAP IDLE can explain mail
    that arrives within seconds: the engine waits in IDLE on the INBOX
    after the backfill and syncs as soon as Dovecot reports EXISTS."""
    s = snipd_factory(args=["--mailbox-poll-ms", "600000",
                            "--mailbox-timeout-s", "10"])
    team = Team(s)
    seed(dovecot, inbox=[inbound(0)], sent=[outbound(0)])
    mid = team.create(dovecot)
    synced(team, mid, {"INBOX": 1, "Sent": 1})
    for i in (1, 2):  # twice: the engine goes back to IDLE after a sync
        dovecot.append(REP, "INBOX", inbound(i))
        wait_for("mail %d by IDLE" % i,
                 lambda i=i: team.email("in%d@customer.example" % i),
                 timeout=5.0)
    m = synced(team, mid, {"INBOX": 3, "Sent": 1})
    assert m.last_error == "" and m.state == S.MAILBOX_STATE_IDLE
    assert "mailbox.idle_" not in s.stderr  # no fallback to polling


def test_idle_brings_sent_mail_at_once(dovecot, snipd_factory):
    """Mail a rep sends from another client lands in \\Sent: with a poll
    interval of an hour only IDLE on the Sent folder (a session of its own
    beside the one in IDLE on the INBOX) can bring it within the wait, and
    it is ingested as outbound."""
    s = snipd_factory(args=["--mailbox-poll-ms", "3600000",
                            "--mailbox-timeout-s", "10"])
    team = Team(s)
    seed(dovecot, inbox=[inbound(0)], sent=[outbound(0)])
    mid = team.create(dovecot)
    synced(team, mid, {"INBOX": 1, "Sent": 1})
    for i in (1, 2):  # twice: the watch goes back to IDLE after a sync
        dovecot.append(REP, "Sent", outbound(i))
        e = wait_for("sent mail %d by IDLE" % i,
                     lambda i=i: team.email("out%d@acme.example" % i))
        assert e.direction == OUT
    # The INBOX is still watched on the mailbox's own session.
    dovecot.append(REP, "INBOX", inbound(1))
    wait_for("inbox mail by IDLE", lambda: team.email("in1@customer.example"))
    m = synced(team, mid, {"INBOX": 2, "Sent": 3})
    assert m.last_error == "" and m.state == S.MAILBOX_STATE_IDLE
    assert "mailbox.idle_" not in s.stderr  # no fallback to polling


def test_connection_cap_backs_off_and_sent_is_polled(snipd_factory):
    """A server that caps connections per user (Dovecot's
    mail_max_userip_connections = 2; the test holds one or two of them):
    while both are taken the mailbox's login is refused with [LIMIT] and it
    backs off, not AUTH_FAILED; with one free it syncs, the session of its
    own for \\Sent is refused (logged: Sent is polled) and the INBOX still
    comes by IDLE."""
    s = snipd_factory(args=["--mailbox-poll-ms", "3600000",
                            "--mailbox-timeout-s", "10"])
    team = Team(s)
    d = dovecot_lib.Dovecot({REP: PASSWORD})
    held = []
    try:
        with open(d.conf, "a", encoding="ascii") as f:
            f.write("protocol imap {\n  mail_max_userip_connections = 2\n}\n")
        d.start()
        held = [d.imap(REP), d.imap(REP)]  # every connection the cap allows
        imap = held[0]  # new mail comes on it: no other login
        for folder_name, raw in (("INBOX", inbound(0)), ("Sent", outbound(0))):
            assert imap.append(folder_name, None, None, raw)[0] == "OK"
        mid = team.create(d)
        m = wait_for("BACKING_OFF", lambda: (lambda m: m if m.state ==
                                             S.MAILBOX_STATE_BACKING_OFF
                                             else None)(team.get(mid)))
        assert "LOGIN refused for now by 127.0.0.1 [LIMIT]" in m.last_error, \
            m.last_error
        assert "Maximum number of connections" in m.last_error, m.last_error
        held.pop().logout()  # one free: the retry (backoff) takes it
        synced(team, mid, {"INBOX": 1, "Sent": 1})
        wait_for("the refused Sent session in the log", lambda: (
            'event=mailbox.idle_watch_unavailable' in s.stderr and
            'folder="Sent" step=login err=SW_EIO' in s.stderr))
        assert imap.append("INBOX", None, None, inbound(1))[0] == "OK"
        wait_for("inbox mail by IDLE", lambda: team.email(
            "in1@customer.example"))
        m = team.get(mid)
        assert m.last_error == "" and m.state == S.MAILBOX_STATE_IDLE
        # Sent is polled: SyncMailbox brings its new mail.
        assert imap.append("Sent", None, None, outbound(1))[0] == "OK"
        team.mbx.SyncMailbox(S.SyncMailboxRequest(mailbox_id=mid))
        synced(team, mid, {"INBOX": 2, "Sent": 2})
        assert team.email("out1@acme.example").direction == OUT
    finally:
        for c in held:
            c.logout()
        d.cleanup()


def test_no_idle_offered_falls_back_to_polling(team):
    """A server that does not advertise IDLE is polled: new mail still
    comes in every poll interval, and the log says why."""
    d = dovecot_lib.Dovecot({REP: PASSWORD})
    try:
        with open(d.conf, "a", encoding="ascii") as f:  # Dovecot's, no IDLE
            f.write("imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID "
                    "ENABLE UNSELECT CHILDREN NAMESPACE UIDPLUS "
                    "LIST-EXTENDED SPECIAL-USE LITERAL+\n")
        d.start()
        seed(d, inbox=[inbound(0)], sent=[outbound(0)])
        mid = team.create(d)
        synced(team, mid, {"INBOX": 1, "Sent": 1})
        d.append(REP, "INBOX", inbound(1))
        m = synced(team, mid, {"INBOX": 2, "Sent": 1})
        assert m.last_error == ""
        assert "event=mailbox.idle_unavailable" in team.snipd.stderr
        assert "does not offer IDLE" in team.snipd.stderr
    finally:
        d.cleanup()


def test_wrong_password_auth_failed_then_fixed(dovecot, team):
    seed(dovecot, inbox=[inbound(0)])
    mid = team.create(dovecot, password=WRONG)
    m = wait_for("AUTH_FAILED", lambda: (lambda m: m if m.state ==
                                         S.MAILBOX_STATE_AUTH_FAILED else
                                         None)(team.get(mid)))
    assert "LOGIN rejected by 127.0.0.1" in m.last_error, m.last_error
    # The server's own words (Dovecot: "[AUTHENTICATIONFAILED]
    # Authentication failed."; libetpan keeps the text, not the code).
    assert "Authentication failed." in m.last_error, m.last_error
    # No retry storm: the mailbox stays stopped over many poll intervals.
    time.sleep(8 * POLL_MS / 1000.0)
    m = team.get(mid)
    assert m.state == S.MAILBOX_STATE_AUTH_FAILED
    assert dovecot.log().count("auth failed") <= 1, dovecot.log()
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, team.mbx.SyncMailbox,
                 S.SyncMailboxRequest(mailbox_id=mid))

    # New credentials start it again.
    team.mbx.UpdateMailboxCredentials(S.UpdateMailboxCredentialsRequest(
        mailbox_id=mid, auth=S.MailboxAuth(password=PASSWORD)))
    m = synced(team, mid, {"INBOX": 1})
    assert m.last_error == ""

    # Secrets are nowhere: not in any response, not in snipd's log.
    listed = team.mbx.ListMailboxes(S.ListMailboxesRequest())
    for blob in (m.SerializeToString(), listed.SerializeToString()):
        assert PASSWORD.encode() not in blob and WRONG.encode() not in blob
    assert PASSWORD not in team.snipd.stderr
    assert WRONG not in team.snipd.stderr


def test_secret_sealed_at_rest(dovecot, team):
    team.create(dovecot)
    key = os.path.join(team.snipd.data_dir, "mailbox.key")
    st = os.stat(key)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_size == 32
    for name in os.listdir(team.snipd.data_dir):
        path = os.path.join(team.snipd.data_dir, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                assert PASSWORD.encode() not in f.read(), name


def test_pause_resume_sync_now_and_delete(dovecot, team):
    seed(dovecot, inbox=[inbound(0)])
    mid = team.create(dovecot)
    synced(team, mid, {"INBOX": 1})
    m = team.mbx.PauseMailbox(S.PauseMailboxRequest(mailbox_id=mid))
    assert m.paused and m.state == S.MAILBOX_STATE_PAUSED
    dovecot.append(REP, "INBOX", inbound(1))
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, team.mbx.SyncMailbox,
                 S.SyncMailboxRequest(mailbox_id=mid))
    time.sleep(8 * POLL_MS / 1000.0)  # many polls: a paused mailbox waits
    assert team.email("in1@customer.example") is None
    assert team.get(mid).state == S.MAILBOX_STATE_PAUSED

    m = team.mbx.ResumeMailbox(S.ResumeMailboxRequest(mailbox_id=mid))
    assert not m.paused
    wait_for("mail after resume",
             lambda: team.email("in1@customer.example"))
    team.mbx.SyncMailbox(S.SyncMailboxRequest(mailbox_id=mid))

    # Delete: the mailbox goes, the mail it brought stays.
    team.mbx.DeleteMailbox(S.DeleteMailboxRequest(mailbox_id=mid))
    expect_error(grpc.StatusCode.NOT_FOUND, team.get, mid)
    assert not team.mbx.ListMailboxes(S.ListMailboxesRequest()).mailboxes
    assert team.email("in0@customer.example") is not None
    assert team.email("in1@customer.example") is not None
    dovecot.append(REP, "INBOX", inbound(2))
    time.sleep(8 * POLL_MS / 1000.0)
    assert team.email("in2@customer.example") is None


def test_restart_resumes_from_cursor(dovecot, team):
    seed(dovecot, inbox=[inbound(i) for i in range(3)], sent=[outbound(0)])
    mid = team.create(dovecot)
    synced(team, mid, {"INBOX": 3, "Sent": 1})
    team.snipd.stop()
    seed(dovecot, inbox=[inbound(3), inbound(4)])
    team.snipd.start()
    team.bind()
    m = synced(team, mid, {"INBOX": 5, "Sent": 1})
    # The cursor survived: nothing was fetched twice.
    assert folder(m, "INBOX").messages_seen == 5
    assert folder(m, "Sent").messages_seen == 1
    assert team.email("in4@customer.example").direction == IN


def test_uidvalidity_change_rescans_without_duplicates(dovecot, team):
    imap = dovecot.imap(REP)
    assert imap.create("Deals")[0] == "OK"
    imap.logout()
    seed(dovecot, inbox=[inbound(0)])
    for i in (1, 2):
        dovecot.append(REP, "Deals", inbound(i))
    mid = team.create(dovecot, folders=["INBOX", "Deals"])
    m = synced(team, mid, {"INBOX": 1, "Deals": 2})
    old = folder(m, "Deals").uid_validity
    # The folder is deleted and made again with the same mail and one new.
    imap = dovecot.imap(REP)
    assert imap.delete("Deals")[0] == "OK"
    assert imap.create("Deals")[0] == "OK"
    imap.logout()
    for i in (1, 2, 3):
        dovecot.append(REP, "Deals", inbound(i))
    team.mbx.SyncMailbox(S.SyncMailboxRequest(mailbox_id=mid))
    m = synced(team, mid, {"INBOX": 1, "Deals": 3})
    f = folder(m, "Deals")
    assert f.uid_validity != old
    assert f.messages_seen == 5  # 2, then all 3 again
    assert f.messages_ingested == 3  # exactly one new email


def test_backfill_window(dovecot, team):
    # Received 800 days ago: outside a 30-day backfill; mail that arrives
    # later is taken whatever its age.
    old = time.time() - 800 * 86400
    dovecot.append(REP, "INBOX", inbound(0), when=old)
    dovecot.append(REP, "INBOX", inbound(1))
    mid = team.create(dovecot, backfill_days=30)
    m = synced(team, mid, {"INBOX": 1})
    assert m.backfill_days == 30
    assert folder(m, "INBOX").messages_seen == 1
    assert team.email("in0@customer.example") is None
    assert team.email("in1@customer.example") is not None
    dovecot.append(REP, "INBOX", inbound(2), when=old)
    wait_for("later mail", lambda: team.email("in2@customer.example"))
    assert team.email("in0@customer.example") is None
    # The default window is a year; -1 takes everything.
    assert team.get(team.create(dovecot)).backfill_days == 365
    assert team.get(team.create(dovecot, backfill_days=-1)).backfill_days == -1
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, team.create, dovecot,
                 backfill_days=-2)
    # Three mailboxes, listed two by two.
    items, pages = list_all(team.mbx.ListMailboxes, S.ListMailboxesRequest,
                            "mailboxes", 2)
    assert pages == 2 and len({x.mailbox_id for x in items}) == 3


def test_server_down_backs_off_then_recovers(dovecot, team):
    seed(dovecot, inbox=[inbound(0)])
    mid = team.create(dovecot)
    synced(team, mid, {"INBOX": 1})
    dovecot.stop()
    team.mbx.SyncMailbox(S.SyncMailboxRequest(mailbox_id=mid))
    m = wait_for("BACKING_OFF", lambda: (lambda m: m if m.state ==
                                         S.MAILBOX_STATE_BACKING_OFF else
                                         None)(team.get(mid)))
    # Refused, or accepted by a login process still dying and then closed.
    assert ("cannot connect" in m.last_error or
            "connection lost" in m.last_error), m.last_error
    assert "127.0.0.1" in m.last_error, m.last_error
    last_ok = m.last_sync_time_unix_ms
    # The server comes back with new mail: the next retry (1 s, then
    # doubling) picks it up and clears the error.
    dovecot.start()
    dovecot.append(REP, "INBOX", inbound(1))
    synced(team, mid, {"INBOX": 2})
    m = wait_for("a clean sync", lambda: (lambda m: m if m.last_sync_time_unix_ms
                                          > last_ok else None)(team.get(mid)))
    assert m.last_error == "" and m.state != S.MAILBOX_STATE_BACKING_OFF


TOKEN = "ya29.a0-snipwise-test-token-5521"


def test_oauth2_access_token(team):
    """AUTHENTICATE XOAUTH2 against Dovecot's oauth2 passdb, which checks
    each token with a local introspection endpoint (RFC 7662)."""
    ep = dovecot_lib.TokenEndpoint({TOKEN: REP})
    d = dovecot_lib.Dovecot({REP: PASSWORD}, oauth2_url=ep.url)
    try:
        d.start()
        seed(d, inbox=[inbound(0)])
        bad = team.mbx.CreateMailbox(S.CreateMailboxRequest(
            rep_email=REP, host="127.0.0.1", port=d.port,
            tls_mode=S.TLS_MODE_PLAIN_INSECURE_LOOPBACK_ONLY, username=REP,
            auth=S.MailboxAuth(oauth2_access_token="expired-" + TOKEN)))
        m = wait_for("AUTH_FAILED", lambda: (lambda m: m if m.state ==
                                             S.MAILBOX_STATE_AUTH_FAILED else
                                             None)(team.get(bad.mailbox_id)))
        assert "AUTHENTICATE XOAUTH2 rejected by 127.0.0.1" in m.last_error
        m = team.mbx.CreateMailbox(S.CreateMailboxRequest(
            rep_email=REP, host="127.0.0.1", port=d.port,
            tls_mode=S.TLS_MODE_PLAIN_INSECURE_LOOPBACK_ONLY, username=REP,
            auth=S.MailboxAuth(oauth2_access_token=TOKEN)))
        assert m.auth_kind == "oauth2"
        m = synced(team, m.mailbox_id, {"INBOX": 1})
        assert ep.calls >= 2
        assert "method=XOAUTH2" in d.log()
        assert TOKEN.encode() not in m.SerializeToString()
        assert TOKEN not in team.snipd.stderr
    finally:
        d.cleanup()
        ep.close()


def test_tls_imaps_and_starttls_verify_the_server(team, tls_files):
    """IMAPS and STARTTLS to a Dovecot with a self-signed certificate for
    127.0.0.1: refused against the system's CAs (nothing sent), synced
    when the request trusts that certificate."""
    d = dovecot_lib.Dovecot({REP: PASSWORD}, tls=tls_files)
    try:
        d.start()
        seed(d, inbox=[inbound(0)])
        with open(tls_files[0], encoding="ascii") as f:
            ca = f.read()

        def create(mode, port, ca_pem=""):
            return team.mbx.CreateMailbox(S.CreateMailboxRequest(
                rep_email=REP, host="127.0.0.1", port=port, tls_mode=mode,
                username=REP, auth=S.MailboxAuth(password=PASSWORD),
                tls_ca_pem=ca_pem)).mailbox_id

        # The seeding's APPEND logged in; Dovecot's log process may write
        # that line a moment after the APPEND returns, so wait for it
        # before counting (else it lands later and looks like a login of
        # the mailbox below).
        logins = wait_for("the seeding's login in Dovecot's log",
                          lambda: d.log().count("Login: user=<%s>" % REP))
        untrusted = create(S.TLS_MODE_IMAPS, d.tls_port)
        m = wait_for("the refusal", lambda: (lambda m: m if m.state ==
                                             S.MAILBOX_STATE_BACKING_OFF
                                             else None)(team.get(untrusted)))
        assert "certificate not trusted" in m.last_error, m.last_error
        # It logged out without authenticating: no credential was sent.
        assert d.log().count("Login: user=<%s>" % REP) == logins
        assert "no auth attempts" in d.log()
        team.mbx.PauseMailbox(S.PauseMailboxRequest(mailbox_id=untrusted))

        for mode, port in ((S.TLS_MODE_IMAPS, d.tls_port),
                           (S.TLS_MODE_STARTTLS, d.port)):
            mid = create(mode, port, ca)
            # The second mailbox finds the mail already there (a duplicate):
            # it counts it as seen, not as newly ingested.
            m = wait_for("a sync over %s" % S.TlsMode.Name(mode),
                         lambda: (lambda m: m if m.last_sync_time_unix_ms and
                                  folder(m, "INBOX") and
                                  folder(m, "INBOX").messages_seen == 1 else
                                  None)(team.get(mid)))
            assert m.custom_ca and m.last_error == ""
        assert d.log().count("Login: user=<%s>" % REP) >= logins + 2
        assert "method=PLAIN, rip=127.0.0.1, lip=127.0.0.1" in d.log()
        assert ", TLS," in d.log()
        expect_error(grpc.StatusCode.INVALID_ARGUMENT, create,
                     S.TLS_MODE_IMAPS, d.tls_port, "not a certificate")
    finally:
        d.cleanup()


def test_starttls_never_falls_back_to_plaintext(dovecot, team):
    # This Dovecot has no TLS, so it offers no STARTTLS: the mailbox must
    # not log in over plaintext instead.
    mid = team.mbx.CreateMailbox(S.CreateMailboxRequest(
        rep_email=REP, host="127.0.0.1", port=dovecot.port,
        tls_mode=S.TLS_MODE_STARTTLS, username=REP,
        auth=S.MailboxAuth(password=PASSWORD))).mailbox_id
    m = wait_for("the refusal", lambda: (lambda m: m if m.state ==
                                         S.MAILBOX_STATE_BACKING_OFF else
                                         None)(team.get(mid)))
    assert "127.0.0.1 does not offer STARTTLS" in m.last_error, m.last_error
    assert "Login: user=" not in dovecot.log()


def test_stalling_server_times_out_others_go_on(dovecot, snipd_factory):
    """A server that never answers FETCH: that mailbox times out and backs
    off (every read has --mailbox-timeout-s), while a mailbox on a healthy
    server keeps syncing on the other thread."""
    s = snipd_factory(args=["--mailbox-poll-ms", str(POLL_MS),
                            "--mailbox-timeout-s", "2",
                            "--mailbox-threads", "2"])
    team = Team(s)
    stall = dovecot_lib.StallingServer()
    try:
        slow = team.mbx.CreateMailbox(S.CreateMailboxRequest(
            rep_email=REP, host="127.0.0.1", port=stall.port,
            tls_mode=S.TLS_MODE_PLAIN_INSECURE_LOOPBACK_ONLY, username=REP,
            auth=S.MailboxAuth(password=PASSWORD))).mailbox_id
        wait_for("the stalled FETCH", lambda: stall.fetches >= 1)
        seed(dovecot, inbox=[inbound(0)])
        good = team.create(dovecot)
        synced(team, good, {"INBOX": 1})
        m = wait_for("the timeout", lambda: (lambda m: m if m.state ==
                                             S.MAILBOX_STATE_BACKING_OFF
                                             else None)(team.get(slow)))
        assert "connection lost or timed out" in m.last_error, m.last_error
        dovecot.append(REP, "INBOX", inbound(1))
        synced(team, good, {"INBOX": 2})
    finally:
        stall.close()


def test_plaintext_refused_to_remote_host(team):
    err = expect_error(
        grpc.StatusCode.INVALID_ARGUMENT, team.mbx.CreateMailbox,
        S.CreateMailboxRequest(
            rep_email=REP, host="imap.example.com", port=143,
            tls_mode=S.TLS_MODE_PLAIN_INSECURE_LOOPBACK_ONLY, username=REP,
            auth=S.MailboxAuth(password=PASSWORD)))
    assert "loopback" in err.details()
    assert "allow_plaintext" in err.details()
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, team.mbx.CreateMailbox,
                 S.CreateMailboxRequest(
                     rep_email="stranger@else.example", host="127.0.0.1",
                     port=143, tls_mode=S.TLS_MODE_IMAPS, username=REP,
                     auth=S.MailboxAuth(password=PASSWORD)))
    assert PASSWORD not in team.snipd.stderr


def test_allow_plaintext_to_remote_host(snipd_factory):
    """allow_plaintext lets a mailbox speak plaintext IMAP to a host that is
    not loopback: the create is accepted, shows the flag, and the engine
    honours it (it tries to connect instead of refusing). No server is
    reachable off loopback here: 198.51.100.7 (TEST-NET-2) fails to
    connect, and that, not the plaintext guard, is the mailbox's error."""
    s = snipd_factory(args=["--mailbox-poll-ms", str(POLL_MS),
                            "--mailbox-timeout-s", "2"])
    team = Team(s)
    req = S.CreateMailboxRequest(
        rep_email=REP, host="198.51.100.7", port=143,
        tls_mode=S.TLS_MODE_PLAIN_INSECURE_LOOPBACK_ONLY, username=REP,
        auth=S.MailboxAuth(password=PASSWORD))
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, team.mbx.CreateMailbox,
                 req)
    req.allow_plaintext = True
    m = team.mbx.CreateMailbox(req)
    assert m.allow_plaintext and m.host == "198.51.100.7"
    assert team.get(m.mailbox_id).allow_plaintext
    m = wait_for("the connection attempt", lambda: (
        lambda m: m if m.state == S.MAILBOX_STATE_BACKING_OFF else None)(
            team.get(m.mailbox_id)))
    assert "198.51.100.7" in m.last_error, m.last_error
    assert "refused: not a loopback" not in m.last_error, m.last_error
    assert "connect" in m.last_error, m.last_error
    # Ignored (and not shown) with TLS.
    req.tls_mode = S.TLS_MODE_IMAPS
    assert not team.mbx.CreateMailbox(req).allow_plaintext
    assert PASSWORD not in s.stderr
