#!/usr/bin/env python3
"""The soak's bad neighbours (loadtest/soak.sh): at RATE datagrams per second for SECONDS,
from source addresses 127.0.1.1-127.0.1.254 (the well-behaved load comes from 127.0.0.1),
a mix of
  - malformed datagrams: random bytes, truncated STUN headers, lengths that lie;
  - ChannelData on channels nobody bound, Send indications without an allocation;
  - Allocate requests with a valid nonce and a wrong password (these sources get blocked);
  - allocations made properly and then abandoned: no Refresh, no delete, so they expire;
  - CreatePermission for forbidden peers (loopback, cloud metadata, private ranges).
Prints a JSON line of what it sent. Standard library only."""
import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import socket
import struct
import time

COOKIE = 0x2112A442


def attr(t, v):
    return struct.pack("!HH", t, len(v)) + v + b"\0" * ((4 - len(v) % 4) % 4)


def xor_address(host, port, tid):
    ip = socket.inet_aton(host)
    x = bytes(a ^ b for a, b in zip(ip, struct.pack("!I", COOKIE)))
    return b"\0\x01" + struct.pack("!H", port ^ (COOKIE >> 16)) + x


def message(method, attrs, tid, key=None):
    body = b"".join(attrs)
    if key is not None:
        header = struct.pack("!HHI", method, len(body) + 24, COOKIE) + tid
        mac = hmac.new(key, header + body, hashlib.sha1).digest()
        body += attr(0x0008, mac)
    return struct.pack("!HHI", method, len(body), COOKIE) + tid + body


def find(msg, t):
    at = 20
    while at + 4 <= len(msg):
        typ, ln = struct.unpack("!HH", msg[at:at + 4])
        if typ == t:
            return msg[at + 4:at + 4 + ln]
        at += 4 + ln + (4 - ln % 4) % 4
    return None


class Source:
    def __init__(self, index, server):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.1.%d" % index, 0))
        self.sock.setblocking(False)
        self.server = server
        self.nonce = None
        self.realm = b"hush"

    def send(self, data):
        try:
            self.sock.sendto(data, self.server)
        except OSError:
            pass

    def drain(self):
        while True:
            try:
                msg = self.sock.recv(2048)
            except OSError:
                return
            n = find(msg, 0x0015)
            if n:
                self.nonce = n
            r = find(msg, 0x0014)
            if r:
                self.realm = r


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", default="127.0.0.1:3478")
    p.add_argument("--secret", required=True)
    p.add_argument("--rate", type=float, default=200)
    p.add_argument("--seconds", type=float, default=60)
    a = p.parse_args()
    host, port = a.server.rsplit(":", 1)
    server = (host, int(port))
    sources = [Source(i, server) for i in range(1, 255)]
    rng = random.Random(1)
    sent = {}
    start = time.monotonic()
    n = 0
    udp = attr(0x0019, struct.pack("!I", 17 << 24))
    while time.monotonic() - start < a.seconds:
        due = int((time.monotonic() - start) * a.rate)
        while n < due:
            n += 1
            s = rng.choice(sources)
            tid = os.urandom(12)
            kind = rng.randrange(8)
            if kind == 0:
                data = os.urandom(rng.randrange(1, 600))
                name = "random_bytes"
            elif kind == 1:
                data = struct.pack("!HHI", 0x0003, rng.randrange(0, 65536), COOKIE) + tid[:rng.randrange(0, 12)]
                name = "truncated_stun"
            elif kind == 2:
                data = struct.pack("!HH", 0x4000 + rng.randrange(0x3FFF), 40) + os.urandom(40)
                name = "unbound_channel_data"
            elif kind == 3:
                data = message(0x0016, [attr(0x0012, xor_address("8.8.8.8", 53, tid)), attr(0x0013, b"x" * 100)], tid)
                name = "send_without_allocation"
            elif kind in (4, 5, 6):
                user = ("%d:soak" % (time.time() + 3600)).encode()
                if s.nonce is None:
                    data = message(0x0003, [udp], tid)
                    name = "challenge"
                else:
                    good = kind != 4
                    password = hmac.new(a.secret.encode(), user, hashlib.sha1).digest()
                    pw = base64.b64encode(password) if good else b"guessed"
                    key = hashlib.md5(user + b":" + s.realm + b":" + pw).digest()
                    auth = [attr(0x0006, user), attr(0x0014, s.realm), attr(0x0015, s.nonce)]
                    if kind == 6:  # a CreatePermission for a forbidden peer, from what may be an allocation
                        peer = rng.choice(["127.0.0.1", "169.254.169.254", "10.0.0.1", "0.0.0.0", "192.168.1.1"])
                        data = message(0x0008, [attr(0x0012, xor_address(peer, rng.randrange(1, 65536), tid))] + auth,
                                       tid, key)
                        name = "forbidden_peer"
                    else:
                        # Allocate and abandon (it expires), or guess a password (401, then blocked).
                        data = message(0x0003, [udp] + auth, tid, key)
                        name = "abandoned_allocate" if good else "wrong_password"
            else:
                data = struct.pack("!HHI", 0x0001, 8, COOKIE) + tid + struct.pack("!HHI", 0x0019, 200, 0)
                name = "lying_attribute_length"
            s.send(data)
            sent[name] = sent.get(name, 0) + 1
        for s in sources[n % 16::16]:
            s.drain()
        time.sleep(0.002)
    print(json.dumps({"sent": n, "by_kind": sent}))


if __name__ == "__main__":
    main()
