"""A tiny real HTTPS server that cuts its first connections in the middle of TLS.

``TlsCuttingServer(tls_dir, cuts=n)`` reads each of its first ``n`` connections' ClientHello
and closes the TCP connection without answering: the client's handshake ends in
``ssl.SSLEOFError`` ("EOF occurred in violation of protocol") -- what a server, load
balancer or proxy cutting a connection looks like from Python. Later connections get a
real TLS session (certificate from ``devtools.tls``) and ``200 {"ok": true}``.
``connections`` counts accepted connections, ``served`` the requests answered.
"""
from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

from devtools.tls import ensure_tls_material

_ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n"
           b"Connection: close\r\n\r\n{\"ok\": true}")


class TlsCuttingServer:
    def __init__(self, tls_dir: Path, cuts: int) -> None:
        material = ensure_tls_material(tls_dir)
        self.ca_pem = material.ca_pem
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(material.cert_pem, material.key_pem)
        self.cuts, self.connections, self.served = cuts, 0, 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="tls-cutting-server", daemon=True)

    def start(self) -> TlsCuttingServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self._sock.getsockname()[1]}{path}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with conn:
                conn.settimeout(5)
                if self.connections <= self.cuts:
                    conn.recv(65536)  # the ClientHello, read so that closing sends FIN, not RST
                    continue
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        try:
            with self._context.wrap_socket(conn, server_side=True) as tls:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = tls.recv(65536)
                    if not chunk:
                        return
                    request += chunk
                head, _, body = request.partition(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(body) < length:
                    body += tls.recv(65536)
                tls.sendall(_ANSWER)
                self.served += 1
        except (ssl.SSLError, OSError):
            pass  # e.g. the client refused the certificate
