#!/bin/sh
# Installs the native messaging host manifest for the current user so that
# Thunderbird/Firefox (and, with --chromium EXTENSION_ID, Chromium) can
# start snipwise-nm. Usage:
#   install_manifest.sh /path/to/snipwise-nm [--chromium EXTENSION_ID]
set -eu
HERE=$(dirname "$0")
BIN=${1:?usage: install_manifest.sh /path/to/snipwise-nm [--chromium EXTENSION_ID]}
case "$BIN" in
/*) ;;
*) echo "install_manifest: give an absolute path to snipwise-nm" >&2; exit 2 ;;
esac
[ -x "$BIN" ] || { echo "install_manifest: $BIN is not executable" >&2; exit 2; }
put() { # template, directory
    mkdir -p "$2"
    sed -e "s#/usr/local/bin/snipwise-nm#$BIN#" ${3:+-e "s#EXTENSION_ID#$3#"} \
        "$1" >"$2/com.snipwise.nm.json"
    echo "installed $2/com.snipwise.nm.json"
}
# Thunderbird and Firefox on Linux both read ~/.mozilla/native-messaging-hosts.
put "$HERE/com.snipwise.nm.json" "$HOME/.mozilla/native-messaging-hosts"
if [ "${2:-}" = "--chromium" ]; then
    ID=${3:?--chromium needs the extension id}
    put "$HERE/com.snipwise.nm.chromium.json" \
        "$HOME/.config/chromium/NativeMessagingHosts" "$ID"
fi
