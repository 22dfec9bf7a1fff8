#!/usr/bin/python3
"""A soak of one snipd (issue 20): for MINUTES, mixed load on one team —
new mail through IngestEmail (outbound with an attachment, and the
prospect's reply) at a steady rate, Suggest at a fixed rate (half of what
one caller measured at the start reaches), RecordOutcome and
RecordFeedback on what Suggest showed, a RunRerank every 5 minutes and a
`snipd backup` every 10 — with one JSON line per minute: Suggest p50/p99,
calls and errors by kind, snipd's RSS (anonymous and file-backed, the
latter mostly LMDB's mapped pages, which grow with the data). The last
line sums it up: errors in all, and the slope of the anonymous RSS after
the warm-up (the first third) in KiB per minute by least squares.

SOAK_CONSTANT=K keeps the data constant after the warm-up: the mail cycles
over K threads (every later IngestEmail is a duplicate that stores
nothing), and RecordOutcome and RecordFeedback replay K requests with
their idempotency keys (answered from the replay records). The same calls
then run on data that no longer grows, so memory that still grows is not
following the data.

Usage: bench_soak.py ADDR ADMIN_KEY SNIPD DATA_DIR MINUTES (run_soak.sh)"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import grpc
from snipwise.v1 import (admin_pb2, admin_pb2_grpc, common_pb2, ingest_pb2,
                         ingest_pb2_grpc, outcome_pb2, outcome_pb2_grpc,
                         ranking_pb2, ranking_pb2_grpc, suggest_pb2,
                         suggest_pb2_grpc, team_pb2, team_pb2_grpc)

DOMAIN = "soak-seller.example"
FRAMES = [
    "I've attached the pricing guide, which explains our plans and "
    "discounts.",
    "The attached case study shows how a team like yours cut reporting "
    "time in half.",
    "Our security brief covers the SOC 2 report your team asked about.",
]
DOCS = [("pricing_guide.txt", "Plans start at 10 dollars per seat per month. "
         "Volume discounts apply above 100 seats."),
        ("case_study.txt", "Acme cut reporting time by half within one "
         "quarter of rolling out the analytics suite."),
        ("security_brief.txt", "We are SOC 2 certified; data is encrypted at "
         "rest and in transit, with a yearly penetration test.")]


def md(key):
    return (("authorization", "Bearer " + key),)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))] if xs else None


def mime(mid, frm, to, subj, body, irt=None, att=None):
    s = ("Message-ID: <%s>\r\nFrom: %s\r\nTo: %s\r\nSubject: %s\r\n"
         "Date: %s\r\nMIME-Version: 1.0\r\n" %
         (mid, frm, to, subj,
          time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())))
    if irt:
        s += "In-Reply-To: <%s>\r\nReferences: <%s>\r\n" % (irt, irt)
    if att:
        s += ("Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
              "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n--b\r\n"
              "Content-Type: text/plain; name=\"%s\"\r\nContent-Disposition: "
              "attachment; filename=\"%s\"\r\n\r\n%s\r\n--b--\r\n" %
              (body, att[0], att[0], att[1]))
    else:
        s += "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n" % body
    return s.encode()


def heap_kb():
    """(heap in use, heap held free) in KiB from snipd's metrics endpoint
    (SOAK_METRICS=ADDR, run_soak.sh sets it), or (None, None)."""
    addr = os.environ.get("SOAK_METRICS")
    if not addr:
        return None, None
    import urllib.request
    try:
        with urllib.request.urlopen("http://%s/metrics" % addr,
                                    timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return None, None
    got = {}
    for line in text.splitlines():
        for name in ("snipd_process_heap_bytes",
                     "snipd_process_heap_free_bytes"):
            if line.startswith(name + " "):
                got[name] = int(float(line.split()[1])) // 1024
    return (got.get("snipd_process_heap_bytes"),
            got.get("snipd_process_heap_free_bytes"))


def rss_kb(pid):
    """(VmRSS, RssAnon, RssFile) in KiB. RssFile is mostly LMDB's mapped
    pages, which grow with the data; RssAnon is the process's own heap."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k = line.split(":")[0]
            if k in ("VmRSS", "RssAnon", "RssFile"):
                out[k] = int(line.split()[1])
    return out.get("VmRSS"), out.get("RssAnon"), out.get("RssFile")


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.suggest_lat = []
        self.calls = {}
        self.errors = {}

    def ok(self, kind, lat=None):
        with self.lock:
            self.calls[kind] = self.calls.get(kind, 0) + 1
            if kind == "suggest" and lat is not None:
                self.suggest_lat.append(lat)

    def err(self, kind, e):
        with self.lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1
        print("soak: %s error: %s" % (kind, e), file=sys.stderr, flush=True)

    def take(self):
        with self.lock:
            out = (self.suggest_lat, self.calls, self.errors)
            self.reset()
            return out


