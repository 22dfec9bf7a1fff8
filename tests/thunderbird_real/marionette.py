"""A small Marionette client (the protocol geckodriver speaks to Gecko):
JSON over TCP, each message framed as `LENGTH:JSON`; commands are
[0, id, name, params] and replies [1, id, error, result]. Enough to open a
session, switch to the chrome context and run privileged script in
Thunderbird. Every read is bounded by a deadline."""

import json
import socket
import time


class MarionetteError(Exception):
    pass


class Marionette:
    def __init__(self, port, host="127.0.0.1"):
        self.addr = (host, port)
        self.sock = None
        self._buf = b""
        self._id = 0

    def connect(self, timeout):
        """Connects, retrying until Thunderbird listens; reads the hello."""
        end = time.monotonic() + timeout
        last = None
        while time.monotonic() < end:
            try:
                self.sock = socket.create_connection(self.addr, timeout=5)
                hello = self._recv(end)
                if hello.get("marionetteProtocol") != 3:
                    raise MarionetteError("unexpected hello %r" % hello)
                return hello
            except (OSError, MarionetteError) as e:
                last = e
                if self.sock:
                    self.sock.close()
                    self.sock = None
                time.sleep(0.25)
        raise MarionetteError("no Marionette on %s:%d within %.0f s: %s" %
                              (self.addr[0], self.addr[1], timeout, last))

    def _recv(self, end):
        while b":" not in self._buf:
            self._fill(end)
        head, rest = self._buf.split(b":", 1)
        n = int(head)
        self._buf = rest
        while len(self._buf) < n:
            self._fill(end)
        body, self._buf = self._buf[:n], self._buf[n:]
        return json.loads(body.decode("utf-8"))

    def _fill(self, end):
        left = end - time.monotonic()
        if left <= 0:
            raise MarionetteError("no reply from Marionette in time")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise MarionetteError("no reply from Marionette in time")
        if not data:
            raise MarionetteError("Marionette closed the connection")
        self._buf += data

    def call(self, name, params=None, timeout=60):
        self._id += 1
        msg = json.dumps([0, self._id, name, params or {}]).encode("utf-8")
        self.sock.sendall(str(len(msg)).encode() + b":" + msg)
        end = time.monotonic() + timeout
        while True:
            reply = self._recv(end)
            if reply[0] == 1 and reply[1] == self._id:
                break
        _, _, err, result = reply
        if err:
            raise MarionetteError("%s: %s: %s\n%s" % (
                name, err.get("error"), err.get("message"),
                err.get("stacktrace", "")[:2000]))
        return result

    def start_session(self, script_timeout_ms):
        self.call("WebDriver:NewSession", {"capabilities": {}})
        self.call("WebDriver:SetTimeouts", {"script": script_timeout_ms})
        self.call("Marionette:SetContext", {"value": "chrome"})

    def script(self, body, args=(), timeout=60):
        """Runs body (a function body; may return a promise, which is
        awaited) in the chrome context; returns its JSON result."""
        # An async function, so that body may use await; arguments are the
        # outer function's (an arrow function has none of its own).
        wrapped = "return (async () => {\n%s\n})();" % body
        r = self.call("WebDriver:ExecuteScript",
                      {"script": wrapped, "args": list(args)},
                      timeout=timeout + 5)
        return r.get("value") if isinstance(r, dict) else r

    def close(self):
        if self.sock:
            try:
                self.sock.close()
            finally:
                self.sock = None
