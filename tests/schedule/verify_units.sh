#!/bin/sh
# Checks the nightly schedule (clients/schedule): systemd-analyze verify on
# the service and timer (with ExecStart pointing at the built snipd; any
# warning about the units fails the test), the timer's calendar, the
# documented exit codes of `snipd rerank`, and the cron line's command.
# Without systemd-analyze the unit checks are skipped, the rest still runs.
set -u
R="${TEST_SRCDIR:?run me with bazel test}/snipwise"
SNIPD="$R/service/snipd"
S="$R/clients/schedule"
T="${TEST_TMPDIR:?}/schedule"
rm -rf "$T"
mkdir -p "$T/units"
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

cp "$S/snipwise-rerank.service" "$S/snipwise-rerank.timer" "$T/units/"
chmod u+w "$T/units/"*
sed -i "s#/usr/local/bin/snipd#$SNIPD#" "$T/units/snipwise-rerank.service"
grep -q '^Persistent=true$' "$T/units/snipwise-rerank.timer" ||
    fail "the timer is not Persistent=true"
grep -q '^Type=oneshot$' "$T/units/snipwise-rerank.service" ||
    fail "the service is not Type=oneshot"

if command -v systemd-analyze >/dev/null 2>&1; then
    if ! systemd-analyze verify --man=no "$T/units/snipwise-rerank.service" \
        "$T/units/snipwise-rerank.timer" >"$T/verify.out" 2>&1; then
        cat "$T/verify.out" >&2
        fail "systemd-analyze verify failed"
    fi
    # verify exits 0 on "ignoring" warnings; any line about our units fails.
    if grep -q "snipwise-rerank" "$T/verify.out"; then
        cat "$T/verify.out" >&2
        fail "systemd-analyze verify warned about the units"
    fi
    cal=$(sed -n 's/^OnCalendar=//p' "$T/units/snipwise-rerank.timer")
    systemd-analyze calendar "$cal" >"$T/cal.out" 2>&1 ||
        fail "OnCalendar=$cal does not parse: $(cat "$T/cal.out")"
    grep -q "02:30:00" "$T/cal.out" || fail "the timer is not at 02:30"
    echo "systemd-analyze verify: ok"
else
    echo "SKIP: systemd-analyze is not installed; unit files not verified"
fi

# The exit codes documented for monitoring: 2 when the data dir cannot be
# opened or is not a store, 0 for a store with teams (created by a short
# snipd serve run).
"$SNIPD" rerank --data-dir /proc/nonexistent/snipwise >"$T/bad.out" 2>&1
code=$?
[ "$code" -eq 2 ] || fail "snipd rerank on a bad dir exited $code, not 2: $(cat "$T/bad.out")"
"$SNIPD" rerank --data-dir "$T/data" --no-such-flag >"$T/flag.out" 2>&1
code=$?
[ "$code" -eq 2 ] || fail "snipd rerank with a bad flag exited $code, not 2"
# A mistyped (or empty) data dir is not a store: exit 2, nothing created.
mkdir -p "$T/empty"
"$SNIPD" rerank --data-dir "$T/empty" >"$T/empty.out" 2>&1
code=$?
[ "$code" -eq 2 ] || fail "snipd rerank on an empty dir exited $code, not 2"
[ -z "$(ls -A "$T/empty")" ] || fail "snipd rerank wrote into an empty dir"

# Only snipd serve creates a store: a short run makes the one the cron line
# below re-ranks.
"$SNIPD" serve --listen 127.0.0.1:0 --data-dir "$T/data" >"$T/serve.out" \
    2>"$T/serve.err" &
pid=$!
i=0
until grep -q "event=server.listening" "$T/serve.err"; do
    kill -0 "$pid" 2>/dev/null || fail "snipd serve exited: $(cat "$T/serve.err")"
    i=$((i + 1))
    [ "$i" -lt 600 ] || fail "snipd serve did not start: $(cat "$T/serve.err")"
    sleep 0.1
done
kill -TERM "$pid"
wait "$pid" || fail "snipd serve did not exit 0: $(cat "$T/serve.err")"

# The cron line: five time fields, the user, then the command, run here
# against a fresh data dir with the paths swapped for the test's own.
line=$(grep -v '^#' "$S/snipwise-rerank.cron" | grep -v '^SHELL=' | grep -v '^$')
[ "$(echo "$line" | wc -l)" -eq 1 ] || fail "expected one cron line"
set -f
set -- $line
set +f
[ "$1 $2 $3 $4 $5 $6" = "30 2 * * * snipwise" ] ||
    fail "unexpected schedule or user: $1 $2 $3 $4 $5 $6"
cmd=$(echo "$line" | cut -d' ' -f7-)
mkdir -p "$T/log"
cmd=$(echo "$cmd" | sed -e "s#/usr/local/bin/snipd#$SNIPD#" \
    -e "s#/var/lib/snipwise#$T/data#" -e "s#/var/log/snipwise#$T/log#" \
    -e "s#logger -t snipwise-rerank -p user.err#echo >$T/alert#")
/bin/sh -c "$cmd"
[ ! -e "$T/alert" ] || fail "rerank on a fresh store failed: $(cat "$T/log/rerank.log")"
[ -f "$T/log/rerank.log" ] || fail "the cron line wrote no log"
# The failure path raises the alert with the exit code.
badcmd=$(echo "$cmd" | sed -e "s#--data-dir $T/data#--data-dir /proc/nonexistent/x#")
/bin/sh -c "$badcmd"
grep -q "exit code 2" "$T/alert" || fail "the cron alert did not carry exit code 2"
echo "PASS"
