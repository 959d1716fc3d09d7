"""A tiny real HTTP server whose answers are scripted per request, for the retry tests.

``server.script(path, [(status, headers, body) | "reset", ...])`` queues answers for a path;
when the queue is empty the server answers 200 ``{"ok": true}``. ``server.hits[path]`` counts
requests by path and ``server.requests`` records (method, path, headers, body).
"""
from __future__ import annotations

import json
import socket
import struct
import threading
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


class ScriptedServer:
    def __init__(self) -> None:
        self._scripts: dict[str, deque[Any]] = defaultdict(deque)
        self.hits: dict[str, int] = defaultdict(int)
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                path = urlsplit(self.path).path
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with outer._lock:
                    outer.hits[path] += 1
                    outer.requests.append((self.command, self.path, dict(self.headers), body))
                    step = outer._scripts[path].popleft() if outer._scripts[path] else None
                if step == "reset":
                    # abortive close: the client sees "connection reset by peer"
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                if step is None:
                    step = (200, {}, {"ok": True, "method": self.command})
                status, headers, payload = step
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def script(self, path: str, steps: list[Any]) -> None:
        with self._lock:
            self._scripts[path].extend(steps)

    def reset_state(self) -> None:
        with self._lock:
            self._scripts.clear()
            self.hits.clear()
            self.requests.clear()
