#!/usr/bin/env python3
"""Mutation testing for Snipwise: apply each hand-written mutation of
tests/mutation/mutations.txt to a copy of the repository, run the Bazel tests
that should catch it, and report which mutants the suite kills.

The real tree is never modified: the runner copies the tracked and the
untracked-but-not-ignored files into one scratch directory, runs Bazel there
with its own output base (~/.cache/snipwise-mutation/, kept between runs so
they are incremental), and removes the copy at the end. See README.md here.
"""
import argparse
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_FILE = os.path.join(HERE, "mutations.txt")
LABEL = re.compile(r"^//[A-Za-z0-9_/.-]*:[A-Za-z0-9_.-]+$")
KEYS = ("id", "file", "targets", "desc", "equivalent")


class Mutation:
    def __init__(self, lineno):
        self.lineno = lineno
        self.id = self.file = self.desc = self.equivalent = ""
        self.targets = []
        self.old = []
        self.new = []

    @property
    def module(self):
        return self.file.split("/", 1)[0]

    def old_text(self):
        return "\n".join(self.old)

    def new_text(self):
        return "\n".join(self.new)


def parse(path):
    """Reads the block format documented in README.md; exits on errors."""
    muts, cur, errors = [], None, []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for n, line in enumerate(lines + [""], 1):
        if line.startswith("#"):
            continue
        if line.strip() == "":
            if cur:
                muts.append(cur)
            cur = None
            continue
        if cur is None:
            cur = Mutation(n)
        if line.startswith("-"):
            cur.old.append(line[2:] if line.startswith("- ") else line[1:])
        elif line.startswith("+"):
            cur.new.append(line[2:] if line.startswith("+ ") else line[1:])
        elif ":" in line and line.split(":", 1)[0] in KEYS:
            key, val = (s.strip() for s in line.split(":", 1))
            if key == "targets":
                cur.targets = val.split()
            else:
                setattr(cur, key, val)
        else:
            errors.append("%s:%d: unrecognised line: %s" % (path, n, line))
    seen = set()
    for m in muts:
        where = "%s:%d" % (path, m.lineno)
        if not (m.id and m.file and m.desc and m.targets and m.old):
            errors.append(where + ": a mutation needs id, file, desc, "
                          "targets and at least one '-' line")
        if m.id in seen:
            errors.append(where + ": duplicate id " + m.id)
        seen.add(m.id)
        if m.old == m.new:
            errors.append(where + ": replacement equals the original")
        errors += [where + ": bad target " + t for t in m.targets
                   if not LABEL.match(t)]
    if errors:
        sys.exit("\n".join(errors))
    return muts


def check(muts, root):
    """Each original text occurs exactly once; each target exists in its
    package's BUILD file. Returns the list of problems."""
    problems = []
    for m in muts:
        path = os.path.join(root, m.file)
        if not os.path.isfile(path):
            problems.append("%s: %s does not exist" % (m.id, m.file))
            continue
        with open(path, encoding="utf-8") as f:
            n = f.read().count(m.old_text())
        if n != 1:
            problems.append("%s: original text occurs %d times in %s"
                            % (m.id, n, m.file))
        for t in m.targets:
            pkg, name = t[2:].split(":")
            build = os.path.join(root, pkg, "BUILD")
            if not os.path.isfile(build):
                build += ".bazel"
            try:
                with open(build, encoding="utf-8") as f:
                    ok = '"%s"' % name in f.read()
            except OSError:
                ok = False
            if not ok:
                problems.append("%s: no target %s" % (m.id, t))
    return problems


def repo_files(root):
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root, check=True, stdout=subprocess.PIPE).stdout
    return sorted(set(p for p in out.decode().split("\0") if p))


def copy_tree(root, dest):
    if os.path.lexists(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    n = 0
    for rel in repo_files(root):
        src = os.path.join(root, rel)
        if not os.path.lexists(src):  # deleted in the work tree
            continue
        dst = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst, follow_symlinks=False)
        n += 1
    return n


