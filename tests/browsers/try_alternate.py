#!/usr/bin/python3
"""300 Try Alternate with real WebRTC clients: headless Chromium and Firefox ESR from Debian.

  tests/browsers/try_alternate.py BUILD_DIR [chromium] [firefox]

Two hush relays share a secret; the first holds one allocation at most (--max-allocations 1)
and names the second with --alternate-server. A page (page.html) opens two relay-only peer
connections: A gathers first and takes the first relay's allocation, then B is refused with
300 and must get its relayed candidate from the second; A opens a data channel to B through
both relays and B echoes 50 messages. Each browser is tried over TURN/UDP and TURN/TCP, given
the first relay alone (the redirect must carry it) and given both relays' URIs (the advice
docs/scaling.md gives for clients that do not follow).

The relays, the page's HTTP server and the browser run in a network namespace of their own
(re-run under `unshare --net`) whose veth interface holds the relays' addresses: not loopback,
because libwebrtc refuses to be redirected to a loopback address (TurnPort::SetAlternateServer,
Chromium bug 649118), and Firefox gathers nothing without a default route. Needs root; exits
77 (skipped) without it or without the browsers. Run by ctest as `browsers.try_alternate`.
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
FIRST, SECOND = "198.51.100.1", "198.51.100.2"  # TEST-NET-2, on the namespace's veth
MESSAGES = 50
BROWSERS = {"chromium": "chromium", "firefox": "firefox-esr"}
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def skip(why):
    print("SKIPPED: " + why)
    sys.exit(77)


def enter_network_namespace():
    if os.environ.get("HUSH_BROWSER_NETNS") == "1":
        for cmd in ["ip link set lo up", "ip link add d0 type veth peer name d1", "ip link set d1 up",
                    "ip addr add %s/24 dev d0" % FIRST, "ip addr add %s/24 dev d0" % SECOND, "ip link set d0 up",
                    "ip route add default dev d0"]:
            subprocess.run(cmd.split(), check=True)
        return
    if os.geteuid() != 0:
        skip("needs root for a network namespace")
    env = dict(os.environ, HUSH_BROWSER_NETNS="1")
    sys.exit(subprocess.run(["unshare", "--net", "--", sys.executable] + sys.argv, env=env).returncode)


class Relay:
    def __init__(self, binary, ip, ports, secret_file, extra):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((ip, 0))
            self.port = s.getsockname()[1]
        self.args = [binary, "--listen", "%s:%d" % (ip, self.port), "--relay-ip", ip, "--relay-ports", ports,
                     "--threads", "1", "--secret-file", secret_file] + extra
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(100):  # up once it answers a STUN Binding
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(0.05)
                s.sendto(bytes.fromhex("000100002112a442") + os.urandom(12), (ip, self.port))
                try:
                    s.recv(1500)
                    return
                except OSError:
                    pass
        raise RuntimeError("relay did not start: " + " ".join(self.args))

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self):
        # SIGINT: at once. SIGTERM would drain, waiting up to --drain-timeout for allocations
        # that a browser killed before its Refresh(0) left behind.
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class PageServer(http.server.ThreadingHTTPServer):
    """Serves page.html and takes the page's POST /result."""

    def __init__(self):
        self.result, self.arrived = None, threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = open(os.path.join(HERE, "page.html"), "rb").read()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                server.result = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(204)
                self.end_headers()
                server.arrived.set()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def run(self, browser, query, timeout=60):
        """Opens the page in a fresh profile; the page's report, or None, and the browser's output."""
        self.result = None
        self.arrived.clear()
        url = "http://127.0.0.1:%d/page.html?%s" % (self.server_address[1], urllib.parse.urlencode(query))
        with tempfile.TemporaryDirectory() as profile:
            if browser == "chromium":
                cmd = ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                       "--user-data-dir=" + profile, url]
            else:
                with open(os.path.join(profile, "user.js"), "w") as f:
                    for pref in ['"browser.shell.checkDefaultBrowser", false',
                                 '"datareporting.policy.dataSubmissionEnabled", false',
                                 '"toolkit.telemetry.reportingpolicy.firstRun", false',
                                 '"browser.aboutwelcome.enabled", false', '"app.update.enabled", false']:
                        f.write("user_pref(%s);\n" % pref)
                cmd = ["firefox-esr", "--headless", "--no-remote", "--profile", profile, url]
            log = tempfile.TemporaryFile()
            p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                self.arrived.wait(timeout)
            finally:
                os.killpg(p.pid, 9)
                p.wait()
            log.seek(0)
            return self.result, log.read().decode(errors="replace")


