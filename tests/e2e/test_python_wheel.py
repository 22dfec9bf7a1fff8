"""The Python client (clients/python) as a package a user installs: an
sdist built from a copy of the repository's clients/python carries the
generated stubs; a wheel built from that sdist alone (no protos, no protoc
on PATH) carries them too and nothing beside the snipwise package; the
wheel, pip-installed into a fresh virtualenv, is imported with no access
to the source tree and drives a real snipd: health (grpc.health.v1 spoken
by hand), ingest_files over the IngestEmails stream with its per-file
results and counts, and Suggest with keyword arguments."""

import glob
import json
import os
import shutil
import subprocess
import tarfile
import textwrap
import zipfile

import pytest

PY = "/usr/bin/python3"
TIMEOUT = 240


def _runfiles(*parts):
    return os.path.join(os.environ["TEST_SRCDIR"], "snipwise", *parts)


def _run(args, env, cwd=None):
    r = subprocess.run(args, capture_output=True, text=True, env=env,
                       timeout=TIMEOUT, cwd=cwd, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, "%s: exit %d\n%s\n%s" % (
        args[:4], r.returncode, r.stdout[-3000:], r.stderr[-3000:])
    return r


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """{sdist, wheel, venv python, root}: the sdist from the repository
    copy, the wheel from the sdist alone, the wheel installed."""
    if not os.environ.get("TEST_SRCDIR"):
        pytest.skip("needs Bazel runfiles")
    root = tmp_path_factory.mktemp("wheel")
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    base.update(HOME=str(root), PIP_NO_CACHE_DIR="1",
                PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONDONTWRITEBYTECODE="1")
    src = str(root / "repo" / "clients" / "python")
    shutil.copytree(_runfiles("clients", "python"), src)
    sdists = str(root / "sdist")
    _run([PY, "setup.py", "-q", "sdist", "-d", sdists],
         dict(base, SNIPWISE_PROTO_ROOT=_runfiles("proto")), cwd=src)
    [sdist] = glob.glob(os.path.join(sdists, "snipwise-*.tar.gz"))
    unpacked = root / "unpacked"
    with tarfile.open(sdist) as t:
        t.extractall(unpacked)
    [tree] = glob.glob(str(unpacked / "snipwise-*"))
    # From the sdist alone: no protos to find, no protoc on PATH.
    empty = root / "empty-bin"
    empty.mkdir()
    wheels = str(root / "wheels")
    _run([PY, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps",
          "--no-index", "-w", wheels, tree],
         dict(base, PATH=str(empty),
              SNIPWISE_PROTO_ROOT=str(root / "no-protos")), cwd=str(root))
    [wheel] = glob.glob(os.path.join(wheels, "snipwise-*.whl"))
    _run([PY, "-m", "venv", "--system-site-packages", str(root / "venv")],
         base)
    py = str(root / "venv" / "bin" / "python")
    _run([py, "-m", "pip", "install", "--no-deps", "--no-index", wheel],
         base, cwd=str(root))
    return {"sdist": sdist, "wheel": wheel, "py": py, "root": str(root)}


def test_sdist_and_wheel_carry_the_stubs_and_only_snipwise(built):
    with tarfile.open(built["sdist"]) as t:
        names = [n.split("/", 1)[1] for n in t.getnames() if "/" in n]
    for m in ("suggest_pb2.py", "suggest_pb2_grpc.py", "ingest_pb2.py",
              "suggest_pb2.pyi", "__init__.py"):
        assert "snipwise/v1/" + m in names, names
    assert "snipwise/py.typed" in names, names
    with zipfile.ZipFile(built["wheel"]) as z:
        files = z.namelist()
        top = z.read("snipwise-0.1.0.dist-info/top_level.txt").decode()
    protos = [f for f in files if f.startswith("snipwise/v1/")
              and f.endswith("_pb2.py")]
    assert len(protos) == 11, protos  # every snipwise.v1 .proto
    assert "snipwise/py.typed" in files and "snipwise/client.py" in files
    stubs = [f for f in files if f.endswith("_pb2.pyi")]  # type stubs
    assert len(stubs) == 11, stubs
    # Nothing outside snipwise/: no grpc_health to clash with grpcio's.
    assert all(f.startswith(("snipwise/", "snipwise-0.1.0.dist-info/"))
               for f in files), files
    assert top.split() == ["snipwise"], top


def _client(built, code, **args):
    """Runs code in the venv's python in isolated mode (-I: no PYTHONPATH,
    no script or current directory on sys.path) from a directory holding
    nothing; returns the JSON object it prints last."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cwd = os.path.join(built["root"], "run")
    os.makedirs(cwd, exist_ok=True)
    script = "import json, sys\nARGS = json.loads(sys.argv[1])\n" + \
        textwrap.dedent(code)
    r = subprocess.run([built["py"], "-I", "-c", script, json.dumps(args)],
                       capture_output=True, text=True, timeout=180, env=env,
                       cwd=cwd, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, "exit %d\n%s\n%s" % (r.returncode, r.stdout,
                                                   r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def _eml(i, body="Could you send me your pricing?", frm=None):
    return ("Message-ID: <w%d@p.example>\r\nFrom: %s\r\n"
            "To: ann@seller.example\r\nSubject: Pricing %d\r\n"
            "Date: Tue, 03 Mar 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain\r\n\r\n%s\r\n"
            % (i, frm or "cfo%d@p.example" % i, i, body)).encode()


def test_installed_wheel_ingests_files_and_suggests(built, snipd, tmp_path):
    mail = tmp_path / "mail"
    (mail / "sub").mkdir(parents=True)
    (mail / "a.eml").write_bytes(_eml(1))
    (mail / "sub" / "b.EML").write_bytes(_eml(2))
    (mail / "sub" / "c.eml").write_bytes(b"just text\n")  # rejected
    (mail / "notes.txt").write_bytes(_eml(3))  # not an .eml: skipped
    (mail / ".hidden.eml").write_bytes(_eml(4))  # hidden: skipped
    dup = tmp_path / "again.msg"  # a file named by itself is taken
    dup.write_bytes(_eml(1))
    out = _client(built, '''
    import importlib.util
    import snipwise
    from snipwise import Client, SnipwiseError
    res = {"module": snipwise.__file__,
           "typed": importlib.util.find_spec("snipwise").submodule_search_locations[0],
           "grpc_health": importlib.util.find_spec("grpc_health") is not None,
           "path": sys.path}
    admin = Client(ARGS["addr"], key=ARGS["admin_key"], timeout=30)
    res["health"] = admin.health()
    res["health_other"] = None
    try:
        admin.health("no.such.Service")
    except SnipwiseError as e:
        res["health_other"] = e.code.name
    team = admin.create_team("Wheel team")
    with Client(ARGS["addr"], key=team.api_key, timeout=30) as c:
        c.add_member("ann@seller.example", "Ann")
        r = c.ingest_files([ARGS["mail"], ARGS["dup"]])
        res["counts"] = [r.new_count, r.duplicate_count, r.rejected_count]
        res["results"] = [[x.index, x.client_ref, x.status, bool(x.reason)]
                          for x in r.results]
        r = c.ingest_files(ARGS["mail"] + "/a.eml")  # one path, not a list
        res["again"] = [r.new_count, r.duplicate_count, r.rejected_count]
        try:
            c.ingest_files([ARGS["mail"] + "/missing.eml"])
            res["missing"] = "sent"
        except FileNotFoundError as e:
            res["missing"] = str(e)
        s = c.suggest(in_reply_to_message_id="w1@p.example",
                      draft_text="Here is our pricing",
                      recipients=["cfo1@p.example"], explain=True)
        res["suggestion"] = bool(s.suggestion_id)
        try:
            c.suggest(thread_id="th_nope")
            res["kw_missing"] = "found"
        except SnipwiseError as e:
            res["kw_missing"] = e.code.name
        res["email"] = c.get_email(message_id="w2@p.example").subject
    print(json.dumps(res))
    ''', addr=snipd.addr, admin_key=snipd.admin_key, mail=str(mail),
        dup=str(dup))
    venv = os.path.join(built["root"], "venv")
    assert out["module"].startswith(venv + "/"), out["module"]
    assert os.path.exists(os.path.join(out["typed"], "py.typed")), out
    assert not any(p.startswith(os.environ["TEST_SRCDIR"])
                   for p in out["path"]), out["path"]
    assert not out["grpc_health"], "the client added a grpc_health package"
    assert out["health"] == 1, out  # SERVING
    assert out["health_other"] == "NOT_FOUND", out
    # a.eml, sub/b.EML new; sub/c.eml rejected; again.msg a duplicate of
    # a.eml; notes.txt and .hidden.eml not sent. Walk order: sorted.
    assert out["counts"] == [2, 1, 1], out
    rejected = [x for x in out["results"] if x[2] == 3]
    assert rejected == [[2, str(mail / "sub" / "c.eml"), 3, True]], \
        out["results"]
    assert out["again"] == [0, 1, 0], out
    assert out["missing"].endswith("missing.eml"), out
    assert out["suggestion"], out
    assert out["kw_missing"] == "NOT_FOUND", out
    assert out["email"] == "Pricing 2", out