class Bazel:
    def __init__(self, bazel, output_base, workdir, jobs):
        self.base = [bazel, "--output_base=" + output_base]
        self.workdir = workdir
        self.jobs = jobs

    def test(self, targets, timeout, keep_going, log):
        """Runs bazel test; returns (status, failing targets) where status is
        'pass', 'test', 'build' or 'timeout'."""
        cmd = self.base + ["test", "--jobs=%d" % self.jobs,
                           "--test_output=errors", "--color=no",
                           "--curses=no"]
        if keep_going:
            cmd.append("--keep_going")
        with open(log, "w") as out:
            p = subprocess.Popen(cmd + ["--"] + targets, cwd=self.workdir,
                                 stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
            try:
                rc = p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.interrupt(p)
                return "timeout", []
        with open(log, errors="replace") as f:
            text = f.read()
        failed = re.findall(r"^(//\S+)\s+(?:\(cached\) )?(FAILED|TIMEOUT)",
                            text, re.M)
        if rc == 0:
            return "pass", []
        if rc == 3 and any(s == "FAILED" for _, s in failed):
            return "test", [t for t, s in failed if s == "FAILED"]
        if rc == 3 and failed:
            return "timeout", [t for t, _ in failed]
        return "build", [t for t, _ in failed]

    def interrupt(self, p):
        # Ctrl-C makes the client cancel the build in the server.
        os.killpg(p.pid, signal.SIGINT)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            self.shutdown()

    def shutdown(self):
        if os.path.isdir(self.workdir):
            subprocess.run(self.base + ["shutdown"], cwd=self.workdir,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)


def tail(path, n=25):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-n:])


def report(path, rows, summary, survivors):
    with open(path, "w", encoding="utf-8") as f:
        f.write("# Mutation testing report\n\n%s\n\n" % summary)
        f.write("| id | file | description | result | killed by |\n")
        f.write("|---|---|---|---|---|\n")
        for m, result, by in rows:
            f.write("| %s | %s | %s | %s | %s |\n" % (
                m.id, m.file, m.desc.replace("|", "\\|"), result,
                " ".join(by)))
        f.write("\n## Survivors\n\n")
        f.write("".join("- %s (%s): %s\n" % (m.id, m.file, m.desc)
                        for m in survivors) or "None.\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--file", default=DEFAULT_FILE, help="the mutation list")
    ap.add_argument("--only", help="comma-separated ids to run")
    ap.add_argument("--module", help="only mutations of files under this "
                    "top-level directory (e.g. ingest, store, clients)")
    ap.add_argument("--timeout", type=int, default=600,
                    help="seconds per mutation (default 600)")
    ap.add_argument("--keep-going", action="store_true",
                    help="pass --keep_going to bazel: run every target of a "
                    "mutant, so the report names all that killed it")
    ap.add_argument("--list", action="store_true", help="list and exit")
    ap.add_argument("--check", action="store_true", help="only check that "
                    "every original text occurs once in the real tree")
    ap.add_argument("--report", help="write a markdown report here")
    ap.add_argument("--min-score", type=float, default=90.0,
                    help="exit 1 below this score in percent (default 90)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--bazel", default=os.environ.get("BAZEL", "bazel"))
    args = ap.parse_args()

    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=HERE,
                          check=True, stdout=subprocess.PIPE,
                          text=True).stdout.strip()
    muts = parse(args.file)
    if args.only:
        ids = set(args.only.split(","))
        unknown = ids - {m.id for m in muts}
        if unknown:
            sys.exit("mutation: unknown id(s): " + ", ".join(sorted(unknown)))
        muts = [m for m in muts if m.id in ids]
    if args.module:
        muts = [m for m in muts if m.file.startswith(args.module.rstrip("/")
                                                     + "/")]
    if not muts:
        sys.exit("mutation: no mutation selected")

    if args.list:
        for m in muts:
            print("%-5s %-34s %s%s\n      %s" % (
                m.id, m.file, m.desc,
                "  [equivalent: %s]" % m.equivalent if m.equivalent else "",
                " ".join(m.targets)))
        return 0
    if args.check:
        problems = check(muts, root)
        for p in problems:
            print("stale: " + p)
        counts = {}
        for m in muts:
            counts[m.module] = counts.get(m.module, 0) + 1
        print("mutation: %d mutations (%s), %d problem(s)" % (
            len(muts), ", ".join("%s %d" % kv for kv in sorted(counts.items())),
            len(problems)))
        return 1 if problems else 0
    return run(args, root, muts)