def main(addr, admin_key, snipd, data_dir, minutes):
    pid = int(open(os.path.join(data_dir, "..", "snipd.pid")).read())
    ch = grpc.insecure_channel(addr)
    r = admin_pb2_grpc.AdminServiceStub(ch).CreateTeam(
        admin_pb2.CreateTeamRequest(display_name="Soak"),
        metadata=md(admin_key), timeout=30)
    key = r.api_key
    team_pb2_grpc.TeamServiceStub(ch).AddTeamDomain(
        team_pb2.AddTeamDomainRequest(domain=DOMAIN), metadata=md(key),
        timeout=30)
    ingest = ingest_pb2_grpc.IngestServiceStub(ch)
    suggest = suggest_pb2_grpc.SuggestServiceStub(ch)
    outcome = outcome_pb2_grpc.OutcomeServiceStub(ch)
    ranking = ranking_pb2_grpc.RankingServiceStub(ch)
    st = Stats()
    stop = threading.Event()
    seq = [0]
    const = int(os.environ.get("SOAK_CONSTANT", "0"))
    replay = {}  # constant data: idempotency key -> the first request

    def keyed(key, make):
        """The request under key: in constant mode the first one made."""
        if not const:
            return make()
        if key not in replay:
            replay[key] = make()
        return replay[key]

    def one_thread():
        i = seq[0] % const if const else seq[0]
        seq[0] += 1
        k = i % 3
        who = "buyer%d@prospect%d.example" % (i % 50, i % 20)
        rep = "rep%d@%s" % (i % 4, DOMAIN)
        q = ingest.IngestEmail(ingest_pb2.IngestEmailRequest(raw_mime=mime(
            "q%d@p.example" % i, who, rep, "Question %d" % i,
            "Could you send me something about %s?" % DOCS[k][0])),
            metadata=md(key), timeout=30)
        ingest.IngestEmail(ingest_pb2.IngestEmailRequest(raw_mime=mime(
            "a%d@%s" % (i, DOMAIN), rep, who, "Re: Question %d" % i,
            "Thanks for asking.\n%s\nBest" % FRAMES[k], "q%d@p.example" % i,
            DOCS[k])), metadata=md(key), timeout=30)
        return q.thread_id

    def ingester(rate):
        threads = []
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                threads.append(one_thread())
                st.ok("ingest")
                if len(threads) % 3 == 0:
                    j = len(threads) % const if const else len(threads)
                    outcome.RecordOutcome(keyed(
                        "o%d" % j, lambda: outcome_pb2.RecordOutcomeRequest(
                            thread_id=threads[-1],
                            kind=common_pb2.OUTCOME_KIND_MEETING_BOOKED
                            if len(threads) % 2 else
                            common_pb2.OUTCOME_KIND_POSITIVE_REPLY,
                            idempotency_key="o%d" % j)),
                        metadata=md(key), timeout=30)
                    st.ok("outcome")
            except grpc.RpcError as e:
                st.err("ingest", "%s %s" % (e.code(), e.details()))
            stop.wait(max(0.0, 1.0 / rate - (time.monotonic() - t0)))

    def suggester(rate, lat_only=False):
        n = 0
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                r = suggest.Suggest(suggest_pb2.SuggestRequest(
                    draft_text="Here is the %s you asked for" %
                    DOCS[n % 3][0].split(".")[0].replace("_", " ")),
                    metadata=md(key), timeout=30)
                st.ok("suggest", time.monotonic() - t0)
                if r.framings and n % 4 == 0:
                    j = (n // 4) % const if const else n
                    outcome.RecordFeedback(keyed(
                        "f%d" % j, lambda: outcome_pb2.RecordFeedbackRequest(
                            suggestion_id=r.suggestion_id,
                            item_id=r.framings[0].item_id,
                            kind=outcome_pb2.FEEDBACK_KIND_INSERTED,
                            rep_email="rep0@" + DOMAIN,
                            idempotency_key="f%d" % j)),
                        metadata=md(key), timeout=30)
                    st.ok("feedback")
            except grpc.RpcError as e:
                st.err("suggest", "%s %s" % (e.code(), e.details()))
            n += 1
            if rate:
                stop.wait(max(0.0, 1.0 / rate - (time.monotonic() - t0)))

    def reranker():
        while not stop.wait(300):
            try:
                msgs = list(ranking.RunRerank(ranking_pb2.RunRerankRequest(),
                                              metadata=md(key), timeout=600))
                assert msgs and msgs[-1].phase == "done", msgs[-1:]
                st.ok("rerank")
            except (grpc.RpcError, AssertionError) as e:
                st.err("rerank", e)

    def backuper():
        d = tempfile.mkdtemp(prefix="soak-backup-")
        n = 0
        while not stop.wait(600):
            n += 1
            to = os.path.join(d, "b%d.mdb" % n)
            p = subprocess.run([snipd, "backup", "--data-dir", data_dir,
                                "--to", to], capture_output=True, text=True,
                               timeout=600)
            if p.returncode != 0:
                st.err("backup", p.stderr.strip())
            else:
                st.ok("backup")
                os.unlink(to)
                os.unlink(to + ".sha256")

    # Warm-up: some history, then what one caller reaches with Suggest.
    for _ in range(30):
        one_thread()
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < 10:
        suggest.Suggest(suggest_pb2.SuggestRequest(
            draft_text="Here is the pricing guide"), metadata=md(key),
            timeout=30)
        n += 1
    max_rate = n / (time.monotonic() - t0)
    rate = max(1.0, max_rate / 2)
    print(json.dumps({"warmup_suggest_per_s": round(max_rate, 1),
                      "suggest_rate": round(rate, 1), "ingest_rate": 2.0,
                      "constant_threads": const}),
          flush=True)
    st.take()
    workers = [threading.Thread(target=ingester, args=(2.0,)),
               threading.Thread(target=suggester, args=(rate,)),
               threading.Thread(target=reranker),
               threading.Thread(target=backuper)]
    for w in workers:
        w.start()
    rss, heaps = [], []
    total_err = 0
    try:
        for m in range(1, int(minutes) + 1):
            time.sleep(60)
            lat, calls, errors = st.take()
            r, anon, filed = rss_kb(pid)
            heap, heap_free = heap_kb()
            rss.append(anon)
            heaps.append(heap)
            total_err += sum(errors.values())
            print(json.dumps({
                "minute": m, "rss_kb": r, "rss_anon_kb": anon,
                "rss_file_kb": filed, "heap_kb": heap,
                "heap_free_kb": heap_free, "calls": calls, "errors": errors,
                "suggest_p50_ms": round(1000 * pct(lat, 50), 2) if lat else None,
                "suggest_p99_ms": round(1000 * pct(lat, 99), 2) if lat else None}),
                flush=True)
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=900)
    def slope_after_warmup(ys):
        """Least-squares KiB per minute over the last two thirds."""
        tail = [y for y in ys[len(ys) // 3:] if y is not None]
        if len(tail) < 2:
            return None
        xs = list(range(len(tail)))
        mx, my = sum(xs) / len(xs), sum(tail) / len(tail)
        return (sum((x - mx) * (y - my) for x, y in zip(xs, tail)) /
                sum((x - mx) ** 2 for x in xs))
    slope = slope_after_warmup(rss)
    hslope = slope_after_warmup(heaps)
    print(json.dumps({"summary": True, "minutes": minutes,
                      "errors": total_err,
                      "rss_anon_first_kb": rss[0] if rss else None,
                      "rss_anon_last_kb": rss[-1] if rss else None,
                      "rss_anon_slope_kb_per_min_after_warmup":
                      round(slope, 1) if slope is not None else None,
                      "heap_slope_kb_per_min_after_warmup":
                      round(hslope, 1) if hslope is not None else None}),
          flush=True)
    return 0 if total_err == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4],
                  float(sys.argv[5])))
