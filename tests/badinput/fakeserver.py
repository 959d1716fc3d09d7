"""A tiny scripted HTTP server on 127.0.0.1 (random port) that records every request.

The bad-input suite serves malformed Jira / ESM answers from it (truncated JSON, a proxy's
HTML error page, wrong types) and counts what the connector sent (writes, the JQL of each
search). Routes are ``(METHOD, path regex) -> handler(request) -> Answer``; the first
matching route wins, an unmatched request gets a Jira-style 404.
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# POSTs that only read (the connector's JiraClient treats them the same way)
READ_ONLY_POSTS = ("/rest/api/3/search/jql", "/rest/api/3/search/approximate-count", "/rest/api/3/issue/bulkfetch")

PROXY_502_PAGE = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    @property
    def is_write(self) -> bool:
        return (
            self.method in WRITE_METHODS
            and self.path not in READ_ONLY_POSTS
            and not self.path.endswith("/users/login")
        )


@dataclass
class Answer:
    status: int = 200
    body: bytes | str | Any = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    # announce more bytes than are sent, then close: the body is cut off mid-transfer
    cut_short: bool = False

    def raw(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


def js(body: Any, status: int = 200) -> Answer:
    return Answer(status, json.dumps(body).encode(), "application/json")


Handler = Callable[[Request], Answer]


class FakeServer:
    """``with FakeServer() as srv: srv.route("GET", r"/x", handler)``; ``srv.url`` is the base URL."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        server = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                req = Request(self.command, parts.path, parse_qs(parts.query), dict(self.headers), body)
                with server._lock:
                    server.requests.append(req)
                answer = server._answer(req)
                raw = answer.raw()
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(raw) + (1000 if answer.cut_short else 0)))
                for k, v in answer.headers.items():
                    self.send_header(k, v)
                if answer.cut_short:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # -- scripting
    def route(self, method: str, pattern: str, handler: Handler | Answer) -> None:
        fn = handler if callable(handler) else (lambda _req, a=handler: a)
        self.routes.insert(0, (method.upper(), re.compile(pattern + r"\Z"), fn))

    def _answer(self, req: Request) -> Answer:
        for method, rx, fn in self.routes:
            if method == req.method and rx.match(req.path):
                try:
                    return fn(req)
                except Exception as exc:  # noqa: BLE001 - a bug in a test handler: say so loudly
                    return js({"errorMessages": [f"test handler failed: {exc!r}"]}, 599)
        return js({"errorMessages": [f"null for uri: {req.path}"]}, 404)

    # -- inspection
    def writes(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.is_write]

    def calls(self, method: str, path_regex: str) -> list[Request]:
        rx = re.compile(path_regex + r"\Z")
        with self._lock:
            return [r for r in self.requests if r.method == method and rx.match(r.path)]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def reset(self) -> None:
        """No routes, no recorded requests (between hypothesis examples)."""
        with self._lock:
            self.requests.clear()
            self.routes.clear()

    # -- lifecycle
    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
