#!/bin/sh
# Installs every Debian package Snipwise needs to build, run and test.
# This is the one list; `make run`, `make test` and CI all call it. It is
# idempotent: when everything is present it only runs dpkg-query and exits.
set -eu

PKGS="
bazel-bootstrap
build-essential
clang
clang-format
libclang-rt-14-dev
pkg-config
git
libgrpc-dev
protobuf-compiler
protobuf-compiler-grpc
protobuf-c-compiler
libprotobuf-c-dev
liblmdb-dev
lmdb-utils
libhnswlib-dev
libgmime-3.0-dev
libpoppler-glib-dev
libzip-dev
libxml2-dev
libcurl4-gnutls-dev
libjansson-dev
libmicrohttpd-dev
libsystemd-dev
libopenblas-dev
liblapacke-dev
libcmocka-dev
libetpan-dev
libsodium-dev
dovecot-core
dovecot-imapd
haproxy
python3
python3-grpcio
python3-protobuf
python3-pytest
python3-hnswlib
python3-jsonschema
python3-pypdf2
python3-numpy
nghttp2-client
openssl
valgrind
chromium
thunderbird
xvfb
openbox
python3-venv
python3-pip
python3-wheel
prometheus
"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing="$missing $p"
    fi
done

# npm (for the tools of tools/npm): Debian's, unless one is installed.
if ! command -v npm >/dev/null 2>&1; then
    missing="$missing nodejs npm"
fi

if [ -n "$missing" ]; then
    echo "install_deps: installing:$missing" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq || echo "install_deps: apt-get update failed; trying the cached lists" >&2
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing >&2
fi

# Tools from the npm registry, exactly as tools/npm/package-lock.json pins
# them (integrity hashes checked by npm ci), into tools/npm/node_modules
# (ignored by git and Bazel). Skipped when the lock file is unchanged since
# the last install.
tools="$(dirname "$0")/../tools/npm"
stamp="$tools/node_modules/.installed-lock.json"
if ! cmp -s "$tools/package-lock.json" "$stamp" 2>/dev/null; then
    echo "install_deps: npm ci in tools/npm" >&2
    (cd "$tools" && npm ci --no-audit --no-fund --ignore-scripts >&2)
    cp "$tools/package-lock.json" "$stamp"
fi
