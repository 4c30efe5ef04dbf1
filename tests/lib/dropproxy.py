#!/usr/bin/env python3
"""A TCP proxy that drops connections midway, for resume tests.

Usage: dropproxy.py TARGET_PORT BYTES DROPS PORT_FILE

Listens on a free 127.0.0.1 port (written to PORT_FILE), forwards every
connection to 127.0.0.1:TARGET_PORT and back. Each of the first DROPS
connections is cut (both ways, RST) once BYTES bytes went towards the
client; later ones pass untouched. TLS passes through, so the client sees
the real server's certificate. Every connection ends after 60 s idle.
"""
import os
import socket
import struct
import sys
import threading

target, limit, drops, port_file = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
lock = threading.Lock()
count = 0


def pump(src, dst, budget, on_done):
    sent = 0
    try:
        while True:
            want = 65536 if budget is None else min(65536, budget - sent)
            if want <= 0:
                break
            data = src.recv(want)
            if not data:
                break
            dst.sendall(data)
            sent += len(data)
    except OSError:
        pass
    on_done(budget is not None and sent >= budget)


def handle(client):
    global count
    with lock:
        count += 1
        drop = count <= drops
    client.settimeout(60)
    try:
        server = socket.create_connection(("127.0.0.1", target), timeout=10)
    except OSError:
        client.close()
        return
    server.settimeout(60)

    def close_both(cut):
        for s in (client, server):
            try:
                if cut:
                    # RST on close: a connection that breaks, not one that ends
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                # shutdown also wakes the other direction's thread blocked in recv
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    done = threading.Event()

    def finished(cut):
        if not done.is_set():
            done.set()
            close_both(cut)

    threading.Thread(target=pump, args=(client, server, None, finished), daemon=True).start()
    pump(server, client, limit if drop else None, finished)


def main():
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.rename(tmp, port_file)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


main()
