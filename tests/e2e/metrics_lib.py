"""Helpers of the metrics tests: a snipd with --metrics-listen on a free
loopback port, a scrape of its /metrics, and a parser of the Prometheus
text format strict enough to catch a malformed line."""

import re
import time
import urllib.request

import pytest

SCRAPE_TIMEOUT = 10.0

_SAMPLE_RE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+]+|NaN|[+-]Inf)$')
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def start_with_metrics(snipd_factory, args=()):
    """A snipd serving metrics on 127.0.0.1 (port 0: it picks one and logs
    it); returns (snipd, metrics base URL)."""
    s = snipd_factory(args=["--metrics-listen", "127.0.0.1:0"] + list(args))
    m = s.wait_for_line(
        r"event=metrics\.listening addr=127\.0\.0\.1:(\d+) path=/metrics")
    port = int(m.group(1))
    assert port > 0
    return s, "http://127.0.0.1:%d" % port


def fetch(url, timeout=SCRAPE_TIMEOUT):
    """(status, content type, body) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def parse(text):
    """Parses an exposition into {"types": {name: type}, "samples":
    [(name, {labels}, value)]}; fails on any line that is not a comment,
    blank, or a well-formed sample."""
    types, samples = {}, []
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            assert name not in types, "TYPE given twice for " + name
            types[name] = typ
            continue
        if line.startswith("# HELP "):
            continue
        m = _SAMPLE_RE.match(line)
        assert m, "malformed sample line: %r" % line
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        lab, pos = {}, 0
        while pos < len(labels):
            lm = _LABEL_RE.match(labels, pos)
            assert lm, "malformed labels in %r" % line
            lab[lm.group(1)] = lm.group(2)
            pos = lm.end()
        samples.append((name, lab, float(value)))
    return {"types": types, "samples": samples}


def scrape(base):
    status, ctype, body = fetch(base + "/metrics")
    assert status == 200, body
    assert ctype.startswith("text/plain; version=0.0.4"), ctype
    return parse(body)


def value(exp, name, **labels):
    """The one sample of name with exactly these labels, or None."""
    got = [v for n, lab, v in exp["samples"] if n == name and lab == labels]
    assert len(got) <= 1, "%s%r appears %d times" % (name, labels, len(got))
    return got[0] if got else None


def series(exp, name):
    return [(lab, v) for n, lab, v in exp["samples"] if n == name]


def wait_for(what, fn, timeout=60.0, step=0.1):
    """Polls fn (bounded) until it returns a true value, which it returns."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            pytest.fail("timed out waiting for " + what)
        time.sleep(step)
