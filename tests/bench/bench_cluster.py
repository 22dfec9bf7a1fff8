#!/usr/bin/python3
"""Several snipd nodes behind HAProxy (issue 22), on this machine.

proxy: three nodes and HAProxy on loopback; one team per node, each with
SEED emails ingested and extracted. Then, in one run and in turns of
DURATION seconds with THREADS callers: GetMyTeam (a cheap call) and
Suggest straight to node1 and through HAProxy to node1 (the proxy's cost
per call), and Suggest through HAProxy spread over 1, 2 and 3 nodes.

move: a team of N snippets (bench_rerank fill: index built, model
trained) on node1, an empty node2, HAProxy; `snipctl cluster move-team`
moves it and reports its records, bytes, cut-over and total time; then
the first Suggest on the target.

Prints JSON lines. Usage (from run_cluster.sh):
  bench_cluster.py BIN proxy [DURATION THREADS SEED]
  bench_cluster.py BIN move N [N ...]"""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import grpc
from snipwise.v1 import (ingest_pb2, ingest_pb2_grpc, suggest_pb2,
                         suggest_pb2_grpc, team_pb2, team_pb2_grpc)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_bulk_ingest import mail  # noqa: E402

HAPROXY = "/usr/sbin/haproxy"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, timeout=600):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            sys.exit("%s exited" % what)
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit("%s did not listen" % what)


def md(key):
    return (("authorization", "Bearer " + key),)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))]


class Cluster:
    def __init__(self, bin_dir, top, datas):
        self.bin = bin_dir
        self.top = top
        self.procs = []
        self.nodes = []
        for i, data in enumerate(datas):
            port = free_port()
            p = subprocess.Popen(
                [os.path.join(bin_dir, "service/snipd"), "serve", "--listen",
                 "127.0.0.1:%d" % port, "--data-dir", data, "--demo", "0",
                 "--log-level", "warn", "--access-log", "0"],
                stdout=subprocess.DEVNULL,
                stderr=open(os.path.join(top, "node%d.err" % (i + 1)), "wb"))
            self.procs.append(p)
            wait_port(port, p, "snipd")
            while not os.path.exists(os.path.join(data, "admin.key")):
                time.sleep(0.05)
            self.nodes.append({"name": "node%d" % (i + 1),
                               "addr": "127.0.0.1:%d" % port,
                               "admin_key_file": os.path.join(data,
                                                              "admin.key")})
        self.port = free_port()
        self.file = os.path.join(top, "cluster.json")
        self.map = os.path.join(top, "teams.map")
        open(self.map, "w").close()
        with open(self.file, "w") as f:
            json.dump({"listen": "127.0.0.1:%d" % self.port,
                       "haproxy": {"socket": os.path.join(top, "hp.sock"),
                                   "map": self.map},
                       "nodes": self.nodes}, f)
        cfg = os.path.join(top, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(self.snipctl("haproxy-config"))
        p = subprocess.Popen([HAPROXY, "-db", "-f", cfg],
                             stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(top, "hp.err"), "wb"))
        self.procs.append(p)
        wait_port(self.port, p, "haproxy")
        time.sleep(2.5)  # the first health checks

    def snipctl(self, *args):
        r = subprocess.run([os.path.join(self.bin, "clients/snipctl/snipctl"),
                            "cluster", "--cluster", self.file] + list(args),
                           capture_output=True, text=True, timeout=7200)
        if r.returncode != 0:
            sys.exit("snipctl cluster %s: %s" % (" ".join(args), r.stderr))
        return r.stdout

    def stop(self):
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()


def suggest_req(rnd):
    return suggest_pb2.SuggestRequest(
        thread_text=suggest_pb2.ThreadText(
            subject="Pricing",
            messages=[suggest_pb2.ThreadTextMessage(
                from_address="buyer@prospect.example",
                text=rnd.choice(["Could you send the pricing sheet?",
                                 "What does onboarding look like?",
                                 "Do you have a security whitepaper?"]))]),
        draft_text="Attached is")


def load(targets, duration, threads, what):
    """Calls for duration seconds from `threads` threads, each picking one
    of targets [(channel, key)] in turn; returns calls/s and latencies."""
    lat, errors = [], []
    lock = threading.Lock()
    stop = time.monotonic() + duration

    def run(i):
        rnd = random.Random(i)
        stubs = [(suggest_pb2_grpc.SuggestServiceStub(ch),
                  team_pb2_grpc.TeamServiceStub(ch), md(k))
                 for ch, k in targets]
        mine, n = [], i
        while time.monotonic() < stop:
            sg, tm, m = stubs[n % len(stubs)]
            n += 1
            t0 = time.monotonic()
            try:
                if what == "Suggest":
                    sg.Suggest(suggest_req(rnd), metadata=m, timeout=30)
                else:
                    tm.GetMyTeam(team_pb2.GetMyTeamRequest(), metadata=m,
                                 timeout=30)
            except grpc.RpcError as e:
                errors.append(e.code().name)
                continue
            mine.append(time.monotonic() - t0)
        with lock:
            lat.extend(mine)

    ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.monotonic() - t0
    return {"calls": len(lat), "calls_per_s": round(len(lat) / wall, 1),
            "p50_ms": round(pct(lat, 50) * 1e3, 2),
            "p99_ms": round(pct(lat, 99) * 1e3, 2), "errors": len(errors)}


