#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""dns-client.py - a DNS client for the tests, from RFC 1035 alone.

Usage: dns-client.py [--tcp] [--type N] [--timeout S] SERVER PORT NAME...
       dns-client.py --raw HEX [--tcp] [--timeout S] SERVER PORT

Sends one query per NAME, all at once (UDP: one socket; TCP: one
connection, pipelined), each with a distinct random id, and prints one line
per reply: "NAME rcode=R id=ok answers=A,B" where id=ok means the reply's id
and question are those of that query. Exit 0 when every query got a
matching reply in time, 1 otherwise (the missing ones are printed as
"NAME timeout"). --raw sends HEX as it is and prints the reply as hex, or
"no reply" (none in time, or the connection was closed).
"""
import random
import select
import socket
import struct
import sys
import time


def build(qid, name, qtype):
    q = b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".") if l)
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + b"\0" + struct.pack("!HH", qtype, 1)


def skip_name(m, p):
    while True:
        n = m[p]
        if n & 0xC0 == 0xC0:
            return p + 2
        p += 1
        if n == 0:
            return p
        p += n


def parse(m):
    qid, flags, qd, an = struct.unpack("!HHHH", m[:8])
    p = skip_name(m, 12) + 4
    qsec = m[12:p]
    out = []
    for _ in range(an):
        p = skip_name(m, p)
        t, _, _, ln = struct.unpack("!HHIH", m[p:p + 10])
        rd = m[p + 10:p + 10 + ln]
        if t == 1:
            out.append(socket.inet_ntop(socket.AF_INET, rd))
        elif t == 28:
            out.append(socket.inet_ntop(socket.AF_INET6, rd))
        elif t == 5:
            out.append("CNAME")
        p += 10 + ln
    return qid, flags & 0xF, qsec, out


def connect(server, port, tcp, timeout):
    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.connect((server, port))
    return s


def recv_all(s, tcp, deadline):
    """Yields messages until the deadline."""
    buf = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([s], [], [], left)[0]:
            return
        try:
            data = s.recv(65535)
        except OSError:  # reset: as good as closed
            return
        if not tcp:
            yield data
            continue
        if not data:
            return
        buf += data
        while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
            n = struct.unpack("!H", buf[:2])[0]
            yield buf[2:2 + n]
            buf = buf[2 + n:]


def send(s, tcp, msg):
    s.send(struct.pack("!H", len(msg)) + msg if tcp else msg)


def main(argv):
    tcp, qtype, timeout, raw = False, 1, 10.0, None
    while argv and argv[0].startswith("--"):
        opt = argv.pop(0)
        if opt == "--tcp":
            tcp = True
        elif opt == "--type":
            qtype = int(argv.pop(0))
        elif opt == "--timeout":
            timeout = float(argv.pop(0))
        elif opt == "--raw":
            raw = bytes.fromhex(argv.pop(0))
    server, port, names = argv[0], int(argv[1]), argv[2:]
    s = connect(server, port, tcp, timeout)
    deadline = time.monotonic() + timeout
    if raw is not None:
        send(s, tcp, raw)
        for m in recv_all(s, tcp, deadline):
            print(m.hex())
            return 0
        print("no reply")
        return 1
    ids = random.sample(range(65536), len(names))
    sent = {}
    for qid, name in zip(ids, names):
        msg = build(qid, name, qtype)
        sent[qid] = (name, msg[12:])
        send(s, tcp, msg)
    got = {}
    for m in recv_all(s, tcp, deadline):
        qid, rcode, qsec, ans = parse(m)
        if qid in sent and qid not in got:
            name, qs = sent[qid]
            ok = "ok" if qs.lower() == qsec.lower() else "mismatch"
            got[qid] = "%s rcode=%d id=%s answers=%s" % (name, rcode, ok, ",".join(ans))
        if len(got) == len(sent):
            break
    for qid in ids:
        print(got.get(qid, sent[qid][0] + " timeout"))
    return 0 if len(got) == len(sent) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
