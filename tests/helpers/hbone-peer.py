#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""hbone-peer: an independent HBONE client for the tests (Python's ssl and
the h2 package, nothing of the daemon's code): mutual TLS to a pod's 15008,
then HTTP/2 CONNECT streams as a remote ztunnel sends them (hbone.md).

Usage: hbone-peer.py [TLS options] HOST PORT COMMAND [ARGS]
  TLS options: --ca ROOT.pem (verify the server against it), --cert C --key K
  (the client certificate; none without), --tls12 (offer TLS 1.2 only),
  --expect-identity URI (the server's SPIFFE URI must be this).
Commands (each prints one result line, exit 0 unless the peer misbehaved):
  handshake                  "tls ok identity=URI" or "tls refused: REASON"
  request METHOD AUTHORITY [IN [OUT]]
                             one stream: "status=N"; on 200 sends IN's bytes,
                             half-closes (END_STREAM), reads until the server's
                             END_STREAM into OUT: "status=200 sent=N recv=N"
  streams N AUTHORITY        N concurrent CONNECT streams on one connection,
                             each sends "stream-I" and expects it echoed:
                             "streams ok=N"
  hold N AUTHORITY           N concurrent CONNECT streams left open, their
                             statuses counted: "statuses 200=X 503=Y ..."
  idle SECONDS               holds the connection, answering the server's PINGs
                             (h2 does): "pings=N", how many the server sent
  hostile AUTHORITY          misbehaves in each of a dozen ways, one connection
                             each (garbage, bad frames and HPACK, flow-control
                             overrun, too many streams, huge headers, aborts):
                             "hostile done=N"
"""
import select
import socket
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.settings

TIMEOUT = 20


def die(msg):
    print(msg)
    sys.exit(1)


def parse_args(argv):
    opts = {"ca": None, "cert": None, "key": None, "tls12": False, "identity": None}
    i = 0
    while i < len(argv) and argv[i].startswith("--"):
        name = argv[i][2:]
        if name == "tls12":
            opts["tls12"] = True
            i += 1
            continue
        key = {"ca": "ca", "cert": "cert", "key": "key", "expect-identity": "identity"}[name]
        opts[key] = argv[i + 1]
        i += 2
    return opts, argv[i:]


def tls_connect(opts, host, port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # no SNI, no DNS SAN: SPIFFE URIs (hbone.md)
    if opts["ca"]:
        ctx.load_verify_locations(opts["ca"])
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if opts["cert"]:
        ctx.load_cert_chain(opts["cert"], opts["key"])
    if opts["tls12"]:
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["h2"])
    raw = socket.create_connection((host, port), timeout=TIMEOUT)
    try:
        s = ctx.wrap_socket(raw)
    except (ssl.SSLError, OSError) as e:
        raw.close()
        return None, str(e)
    if s.selected_alpn_protocol() != "h2":
        return None, "ALPN is not h2"
    uris = [v for k, v in s.getpeercert().get("subjectAltName", ()) if k == "URI"] if opts["ca"] else []
    if opts["identity"] and uris != [opts["identity"]]:
        return None, "server identity %s, expected %s" % (uris, opts["identity"])
    return s, "identity=" + (uris[0] if uris else "?")


class Peer:
    def __init__(self, sock):
        self.sock = sock
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, validate_outbound_headers=False))  # h2 4 wants :path even on CONNECT
        self.conn.initiate_connection()
        self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 4 << 20})
        self.conn.increment_flow_control_window(12 << 20)
        self.pings = 0
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def events(self, wait=TIMEOUT):
        if not self.sock.pending():
            r, _, _ = select.select([self.sock], [], [], wait)
            if not r:
                return None
        data = self.sock.recv(65536)
        if not data:
            return None
        evs = self.conn.receive_data(data)
        for ev in evs:
            if isinstance(ev, h2.events.PingReceived):
                self.pings += 1
        self.flush()
        return evs

    def send_data(self, sid, data, end):
        """Sends as flow control allows, reading (and acking) while it waits."""
        while data:
            n = min(len(data), self.conn.local_flow_control_window(sid),
                    self.conn.max_outbound_frame_size)
            if n <= 0:
                if self.events() is None:
                    die("connection closed while sending")
                continue
            self.conn.send_data(sid, data[:n])
            data = data[n:]
            self.flush()
        if end:
            self.conn.end_stream(sid)
            self.flush()


def connect_headers(method, authority):
    hdrs = [(":method", method), (":authority", authority)]
    if method != "CONNECT":
        hdrs += [(":scheme", "https"), (":path", "/")]
    return hdrs


def cmd_request(peer, method, authority, infile=None, outfile=None):
    sid = peer.conn.get_next_available_stream_id()
    peer.conn.send_headers(sid, connect_headers(method, authority))
    peer.flush()
    status, got, done = None, bytearray(), False
    while not done:
        evs = peer.events()
        if evs is None:
            die("status=%s connection closed" % status)
        for ev in evs:
            if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                status = dict(ev.headers)[b":status"].decode()
                if status != "200":
                    print("status=%s" % status)
                    return
                payload = open(infile, "rb").read() if infile else b""
                peer.send_data(sid, payload, True)
            elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                got += ev.data
                peer.conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                peer.flush()
            elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                done = True
            elif isinstance(ev, h2.events.StreamReset) and ev.stream_id == sid:
                die("status=%s stream reset (error %s)" % (status, ev.error_code))
    if outfile:
        open(outfile, "wb").write(got)
    print("status=200 sent=%d recv=%d" % (len(open(infile, "rb").read()) if infile else 0, len(got)))


def cmd_streams(peer, n, authority):
    want, got, ended = {}, {}, set()
    for i in range(n):
        sid = peer.conn.get_next_available_stream_id()
        peer.conn.send_headers(sid, connect_headers("CONNECT", authority))
        want[sid] = ("stream-%d" % i).encode()
        got[sid] = b""
    peer.flush()
    deadline = time.time() + 60
    while len(ended) < n and time.time() < deadline:
        evs = peer.events()
        if evs is None:
            die("streams ok=%d connection closed" % len(ended))
        for ev in evs:
            if isinstance(ev, h2.events.ResponseReceived):
                st = dict(ev.headers)[b":status"]
                if st != b"200":
                    die("stream %d status %s" % (ev.stream_id, st.decode()))
                peer.conn.send_data(ev.stream_id, want[ev.stream_id], end_stream=True)
            elif isinstance(ev, h2.events.DataReceived):
                got[ev.stream_id] += ev.data
                peer.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                ended.add(ev.stream_id)
            elif isinstance(ev, h2.events.StreamReset):
                die("stream %d reset" % ev.stream_id)
        peer.flush()
    bad = [s for s in want if got[s] != want[s]]
    print("streams ok=%d bad=%d" % (n - len(bad), len(bad)) if len(ended) == n else "streams timed out")


def cmd_hold(peer, n, authority):
    statuses = {}
    for _ in range(n):
        sid = peer.conn.get_next_available_stream_id()
        peer.conn.send_headers(sid, connect_headers("CONNECT", authority))
    peer.flush()
    while sum(statuses.values()) < n:
        evs = peer.events()
        if evs is None:
            die("statuses %s connection closed" % statuses)
        for ev in evs:
            if isinstance(ev, h2.events.ResponseReceived):
                st = dict(ev.headers)[b":status"].decode()
                statuses[st] = statuses.get(st, 0) + 1
    print("statuses " + " ".join("%s=%d" % kv for kv in sorted(statuses.items())))


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype, flags, sid, payload):
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + sid.to_bytes(4, "big") + payload


def hpack_connect(authority):
    enc = h2.connection.H2Connection().encoder
    return enc.encode([(b":method", b"CONNECT"), (b":authority", authority.encode())])


def drain(sock, seconds=1.0):
    """Reads what the server says until it closes or goes quiet."""
    end = time.time() + seconds
    sock.settimeout(0.2)
    while time.time() < end:
        try:
            if not sock.recv(65536):
                return
        except socket.timeout:
            continue
        except (ssl.SSLError, OSError):
            return


def hostile(opts, host, port, authority):
    """Each abuse on its own connection; the server must survive all of them."""
    settings = frame(4, 0, 0, b"")
    hdr = hpack_connect(authority)
    abuses = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",                     # HTTP/1.1, not h2
        b"\x00" * 64,                                                # no preface
        PREFACE + b"\xff" * 200,                                      # garbage frames
        PREFACE + settings + frame(1, 4, 1, b"\xff\xfe\xfd\xfc"),      # broken HPACK
        PREFACE + settings + frame(1, 4, 2, hdr),                     # even stream id
        PREFACE + settings + frame(0, 0, 1, b"x" * 100),              # DATA on an idle stream
        PREFACE + settings + frame(4, 0, 0, b"\x00\x04\xff\xff\xff\xff"),  # window > 2^31-1
        PREFACE + settings + frame(1, 0, 1, hdr[:3]),                 # HEADERS without END_HEADERS, then EOF
        # a CONNECT, then DATA far past the 4 MiB stream window without waiting
        PREFACE + settings + frame(1, 4, 1, hdr) + b"".join(frame(0, 0, 1, b"y" * 16384) for _ in range(320)),
        # 300 streams at once: over the 200 the server allows
        PREFACE + settings + b"".join(frame(1, 4, 2 * i + 1, hdr) for i in range(300)),
        # a 70 KB header list: over the server's 64 KiB
        PREFACE + settings + frame(1, 4, 1, h2.connection.H2Connection().encoder.encode(
            [(b":method", b"CONNECT"), (b":authority", authority.encode()), (b"x-big", b"z" * 70000)])),
        # a CONNECT with data, then the TCP connection is cut mid-stream
        PREFACE + settings + frame(1, 4, 1, hdr) + frame(0, 0, 1, b"half a message"),
    ]
    done = 0
    for data in abuses:
        s, _ = tls_connect(opts, host, port)
        if s is None:
            continue
        try:
            s.sendall(data)
            drain(s, 0.5)
        except (ssl.SSLError, OSError):
            pass
        s.close()
        done += 1
    # TLS without a word, and plain text to a TLS port
    for raw in (b"", b"hello, not TLS\r\n"):
        t = socket.create_connection((host, port), timeout=TIMEOUT)
        if raw:
            t.sendall(raw)
        drain(t, 0.5)
        t.close()
        done += 1
    print("hostile done=%d" % done)


def main():
    opts, rest = parse_args(sys.argv[1:])
    host, port, cmd, args = rest[0], int(rest[1]), rest[2], rest[3:]
    sock, info = tls_connect(opts, host, port)
    if sock is None:
        print("tls refused: %s" % info)
        return
    # TLS 1.3: the server judges the client's certificate after the client's
    # handshake is done, so a refusal shows as the server's first read
    try:
        peer = Peer(sock)
        first = peer.events()
    except (ssl.SSLError, OSError) as e:
        print("tls refused: %s" % e)
        return
    if first is None:
        print("tls refused: closed by the server")
        return
    if cmd == "handshake":
        print("tls ok %s" % info)
        return
    if cmd == "hostile":
        sock.close()
        hostile(opts, host, port, args[0])
        return
    if cmd == "request":
        cmd_request(peer, *args)
    elif cmd == "hold":
        cmd_hold(peer, int(args[0]), args[1])
    elif cmd == "streams":
        cmd_streams(peer, int(args[0]), args[1])
    elif cmd == "idle":
        end = time.time() + float(args[0])
        while time.time() < end:
            if peer.events(max(0.1, end - time.time())) is None and not peer.sock.pending():
                r, _, _ = select.select([peer.sock], [], [], 0)
                if r:
                    break  # readable yet nothing decoded: the server closed
        print("pings=%d" % peer.pings)
    sock.close()


if __name__ == "__main__":
    main()
