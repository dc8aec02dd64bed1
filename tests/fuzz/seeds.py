#!/usr/bin/env python3
"""Writes the hand-made seeds of the fuzz targets that take structured input into
tests/fuzz/corpus/<target>/seed_*: programs for turn_session (see its Reader and step()),
streams for stream_framing, and so on. The campaign (campaign.sh) grows and minimises the
corpora from these; run this again only to reset them."""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed_" + name), "wb") as f:
        f.write(data)


# turn_session: [config] then steps. A request step is
# [op][how][user][tid x12][mask][more]<attributes by mask>[extra]<by extra>.
def req(op, mask=0, more=0, attrs=b"", extra=0, how=0, user=0, tid=1):
    return bytes([op, how, user]) + bytes([tid]) * 12 + bytes([mask, more]) + attrs + bytes([extra])


def peer(pick=0, port_sel=0, count=0):
    return bytes([count, pick, port_sel])


T, L, RAF, AAF, EVEN, TOKEN, PEER, CHAN = 1, 2, 4, 8, 16, 32, 64, 128


def client(op, c):
    return (c << 4) | op


udp_call = (req(client(0, 0), T) + req(client(4, 0), PEER, attrs=peer(), tid=2)
            + req(client(6, 0), PEER | CHAN, attrs=peer() + b"\x00", tid=3)
            + bytes([0x0A, 0x00, 8]) + b"media..."  # ChannelData on 0x4000
            + bytes([0x0B, 0x00, 0x00, 0x00, 8]) + b"answer.."  # from 8.8.8.8:7000
            + req(client(9, 0), PEER, attrs=peer(), extra=0x04, tid=4)[:-1] + bytes([0x04, 5]) + b"hello"
            + bytes([0x0E, 0x85])  # 301 s: the permission expires
            + req(client(3, 0), L, attrs=b"\x01", tid=5)  # Refresh, 30 s
            + req(client(3, 0), L, attrs=b"\x00", tid=6))  # Refresh 0: delete
write("turn_session", "udp_call", b"\x00" + udp_call)
write("turn_session", "udp_call_smoothing_cover", b"\x02" + udp_call)
write("turn_session", "udp_call_no_kernel_bandwidth_cap", b"\x28" + udp_call)
tcp = (req(client(0, 2), T, more=1) + req(client(4, 2), PEER, attrs=peer(), tid=2)
       + req(client(7, 2), PEER, attrs=peer(), tid=3)
       + bytes([0x2D, 0x07, 0x00, 0x00])  # Connect succeeds; a peer connects
       + req(client(8, 2), 0, extra=0x01, tid=4)[:-1] + bytes([0x01, 0x00]))  # ConnectionBind
write("turn_session", "tcp_connect", b"\x00" + tcp)
dual = req(client(0, 1), T | AAF) + req(client(4, 1), PEER, attrs=bytes([0, 2, 0]), tid=2)
write("turn_session", "dual_v6", b"\x00" + dual)
even = (req(client(0, 0), T | EVEN, more=0x10) + req(client(0, 3), T | TOKEN, attrs=b"\x00", tid=2)
        + bytes([0x0E, 0x83]))  # 31 s: the reservation lapses
write("turn_session", "even_port_reservation", b"\x00" + even)
relay_only = (req(client(0, 0), T) + req(client(0, 3), T, tid=2)
              + req(client(4, 0), PEER, attrs=peer(pick=0x81, port_sel=1), tid=3)
              + req(client(4, 3), PEER, attrs=peer(pick=0x80, port_sel=1), tid=4)
              + req(client(6, 0), PEER | CHAN, attrs=peer(pick=0x81) + b"\x01", tid=5)
              + bytes([0x0A, 0x01, 4]) + b"ping")
write("turn_session", "relay_only_external_ip", b"\x04" + relay_only)
write("turn_session", "relay_only", b"\x00" + relay_only)
forbidden = b"".join(req(client(4, 0), PEER, attrs=peer(pick=p, port_sel=s), tid=10 + p)
                     for p in (3, 4, 5, 6, 7, 11, 13, 14) for s in (1, 3))
write("turn_session", "forbidden_peers", b"\x00" + req(client(0, 0), T) + forbidden)
guesses = b"".join(req(client(0, 0), T, how=0x1C, tid=20 + i) for i in range(8))
write("turn_session", "password_guesses", b"\x00" + guesses + req(client(0, 0), T, tid=40))
write("turn_session", "drain_alternate", b"\x10" + bytes([0x0F, 0x0C]) + req(client(0, 0), T) + bytes([0x0F, 0x15]))

write("turn_session", "udp_call_outbox_of_two", b"\x40" + udp_call)
write("turn_session", "dual_without_ipv6", b"\x80" + dual)
# Quotas: client 5 shares client 0's address (per source: 1), then five allocations of two
# users (total: 4), then a fourth of alice's (per user: 3).
quota = b"".join(req(client(0, c), T, user=u, tid=50 + c)
                 for c, u in ((0, 0), (5, 1), (2, 0), (3, 1), (1, 1), (4, 1), (4, 0)))
write("turn_session", "quotas", b"\x00" + quota)
# Five channels on one allocation (at most four).
channels = req(client(0, 0), T) + b"".join(
    req(client(6, 0), PEER | CHAN, attrs=peer(pick=i, port_sel=0) + bytes([i]), tid=60 + i) for i in range(5))
write("turn_session", "channels_full", b"\x00" + channels)

# stream_framing: STUN and ChannelData back to back, with ChannelData padding.
stun_req = struct.pack("!HHI12s", 0x0001, 8, 0x2112A442, b"\x01" * 12) + struct.pack("!HHI", 0x0019, 4, 17 << 24)
channel = struct.pack("!HH", 0x4000, 5) + b"media\x00\x00\x00"
write("stream_framing", "stun_then_channel", stun_req + channel + stun_req)
write("stream_framing", "garbage_after_frame", channel + b"\xff\xff\xff\xff")
write("stream_framing", "partial", stun_req + channel[:6])

write("rest_username", "rest", b"\x00" + b"1800000000:alice")
write("rest_username", "expired", b"\x00" + b"1600000000")
write("rest_username", "wrong_password", b"\x01" + b"1800000000:bob")
write("secret_file", "rotation", b"# rotated 2026-12-01\nnew-secret\r\n\n  old-secret \t\n")
write("credential_api", "good", b"GET\x01/?service=turn&username=caller&ttl=600\x01Bearer key-one")
write("credential_api", "query_key", b"GET\x01/?service=turn&key=key-two&ttl=10\x01")
write("credential_api", "escapes", b"GET\x01/?service=%74urn&username=a%20b+c\x01Bearer key-one")
write("config_file", "toml", b'listen = ["127.0.0.1:3478"]\nrealm = "example.org"\nthreads = 2\n'
      b'deny-peer = ["8.8.4.0/24"]\nblock-after = 5\nrelay-ports = "61000-62000"\n')
write("config_file", "ini", b"[default]\nlisten=127.0.0.1:3478\nsoftware=hush\nunauth-rate=10\n")

# dtls_listen: [source][len hi][len lo][datagram]; a real DTLS 1.2 ClientHello (OpenSSL).
hello_path = sys.argv[1] if len(sys.argv) > 1 else None
if hello_path:
    hello = open(hello_path, "rb").read()
    frame = lambda src, d: bytes([src]) + struct.pack("!H", len(d)) + d
    write("dtls_listen", "client_hello", frame(0, hello))
    write("dtls_listen", "client_hello_twice_two_sources", frame(0, hello) + frame(1, hello) + frame(0x81, hello))