def run(args, root, muts):
    tag = hashlib.sha1(root.encode()).hexdigest()[:10]
    cache = os.path.join(os.path.expanduser("~/.cache/snipwise-mutation"), tag)
    os.makedirs(cache, exist_ok=True)
    lock = open(os.path.join(cache, "lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        sys.exit("mutation: another run for %s holds %s" % (root, cache))
    # The copy's path is fixed too: Bazel then finds its earlier actions.
    work = os.path.join(tempfile.gettempdir(), "snipwise-mutation-" + tag)
    logs = os.path.join(cache, "logs")
    shutil.rmtree(logs, ignore_errors=True)
    os.makedirs(logs)
    bz = Bazel(args.bazel, os.path.join(cache, "output_base"), work, args.jobs)
    try:
        print("mutation: copying %s to %s" % (root, work), flush=True)
        print("mutation: %d files copied" % copy_tree(root, work), flush=True)
        return run_in_copy(args, bz, work, logs, muts)
    finally:
        bz.shutdown()
        shutil.rmtree(work, ignore_errors=True)


def run_in_copy(args, bz, work, logs, muts):
    live = [m for m in muts if not m.equivalent]
    targets = sorted({t for m in live for t in m.targets})
    print("mutation: baseline: bazel test %s" % " ".join(targets), flush=True)
    t0 = time.time()
    log = os.path.join(logs, "baseline.log")
    status, failed = bz.test(targets, None, True, log)
    if status != "pass":
        sys.stderr.write(tail(log))
        sys.exit("mutation: the unmutated baseline does not pass (%s%s); fix "
                 "the tree first. Log: %s" % (status, ": " + " ".join(failed)
                                              if failed else "", log))
    print("mutation: baseline passes (%.0f s)" % (time.time() - t0),
          flush=True)

    rows, res = [], {}
    for i, m in enumerate(muts, 1):
        by, took = [], ""
        if m.equivalent:
            result = "equivalent"
        else:
            path = os.path.join(work, m.file)
            with open(path, encoding="utf-8") as f:
                orig = f.read()
            if orig.count(m.old_text()) != 1:
                result = "stale"
            else:
                t0 = time.time()
                try:
                    with open(path, "w", encoding="utf-8") as f:
                        f.write(orig.replace(m.old_text(), m.new_text()))
                    status, by = bz.test(m.targets, args.timeout,
                                         args.keep_going,
                                         os.path.join(logs, m.id + ".log"))
                finally:
                    with open(path, "w", encoding="utf-8") as f:
                        f.write(orig)
                result = {"pass": "survived", "test": "killed",
                          "build": "build-broken",
                          "timeout": "timeout"}[status]
                took = " (%.0f s)" % (time.time() - t0)
        res[result] = res.get(result, 0) + 1
        rows.append((m, result, by))
        print("[%d/%d] %-5s %-13s %s%s%s" % (
            i, len(muts), m.id, result, m.file, took,
            "  <- " + " ".join(by) if by else ""), flush=True)

    n = lambda k: res.get(k, 0)  # noqa: E731
    denom = len(muts) - n("equivalent") - n("stale")
    # A build that broke still killed the mutant, but it is a defect of the
    # mutation list: a mutant should compile and be caught by a test.
    killed = n("killed") + n("build-broken")
    score = 100.0 * killed / denom if denom else 0.0
    survivors = [m for m, r, _ in rows if r == "survived"]
    line = ("mutation: %d killed, %d survived, %d timeout, score %.1f%%"
            % (killed, n("survived"), n("timeout"), score))
    extra = ["%d %s" % (n(k), k) for k in ("build-broken", "stale",
                                          "equivalent") if n(k)]
    if extra:
        line += " (" + ", ".join(extra) + ")"
    for m in survivors:
        print("survived: %s %s: %s" % (m.id, m.file, m.desc))
    for m, r, _ in rows:
        if r == "build-broken":
            print("harness defect: %s does not build; see %s" % (
                m.id, os.path.join(logs, m.id + ".log")))
        if r == "stale":
            print("harness defect: %s: original text not found once in %s" %
                  (m.id, m.file))
    if args.report:
        report(args.report, rows, line, survivors)
    print(line)
    print("mutation: logs in " + logs)
    return 0 if score >= args.min_score else 1


if __name__ == "__main__":
    sys.exit(main())
