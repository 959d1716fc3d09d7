"""A small forwarding HTTP proxy in front of the Jira simulator, for faults that happen
*after* Jira has done the work: the request reaches Jira and takes effect, then the caller
gets a 502 (like a load balancer timing out) or the connection is dropped.

The simulator's own fault knobs answer before handling the request; this proxy covers the
other, nastier case. Real sockets, real HTTP on both sides. It can also rewrite a response
body (e.g. hide a custom field from ``/field`` until a test "creates" it).
"""
from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


@dataclass
class AfterEffectFault:
    method: str
    path_prefix: str
    kind: str  # "502" | "reset"
    count: int = 1


@dataclass
class ForwardingProxy:
    upstream: str  # e.g. https://127.0.0.1:1234
    ca_pem: str
    faults: list[AfterEffectFault] = field(default_factory=list)
    forwarded: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, upstream status)
    rewrites: dict[tuple[str, str], Callable[[bytes], bytes]] = field(default_factory=dict)  # (method, path) -> body

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._session = requests.Session()
        self._session.trust_env = False
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
                upstream = proxy._session.request(
                    self.command, proxy.upstream + self.path, data=body, headers=headers,
                    verify=proxy.ca_pem, timeout=60,
                )
                path = self.path.split("?", 1)[0]
                with proxy._lock:
                    proxy.forwarded.append((self.command, path, upstream.status_code))
                    fault = next(
                        (f for f in proxy.faults if f.count > 0 and f.method == self.command and path.startswith(f.path_prefix)),
                        None,
                    )
                    if fault is not None:
                        fault.count -= 1
                if fault is not None and fault.kind == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault is not None:
                    payload = b'{"errorMessages":["Bad gateway (injected after Jira handled the request)"],"errors":{}}'
                    self.send_response(502)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                content = upstream.content
                with proxy._lock:
                    rewrite = proxy.rewrites.get((self.command, path))
                if rewrite is not None:
                    content = rewrite(content)
                self.send_response(upstream.status_code)
                for k, v in upstream.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail_after(self, method: str, path_prefix: str, kind: str = "502", count: int = 1) -> None:
        with self._lock:
            self.faults.append(AfterEffectFault(method, path_prefix, kind, count))

    def rewrite_response(self, method: str, path: str, fn: Callable[[bytes], bytes] | None) -> None:
        """Pass the body of every ``method path`` response through ``fn`` (None: stop)."""
        with self._lock:
            if fn is None:
                self.rewrites.pop((method, path), None)
            else:
                self.rewrites[(method, path)] = fn

    def count(self, method: str, path_prefix: str) -> int:
        with self._lock:
            return sum(1 for m, p, _ in self.forwarded if m == method and p.startswith(path_prefix))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._session.close()
