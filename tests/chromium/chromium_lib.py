"""Helpers of the Chromium extension tests: the fixture pages served over
HTTPS on 127.0.0.1 under the real sites' names (a self-signed certificate
made with openssl; Chromium maps the names to loopback with
--host-resolver-rules), a temporary HOME holding the browser profile, the
native host's config and its manifest (registered by the real
clients/nm/install_manifest.sh), and drive.mjs (puppeteer-core driving
Debian's chromium) run on one scenario."""

import base64
import hashlib
import json
import os
import shutil
import ssl
import subprocess
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from e2e_lib import scratch_dir

CHROMIUM = "/usr/bin/chromium"
NODE = "/usr/bin/node"
SITES = {"mail.google.com": "gmail_compose.html",
         "outlook.office.com": "outlook_compose.html",
         "outlook.live.com": "outlook_compose.html"}
DRIVE_TIMEOUT = 150


def runfile(*parts):
    return os.path.join(os.environ["TEST_SRCDIR"], "snipwise", *parts)


def outputs_dir():
    d = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR") or os.environ["TEST_TMPDIR"]
    os.makedirs(d, exist_ok=True)
    return d


def source_root():
    """The source tree, by this file's runfile link (as proto/api_lint.sh
    finds it): tools/npm/node_modules lives there, outside Bazel."""
    here = os.path.realpath(runfile("tests", "chromium", "chromium_lib.py"))
    return os.path.dirname(os.path.dirname(os.path.dirname(here)))


def node_modules():
    d = os.path.join(source_root(), "tools", "npm", "node_modules")
    assert os.path.isdir(os.path.join(d, "puppeteer-core")), \
        "puppeteer-core is missing in %s: run bazel/install_deps.sh" % d
    return d


_EXT = []


def extension_dir():
    """The unpacked extension, copied out of the runfiles: Chromium loads
    no content script that is a symlink leading out of the extension's
    directory, and runfiles are symlinks."""
    if not _EXT:
        d = os.path.join(scratch_dir("ext-"), "snipwise")
        shutil.copytree(runfile("clients", "chromium", "unpacked"), d)
        _EXT.append(d)
    return _EXT[0]


def extension_id(ext_dir=None):
    """Chromium's id of an extension with a manifest key: the first 32 hex
    digits of the key's SHA-256, written with the letters a..p."""
    with open(os.path.join(ext_dir or extension_dir(), "manifest.json")) as f:
        key = base64.b64decode(json.load(f)["key"])
    return "".join(chr(ord("a") + int(c, 16))
                   for c in hashlib.sha256(key).hexdigest()[:32])


class FixtureServer:
    """HTTPS on 127.0.0.1: each site's fixture page at any path of its
    host name (by the Host header), fixture.js beside it, and the files of
    `files` as a thread's attachments (Gmail's ?view=att&realattid=NAME)."""

    def __init__(self):
        self.dir = runfile("tests", "chromium", "fixtures")
        work = scratch_dir("tls-")
        cert = os.path.join(work, "cert.pem")
        key = os.path.join(work, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
             "-days", "2", "-subj", "/CN=snipwise fixtures", "-keyout", key,
             "-out", cert, "-addext",
             "subjectAltName=" + ",".join("DNS:" + h for h in SITES)],
            check=True, capture_output=True, timeout=60)
        self.requests = []
        self.files = {}  # name: bytes, the thread's attachments (Gmail)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                host = (self.headers.get("Host") or "").split(":")[0]
                path, _, query = self.path.partition("?")
                server.requests.append((host, self.path))
                q = urllib.parse.parse_qs(query)
                if q.get("view") == ["att"]:  # a thread's attachment
                    name = q.get("realattid", [""])[0]
                    if name not in server.files:
                        self.send_error(404)
                        return
                    self._send(server.files[name], "application/pdf")
                    return
                name = "fixture.js" if path.endswith("/fixture.js") else \
                    SITES.get(host)
                if not name:
                    self.send_error(404)
                    return
                with open(os.path.join(server.dir, name), "rb") as f:
                    body = f.read()
                self._send(body, "text/javascript" if name.endswith(".js")
                           else "text/html; charset=utf-8")

            def _send(self, body, ctype):
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                            server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)

    @property
    def port(self):
        return self.httpd.server_address[1]

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


class Profile:
    """A temporary HOME: Chromium's profile in ~/.config/chromium (its
    default place, so the host manifest goes where install_manifest.sh
    puts it) and the native host's ~/.config/snipwise/nm.json."""

    def __init__(self):
        self.home = scratch_dir("home-")
        self.user_data_dir = os.path.join(self.home, ".config", "chromium")
        os.makedirs(self.user_data_dir)

    def write_config(self, addr, key):
        d = os.path.join(self.home, ".config", "snipwise")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "nm.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"addr": addr, "key": key, "timeout_ms": 10000}, f)
        os.chmod(path, 0o600)

    def register_host(self, ext_id):
        """Runs the real installer, as the README tells a user to."""
        host = os.path.realpath(runfile("clients", "nm", "snipwise-nm"))
        r = subprocess.run(
            ["sh", runfile("clients", "nm", "install_manifest.sh"), host,
             "--chromium", ext_id],
            env=dict(os.environ, HOME=self.home), capture_output=True,
            timeout=30)
        assert r.returncode == 0, r.stderr
        path = os.path.join(self.user_data_dir, "NativeMessagingHosts",
                            "com.snipwise.nm.json")
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
        assert m["allowed_origins"] == ["chrome-extension://%s/" % ext_id], m
        assert m["path"] == host, m
        return path


def drive(profile, server, scenario, **opts):
    """Runs drive.mjs on one scenario; returns its JSON result."""
    cfg = dict(opts, scenario=scenario, chromium=CHROMIUM,
               nodeModules=node_modules(), ext=extension_dir(),
               extId=extension_id(), home=profile.home,
               userDataDir=profile.user_data_dir, port=server.port,
               sites=sorted(SITES), outDir=outputs_dir())
    path = os.path.join(scratch_dir("drive-"), "config.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(cfg, f)
    env = dict(os.environ, HOME=profile.home)
    r = subprocess.run([NODE, runfile("tests", "chromium", "drive.mjs"),
                        path], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=DRIVE_TIMEOUT, env=env)
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 0, "drive.mjs failed (%d)\n%s\n%s" % (
        r.returncode, r.stdout.decode("utf-8", "replace")[-3000:], err[-6000:])
    out = json.loads(r.stdout.decode("utf-8"))
    out["stderr"] = err
    return out
