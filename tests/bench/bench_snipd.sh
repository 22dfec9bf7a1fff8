# Sourced by the benchmarks that need one snipd (run_mixed.sh,
# run_recipients.sh): builds snipd and the Python stubs (opt, in an output
# base of their own; BENCH_OPT=0: the fastbuild ones), starts snipd on a
# free loopback port with a temporary data directory and the extra flags
# given, and waits for it. Sets BIN, top, port and pid; an EXIT trap stops
# snipd and removes the directory.
bench_snipd_start() {
    if [ "${BENCH_OPT:-1}" = 1 ]; then
        OB="--output_base=/root/.cache/bazel-ob-${BAZEL_OB:-bench}"
        bazel $OB build --config=opt --jobs=2 --symlink_prefix=/ \
            //service:snipd //proto:python_stubs >&2
        BIN=$(bazel $OB info --config=opt bazel-bin 2>/dev/null)
    else
        bazel build --jobs=2 //service:snipd //proto:python_stubs >&2
        BIN=$(bazel info bazel-bin 2>/dev/null)
    fi
    top=$(mktemp -d)
    pid=
    trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$top"' EXIT
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    echo "# machine: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); snipd flags: $*"
    "$BIN/service/snipd" serve --listen "127.0.0.1:$port" --data-dir "$top/data" \
        --demo 0 --log-level warn --access-log 0 "$@" >"$top/out" 2>"$top/err" &
    pid=$!
    i=0
    while [ ! -f "$top/data/admin.key" ] || ! python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 600 ] || { cat "$top/err" >&2; exit 1; }
        kill -0 $pid 2>/dev/null || { cat "$top/err" >&2; exit 1; }
        sleep 0.1
    done
}
