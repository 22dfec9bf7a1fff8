#!/bin/sh
# Checks `make install` (dist/install.sh, run here on this test's runfiles
# binaries with DESTDIR=$TEST_TMPDIR/root PREFIX=/usr): every file lands
# where docs/OPERATIONS.md says, with its mode; the installed units pass
# `systemd-analyze verify` (in the staged root, so ExecStart must name the
# installed snipd) and score at most 1.5 in `systemd-analyze security`;
# snipd.service is Type=notify with the snipwise user and StateDirectory;
# the sysusers.d file creates that user; the installed snipd.conf parses;
# a second install keeps an edited config; nothing snipd loads asks for an
# executable stack (MemoryDenyWriteExecute=yes); and the man pages render
# without warnings and list every flag of `snipd --help` and every command
# of `snipctl --help` (and no flag snipd does not have).
set -u
R="${TEST_SRCDIR:?run me with bazel test}/snipwise"
T="${TEST_TMPDIR:?}/install"
D="$T/root"
rm -rf "$T"
mkdir -p "$T"
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

DESTDIR="$D" PREFIX=/usr SYSCONFDIR=/etc sh "$R/dist/install.sh" \
    "$R/service/snipd" "$R/clients/snipctl/snipctl" \
    "$R/clients/nm/snipwise-nm" "$R" >"$T/install.out" 2>&1 ||
    fail "install.sh failed: $(cat "$T/install.out")"

# mode path: each installed file and its mode.
while read -r mode path; do
    [ -f "$D$path" ] || fail "not installed: $path"
    got=$(stat -c %a "$D$path")
    [ "$got" = "$mode" ] || fail "$path has mode $got, not $mode"
done <<'LIST'
755 /usr/bin/snipd
755 /usr/bin/snipctl
755 /usr/bin/snipwise-nm
644 /usr/share/man/man8/snipd.8
644 /usr/share/man/man1/snipctl.1
644 /usr/lib/systemd/system/snipd.service
644 /usr/lib/systemd/system/snipwise-rerank.service
644 /usr/lib/systemd/system/snipwise-rerank.timer
644 /usr/lib/sysusers.d/snipwise.conf
644 /etc/snipwise/snipd.conf
644 /usr/lib/mozilla/native-messaging-hosts/com.snipwise.nm.json
644 /usr/share/doc/snipwise/OPERATIONS.md
LIST
U="$D/usr/lib/systemd/system"
# The paths were rewritten to PREFIX=/usr.
grep -q '^ExecStart=/usr/bin/snipd serve --config /etc/snipwise/snipd.conf$' \
    "$U/snipd.service" || fail "snipd.service ExecStart: $(grep ExecStart "$U/snipd.service")"
grep -q '^ExecStart=/usr/bin/snipd rerank --config /etc/snipwise/snipd.conf$' \
    "$U/snipwise-rerank.service" || fail "rerank ExecStart not rewritten"
grep -q '"path": "/usr/bin/snipwise-nm"' \
    "$D/usr/lib/mozilla/native-messaging-hosts/com.snipwise.nm.json" ||
    fail "the native messaging manifest does not name /usr/bin/snipwise-nm"
if cat "$U"/snipd.service "$U"/snipwise-rerank.* "$D/etc/snipwise/snipd.conf" |
    grep -v '^#' | grep -q /usr/local; then
    fail "an installed unit or config still names /usr/local"
fi

# What the issue asks of the units.
for want in Type=notify User=snipwise Group=snipwise StateDirectory=snipwise \
    MemoryDenyWriteExecute=yes NoNewPrivileges=yes ProtectSystem=strict \
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" \
    SystemCallFilter=@system-service CapabilityBoundingSet=; do
    grep -qx "$want" "$U/snipd.service" || fail "snipd.service lacks $want"
done
for want in User=snipwise "After=network.target snipd.service"; do
    grep -qx "$want" "$U/snipwise-rerank.service" ||
        fail "snipwise-rerank.service lacks $want"
done

# The installed config file parses (the file is read before --help is
# acted on, so a bad key would exit 2 here).
"$D/usr/bin/snipd" --config "$D/etc/snipwise/snipd.conf" --help \
    >"$T/help.out" 2>"$T/conf.err" ||
    fail "the installed snipd.conf does not parse: $(cat "$T/conf.err")"
grep -qx 'data-dir = /var/lib/snipwise' "$D/etc/snipwise/snipd.conf" ||
    fail "snipd.conf does not put the data in /var/lib/snipwise"

# A second install keeps an edited config and puts the default beside it.
echo "threads = 4" >>"$D/etc/snipwise/snipd.conf"
DESTDIR="$D" PREFIX=/usr sh "$R/dist/install.sh" "$R/service/snipd" \
    "$R/clients/snipctl/snipctl" "$R/clients/nm/snipwise-nm" "$R" \
    >"$T/install2.out" 2>&1 || fail "second install failed"
grep -qx "threads = 4" "$D/etc/snipwise/snipd.conf" ||
    fail "a second install overwrote the edited snipd.conf"
