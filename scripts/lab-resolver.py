#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""lab-resolver.py - the lab's upstream DNS resolver (lab.sh runs it in a
netns of its own): an authoritative server for a few names, on UDP and TCP
port 53 of ADDR, written from RFC 1035 with the standard library only.

Usage: lab-resolver.py ADDR NAME=IP...

A and AAAA queries for a NAME get its IP (TTL 60) when the family matches,
an empty NOERROR otherwise; any other name gets NXDOMAIN. Each query is
logged to stdout as "PROTO SOURCE NAME TYPE RCODE".
"""
import ipaddress
import selectors
import socket
import struct
import sys


def question(msg):
    """(id, rd, name, qtype, end) of a one-question query, or None."""
    if len(msg) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", msg[:6])
    if qd != 1 or flags & 0x8000:
        return None
    labels, pos = [], 12
    while pos < len(msg) and msg[pos]:
        n = msg[pos]
        if n > 63 or pos + 1 + n > len(msg):
            return None
        labels.append(msg[pos + 1:pos + 1 + n].decode("ascii", "replace").lower())
        pos += 1 + n
    if pos + 5 > len(msg):
        return None
    qtype = struct.unpack("!H", msg[pos + 1:pos + 3])[0]
    return qid, flags & 0x0100, ".".join(labels), qtype, pos + 5


def reply(msg, names, proto, src):
    q = question(msg)
    if q is None:
        return None
    qid, rd, name, qtype, end = q
    ip = names.get(name)
    rdata = b""
    if ip is not None and (qtype, ip.version) in ((1, 4), (28, 6)):
        rdata = ip.packed
    rcode = 0 if ip is not None else 3
    an = 1 if rdata else 0
    out = struct.pack("!HHHHHH", qid, 0x8400 | rd | rcode, 1, an, 0, 0) + msg[12:end]
    if an:
        out += struct.pack("!HHHIH", 0xC00C, qtype, 1, 60, len(rdata)) + rdata
    print("%s %s %s %d %s" % (proto, src, name, qtype, "NXDOMAIN" if rcode else "NOERROR"),
          flush=True)
    return out


def main(argv):
    if len(argv) < 1:
        sys.exit("usage: lab-resolver.py ADDR NAME=IP...")
    names = {}
    for a in argv[1:]:
        n, _, ip = a.partition("=")
        names[n.lower().rstrip(".")] = ipaddress.ip_address(ip)
    fam = socket.AF_INET6 if ":" in argv[0] else socket.AF_INET
    sel = selectors.DefaultSelector()
    u = socket.socket(fam, socket.SOCK_DGRAM)
    u.bind((argv[0], 53))
    t = socket.socket(fam, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((argv[0], 53))
    t.listen(16)
    sel.register(u, selectors.EVENT_READ, "udp")
    sel.register(t, selectors.EVENT_READ, "listen")
    while True:
        for key, _ in sel.select():
            if key.data == "udp":
                msg, src = u.recvfrom(65535)
                out = reply(msg, names, "udp", src[0])
                if out:
                    u.sendto(out, src)
            elif key.data == "listen":
                c, _ = t.accept()
                c.settimeout(5)
                try:
                    hdr = c.recv(2, socket.MSG_WAITALL)
                    msg = c.recv(struct.unpack("!H", hdr)[0], socket.MSG_WAITALL)
                    out = reply(msg, names, "tcp", c.getpeername()[0])
                    if out:
                        c.sendall(struct.pack("!H", len(out)) + out)
                except (OSError, struct.error):
                    pass
                c.close()


if __name__ == "__main__":
    main(sys.argv[1:])