def seed(ch, key, n):
    # The reps' domain makes their mail outbound: its framings and files
    # are what Suggest ranks.
    team_pb2_grpc.TeamServiceStub(ch).AddTeamDomain(
        team_pb2.AddTeamDomainRequest(domain="seller.example"),
        metadata=md(key), timeout=30)
    ing = ingest_pb2_grpc.IngestServiceStub(ch)
    rnd = random.Random(key)
    reqs = (ingest_pb2.IngestEmailRequest(raw_mime=mail(i, rnd, key[-8:]))
            for i in range(n))
    ing.IngestEmails(reqs, metadata=md(key), timeout=600)
    tm = team_pb2_grpc.TeamServiceStub(ch)
    for _ in range(6000):
        if tm.GetMyTeam(team_pb2.GetMyTeamRequest(), metadata=md(key),
                        timeout=30).pending_extraction_jobs == 0:
            break
        time.sleep(0.1)
    # Suggest answers with content once the index and statistics have
    # caught up in the background; measure only then.
    sg = suggest_pb2_grpc.SuggestServiceStub(ch)
    for _ in range(1200):
        r = sg.Suggest(suggest_req(random.Random(0)), metadata=md(key),
                       timeout=30)
        if len(r.framings) + len(r.contents) > 0 and r.statistics.ready:
            return len(r.framings) + len(r.contents)
        time.sleep(0.1)
    return 0


def proxy(bin_dir, duration, threads, n_seed):
    top = tempfile.mkdtemp(prefix="bcl-")
    c = Cluster(bin_dir, top, [os.path.join(top, "d%d" % i)
                               for i in range(3)])
    try:
        teams = []
        for node in c.nodes:
            out = json.loads(c.snipctl("create-team", "T " + node["name"],
                                       "--node", node["name"], "--json"))
            teams.append((node, out["api_key"]))
        direct = grpc.insecure_channel(c.nodes[0]["addr"])
        via = grpc.insecure_channel("127.0.0.1:%d" % c.port)
        got = [seed(grpc.insecure_channel(node["addr"]), key, n_seed)
               for node, key in teams]
        print(json.dumps({"seeded_emails_per_team": n_seed,
                          "suggestions_per_answer": got}), flush=True)
        k1 = teams[0][1]
        runs = [("GetMyTeam", "direct node1", [(direct, k1)]),
                ("GetMyTeam", "haproxy node1", [(via, k1)]),
                ("Suggest", "direct node1", [(direct, k1)]),
                ("Suggest", "haproxy 1 node", [(via, k1)]),
                ("Suggest", "haproxy 2 nodes",
                 [(via, teams[0][1]), (via, teams[1][1])]),
                ("Suggest", "haproxy 3 nodes", [(via, k) for _, k in teams])]
        load([(direct, k1)], 3, threads, "Suggest")  # warm-up
        for what, where, targets in runs:
            res = load(targets, duration, threads, what)
            res.update({"rpc": what, "path": where, "threads": threads})
            print(json.dumps(res), flush=True)
    finally:
        c.stop()
        subprocess.run(["rm", "-rf", top])


def move(bin_dir, sizes):
    for n in sizes:
        top = tempfile.mkdtemp(prefix="bcm-")
        src, dst = os.path.join(top, "src"), os.path.join(top, "dst")
        t0 = time.monotonic()
        subprocess.run([os.path.join(bin_dir, "tests/bench/bench_rerank"),
                        "fill", src, "--snippets", str(n)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([os.path.join(bin_dir, "tests/bench/bench_rerank"),
                        "rerank", src], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        setup = time.monotonic() - t0
        key = open(os.path.join(src, "bench_team.key")).read().strip()
        team = key.split(".", 1)[0]
        lmdb = os.path.getsize(os.path.join(src, "data.mdb"))
        c = Cluster(bin_dir, top, [src, dst])
        try:
            c.snipctl("route", team, "node1")
            out = json.loads(c.snipctl("move-team", team, "--to", "node2",
                                       "--json"))
            via = grpc.insecure_channel("127.0.0.1:%d" % c.port)
            t1 = time.monotonic()
            suggest_pb2_grpc.SuggestServiceStub(via).Suggest(
                suggest_req(random.Random(1)), metadata=md(key), timeout=600)
            out.update({"snippets": n, "setup_s": round(setup, 1),
                        "source_data_mdb_bytes": lmdb,
                        "first_suggest_on_target_ms":
                            round((time.monotonic() - t1) * 1e3, 1)})
            print(json.dumps(out), flush=True)
        finally:
            c.stop()
            subprocess.run(["rm", "-rf", top])


def main():
    bin_dir, mode = sys.argv[1], sys.argv[2]
    if mode == "proxy":
        a = [float(x) for x in sys.argv[3:]]
        proxy(bin_dir, a[0] if a else 10.0, int(a[1]) if len(a) > 1 else 4,
              int(a[2]) if len(a) > 2 else 300)
    else:
        move(bin_dir, [int(x) for x in sys.argv[3:]] or [10000, 100000])


if __name__ == "__main__":
    main()
