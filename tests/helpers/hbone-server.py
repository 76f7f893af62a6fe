#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""hbone-server: an independent HBONE server for the tests (Python's ssl and
the h2 package, nothing of the daemon's code): it plays a remote ztunnel's
15008 (hbone.md), so the daemon's outbound side can be checked against it.

Usage: hbone-server.py --ca ROOT.pem --cert C --key K --log FILE HOST PORT
  Mutual TLS 1.3 only, ALPN h2 required, the client's certificate verified
  against ROOT.pem; then HTTP/2 CONNECT streams: the target port 8081 is
  answered 503 (nothing there), any other CONNECT 200 and its bytes echoed
  back until the client's END_STREAM, which is answered with END_STREAM.
  One line per event is appended to FILE:
    listening
    tls ok client=URI          a handshake completed (URI: the client's SPIFFE SAN)
    tls failed: REASON
    connect authority=A status=N forwarded=F baggage=B traceparent=T
"""
import socket
import ssl
import sys
import threading

import h2.config
import h2.connection
import h2.events
import h2.exceptions

LOCK = threading.Lock()


def log(path, line):
    with LOCK, open(path, "a") as f:
        f.write(line + "\n")


def tls_context(ca, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(ca)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["h2"])
    return ctx


class Conn:
    def __init__(self, sock, logfile):
        self.sock = sock
        self.logfile = logfile
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=False, validate_inbound_headers=False))
        self.pending = {}  # stream id -> bytes still to echo

    def flush(self):
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self, sid):
        """Echoes what flow control allows; END_STREAM once all is out and the client ended."""
        buf, ended = self.pending.get(sid, (b"", False))
        while buf:
            n = min(len(buf), self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size)
            if n <= 0:
                break
            self.h2.send_data(sid, buf[:n])
            buf = buf[n:]
        if not buf and ended:
            self.h2.end_stream(sid)
            self.pending.pop(sid, None)
        else:
            self.pending[sid] = (buf, ended)

    def request(self, ev):
        hdrs = {k.decode(): v.decode() for k, v in ev.headers}
        auth = hdrs.get(":authority", "")
        status = "503" if auth.endswith(":8081") or hdrs.get(":method") != "CONNECT" else "200"
        log(self.logfile, "connect authority=%s status=%s forwarded=%s baggage=%s traceparent=%s" % (
            auth, status, hdrs.get("forwarded", "-"), hdrs.get("baggage", "-"), hdrs.get("traceparent", "-")))
        self.h2.send_headers(ev.stream_id, [(":status", status)], end_stream=status != "200")
        if status == "200":
            self.pending[ev.stream_id] = (b"", False)

    def handle(self, ev):
        if isinstance(ev, h2.events.RequestReceived):
            self.request(ev)
        elif isinstance(ev, h2.events.DataReceived):
            self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            if ev.stream_id in self.pending:
                buf, ended = self.pending[ev.stream_id]
                self.pending[ev.stream_id] = (buf + ev.data, ended)
                self.pump(ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id in self.pending:
            buf, _ = self.pending[ev.stream_id]
            self.pending[ev.stream_id] = (buf, True)
            self.pump(ev.stream_id)
        elif isinstance(ev, h2.events.WindowUpdated):
            for sid in list(self.pending):
                self.pump(sid)
        elif isinstance(ev, h2.events.StreamReset):
            self.pending.pop(ev.stream_id, None)

    def run(self):
        self.h2.initiate_connection()
        self.flush()
        while True:
            data = self.sock.recv(65536)
            if not data:
                return
            for ev in self.h2.receive_data(data):
                self.handle(ev)
            self.flush()


def serve(raw, ctx, logfile):
    try:
        s = ctx.wrap_socket(raw, server_side=True)
    except (ssl.SSLError, OSError) as e:
        log(logfile, "tls failed: %s" % e)
        raw.close()
        return
    try:
        uris = [v for k, v in s.getpeercert().get("subjectAltName", ()) if k == "URI"]
        if s.selected_alpn_protocol() != "h2":
            log(logfile, "tls failed: ALPN is not h2")
            return
        log(logfile, "tls ok client=%s" % (uris[0] if uris else "?"))
        Conn(s, logfile).run()
    except (ssl.SSLError, OSError, h2.exceptions.ProtocolError):
        pass
    finally:
        s.close()


def main():
    args = sys.argv[1:]
    opts = {}
    while args and args[0].startswith("--"):
        opts[args[0][2:]] = args[1]
        args = args[2:]
    host, port = args[0], int(args[1])
    ctx = tls_context(opts["ca"], opts["cert"], opts["key"])
    lsock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((host, port))
    lsock.listen(64)
    log(opts["log"], "listening")
    while True:
        raw, _ = lsock.accept()
        threading.Thread(target=serve, args=(raw, ctx, opts["log"]), daemon=True).start()


if __name__ == "__main__":
    main()
