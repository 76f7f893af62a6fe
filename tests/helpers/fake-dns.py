#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""fake-dns.py - the tests' upstream resolver, written from RFC 1035 alone
(it shares no code with ztunnel-emulator's ldns-based proxy).

Usage: fake-dns.py LOG ADDR... (port 53 on each ADDR, UDP and TCP)

Answers every query for class IN: A hN.anything or x.hN.anything -> 192.0.2.N (N 1..254,
else 192.0.2.1), AAAA -> 2001:db8::N, other types: an empty NOERROR.
Names starting with "drop" get no reply; "slow" ones are answered after
0.3 s. One line per query goes to LOG: "PROTO ID NAME TYPE SOURCE".
"""
import re
import selectors
import socket
import struct
import sys
import time


def parse_question(msg):
    """(id, flags, name, qtype, qclass, end of question) or None."""
    if len(msg) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", msg[:6])
    if qd != 1 or flags & 0x8000:
        return None
    labels, pos = [], 12
    while True:
        if pos >= len(msg):
            return None
        n = msg[pos]
        pos += 1
        if n == 0:
            break
        if n > 63 or pos + n > len(msg):
            return None
        labels.append(msg[pos:pos + n].decode("ascii", "replace"))
        pos += n
    if pos + 4 > len(msg):
        return None
    qtype, qclass = struct.unpack("!HH", msg[pos:pos + 4])
    return qid, flags, ".".join(labels), qtype, qclass, pos + 4


def answer(msg):
    q = parse_question(msg)
    if q is None:
        return None, None
    qid, flags, name, qtype, qclass, end = q
    m = re.search(r"(?:^|\.)h(\d+)\.", name.lower())
    n = int(m.group(1)) if m and 1 <= int(m.group(1)) <= 254 else 1
    rdata = None
    if qtype == 1:
        rdata = bytes([192, 0, 2, n])
    elif qtype == 28:
        rdata = bytes.fromhex("20010db8" + "00" * 11) + bytes([n])
    an = 1 if rdata and qclass == 1 else 0
    rflags = 0x8000 | (flags & 0x0100) | 0x0080  # QR, RD copied, RA
    out = struct.pack("!HHHHHH", qid, rflags, 1, an, 0, 0) + msg[12:end]
    if an:
        out += struct.pack("!HHHIH", 0xC00C, qtype, 1, 60, len(rdata)) + rdata
    return out, q


class Server:
    def __init__(self, log, addrs):
        self.log = open(log, "a", buffering=1)
        self.sel = selectors.DefaultSelector()
        self.later = []  # (when, sock, data, addr)
        for a in addrs:
            fam = socket.AF_INET6 if ":" in a else socket.AF_INET
            u = socket.socket(fam, socket.SOCK_DGRAM)
            u.bind((a, 53))
            self.sel.register(u, selectors.EVENT_READ, ("udp", None))
            t = socket.socket(fam, socket.SOCK_STREAM)
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            t.bind((a, 53))
            t.listen(64)
            self.sel.register(t, selectors.EVENT_READ, ("listen", None))

    def note(self, proto, q, src):
        qid, _, name, qtype, _, _ = q
        self.log.write("%s %d %s %d %s\n" % (proto, qid, name, qtype, src[0]))

    def handle(self, proto, msg, reply_fn, src):
        out, q = answer(msg)
        if q is None:
            return
        self.note(proto, q, src)
        name = q[2].lower()
        if name.startswith("drop"):
            return
        if name.startswith("slow"):
            self.later.append((time.monotonic() + 0.3, reply_fn, out))
            return
        reply_fn(out)

    def on_udp(self, s):
        msg, src = s.recvfrom(65535)
        self.handle("udp", msg, lambda out: s.sendto(out, src), src)

    def on_tcp(self, c, buf):
        data = c.recv(65535)
        if not data:
            self.sel.unregister(c)
            c.close()
            return
        buf += data
        while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
            n = struct.unpack("!H", buf[:2])[0]
            msg, buf[:] = bytes(buf[2:2 + n]), buf[2 + n:]
            self.handle("tcp", msg,
                        lambda out: c.sendall(struct.pack("!H", len(out)) + out),
                        c.getpeername())

    def run(self):
        while True:
            now = time.monotonic()
            due = [x for x in self.later if x[0] <= now]
            self.later = [x for x in self.later if x[0] > now]
            for _, fn, out in due:
                try:
                    fn(out)
                except OSError:
                    pass
            timeout = min([x[0] for x in self.later], default=now + 1) - now
            for key, _ in self.sel.select(max(timeout, 0.01)):
                kind, buf = key.data
                if kind == "udp":
                    self.on_udp(key.fileobj)
                elif kind == "listen":
                    c, _ = key.fileobj.accept()
                    self.sel.register(c, selectors.EVENT_READ, ("tcp", bytearray()))
                else:
                    try:
                        self.on_tcp(key.fileobj, buf)
                    except OSError:
                        self.sel.unregister(key.fileobj)
                        key.fileobj.close()


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: fake-dns.py LOG ADDR...")
    Server(sys.argv[1], sys.argv[2:]).run()
