#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed inputs of fuzz_dispatch (framing: see fuzz_dispatch.c) to corpus/dispatch/."""
import os
import sys

NET0, NET1, NET2, NET3, HOST, DEVNULL, UTS, PIPE = range(8)


def varint(n):
    out = b""
    while n >= 0x80:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


def field(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def s(num, text):
    return field(num, text.encode()) if text else b""


def add(uid, name="n", ns="d", sa="s"):
    return field(1, s(1, uid) + field(2, s(1, name) + s(2, ns) + s(3, sa)))


def add_noinfo(uid):
    return field(1, s(1, uid))


def dele(uid):
    return field(2, s(2, uid))


def keep(uid):
    return field(5, s(1, uid))


def snap():
    return field(3, b"")


def msg(payload, fds=(), slot=0, hangup=False):
    long = len(payload) > 255
    op = (slot << 4) | len(fds) | (8 if long else 0) | (0x40 if hangup else 0)
    ln = len(payload).to_bytes(2, "big") if long else bytes([len(payload)])
    return bytes([op]) + bytes(fds) + ln + payload


def many(payload, b, slot=0):
    return bytes([(slot << 4) | 4, b, len(payload)]) + payload


def cmd(n, slot=0):
    return bytes([0x80 | (slot << 4) | n])


RETRY, HANGUP, PASSCRED, EXPIRE, NOBODY, REPORT, LOGFMT, WAKEUP, LEAVE, NOFDS, MAXPODS = range(11)
POOL = 8  # kind bytes 8.. are further network namespaces


def many_pods(n):
    return cmd(MAXPODS) + b"".join(msg(add("p%d" % i), [POOL + i]) for i in range(n))


SEEDS = {
    "empty": b"",
    "add-fd": msg(add("u"), [NET0]),
    "add-no-fd": msg(add("u")),
    "add-2-fds": msg(add("u"), [NET0, NET1]),
    "add-no-workload-info": msg(add_noinfo("u"), [NET0]),
    "add-del": msg(add("u"), [NET0]) + msg(dele("u")),
    "del-unknown": msg(dele("nobody")),
    "keep-snapshot": msg(keep("u")) + msg(snap()),
    "snapshot": msg(snap()),
    "keep-after-snapshot": msg(snap()) + msg(keep("u")),
    "snapshot-twice": msg(snap()) + msg(snap()),
    "garbage": msg(b"\xff\xff\xff\xff"),
    "empty-datagram-with-fd": msg(b"", [NET0]),
    "add-uts-fd": msg(add("u"), [UTS]),
    "add-devnull-fd": msg(add("u"), [DEVNULL]),
    "add-pipe-fd": msg(add("u"), [PIPE]),
    "add-host-netns": msg(add("u"), [HOST]),
    "keep-with-fd": msg(keep("u"), [NET0]),
    "too-many-fds": many(add("u"), 20),
    "nine-fds": many(add("u"), 5),
    "too-long": msg(add("u" * 1100), [NET0]),
    "pending-retry-del": msg(add("u", name="Fail"), [NET0]) + cmd(RETRY) + msg(dele("u")),
    "pending-retry-ok": msg(add("u", name="flaky"), [NET0]) + cmd(RETRY) + cmd(REPORT),
    "pending-readd": msg(add("u", name="flaky"), [NET0]) + msg(add("u", name="flaky"), [NET0]),
    "sandbox-recreated": msg(add("u"), [NET0]) + msg(add("u"), [NET1]),
    "netns-taken": msg(add("u"), [NET0]) + msg(add("v"), [NET0]),
    "max-pods": b"".join(msg(add(u), [k]) for u, k in (("a", NET0), ("b", NET1), ("c", NET2), ("d", NET3))),
    "reconnect-snapshot": msg(add("a"), [NET0]) + msg(add("b"), [NET1]) + cmd(HANGUP)
    + msg(keep("a"), slot=1) + msg(snap(), slot=1) + cmd(REPORT),
    "two-clients": msg(add("a"), [NET0], slot=0) + msg(add("b"), [NET1], slot=1) + msg(snap(), slot=2),
    "unprivileged": cmd(NOBODY) + msg(add("u"), [NET0]),
    "unprivileged-garbage": cmd(NOBODY) + msg(b"\x08"),
    "idle-expire": cmd(NOBODY, slot=1) + msg(snap()) + cmd(EXPIRE),
    "passcred": msg(snap()) + cmd(PASSCRED) + msg(add("u"), [NET0]),
    "report-odd-strings": msg(add('q"\\\n\t\x00\x7f\u00e9\U0001f600', name="F\x01"), [NET0]) + cmd(REPORT),
    "hangup": msg(add("u"), [NET0]) + cmd(HANGUP) + msg(dele("u")),
    "pending-fifo": msg(add("a", name="F"), [NET0]) + msg(add("b", name="F"), [NET1])
    + msg(add("c", name="F"), [NET2]) + msg(dele("b")) + cmd(RETRY) + msg(dele("a")) + cmd(REPORT),
    "pending-readd-ok": msg(add("u", name="flaky"), [NET0]) + msg(add("u", name="flaky"), [NET0]),
    "many-pods": many_pods(66) + cmd(REPORT) + b"".join(msg(keep("p%d" % i), slot=1) for i in range(0, 66, 3))
    + msg(snap(), slot=1),
    "send-then-hangup": msg(add("u"), [NET0], hangup=True) + msg(dele("u")),
    "leave-before-accept": cmd(LEAVE) + msg(snap()),
    "out-of-fds": msg(snap()) + cmd(NOFDS) + cmd(NOFDS, slot=1) + msg(dele("u")),
    "log-current": cmd(LOGFMT) + msg(add("u"), [NET0]) + msg(dele("u")) + msg(snap()),
    "wakeup-nothing-to-read": msg(snap()) + cmd(WAKEUP),
    "add-no-ipv6": msg(add("u", ns="v4"), [NET0]) + msg(add("w", name="Fxxxx", ns="v4"), [NET1]) + cmd(REPORT),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "dispatch")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(SEEDS)} seeds in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
