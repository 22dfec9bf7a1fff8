#!/bin/sh
# Installs Snipwise from built binaries: `make install` calls it with the
# binaries under bazel-bin, tests/schedule/verify_install.sh with those in
# its runfiles (a test cannot call bazel). Usage:
#   dist/install.sh SNIPD SNIPCTL SNIPWISE_NM SRCDIR
# SRCDIR is the source tree (dist/, docs/, clients/schedule/). The
# environment sets where: DESTDIR (staging root, default empty), PREFIX
# (default /usr/local) and SYSCONFDIR (default /etc). Installed:
#   PREFIX/bin/snipd, snipctl, snipwise-nm
#   PREFIX/share/man/man8/snipd.8, man1/snipctl.1
#   PREFIX/lib/systemd/system/snipd.service, snipwise-rerank.service and
#     .timer, with /usr/local/bin and /etc rewritten to the install's paths
#   PREFIX/lib/sysusers.d/snipwise.conf (the snipwise user)
#   SYSCONFDIR/snipwise/snipd.conf (kept when it exists: an edited config
#     is never overwritten; the new default goes beside it as .dist)
#   PREFIX/lib/mozilla/native-messaging-hosts/com.snipwise.nm.json
#   PREFIX/share/doc/snipwise/ (OPERATIONS.md, the cron line)
# On the live system (DESTDIR empty) as root it also creates the user
# (systemd-sysusers) and reloads systemd, so `systemctl enable --now
# snipd.service snipwise-rerank.timer` is the only step left.
set -eu
[ $# -eq 4 ] || {
    echo "usage: $0 SNIPD SNIPCTL SNIPWISE_NM SRCDIR" >&2
    exit 2
}
SNIPD=$1 SNIPCTL=$2 NM=$3 SRC=$4
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
SYSCONFDIR=${SYSCONFDIR:-/etc}
case "$PREFIX$SYSCONFDIR" in
*'#'* | *' '*)
    echo "install: PREFIX and SYSCONFDIR must not hold '#' or blanks" >&2
    exit 2
    ;;
esac
case "$PREFIX" in /*) ;; *)
    echo "install: PREFIX must be absolute: $PREFIX" >&2
    exit 2
    ;;
esac
for f in "$SNIPD" "$SNIPCTL" "$NM"; do
    [ -x "$f" ] || {
        echo "install: not an executable: $f (build first)" >&2
        exit 2
    }
done

BINDIR=$PREFIX/bin
UNITDIR=$PREFIX/lib/systemd/system
SYSUSERSDIR=$PREFIX/lib/sysusers.d
MANDIR=$PREFIX/share/man
DOCDIR=$PREFIX/share/doc/snipwise
CONFDIR=$SYSCONFDIR/snipwise

# subst SRC DST MODE: copy with the built-in paths replaced by this
# install's.
subst() {
    mkdir -p "$(dirname "$2")"
    sed -e "s#/usr/local/bin/#$BINDIR/#g" \
        -e "s#/etc/snipwise/#$CONFDIR/#g" \
        -e "s#/usr/share/doc/snipwise#$DOCDIR#g" "$1" >"$2.tmp"
    chmod "$3" "$2.tmp"
    mv -f "$2.tmp" "$2"
}

D=$DESTDIR
install -d -m 0755 "$D$BINDIR" "$D$UNITDIR" "$D$SYSUSERSDIR" \
    "$D$MANDIR/man1" "$D$MANDIR/man8" "$D$DOCDIR" "$D$CONFDIR"
install -m 0755 "$SNIPD" "$D$BINDIR/snipd"
install -m 0755 "$SNIPCTL" "$D$BINDIR/snipctl"
install -m 0755 "$NM" "$D$BINDIR/snipwise-nm"
subst "$SRC/docs/man/snipd.8" "$D$MANDIR/man8/snipd.8" 0644
subst "$SRC/docs/man/snipctl.1" "$D$MANDIR/man1/snipctl.1" 0644
subst "$SRC/dist/snipd.service" "$D$UNITDIR/snipd.service" 0644
subst "$SRC/clients/schedule/snipwise-rerank.service" \
    "$D$UNITDIR/snipwise-rerank.service" 0644
subst "$SRC/clients/schedule/snipwise-rerank.timer" \
    "$D$UNITDIR/snipwise-rerank.timer" 0644
install -m 0644 "$SRC/dist/snipwise.sysusers" "$D$SYSUSERSDIR/snipwise.conf"
# The native messaging host, system-wide for Thunderbird and Firefox.
subst "$SRC/clients/nm/com.snipwise.nm.json" \
    "$D$PREFIX/lib/mozilla/native-messaging-hosts/com.snipwise.nm.json" 0644
subst "$SRC/docs/OPERATIONS.md" "$D$DOCDIR/OPERATIONS.md" 0644
subst "$SRC/clients/schedule/snipwise-rerank.cron" \
    "$D$DOCDIR/snipwise-rerank.cron" 0644
# The config may name key files: readable by root and the snipwise group
# only once the group exists; 0644 holds no secret by default.
if [ -e "$D$CONFDIR/snipd.conf" ]; then
    subst "$SRC/dist/snipd.conf" "$D$CONFDIR/snipd.conf.dist" 0644
    echo "install: kept $D$CONFDIR/snipd.conf; the default is snipd.conf.dist" >&2
else
    subst "$SRC/dist/snipd.conf" "$D$CONFDIR/snipd.conf" 0644
fi

if [ -z "$D" ] && [ "$(id -u)" -eq 0 ]; then
    if command -v systemd-sysusers >/dev/null 2>&1; then
        systemd-sysusers "$SYSUSERSDIR/snipwise.conf"
    fi
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        systemctl daemon-reload
    fi
fi
echo "install: snipd, snipctl, snipwise-nm in $D$BINDIR; units in $D$UNITDIR"
