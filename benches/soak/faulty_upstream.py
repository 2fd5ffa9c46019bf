#!/usr/bin/env python3
"""A SCIM target that misbehaves on request, for the soak run (benches/soak/run.sh).

    faulty_upstream.py PORT

Reads each request whole (head + Content-Length body), then does what the last path segment
names, so the soak driver knows what the IdP should get back through the gateway:

    ok       200 with a small user (the connection is kept; closed by us after 2 s idle, so the
             gateway's pool meets connections the target closed meanwhile)
    hang     reads nothing more and says nothing until the gateway hangs up (-> 504)
    trickle  a head declaring 4000 bytes, then one byte every 100 ms (-> 504)
    reset    a head declaring 10000 bytes, 100 of them, then RST (SO_LINGER 0) (-> 502)
    close    closes without a byte (-> 502)
    garbage  bytes that are not HTTP (-> 502)
    huge     20 MiB chunked, more than the tenant's max_response_bytes (-> 502)

Anything else is `ok`. Standard library only; one thread per connection.
"""
import socket
import socketserver
import struct
import sys
import time

USER = b'{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"ok","userName":"ok@example.com"}'


def head(status, extra=b""):
    return b"HTTP/1.1 " + status + b"\r\nContent-Type: application/scim+json\r\n" + extra + b"\r\n"


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = self.reader = s.makefile("rb")
        while True:
            s.settimeout(2.0)  # idle keep-alive: close after 2 s
            try:
                line = f.readline(65536)
            except OSError:
                return
            if not line:
                return
            s.settimeout(30.0)
            length = 0
            try:
                while True:
                    h = f.readline(65536)
                    if not h:
                        return
                    h = h.strip().lower()
                    if not h:
                        break
                    if h.startswith(b"content-length:"):
                        length = int(h.split(b":", 1)[1])
                if length:
                    f.read(length)
            except (OSError, ValueError):
                return
            parts = line.split()
            mode = parts[1].rsplit(b"/", 1)[-1].split(b"?")[0].decode() if len(parts) > 1 else "ok"
            try:
                if not getattr(self, mode, None) or mode.startswith("_") or mode == "handle":
                    mode = "ok"
                if getattr(self, mode)(s) is False:
                    return
            except OSError:
                return

    def ok(self, s):
        s.sendall(head(b"200 OK", b"Content-Length: %d\r\n" % len(USER)) + USER)

    def hang(self, s):
        s.settimeout(60.0)
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass
        return False

    def trickle(self, s):
        s.sendall(head(b"200 OK", b"Content-Length: 4000\r\n") + b"{")
        for _ in range(3999):
            time.sleep(0.1)
            s.sendall(b" ")
        return False

    def reset(self, s):
        s.sendall(head(b"200 OK", b"Content-Length: 10000\r\n") + b" " * 100)
        time.sleep(0.05)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # Close here, before socketserver's shutdown(SHUT_WR) would send a FIN first.
        self.reader.close()
        s.close()
        return False

    def close(self, s):
        return False

    def garbage(self, s):
        s.sendall(b"\x16\x03\x01 this is not HTTP at all\r\n\r\n")
        return False

    def huge(self, s):
        s.sendall(head(b"200 OK", b"Transfer-Encoding: chunked\r\n"))
        block = b"10000\r\n" + b"a" * 0x10000 + b"\r\n"
        for _ in range(320):  # 20 MiB
            s.sendall(block)
        s.sendall(b"0\r\n\r\n")
        return False


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512


if __name__ == "__main__":
    with Server(("127.0.0.1", int(sys.argv[1])), Handler) as srv:
        srv.serve_forever()
