"""snipd's config file (--config FILE or SNIPD_CONFIG): `key = value`
lines with the flags' names; flags win over the environment, which wins
over the file; a bad line stops snipd with exit 2 naming the file and the
line, before anything is created."""

import os
import re
import subprocess

from e2e_lib import scratch_dir, snipd_path

CLI_TIMEOUT = 60


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def listening(srv):
    m = re.search(r"event=server\.listening .*threads=(\d+) workers=(\d+) "
                  r"max_message_bytes=(\d+)", srv.stderr)
    assert m, srv.stderr
    return tuple(int(x) for x in m.groups())


def test_file_values_under_env_under_flags(snipd_factory, monkeypatch):
    d = scratch_dir("conf-")
    conf = write(os.path.join(d, "snipd.conf"),
                 "# test\nthreads = 3\nworkers = 5\n"
                 "max-message-bytes = 65536   # 64 KiB\n"
                 "demo = 1\n")
    monkeypatch.setenv("SNIPD_WORKERS", "6")  # env over the file
    # Snipd's own flags (--demo 0, --listen, --data-dir) beat the file;
    # --max-message-bytes on the command line beats it too.
    srv = snipd_factory(args=["--config", conf, "--max-message-bytes",
                              "131072"], demo=False)
    assert listening(srv) == (3, 6, 131072)
    assert not os.path.exists(os.path.join(srv.data_dir, "demo.key"))
    srv.stop()


def test_snipd_config_names_the_file(snipd_factory, monkeypatch):
    d = scratch_dir("conf-")
    conf = write(os.path.join(d, "snipd.conf"), "threads = 4\n")
    monkeypatch.setenv("SNIPD_CONFIG", conf)
    srv = snipd_factory()
    assert listening(srv)[0] == 4
    srv.stop()


def run_serve(args, cwd, env_extra=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([snipd_path(), "serve"] + args, cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=CLI_TIMEOUT, env=env)


def test_bad_key_names_file_and_line(tmp_path):
    conf = write(str(tmp_path / "snipd.conf"),
                 "listen = 127.0.0.1:0\n\n# typo below\ntreads = 3\n")
    data = str(tmp_path / "data")
    r = run_serve(["--config", conf, "--data-dir", data], str(tmp_path))
    assert r.returncode == 2, r.stderr
    assert "%s:4: treads: unknown key" % conf in r.stderr, r.stderr
    assert not os.path.exists(data)  # nothing created


def test_bad_value_from_snipd_config(tmp_path):
    conf = write(str(tmp_path / "snipd.conf"), "threads = 0\n")
    data = str(tmp_path / "data")
    r = run_serve(["--data-dir", data], str(tmp_path),
                  {"SNIPD_CONFIG": conf})
    assert r.returncode == 2, r.stderr
    assert "%s:1: threads: must be an integer in range" % conf in r.stderr
    assert not os.path.exists(data)


def test_missing_file(tmp_path):
    missing = str(tmp_path / "nope.conf")
    r = run_serve(["--config", missing], str(tmp_path))
    assert r.returncode == 2
    assert "%s: config file not found" % missing in r.stderr, r.stderr
