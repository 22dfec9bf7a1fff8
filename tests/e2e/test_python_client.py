"""The Python client (clients/python) as a data team would use it: pip
installs it from a copy of the repository into a virtualenv (stubs
generated at install time from the protos), then uses snipwise.Client
against a real snipd: health, teams, members, ingest, Suggest, feedback.
snipctl's suggest runs against the same data."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from e2e_lib import snipctl_path

PY = "/usr/bin/python3"
INSTALL_TIMEOUT = 240


def _runfiles(*parts):
    return os.path.join(os.environ["TEST_SRCDIR"], "snipwise", *parts)


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A virtualenv with the client pip-installed from a copy of
    clients/python; returns its python."""
    if not os.environ.get("TEST_SRCDIR"):
        pytest.skip("needs Bazel runfiles")
    root = tmp_path_factory.mktemp("pyclient")
    src = str(root / "python")
    shutil.copytree(_runfiles("clients", "python"), src)
    env = dict(os.environ, HOME=str(root), PIP_NO_CACHE_DIR="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1",
               SNIPWISE_PROTO_ROOT=_runfiles("proto"))
    env.pop("PYTHONPATH", None)
    r = subprocess.run([PY, "-m", "venv", "--system-site-packages",
                        str(root / "venv")], capture_output=True, text=True,
                       timeout=INSTALL_TIMEOUT, env=env)
    assert r.returncode == 0, r.stderr
    py = str(root / "venv" / "bin" / "python")
    r = subprocess.run([py, "-m", "pip", "install", "--no-build-isolation",
                        "--no-deps", "--no-index", src], capture_output=True,
                       text=True, timeout=INSTALL_TIMEOUT, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    return py


def run_client(py, code, **args):
    """Runs code with the venv's python (no Bazel stubs on the path);
    the code sees ARGS (a dict) and prints one JSON object."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    script = "import json, sys\nARGS = json.loads(sys.argv[1])\n" + \
        textwrap.dedent(code)
    r = subprocess.run([py, "-c", script, json.dumps(args)],
                       capture_output=True, text=True, timeout=180, env=env,
                       cwd=os.environ.get("TEST_TMPDIR", "/tmp"))
    assert r.returncode == 0, "exit %d\n%s\n%s" % (r.returncode, r.stdout,
                                                   r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


SEED = '''
import time
from snipwise import Client, SnipwiseError
from snipwise.v1 import common_pb2, outcome_pb2, suggest_pb2

def mime(mid, frm, to, subj, body, att=None, irt=None):
    s = ("Message-ID: <%s>\\r\\nFrom: %s\\r\\nTo: %s\\r\\nSubject: %s\\r\\n"
         "Date: Tue, 03 Mar 2026 10:00:00 +0000\\r\\nMIME-Version: 1.0\\r\\n"
         % (mid, frm, to, subj))
    if irt:
        s += "In-Reply-To: <%s>\\r\\n" % irt
    if att:
        s += ("Content-Type: multipart/mixed; boundary=b\\r\\n\\r\\n--b\\r\\n"
              "Content-Type: text/plain\\r\\n\\r\\n%s\\r\\n--b\\r\\n"
              "Content-Type: text/plain; name=%s\\r\\nContent-Disposition: "
              "attachment; filename=%s\\r\\n\\r\\n%s\\r\\n--b--\\r\\n"
              % (body, att[0], att[0], att[1]))
    else:
        s += "Content-Type: text/plain\\r\\n\\r\\n%s\\r\\n" % body
    return s.encode()
'''


def test_pip_installed_client_end_to_end(venv, snipd):
    out = run_client(venv, SEED + textwrap.dedent('''
    import snipwise
    res = {"module": snipwise.__file__}
    admin = Client(ARGS["addr"], key=ARGS["admin_key"], timeout=30)
    res["health"] = admin.health()
    team = admin.create_team("Py team")
    res["team_id"] = team.team.team_id
    try:
        admin.get_my_team()
        res["admin_as_team"] = "allowed"
    except SnipwiseError as e:
        res["admin_as_team"] = e.code.name
    with Client(ARGS["addr"], key=team.api_key, timeout=30) as c:
        res["team_name"] = c.get_my_team().display_name
        c.add_member("ann@seller.example", "Ann")
        c.add_domain("seller.example")
        res["members"] = [m.email for m in c.list_members()]
        frame = "I've attached the pricing guide, which explains our plans."
        for i in range(2):
            c.ingest_email(mime("q%d@p.example" % i, "cfo@p%d.example" % i,
                                "ann@seller.example", "Pricing %d" % i,
                                "Could you send me your pricing?"))
            r = c.ingest_email(mime("a%d@seller.example" % i,
                                    "ann@seller.example", "cfo@p%d.example" % i,
                                    "Re: Pricing %d" % i,
                                    "Thanks for asking.\\n%s\\nBest" % frame,
                                    ("pricing.txt", "Plans start at 10 dollars."),
                                    "q%d@p.example" % i))
        res["thread_id"] = r.thread_id
        dup = c.ingest_email(mime("a1@seller.example", "ann@seller.example",
                                  "x@y.example", "dup", "dup"))
        res["dup_status"] = [dup.status]
        end = time.monotonic() + 90
        while True:
            s = c.suggest(suggest_pb2.SuggestRequest(
                in_reply_to_message_id="q0@p.example",
                draft_text="pricing", explain=True))
            if any(f.text == frame for f in s.framings) or time.monotonic() > end:
                break
            time.sleep(0.1)
        res["framings"] = [f.text for f in s.framings]
        res["contents"] = [x.title for x in s.contents]
        pc = [x for x in s.contents if x.title == "pricing.txt"]
        if pc:  # the suggested file, from the content library
            cf, data = c.read_content(pc[0].content_id)
            res["read"] = [cf.filename, cf.size_bytes, data.decode()]
            # Every RPC as a method taking the request's fields.
            res["kw"] = [len(c.list_threads(page_size=1).threads),
                         c.get_content(content_id=pc[0].content_id).filename,
                         len(list(c.read_content_rpc(
                             content_id=pc[0].content_id)))]
        f = [f for f in s.framings if f.text == frame]
        if f:
            fb = c.record_feedback(outcome_pb2.RecordFeedbackRequest(
                suggestion_id=s.suggestion_id, item_id=f[0].item_id,
                kind=outcome_pb2.FEEDBACK_KIND_COPIED, idempotency_key="py-1"))
            res["feedback"] = [bool(fb.feedback_id), fb.duplicate]
        try:
            c.suggest(suggest_pb2.SuggestRequest(thread_id="th_nope"))
            res["missing_thread"] = "found"
        except SnipwiseError as e:
            res["missing_thread"] = e.code.name
    import os
    os.environ["SNIPWISE_ADDR"] = ARGS["addr"]  # the client's defaults
    os.environ["SNIPWISE_KEY"] = team.api_key
    with Client() as c:
        res["env_team"] = c.get_my_team().display_name
    print(json.dumps(res))
    '''), addr=snipd.addr, admin_key=snipd.admin_key)
    assert "/venv/" in out["module"], out["module"]
    assert out["health"] == 1  # SERVING
    assert out["team_id"] and out["team_name"] == "Py team"
    assert out["admin_as_team"] == "PERMISSION_DENIED"
    assert out["members"] == ["ann@seller.example"]
    assert out["dup_status"] == [2]  # INGEST_STATUS_DUPLICATE
    frame = "I've attached the pricing guide, which explains our plans."
    assert frame in out["framings"], out
    assert "pricing.txt" in out["contents"], out
    assert out["read"] == ["pricing.txt", 26, "Plans start at 10 dollars."]
    assert out["kw"] == [1, "pricing.txt", 2]  # description, one chunk
    assert out["env_team"] == "Py team"
    assert out["feedback"] == [True, False]
    assert out["missing_thread"] == "NOT_FOUND"

    # snipctl on the same data: suggest by Message-ID, as JSON and as text.
    key = run_client(venv, '''
    from snipwise import Client
    admin = Client(ARGS["addr"], key=ARGS["admin_key"])
    k = admin.create_api_key(ARGS["team"], "cli").api_key
    print(json.dumps({"key": k}))
    ''', addr=snipd.addr, admin_key=snipd.admin_key, team=out["team_id"])["key"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNIPWISE_")}
    r = subprocess.run([snipctl_path(), "--addr", snipd.addr, "--key", key,
                        "suggest", "--reply-to", "q0@p.example", "--draft",
                        "pricing", "--json"], capture_output=True, text=True,
                       timeout=60, env=env, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    js = json.loads(r.stdout)
    assert frame in [f["text"] for f in js["framings"]], js
    r = subprocess.run([snipctl_path(), "--addr", snipd.addr, "--key", key,
                        "suggest", "--reply-to", "q0@p.example"],
                       capture_output=True, text=True, timeout=60, env=env,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and frame in r.stdout, r.stdout + r.stderr


def test_snipctl_suggest_exit_code_not_found(snipd):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNIPWISE_")}
    r = subprocess.run([snipctl_path(), "--addr", snipd.addr, "--key",
                        snipd.demo_key, "suggest", "--thread", "th_nope"],
                       capture_output=True, text=True, timeout=60, env=env,
                       stdin=subprocess.DEVNULL)
    assert "NOT_FOUND" in r.stderr, r.stderr
    assert r.returncode == 5, r.stdout + r.stderr


def test_client_reports_unreachable_snipd(venv):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    out = run_client(venv, '''
    import time
    from snipwise import Client, SnipwiseError
    t0 = time.monotonic()
    try:
        Client("127.0.0.1:%d" % ARGS["port"], timeout=5).health()
        print(json.dumps({"code": "OK"}))
    except SnipwiseError as e:
        print(json.dumps({"code": e.code.name, "took": time.monotonic() - t0}))
    ''', port=port)
    assert out["code"] == "UNAVAILABLE", out
    assert out["took"] < 6, out


RETRY = '''
import time
from snipwise import Client, SnipwiseError
mime = ("Message-ID: <r1@p.example>\\r\\nFrom: a@p.example\\r\\n"
        "To: b@q.example\\r\\nSubject: s\\r\\n\\r\\nbody\\r\\n").encode()
res = {}
with Client(ARGS["addr"], key=ARGS["key"], timeout=ARGS["timeout"]) as c:
    start = time.monotonic()
    try:
        res["email_id"] = c.ingest_email(mime).email_id
    except SnipwiseError as e:
        res["error"] = e.code.name
    res["waited"] = time.monotonic() - start
print(json.dumps(res))
'''


def _move_stub(snipd):
    from snipwise.v1 import move_pb2, move_pb2_grpc
    from e2e_lib import auth_md
    stub = move_pb2_grpc.TeamMoveServiceStub(snipd.channel())
    md = auth_md(snipd.admin_key)
    team = snipd.client(snipd.demo_key).team.GetMyTeam(
        __import__("snipwise.v1.team_pb2",
                   fromlist=["x"]).GetMyTeamRequest()).team_id

    def freeze():
        stub.FreezeTeam(move_pb2.FreezeTeamRequest(team_id=team,
                                                   target_node="node9"),
                        metadata=md, timeout=30)

    def abort():
        stub.AbortTeamMove(move_pb2.AbortTeamMoveRequest(team_id=team),
                           metadata=md, timeout=30)
    return freeze, abort


def test_client_retries_while_its_team_moves(venv, snipd):
    """A write refused because the team is frozen for a move (UNAVAILABLE,
    TEAM_MOVING, retry_after_ms) is sent again until the freeze ends; past
    the client's timeout the error is raised."""
    import threading
    freeze, abort = _move_stub(snipd)
    freeze()
    timer = threading.Timer(1.5, abort)
    timer.start()
    try:
        out = run_client(venv, RETRY, addr=snipd.addr, key=snipd.demo_key,
                         timeout=20)
    finally:
        timer.join()
    assert out.get("email_id"), out
    assert out["waited"] >= 1.0, out
    freeze()
    try:
        out = run_client(venv, RETRY, addr=snipd.addr, key=snipd.demo_key,
                         timeout=2)
    finally:
        abort()
    assert out.get("error") == "UNAVAILABLE", out
    assert 1.0 <= out["waited"] < 10, out
