#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A fake ztunnel for the agent's tests, written from shared/reference/zds.md
and roles.md alone (no code of the programs): connects to the agent's ZDS
socket (SOCK_SEQPACKET), sends Hello, then decodes every request with its own
protobuf reader, checks its fd rule (an Add carries exactly one fd, nothing
else carries any) and that the bytes are the canonical encoding, and answers
with an Ack. One line per request goes to --log:

  add uid=U name=N namespace=D sa=S fds=1 ino=INODE hex=HEX
  keep uid=U hex=HEX
  del uid=U hex=HEX
  snapshot_sent hex=HEX
  eof

Policies: --nack UID (ack U's requests with an error), --silent UID (never
answer U's requests), --no-hello, --hello HEX (other first bytes), --stray
(after the SnapshotSent ack, send an unexpected Ack while idle).
"""
import argparse
import os
import socket
import subprocess
import sys


def varint(buf, i):
    shift = val = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        b = buf[i]
        i += 1
        val |= (b & 0x7F) << shift
        if not b & 0x80:
            return val, i
        shift += 7


def fields(buf):
    """(field, wire type, value) of a message; length-delimited values as bytes."""
    i, out = 0, []
    while i < len(buf):
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = varint(buf, i)
        elif wt == 2:
            n, i = varint(buf, i)
            if i + n > len(buf):
                raise ValueError("length past the end")
            val, i = buf[i:i + n], i + n
        else:
            raise ValueError("unexpected wire type %d" % wt)
        out.append((num, wt, val))
    return out


def enc_varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def enc_field(num, payload):
    return enc_varint(num << 3 | 2) + enc_varint(len(payload)) + payload


def enc_str(num, s):
    return enc_field(num, s.encode()) if s else b""


def decode_request(buf):
    """(kind, dict of fields, canonical re-encoding)."""
    top = fields(buf)
    if len(top) != 1 or top[0][1] != 2:
        raise ValueError("expected exactly one oneof member")
    num, _, body = top[0]
    inner = {f: v for f, _, v in fields(body)}
    if num == 1:
        info = {f: v.decode() for f, _, v in fields(inner.get(2, b""))}
        d = {"uid": inner.get(1, b"").decode(), "name": info.get(1, ""),
             "namespace": info.get(2, ""), "sa": info.get(3, "")}
        wi = enc_str(1, d["name"]) + enc_str(2, d["namespace"]) + enc_str(3, d["sa"])
        canon = enc_field(1, enc_str(1, d["uid"]) + enc_field(2, wi))
        return "add", d, canon
    if num == 2:
        d = {"uid": inner.get(2, b"").decode()}
        return "del", d, enc_field(2, enc_str(2, d["uid"]))
    if num == 3:
        return "snapshot_sent", {}, enc_field(3, b"")
    if num == 5:
        d = {"uid": inner.get(1, b"").decode()}
        return "keep", d, enc_field(5, enc_str(1, d["uid"]))
    raise ValueError("unknown request field %d" % num)


def has_rules(fd):
    """Are istio-cni's chains in the netns fd names? (iptables-save inside it)"""
    out = subprocess.run(["nsenter", "--net=/proc/self/fd/%d" % fd, "iptables-save"],
                         pass_fds=(fd,), capture_output=True, text=True, check=False)
    return ":ISTIO_PRERT" in out.stdout


def ack(err=""):
    return enc_field(1, enc_str(1, err))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("--log", required=True)
    ap.add_argument("--nack", action="append", default=[])
    ap.add_argument("--silent", action="append", default=[])
    ap.add_argument("--no-hello", action="store_true")
    ap.add_argument("--hello", default="0801")
    ap.add_argument("--stray", action="store_true")
    ap.add_argument("--check-rules", action="store_true",
                    help="log rules=yes|no: are ISTIO_* chains in an Add's netns already?")
    a = ap.parse_args()
    log = open(a.log, "a", buffering=1)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(a.socket)
    if not a.no_hello:
        s.send(bytes.fromhex(a.hello))
    log.write("connected\n")
    while True:
        data, fds, flags, _ = socket.recv_fds(s, 1024, 8)
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            log.write("error truncated\n")
            return 1
        if not data:
            log.write("eof\n")
            return 0
        try:
            kind, d, canon = decode_request(data)
        except ValueError as e:
            log.write("error undecodable %s hex=%s\n" % (e, data.hex()))
            return 1
        ino = os.fstat(fds[0]).st_ino if fds else 0
        rules = ""
        if a.check_rules and kind == "add" and len(fds) == 1:
            rules = " rules=" + ("yes" if has_rules(fds[0]) else "no")
        for fd in fds:
            os.close(fd)
        want = 1 if kind == "add" else 0
        if len(fds) != want:
            log.write("error %s carried %d fds\n" % (kind, len(fds)))
        if canon != data:
            log.write("error %s not canonical: %s, expected %s\n" % (kind, data.hex(), canon.hex()))
        line = kind + "".join(" %s=%s" % kv for kv in d.items())
        if kind == "add":
            line += " fds=%d ino=%d" % (len(fds), ino)
        log.write("%s hex=%s%s\n" % (line, data.hex(), rules))
        uid = d.get("uid")
        if uid in a.silent:
            continue
        s.send(ack("failure to start proxy : test nack" if uid in a.nack else ""))
        if kind == "snapshot_sent" and a.stray:
            s.send(ack())
            log.write("stray sent\n")


if __name__ == "__main__":
    sys.exit(main())
