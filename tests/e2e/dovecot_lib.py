"""A real Dovecot IMAP server for the mailbox-sync tests (issue 16), run on
127.0.0.1 with a configuration, users and Maildirs in a temporary
directory, and stopped by the test that started it.

Dovecot refuses to deliver mail as uid 0: run as root, mail belongs to
Debian's `dovecot` system user (made by the dovecot-core package) and the
temporary directory is world-readable so that Dovecot's auth and login
processes can read it; run as another user, every Dovecot process runs as
that user. The directory lives under /tmp because Dovecot's sockets must fit
in a Unix socket path, which Bazel's test directories can exceed."""
import http.server
import imaplib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0

_CONF = """\
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
instance_name = sw-{port}
protocols = imap
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login{oauth2_mechs}
auth_failure_delay = 0
first_valid_uid = 1
mail_location = maildir:{d}/mail/%u
default_internal_user = {internal}
default_login_user = {login}
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN {d}/passwd
}}
{oauth2_passdb}userdb {{
  driver = static
  args = uid={mail_user} gid={mail_group} home={d}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
}}
"""


def available():
    return os.path.exists(DOVECOT)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_OAUTH2_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {d}/oauth2.conf
}}
"""

# Dovecot asks the token endpoint (RFC 7662 introspection, POST token=...)
# whether an access token is active and whose it is.
_OAUTH2_CONF = """\
introspection_mode = post
introspection_url = {url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
"""


class Dovecot:
    """Dovecot on 127.0.0.1:port with the users given as {user: password};
    with oauth2_url, also SASL XOAUTH2/OAUTHBEARER with access tokens that
    the introspection endpoint at that URL vouches for; with tls=(cert
    file, key file), also IMAPS on tls_port and STARTTLS on port."""

    def __init__(self, users, oauth2_url=None, tls=None):
        self.dir = tempfile.mkdtemp(prefix="sw-dovecot-", dir="/tmp")
        self.port = free_port()
        self.tls_port = free_port() if tls else 0
        self.users = dict(users)
        self.proc = None
        os.chmod(self.dir, 0o755)
        for sub in ("run", "state", "mail"):
            os.mkdir(os.path.join(self.dir, sub))
        if os.geteuid() == 0:
            internal, login = "dovecot", "dovenull"
            mail_user = pwd.getpwnam("dovecot")
        else:
            mail_user = pwd.getpwuid(os.geteuid())
            internal = login = mail_user.pw_name
        mail_dir = os.path.join(self.dir, "mail")
        os.chown(mail_dir, mail_user.pw_uid, mail_user.pw_gid)
        self.mail_ids = (mail_user.pw_uid, mail_user.pw_gid)
        self.delivered = 0
        self.conf = os.path.join(self.dir, "dovecot.conf")
        oauth2 = ""
        if oauth2_url:
            oauth2 = _OAUTH2_PASSDB.format(d=self.dir)
            path = os.path.join(self.dir, "oauth2.conf")
            with open(path, "w", encoding="ascii") as f:
                f.write(_OAUTH2_CONF.format(url=oauth2_url))
            os.chmod(path, 0o644)
        ssl = "ssl = no"
        if tls:
            for src, name in zip(tls, ("cert.pem", "key.pem")):
                shutil.copy(src, os.path.join(self.dir, name))
            ssl = "ssl = yes\nssl_cert = <%s/cert.pem\nssl_key = <%s/key.pem" % (
                self.dir, self.dir)
        with open(self.conf, "w", encoding="ascii") as f:
            f.write(_CONF.format(d=self.dir, port=self.port, internal=internal,
                                 ssl=ssl, tls_port=self.tls_port,
                                 login=login, mail_user=mail_user.pw_uid,
                                 mail_group=mail_user.pw_gid,
                                 oauth2_passdb=oauth2,
                                 oauth2_mechs=" xoauth2 oauthbearer"
                                 if oauth2_url else ""))
        self.set_password_file()

    def set_password_file(self):
        path = os.path.join(self.dir, "passwd")
        with open(path, "w", encoding="utf-8") as f:
            for user, password in self.users.items():
                f.write("%s:{PLAIN}%s\n" % (user, password))
        os.chmod(path, 0o644)

    def start(self):
        self.proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", self.conf],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dovecot exited: %s\n%s" % (
                    self.proc.stderr.read().decode(errors="replace"),
                    self.log()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), 1):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("dovecot did not listen on %d\n%s" % (
            self.port, self.log()))

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)
        self.proc.stderr.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        try:
            with open(os.path.join(self.dir, "dovecot.log"),
                      encoding="utf-8", errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def imap(self, user):
        m = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        m.login(user, self.users[user])
        return m

    def append(self, user, folder, raw, when=None):
        """APPENDs raw (bytes) to folder as an unseen message; when (Unix
        seconds) sets its INTERNALDATE, the time the server received it."""
        m = self.imap(user)
        try:
            date = imaplib.Time2Internaldate(when) if when else None
            typ, data = m.append(folder, None, date, raw)
            assert typ == "OK", data
        finally:
            m.logout()

    def deliver_raw(self, user, folder, raw):
        """Puts raw (any bytes, even what APPEND refuses, such as NUL
        bytes) into folder's Maildir as one new message, as a local
        delivery agent would, then SELECTs the folder so that Dovecot gives
        it the next UID (the messages keep the order they were put in)."""
        m = self.imap(user)  # the first login makes the Maildir
        try:
            m.select(folder)
            root = os.path.join(self.dir, "mail", user)
            if folder != "INBOX":
                root = os.path.join(root, "." + folder)
            self.delivered += 1
            name = "%d.M%dP%d.snipwise-test" % (time.time(), self.delivered,
                                                os.getpid())
            tmp = os.path.join(root, "tmp", name)
            with open(tmp, "wb") as f:
                f.write(raw)
            os.chown(tmp, *self.mail_ids)
            os.rename(tmp, os.path.join(root, "new", name))
            typ, data = m.select(folder)
            assert typ == "OK", data
        finally:
            m.logout()

    def flags(self, user, folder):
        """{uid: flags bytes} of every message of folder."""
        m = self.imap(user)
        try:
            m.select(folder, readonly=True)
            typ, data = m.uid("FETCH", "1:*", "(FLAGS)")
            assert typ == "OK", data
            return [d for d in data if d]
        finally:
            m.logout()


def message(msg_id, sender, to, subject, body, date="Mon, 02 Mar 2026 "
            "10:00:00 +0000", in_reply_to=None):
    """An RFC 5322 message as bytes (CRLF line ends)."""
    lines = [
        "From: %s" % sender,
        "To: %s" % to,
        "Subject: %s" % subject,
        "Date: %s" % date,
        "Message-ID: <%s>" % msg_id,
    ]
    if in_reply_to:
        lines.append("In-Reply-To: <%s>" % in_reply_to)
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
              "", body, ""]
    return "\r\n".join(lines).encode("utf-8")


class TokenEndpoint:
    """An OAuth2 token introspection endpoint on 127.0.0.1 for Dovecot:
    tokens maps access tokens to the user they belong to; any other token
    is inactive. .calls counts the introspections."""

    def __init__(self, tokens):
        self.tokens = dict(tokens)
        self.calls = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                n = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(n).decode())
                token = (form.get("token") or [""])[0]
                outer.calls += 1
                user = outer.tokens.get(token)
                body = json.dumps({"active": True, "username": user}
                                  if user else {"active": False}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.url = "http://127.0.0.1:%d/introspect" % self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class StallingServer:
    """A minimal IMAP server on 127.0.0.1 that logs anyone in, lists INBOX
    with 3 messages, and never answers UID FETCH: a slow or hostile
    server. .fetches counts the FETCH commands it swallowed."""

    def __init__(self):
        self.fetches = 0
        self.stop = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    def _serve(self, c):
        replies = {
            b"LOGIN": b"",
            b"CAPABILITY": b"* CAPABILITY IMAP4rev1\r\n",
            b"LIST": b'* LIST (\\HasNoChildren) "/" INBOX\r\n',
            b"EXAMINE": b"* 3 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n"
                        b"* OK [UIDNEXT 4] n\r\n",
        }
        try:
            c.settimeout(0.2)
            c.sendall(b"* OK stalling server ready\r\n")
            buf = b""
            while not self.stop.is_set():
                try:
                    data = c.recv(4096)
                except socket.timeout:
                    continue
                if not data:
                    return
                buf += data
                while b"\r\n" in buf:
                    line, buf = buf.split(b"\r\n", 1)
                    words = line.split(b" ")
                    if len(words) < 2:
                        continue
                    tag, cmd = words[0], words[1].upper()
                    if cmd == b"UID":
                        self.fetches += 1
                        continue  # stall: never answer
                    if cmd == b"LOGOUT":
                        c.sendall(b"* BYE\r\n" + tag + b" OK bye\r\n")
                        return
                    extra = b" [READ-ONLY]" if cmd == b"EXAMINE" else b""
                    c.sendall(replies.get(cmd, b"") + tag + b" OK" + extra +
                              b" done\r\n")
        except OSError:
            return

    def close(self):
        self.stop.set()
        self.thread.join(10)
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.sock.close()
