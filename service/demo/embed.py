#!/usr/bin/python3
"""Turns the demo team's sample (sample.mbox, outcomes.jsonl, team.json;
see README.md beside this file) into a C source that defines
svc_demo_sample (service/svc_demo.h), so that snipd carries the sample in
its binary. Run by the genrule demo_sample_c in service/BUILD:

    embed.py sample.mbox outcomes.jsonl team.json > svc_demo_sample.c

The mbox is mboxrd (a "From " line before each mail, one '>' added to
lines matching ">*From ", a blank line after each mail) and is undone
exactly here, so each mail's bytes are those the generator made. Outcome
kinds are snipwise.v1.OutcomeKind names (or numbers 1 to 9) and become
protobuf-c's constants, so a name the API does not know fails the build.
Anything malformed fails the build with the file and line."""

import json
import re
import sys

KIND_RE = re.compile(r"^OUTCOME_KIND_[A-Z_]+$")
KIND_PREFIX = "SNIPWISE__V1__OUTCOME_KIND__"


def fail(where, why):
    sys.stderr.write("embed.py: %s: %s\n" % (where, why))
    sys.exit(1)


def split_mbox(path):
    """The mails of an mboxrd file, unescaped, as a list of bytes."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(b"From "):
        fail(path, "not an mbox (no \"From \" line first)")
    mails, cur = [], None
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    for line in lines:
        if line.startswith(b"From "):
            if cur is not None:
                mails.append(cur)
            cur = []
            continue
        if line.startswith(b">") and line.lstrip(b">").startswith(b"From "):
            line = line[1:]
        cur.append(line + b"\n")
    if cur is not None:
        mails.append(cur)
    out = []
    for i, m in enumerate(mails):
        # The blank line before the next separator belongs to the mbox.
        if not m or m[-1] != b"\n":
            fail("%s: mail %d" % (path, i + 1), "no blank line after it")
        raw = b"".join(m[:-1])
        if not raw.strip():
            fail("%s: mail %d" % (path, i + 1), "empty")
        out.append(raw)
    return out


def c_str(s):
    """A C string literal of s (UTF-8), every byte outside printable ASCII,
    and the characters C treats specially, escaped in octal."""
    out = ['"']
    for b in s.encode("utf-8"):
        c = chr(b)
        if c in '"\\?' or b < 0x20 or b > 0x7e:
            out.append("\\%03o" % b)
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def read_outcomes(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            where = "%s:%d" % (path, n)
            if not line.strip():
                continue
            try:
                o = json.loads(line)
            except ValueError as e:
                fail(where, "not JSON: %s" % e)
            if not isinstance(o, dict):
                fail(where, "expected an object")
            for key in ("message_id", "idempotency_key"):
                if not isinstance(o.get(key), str) or not o[key]:
                    fail(where, "%s must be a non-empty string" % key)
            kind = o.get("kind")
            if isinstance(kind, str) and KIND_RE.match(kind):
                kind_c = KIND_PREFIX + kind
            elif isinstance(kind, int) and not isinstance(kind, bool) and \
                    1 <= kind <= 9:
                kind_c = str(kind)
            else:
                fail(where, "kind must be an OutcomeKind name "
                     "(OUTCOME_KIND_...) or a number from 1 to 9")
            when = o.get("occur_time_unix_ms")
            if not isinstance(when, int) or isinstance(when, bool) or \
                    when < 0:
                fail(where, "occur_time_unix_ms must be a whole number >= 0")
            note = o.get("note", "")
            if not isinstance(note, str):
                fail(where, "note must be a string")
            out.append((o["message_id"], kind_c, when, o["idempotency_key"],
                        note))
    return out


def read_team(path):
    with open(path, encoding="utf-8") as f:
        try:
            t = json.load(f)
        except ValueError as e:
            fail(path, "not JSON: %s" % e)
    if not isinstance(t.get("domain"), str) or not t["domain"]:
        fail(path, "domain must be a non-empty string")
    reps = t.get("reps", [])
    if not isinstance(reps, list):
        fail(path, "reps must be a list")
    for i, r in enumerate(reps):
        if not isinstance(r, dict) or not isinstance(r.get("email"), str):
            fail(path, "reps[%d] needs an email" % i)
    return t


def main(argv):
    if len(argv) != 3:
        fail("usage", "embed.py sample.mbox outcomes.jsonl team.json")
    mails = split_mbox(argv[0])
    outcomes = read_outcomes(argv[1])
    team = read_team(argv[2])
    w = sys.stdout.write
    w("/* Generated at build time by service/demo/embed.py from\n"
      " * service/demo/sample.mbox, outcomes.jsonl and team.json: the demo\n"
      " * team's sample (service/svc_demo.h). Not committed; do not edit. */\n"
      "#include \"service/svc_demo.h\"\n"
      "#include \"snipwise/v1/common.pb-c.h\"\n\n")
    w("static const unsigned char svc_demo_sample_bytes[] = {\n")
    blob = b"".join(mails)
    for i in range(0, len(blob), 16):
        w("    " + ", ".join("0x%02x" % b for b in blob[i:i + 16]) + ",\n")
    if not blob:
        w("    0\n")
    w("};\n\n")
    w("static const struct svc_demo_mail svc_demo_sample_mails[] = {\n")
    off = 0
    for m in mails:
        w("    {%d, %d},\n" % (off, len(m)))
        off += len(m)
    w("};\n\n")
    w("static const struct svc_demo_outcome svc_demo_sample_outcomes[] = {\n")
    for mid, kind, when, key, note in outcomes:
        w("    {%s, %s, %dLL, %s, %s},\n" % (c_str(mid), kind, when,
                                             c_str(key), c_str(note)))
    if not outcomes:
        w("    {0},\n")
    w("};\n\n")
    w("static const struct svc_demo_member svc_demo_sample_members[] = {\n")
    for r in team.get("reps", []):
        w("    {%s, %s},\n" % (c_str(r["email"]), c_str(r.get("name", ""))))
    if not team.get("reps"):
        w("    {0},\n")
    w("};\n\n")
    w("const struct svc_demo_data svc_demo_sample = {\n"
      "    .domain = %s,\n"
      "    .members = svc_demo_sample_members,\n"
      "    .n_members = %d,\n"
      "    .bytes = svc_demo_sample_bytes,\n"
      "    .n_bytes = %d,\n"
      "    .mails = svc_demo_sample_mails,\n"
      "    .n_mails = %d,\n"
      "    .outcomes = svc_demo_sample_outcomes,\n"
      "    .n_outcomes = %d,\n"
      "};\n" % (c_str(team["domain"]), len(team.get("reps", [])), len(blob),
                len(mails), len(outcomes)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
