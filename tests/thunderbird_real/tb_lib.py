"""Helpers of the real-Thunderbird test: an Xvfb display with openbox, a
temporary HOME and Thunderbird profile (prefs that let an unsigned
extension load, one local mail account with an identity, Marionette on a
free loopback port), the Snipwise XPI built from clients/thunderbird and
placed in the profile's extensions/ directory, the native host registered
in HOME/.mozilla/native-messaging-hosts with its config in
HOME/.config/snipwise/nm.json, and Thunderbird itself. Every process is
started in its own session and killed (the whole group) at the end."""

import json
import os
import signal
import socket
import subprocess
import time
import zipfile

THUNDERBIRD = "/usr/bin/thunderbird"
XVFB = "/usr/bin/Xvfb"
OPENBOX = "/usr/bin/openbox"
EXT_ID = "snipwise@snipwise.example"
HOST_NAME = "com.snipwise.nm"
SCREEN = (1280, 1024)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def build_xpi(ext_dir, out_path):
    """Zips the extension's files (manifest.json at the top) into an XPI
    and returns the id from manifest.json's browser_specific_settings."""
    with open(os.path.join(ext_dir, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    ext_id = manifest["browser_specific_settings"]["gecko"]["id"]
    with zipfile.ZipFile(out_path, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(os.listdir(ext_dir)):
            full = os.path.join(ext_dir, name)
            if os.path.isfile(full) and name.split(".")[-1] in (
                    "json", "js", "html", "css", "svg"):
                z.write(full, name)
    return ext_id


# The prefs of the test profile. The extension is unsigned and sideloaded
# into the profile (signatures off, no scope auto-disabled); first-run
# pages, updates, telemetry and the default-client check stay quiet; one
# account of type "none" ("Local Folders"-like) with Chen's identity,
# composing plain text, holds the Inbox the test fills.
def prefs(marionette_port, rep_name, rep_email):
    p = {
        "xpinstall.signatures.required": False,
        "extensions.autoDisableScopes": 0,
        "extensions.enabledScopes": 15,
        "extensions.startupScanScopes": 15,
        "extensions.update.enabled": False,
        "extensions.getAddons.cache.enabled": False,
        "extensions.logging.enabled": True,
        "marionette.port": marionette_port,
        "remote.prefs.recommended": True,
        "app.update.auto": False,
        "app.update.checkInstallTime": False,
        "app.update.disabledForTesting": True,
        "browser.shell.checkDefaultBrowser": False,
        "mail.shell.checkDefaultClient": False,
        "mail.shell.checkDefaultMail": False,
        "mail.provider.suppress_dialog_on_startup": True,
        "mail.spotlight.firstRunDone": True,
        "mail.winsearch.firstRunDone": True,
        "mailnews.start_page.enabled": False,
        "mail.rights.override": True,
        "mail.biff.show_alert": False,
        "mail.biff.play_sound": False,
        "mail.inline_attachments": False,
        "mail.compose.attachment_reminder": False,
        "mail.tabs.drawInTitlebar": False,
        "datareporting.policy.dataSubmissionEnabled": False,
        "datareporting.healthreport.uploadEnabled": False,
        "toolkit.telemetry.reportingpolicy.firstRun": False,
        "toolkit.startup.max_resumed_crashes": -1,
        "browser.dom.window.dump.enabled": True,
        "devtools.console.stdout.chrome": True,
        "network.proxy.type": 0,
        "network.dns.disablePrefetch": True,
        "app.donation.eoy.version.viewed": 999,
        "mail.accountmanager.accounts": "account1",
        "mail.accountmanager.defaultaccount": "account1",
        "mail.accountmanager.localfoldersserver": "server1",
        "mail.account.account1.server": "server1",
        "mail.account.account1.identities": "id1",
        "mail.server.server1.type": "none",
        "mail.server.server1.hostname": "Local Folders",
        "mail.server.server1.userName": "nobody",
        "mail.server.server1.name": "Local Folders",
        "mail.server.server1.directory-rel": "[ProfD]Mail/Local Folders",
        "mail.identity.id1.fullName": rep_name,
        "mail.identity.id1.useremail": rep_email,
        "mail.identity.id1.valid": True,
        "mail.identity.id1.compose_html": False,
        "mail.identity.id1.reply_on_top": 0,
        "mail.identity.id1.sig_on_reply": False,
    }
    return "".join("user_pref(%s, %s);\n" % (json.dumps(k), json.dumps(v))
                   for k, v in sorted(p.items()))


def make_home(root, installer, nm_binary, nm_config):
    """A HOME with the native host registered for Thunderbird by the
    project's own installer (clients/nm/install_manifest.sh, which writes
    HOME/.mozilla/native-messaging-hosts/com.snipwise.nm.json) and the
    host's config in HOME/.config/snipwise/nm.json, mode 0600."""
    home = os.path.join(root, "home")
    os.makedirs(home)
    r = subprocess.run(["/bin/sh", installer, nm_binary],
                       env={"PATH": "/usr/bin:/bin", "HOME": home},
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    path = os.path.join(home, ".mozilla", "native-messaging-hosts",
                        HOST_NAME + ".json")
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    assert manifest["path"] == nm_binary, manifest
    assert EXT_ID in manifest["allowed_extensions"], manifest
    cdir = os.path.join(home, ".config", "snipwise")
    os.makedirs(cdir)
    cfg = os.path.join(cdir, "nm.json")
    with open(cfg, "w") as f:
        json.dump(nm_config, f)
    os.chmod(cfg, 0o600)
    return home


def make_profile(root, ext_dir, marionette_port, rep_name, rep_email):
    prof = os.path.join(root, "profile")
    os.makedirs(os.path.join(prof, "extensions"))
    os.makedirs(os.path.join(prof, "Mail", "Local Folders"))
    with open(os.path.join(prof, "user.js"), "w") as f:
        f.write(prefs(marionette_port, rep_name, rep_email))
    ext_id = build_xpi(ext_dir, os.path.join(prof, "extensions",
                                             "tmp.xpi"))
    os.rename(os.path.join(prof, "extensions", "tmp.xpi"),
              os.path.join(prof, "extensions", ext_id + ".xpi"))
    return prof


class Procs:
    """The processes of one run: Xvfb, openbox, Thunderbird. stop() kills
    each one's process group (each was started in a new session)."""

    def __init__(self, root):
        self.root = root
        self.procs = []  # (name, Popen)
        self.display = None

    def _log(self, name):
        return open(os.path.join(self.root, name + ".log"), "wb")

    def log_text(self, name, tail=6000):
        try:
            with open(os.path.join(self.root, name + ".log"), "rb") as f:
                return f.read().decode("utf-8", "replace")[-tail:]
        except OSError:
            return ""

    def start_xvfb(self, timeout=20):
        r, w = os.pipe()
        with self._log("xvfb") as log:
            p = subprocess.Popen(
                [XVFB, "-displayfd", str(w), "-screen", "0",
                 "%dx%dx24" % SCREEN, "-nolisten", "tcp", "-noreset"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                pass_fds=(w,), start_new_session=True)
        os.close(w)
        self.procs.append(("xvfb", p))
        end = time.monotonic() + timeout
        buf = b""
        import select
        while not buf.endswith(b"\n"):
            left = end - time.monotonic()
            if left <= 0 or p.poll() is not None:
                os.close(r)
                raise RuntimeError("Xvfb did not start:\n" +
                                   self.log_text("xvfb"))
            ready, _, _ = select.select([r], [], [], left)
            if ready:
                chunk = os.read(r, 64)
                if not chunk:
                    break
                buf += chunk
        os.close(r)
        self.display = ":" + buf.decode().strip()
        return self.display

    def env(self, home):
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": home,
            "DISPLAY": self.display,
            "TMPDIR": os.path.join(self.root, "tmp"),
            "XDG_RUNTIME_DIR": os.path.join(self.root, "run"),
            "XDG_CONFIG_HOME": os.path.join(home, ".config"),
            "XDG_CACHE_HOME": os.path.join(home, ".cache"),
            "MOZ_CRASHREPORTER_DISABLE": "1",
            "MOZ_DISABLE_AUTO_SAFE_MODE": "1",
            "MOZ_NO_REMOTE": "1",
            "NO_AT_BRIDGE": "1",
            "LANG": "C.UTF-8",
        }
        # Under --config=asan the host (started by Thunderbird) inherits
        # the sanitizer options from here.
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        for k in ("TMPDIR", "XDG_RUNTIME_DIR"):
            os.makedirs(env[k], mode=0o700, exist_ok=True)
        return env

    def start_openbox(self, home):
        with self._log("openbox") as log:
            p = subprocess.Popen([OPENBOX], env=self.env(home),
                                 stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=log, start_new_session=True)
        self.procs.append(("openbox", p))

    def start_thunderbird(self, home, profile):
        with self._log("thunderbird") as log:
            p = subprocess.Popen(
                [THUNDERBIRD, "--profile", profile, "--no-remote",
                 "--marionette", "--remote-allow-system-access"],
                env=self.env(home), stdin=subprocess.DEVNULL, stdout=log,
                stderr=log, start_new_session=True)
        self.procs.append(("thunderbird", p))
        return p

    def stop(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            # Children of the group (content processes, the native host)
            # may outlive their leader: kill whatever is left of it.
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        self.procs = []
