#!/usr/bin/env python3
"""A scripted fake of an OpenAI-compatible Chat Completions server for the
llm tests. Usage: fake_openai.py SCRIPT.json LOG.jsonl

SCRIPT is a JSON list of steps, answered in order (the last one repeats):
  {"status": 200, "content": "...", "usage": [prompt, completion],
   "tool": false, "retry_after": null, "delay": 0.0, "body": null}
A request whose strict schema (response_format json_schema or a strict
tool's parameters) a strict endpoint would refuse gets that endpoint's 400
(code invalid_json_schema, strict_schema.py) without using up a step.
A step's "headers" (a dict) are sent with its answer.
Every request received is appended to LOG as one JSON line:
  {"t": unix time, "path": ..., "headers": {...}, "body": {...}}
POST .../embeddings answers a 200 step with one vector of step "dim"
(default 8) floats per input, a function of the input's LAST word only
(so texts ending alike embed alike), in reverse order with "index" set.
It listens on 127.0.0.1:PORT (argv[3], default 0) and prints "PORT <n>" on
stdout once ready."""
import hashlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import strict_schema

script = json.load(open(sys.argv[1]))
log_path = sys.argv[2]
lock = threading.Lock()
state = {"n": 0}


def strict_refusal(body):
    """The 400 body a strict endpoint answers before generating anything
    when the request's strict schema is not acceptable (strict_schema.py),
    or None. Such a request does not use up a script step."""
    if not isinstance(body, dict):
        return None
    rf = body.get("response_format") or {}
    checks = []
    if rf.get("type") == "json_schema" and \
            (rf.get("json_schema") or {}).get("strict"):
        checks.append(("response_format", rf["json_schema"].get("schema")))
    for t in body.get("tools") or []:
        fn = t.get("function") or {}
        if fn.get("strict"):
            checks.append(("tools", fn.get("parameters")))
    for param, schema in checks:
        errs = strict_schema.problems(schema)
        if errs:
            return {"error": {"message": "Invalid schema for %s: %s" %
                              (param, "; ".join(errs[:3])),
                              "type": "invalid_request_error",
                              "param": param, "code": "invalid_json_schema"}}
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"unparsable": raw.decode("utf-8", "replace")}
        refused = strict_refusal(body)
        with lock:
            i = state["n"]
            if refused is None:
                state["n"] += 1
            with open(log_path, "a") as f:
                f.write(json.dumps({"t": time.time(), "path": self.path,
                                    "headers": dict(self.headers),
                                    "body": body}) + "\n")
        if refused is not None:
            self.answer(400, json.dumps(refused).encode(), None)
            return
        step = script[min(i, len(script) - 1)]
        if step.get("delay"):
            time.sleep(step["delay"])
        status = step.get("status", 200)
        if step.get("body") is not None:
            out = step["body"].encode()
        elif status == 200 and self.path.endswith("/embeddings"):
            dim = step.get("dim", 8)
            data = []
            for k, text in enumerate(body.get("input", [])):
                words = text.lower().split() or [""]
                h = hashlib.sha256(words[-1].encode()).digest() * (dim // 32 + 1)
                data.append({"object": "embedding", "index": k,
                             "embedding": [(b - 127.5) / 127.5 for b in h[:dim]]})
            out = json.dumps({"object": "list", "data": data[::-1],
                              "model": body.get("model")}).encode()
        elif status == 200:
            usage = step.get("usage", [10, 5])
            msg = {"role": "assistant", "content": step.get("content", "")}
            if step.get("tool"):
                msg = {"role": "assistant", "content": None,
                       "tool_calls": [{"id": "c1", "type": "function",
                                       "function": {"name": "x",
                                                    "arguments": step["content"]}}]}
            out = json.dumps({"id": "r%d" % i, "object": "chat.completion",
                              "choices": [{"index": 0, "message": msg,
                                           "finish_reason": "stop"}],
                              "usage": {"prompt_tokens": usage[0],
                                        "completion_tokens": usage[1],
                                        "total_tokens": sum(usage)}}).encode()
        else:
            out = json.dumps({"error": {"message": step.get("message", "error")}}).encode()
        self.answer(status, out, step)

    def answer(self, status, out, step):
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            for k, v in ((step or {}).get("headers") or {}).items():
                self.send_header(k, str(v))
            if step and step.get("retry_after") is not None:
                self.send_header("Retry-After", str(step["retry_after"]))
            self.end_headers()
            self.wfile.write(out)
        except (BrokenPipeError, ConnectionResetError):
            pass


server = ThreadingHTTPServer(
    ("127.0.0.1", int(sys.argv[3]) if len(sys.argv) > 3 else 0), Handler)
server.daemon_threads = True
print("PORT %d" % server.server_address[1], flush=True)
server.serve_forever()