[ -f "$D/etc/snipwise/snipd.conf.dist" ] || fail "no snipd.conf.dist"

if command -v systemd-analyze >/dev/null 2>&1 && [ -d /usr/lib/systemd/system ]; then
    # The staged root needs the distribution's units (sysinit.target, ...)
    # beside ours; they go to /lib, another directory of the search path.
    # So does /bin/kill (ExecReload=); both are on any target system.
    mkdir -p "$D/lib/systemd/system" "$D/bin"
    cp -a /usr/lib/systemd/system/. "$D/lib/systemd/system/" 2>/dev/null
    cp /bin/kill "$D/bin/kill"
    if ! systemd-analyze verify --man=no --root="$D" snipd.service \
        snipwise-rerank.service snipwise-rerank.timer >"$T/verify.out" 2>&1; then
        cat "$T/verify.out" >&2
        fail "systemd-analyze verify failed on the installed units"
    fi
    if grep -Eq "snipd|snipwise" "$T/verify.out"; then
        cat "$T/verify.out" >&2
        fail "systemd-analyze verify warned about the installed units"
    fi
    for u in snipd.service snipwise-rerank.service; do
        if ! systemd-analyze security --offline=true --root="$D" \
            --threshold=15 "$u" >"$T/security.out" 2>&1; then
            grep -v '^✓' "$T/security.out" >&2
            fail "$u: exposure above 1.5 in systemd-analyze security"
        fi
        tail -1 "$T/security.out"
    done
    echo "systemd-analyze verify and security: ok"
else
    echo "SKIP: systemd-analyze is not installed; units not verified"
fi
if command -v systemd-sysusers >/dev/null 2>&1; then
    systemd-sysusers --root="$D" --dry-run >"$T/sysusers.out" 2>&1 ||
        fail "systemd-sysusers: $(cat "$T/sysusers.out")"
    grep -q "Creating user 'snipwise'" "$T/sysusers.out" ||
        fail "the sysusers.d file does not create snipwise: $(cat "$T/sysusers.out")"
fi

# MemoryDenyWriteExecute=yes kills a process that maps W+X memory; an
# executable stack (GNU_STACK RWE) in snipd or any library it loads would
# make the loader do so.
if command -v readelf >/dev/null 2>&1; then
    for l in "$R/service/snipd" $(ldd "$R/service/snipd" | awk '/=>/ { print $3 }'); do
        flags=$(readelf -lW "$l" | awk '/GNU_STACK/ { print $7 }')
        case "$flags" in *E*) fail "$l wants an executable stack ($flags)" ;; esac
    done
fi

# The man pages: no groff warnings, and in step with --help.
M8="$D/usr/share/man/man8/snipd.8"
M1="$D/usr/share/man/man1/snipctl.1"
if command -v groff >/dev/null 2>&1; then
    for m in "$M8" "$M1"; do
        groff -t -man -Tutf8 -ww -z "$m" >"$T/groff.out" 2>&1 ||
            fail "groff failed on $m"
        [ ! -s "$T/groff.out" ] || fail "groff warns on $m: $(cat "$T/groff.out")"
    done
fi
"$R/service/snipd" --help | sed -n 's/^  \(--[a-z-]*\) .*/\1/p' | sort >"$T/flags.help"
sed -n 's/^\.BI \\-\\-\([a-z\\-]*\) .*/--\1/p' "$M8" | sed 's/\\-/-/g' |
    sort >"$T/flags.man"
[ "$(wc -l <"$T/flags.help")" -gt 30 ] || fail "snipd --help lists too few flags"
diff "$T/flags.help" "$T/flags.man" >"$T/flags.diff" ||
    fail "snipd.8 OPTIONS differ from snipd --help (< help only, > man only): $(cat "$T/flags.diff")"
sed 's/\\-/-/g' "$M8" >"$T/snipd.8.txt"
for env in $("$R/service/snipd" --help | sed -n 's/^ *env \(SNIPD_[A-Z_]*\)$/\1/p'); do
    grep -q "fB$env\\\\fR" "$T/snipd.8.txt" || fail "snipd.8 does not name $env"
done
for cmd in serve check rerank reextract backup restore help; do
    grep -Eq "^\.BR? $cmd( |\$)" "$T/snipd.8.txt" || fail "snipd.8 does not describe $cmd"
done
"$R/clients/snipctl/snipctl" --help |
    sed -n '/^commands:/,/^exit codes/p' |
    sed -n 's/^  \([a-z][a-z-]*\( [a-z][a-z-]*\)\{0,1\}\).*/\1/p' |
    sort -u >"$T/cmds.help"
[ "$(wc -l <"$T/cmds.help")" -gt 20 ] || fail "snipctl --help lists too few commands"
sed 's/\\-/-/g' "$M1" >"$T/snipctl.1.txt"
while read -r cmd; do
    grep -Eq "^\.B $cmd( |\$)" "$T/snipctl.1.txt" ||
        fail "snipctl.1 does not list the command '$cmd'"
done <"$T/cmds.help"
echo "PASS"
