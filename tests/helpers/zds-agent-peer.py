#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""An independent ZDS server (the istio-cni node agent's side) for tests.

Written from the protocol reference (zds.md, roles.md), sharing no code with
the programs it checks: its own protobuf encoding, Python's SOCK_SEQPACKET and
socket.send_fds. It checks the exact bytes ztunnel-emulator --connect sends
(the Hello 08 01 first, then one Ack per request, nothing else) and records
every datagram in order, per connection.

  zds-agent-peer.py serve SOCKET CONTROL   listen on SOCKET; commands on CONTROL
  zds-agent-peer.py ctl CONTROL CMD ARG... one command; prints the answer

Commands (answer on one line):
  accept [SECS]             next ztunnel connection; its Hello must be 08 01 -> "conn N"
  add N UID NETNS [NAME NAMESPACE SA]   Add with the netns fd -> "ack" | "nack TEXT"
  add-noinfo N UID NETNS    Add without workload_info
  keep N UID | del N UID | snap N       Keep, Del, SnapshotSent
  raw N HEX [FDPATH]        any datagram (with an fd) -> the reply, as above
  waiteof N [SECS]          "eof" once ztunnel closed the connection, else "alive"
  close N                   closes connection N ("closed")
  transcript N              every datagram of connection N: "<hex" in, ">hex" out, comma-separated
  quit                      closes everything, removes SOCKET
A reply that is not a well-formed Ack answers "bad HEX"; none within 5 s "timeout";
end of stream "eof".
"""
import os
import select
import socket
import sys

ACK_WAIT = 5.0


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, payload):
    """A length-delimited field (wire type 2)."""
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def sfield(num, text):
    """A string field; proto3 leaves an empty string out."""
    data = text.encode()
    return field(num, data) if data else b""


def add_msg(uid, info):
    body = sfield(1, uid)
    if info is not None:
        name, ns, sa = info
        body += field(2, sfield(1, name) + sfield(2, ns) + sfield(3, sa))
    return field(1, body)


def read_varint(buf, i):
    shift = n = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def parse_fields(buf):
    """[(num, wiretype, value)] of a message with varint and length fields only."""
    i, out = 0, []
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(buf, i)
        elif wt == 2:
            ln, i = read_varint(buf, i)
            if i + ln > len(buf):
                raise ValueError("bad length")
            v = buf[i:i + ln]
            i += ln
        else:
            raise ValueError("wire type %d" % wt)
        out.append((num, wt, v))
    return out


def decode_ack(data):
    """The Ack's error text ("" = success), or None when data is not exactly a WorkloadResponse{ack}."""
    try:
        top = parse_fields(data)
        if len(top) != 1 or top[0][:2] != (1, 2):
            return None
        inner = parse_fields(top[0][2])
        if any(f[:2] != (1, 2) for f in inner) or len(inner) > 1:
            return None
        return inner[0][2].decode() if inner else ""
    except (ValueError, UnicodeDecodeError):
        return None


class Peer:
    def __init__(self, path):
        self.path = path
        if os.path.exists(path):
            os.unlink(path)
        self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.lsock.bind(path)
        os.chmod(path, 0o777)  # a daemon run as nobody (--setcap) must connect
        self.lsock.listen(16)
        self.conns = {}
        self.log = {}
        self.next_id = 1

    def accept(self, secs):
        r, _, _ = select.select([self.lsock], [], [], secs)
        if not r:
            return "timeout"
        s, _ = self.lsock.accept()
        n = self.next_id
        self.next_id += 1
        self.conns[n] = s
        self.log[n] = []
        r, _, _ = select.select([s], [], [], 5.0)
        if not r:
            return "error no hello within 5s"
        hello = s.recv(1024)
        self.log[n].append("<" + hello.hex())
        if hello != b"\x08\x01":
            return "error hello %s" % hello.hex()
        return "conn %d" % n

    def request(self, n, data, fd_path=None):
        s = self.conns[n]
        self.log[n].append(">" + data.hex())
        if fd_path:
            fd = os.open(fd_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                socket.send_fds(s, [data], [fd])
            finally:
                os.close(fd)
        else:
            s.send(data)
        r, _, _ = select.select([s], [], [], ACK_WAIT)
        if not r:
            return "timeout"
        reply = s.recv(1024)
        if not reply:
            return "eof"
        self.log[n].append("<" + reply.hex())
        err = decode_ack(reply)
        if err is None:
            return "bad " + reply.hex()
        return "ack" if err == "" else "nack " + err

    def waiteof(self, n, secs):
        s = self.conns[n]
        r, _, _ = select.select([s], [], [], secs)
        if not r:
            return "alive"
        data = s.recv(1024)
        if data:
            self.log[n].append("<" + data.hex())
            return "message " + data.hex()
        return "eof"

    def command(self, words):
        cmd, args = words[0], words[1:]
        if cmd == "accept":
            return self.accept(float(args[0]) if args else 20.0)
        if cmd == "quit":
            return "bye"
        n = int(args[0])
        if n not in self.conns:
            return "error no connection %d" % n
        if cmd == "add":
            info = tuple(args[3:6]) if len(args) >= 6 else (args[1], "default", "default")
            return self.request(n, add_msg(args[1], info), args[2])
        if cmd == "add-noinfo":
            return self.request(n, add_msg(args[1], None), args[2])
        if cmd == "keep":
            return self.request(n, field(5, sfield(1, args[1])))
        if cmd == "del":
            return self.request(n, field(2, sfield(2, args[1])))
        if cmd == "snap":
            return self.request(n, field(3, b""))
        if cmd == "raw":
            return self.request(n, bytes.fromhex(args[1]), args[2] if len(args) > 2 else None)
        if cmd == "waiteof":
            return self.waiteof(n, float(args[1]) if len(args) > 1 else 10.0)
        if cmd == "close":
            self.conns[n].close()
            return "closed"
        if cmd == "transcript":
            return ",".join(self.log[n])
        return "error unknown command " + cmd


def serve(path, control):
    peer = Peer(path)
    if os.path.exists(control):
        os.unlink(control)
    ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ctl.bind(control)
    ctl.listen(4)
    while True:
        c, _ = ctl.accept()
        with c:
            line = b""
            while not line.endswith(b"\n"):
                chunk = c.recv(4096)
                if not chunk:
                    break
                line += chunk
            words = line.decode().split()
            try:
                answer = peer.command(words) if words else "error empty command"
            except (OSError, ValueError, IndexError) as e:
                answer = "error %s" % e
            c.sendall((answer + "\n").encode())
            if words and words[0] == "quit":
                break
    for s in peer.conns.values():
        s.close()
    peer.lsock.close()
    os.unlink(path)
    ctl.close()
    os.unlink(control)


def ctl(control, words):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(control)
    c.sendall((" ".join(words) + "\n").encode())
    data = b""
    while True:
        chunk = c.recv(4096)
        if not chunk:
            break
        data += chunk
    sys.stdout.write(data.decode())


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 4 and sys.argv[1] == "ctl":
        ctl(sys.argv[2], sys.argv[3:])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
