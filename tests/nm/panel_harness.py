"""A stand-in for the mail client around the Snipwise panel: an HTTP
server on 127.0.0.1 that serves clients/thunderbird's panel with
harness_shim.js in front of it, forwards the panel's native messages to a
real snipwise-nm process (POST /nm; a reply in several frames, such as
read_content's chunks, goes back as a JSON array of the frames), serves
the thread's attachment files, and records what the panel did (drafts set,
files attached with their bytes). Headless Chromium then loads the page;
see test_panel_chromium.py."""

import json
import os
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CHROMIUM = "/usr/bin/chromium"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript",
         ".css": "text/css", ".svg": "image/svg+xml",
         ".json": "application/json"}


class Harness:
    """Serves the panel; host is an nm_lib.Host (already started). files
    maps the partName of each of related's attachments to (bytes, media
    type), what messages.getAttachmentFile returns."""

    def __init__(self, ext_dir, shim_path, host, compose, related,
                 files=None):
        self.ext_dir = ext_dir
        self.shim_path = shim_path
        self.host = host
        self.compose = compose
        self.related = related
        self.files = files or {}
        self.exchanges = []  # (request, final reply) through the native host
        self.frames = []  # (request, [frames]) of replies in several frames
        self.set_compose = []
        self.attachments = []  # {"name", "type", "data"} added to the draft
        self._lock = threading.Lock()
        harness = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code, body, ctype):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                harness._get(self)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                harness._post(self, self.rfile.read(n))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)

    @property
    def url(self):
        return "http://127.0.0.1:%d/panel.html" % self.server.server_port

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def _get(self, h):
        path = h.path.split("?")[0]
        if path == "/harness/shim.js":
            with open(self.shim_path, "rb") as f:
                return h._send(200, f.read(), TYPES[".js"])
        if path == "/harness/compose.json":
            return h._send(200, json.dumps(self.compose).encode(),
                           TYPES[".json"])
        if path == "/harness/related.json":
            return h._send(200, json.dumps(self.related).encode(),
                           TYPES[".json"])
        if path == "/harness/attachment":
            part = parse_qs(urlsplit(h.path).query).get("part", [""])[0]
            if part not in self.files:
                return h._send(404, b"no such part", "text/plain")
            data, ctype = self.files[part]
            return h._send(200, data, ctype)
        name = path.lstrip("/")
        full = os.path.join(self.ext_dir, name)
        if "/" in name or not os.path.isfile(full):
            return h._send(404, b"not found", "text/plain")
        with open(full, "rb") as f:
            body = f.read()
        if name == "panel.html":
            body = body.replace(
                b"<head>",
                b'<head>\n  <script src="/harness/shim.js"></script>', 1)
        h._send(200, body, TYPES.get(os.path.splitext(name)[1],
                                     "application/octet-stream"))

    def _post(self, h, body):
        path = h.path.split("?")[0]
        if path == "/nm":
            msg = json.loads(body)
            with self._lock:  # one request at a time on the host's pipe
                frames = self.host.call_frames(msg)
                self.exchanges.append((msg, frames[-1]))
                if len(frames) > 1:
                    self.frames.append((msg, frames))
            out = frames if len(frames) > 1 else frames[0]
            return h._send(200, json.dumps(out).encode(), TYPES[".json"])
        if path == "/harness/set-compose":
            self.set_compose.append(json.loads(body))
            return h._send(200, b"{}", TYPES[".json"])
        if path == "/harness/add-attachment":
            q = parse_qs(urlsplit(h.path).query)
            self.attachments.append({"name": q.get("name", [""])[0],
                                     "type": q.get("type", [""])[0],
                                     "data": body})
            return h._send(200, b"{}", TYPES[".json"])
        h._send(404, b"not found", "text/plain")


def chromium(url, *mode, timeout=120):
    """Runs headless Chromium on url with mode flags (--dump-dom or
    --screenshot=...); returns the CompletedProcess. The virtual time
    budget lets the page's fetches finish before the DOM or the picture is
    taken."""
    profile = tempfile.mkdtemp(prefix="chromium-",
                               dir=os.environ.get("TEST_TMPDIR"))
    env = dict(os.environ, HOME=profile)
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-dev-shm-usage",
           "--user-data-dir=" + profile, "--virtual-time-budget=20000"
           ] + list(mode) + [url]
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=timeout, env=env)
