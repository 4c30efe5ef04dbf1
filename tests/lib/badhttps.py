#!/usr/bin/env python3
"""A broken update server for the channel tests, on 127.0.0.1.

badhttps.py MODE CERT KEY PORTFILE COUNTFILE
  MODE 500     TLS with CERT/KEY; every request is answered "500 Internal Server Error"
  MODE silent  accepts TCP connections (the kernel does, via the backlog) and never
               says a word, not even the TLS handshake
The chosen port is written to PORTFILE; every connection (500) or accepted
socket (silent) appends one line to COUNTFILE, so a test can tell whether
a client came at all. Runs until killed."""
import http.server
import socket
import ssl
import sys
import threading
import time

mode, cert, key, portfile, countfile = sys.argv[1:6]


def count():
    with open(countfile, "a") as f:
        f.write("hit\n")


if mode == "500":
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            count()
            body = b"broken\n"
            self.send_response(500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(portfile, "w") as f:
        f.write(str(srv.server_address[1]))
    srv.serve_forever()
else:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    with open(portfile, "w") as f:
        f.write(str(s.getsockname()[1]))
    held = []

    def accept():
        while True:
            c, _ = s.accept()
            held.append(c)  # keep it open, say nothing
            count()

    threading.Thread(target=accept, daemon=True).start()
    while True:
        time.sleep(3600)