def relayed_on(candidates):
    """The addresses of the relayed candidates among candidate lines."""
    out = []
    for c in candidates:
        f = c.split()
        if len(f) > 7 and f[6] == "typ" and f[7] == "relay":
            out.append(f[4])
    return out


def main():
    enter_network_namespace()
    build = sys.argv[1]
    browsers = sys.argv[2:] or list(BROWSERS)
    missing = [BROWSERS[b] for b in browsers if shutil.which(BROWSERS[b]) is None]
    if missing:
        skip("not installed: " + " ".join(missing) + " (deploy/install-deps.sh test installs them)")
    binary = os.path.abspath(os.path.join(build, "hush-relay"))
    for b in browsers:
        print(subprocess.run([BROWSERS[b], "--version"], capture_output=True, text=True).stdout.strip())
    secret = base64.b64encode(os.urandom(24)).decode()
    pages = PageServer()
    with tempfile.NamedTemporaryFile("w", suffix=".secret") as secret_file:
        secret_file.write(secret + "\n")
        secret_file.flush()
        user = "%d:browser" % (time.time() + 600)
        password = base64.b64encode(hmac.new(secret.encode(), user.encode(), hashlib.sha1).digest()).decode()
        for browser in browsers:
            for transport in ["udp", "tcp"]:
                for given in ["the first relay", "both relays"]:
                    # Relayed ports far from the other tests' and from each other: each relay
                    # permits the other's address (TEST-NET-2 is denied by default) but never a
                    # port in its own --relay-ports.
                    second = Relay(binary, SECOND, "65510-65519", secret_file.name, ["--allow-peer", FIRST + "/32"])
                    first = Relay(binary, FIRST, "65500-65509", secret_file.name,
                                  ["--allow-peer", SECOND + "/32", "--max-allocations", "1",
                                   "--alternate-server", "%s:%d" % (SECOND, second.port)])
                    uri = lambda r, ip: "turn:%s:%d?transport=%s" % (ip, r.port, transport)
                    b_uris = uri(first, FIRST) + ("," + uri(second, SECOND) if given == "both relays" else "")
                    started = time.monotonic()
                    try:
                        r, log = pages.run(browser, {"a": uri(first, FIRST), "b": b_uris, "u": user, "p": password,
                                                     "n": MESSAGES, "wait": 20000})
                    finally:
                        first.stop()
                        second.stop()
                    what = "%s, TURN/%s, B given %s" % (browser, transport.upper(), given)
                    if r is None:
                        check(False, what + ": the page reported nothing within 60 s\n" + log[-3000:])
                        continue
                    a_on, b_on = relayed_on(r["a"]), relayed_on(r["b"])
                    ok = (a_on and set(a_on) == {FIRST} and SECOND in b_on and r["open"] and r["echoed"] == MESSAGES)
                    check(ok, "%s: A relayed on %s, B on %s, %d of %d messages echoed through both relays "
                              "(%.1f s with the browser's start)" % (what, a_on, b_on, r["echoed"], MESSAGES,
                                                                     time.monotonic() - started))
                    if not ok:
                        print(json.dumps(r, indent=1))
                        print("first relay:\n" + first.output()[-2000:] + "\nsecond relay:\n" + second.output()[-2000:])
    if failures:
        print("%d failed" % len(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
