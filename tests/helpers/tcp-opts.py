#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Prints the TCP options of another process's connected TCP sockets, read
from copies of its fds (pidfd_getfd(2), Linux >= 5.6; needs the right to
ptrace it), independent of the daemon's code:

  tcp-opts.py PID
    one line per connected TCP socket, sorted:
    "LOCAL PEER nodelay=N keepalive=N idle=S intvl=S cnt=N"
    (addresses as ip:port, IPv4-mapped IPv6 shown as IPv4)

Exit 1 with a one-line error when the fds cannot be read."""
import ctypes
import os
import socket
import sys

SYS_PIDFD_OPEN = 434  # the same number on every architecture (since 5.3)
SYS_PIDFD_GETFD = 438  # likewise (since 5.6)

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def sys_call(nr, *args):
    ret = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def addr(a):
    host, port = a[0], a[1]
    if host.startswith("::ffff:"):
        host = host[7:]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def describe(fd):
    s = socket.socket(fileno=fd)
    try:
        if s.type != socket.SOCK_STREAM or s.family not in (socket.AF_INET, socket.AF_INET6):
            return None
        try:
            peer = s.getpeername()
        except OSError:
            return None  # a listener, or not connected
        opt = lambda level, name: s.getsockopt(level, name)
        return (f"{addr(s.getsockname())} {addr(peer)}"
                f" nodelay={opt(socket.IPPROTO_TCP, socket.TCP_NODELAY)}"
                f" keepalive={opt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)}"
                f" idle={opt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)}"
                f" intvl={opt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL)}"
                f" cnt={opt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)}")
    finally:
        s.close()


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        print("usage: tcp-opts.py PID", file=sys.stderr)
        return 2
    pid = int(sys.argv[1])
    lines = []
    try:
        pidfd = sys_call(SYS_PIDFD_OPEN, pid, 0)
        for name in os.listdir(f"/proc/{pid}/fd"):
            try:
                if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                    continue
                fd = sys_call(SYS_PIDFD_GETFD, pidfd, int(name), 0)
            except FileNotFoundError:
                continue  # closed meanwhile
            line = describe(fd)
            if line:
                lines.append(line)
    except OSError as e:
        print(f"tcp-opts.py: process {pid}: {e.strerror}", file=sys.stderr)
        return 1
    for line in sorted(lines):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
