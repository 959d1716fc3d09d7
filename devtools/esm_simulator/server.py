"""Run the simulator with uvicorn (HTTPS by default) and print the ready line."""
from __future__ import annotations

import logging
import socket
import struct
import sys
from typing import Any

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

# (host, port) of a connected client -> its asyncio transport, so a knob can reset it
_CONNECTIONS: dict[Any, Any] = {}


class ResettableHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol, remembering transports so a request's connection can be reset."""

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.client:
            _CONNECTIONS[tuple(self.client)] = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client:
            _CONNECTIONS.pop(tuple(self.client), None)
        super().connection_lost(exc)


def abort_connection(client: Any) -> bool:
    """Close the client's TCP connection with a RST (SO_LINGER 0). False if unknown."""
    transport = _CONNECTIONS.pop(tuple(client), None) if client else None
    if transport is None:
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()
    return True


class _QuietResets(logging.Filter):
    """A reset connection leaves the request without a response; uvicorn would log that as
    an error although it is exactly what the knob asked for."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("ASGI callable returned without starting response")


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready_line: str):
        super().__init__(config)
        self.ready_line = ready_line

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(self.ready_line, flush=True)


def serve(app: Any, host: str, port: int, *, certfile: str | None, keyfile: str | None) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        print(f"ESM simulator cannot listen on {host}:{port}: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    sock.listen(256)
    sock.set_inheritable(True)
    actual_port = sock.getsockname()[1]
    scheme = "https" if certfile else "http"
    shown_host = f"[{host}]" if ":" in host else host
    config = uvicorn.Config(
        app, http=ResettableHTTPProtocol, ssl_certfile=certfile, ssl_keyfile=keyfile,
        log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30,
        # idle TLS connections wait for the client's close_notify; do not hang a shutdown on them
        timeout_graceful_shutdown=2,
    )
    config.load()  # configures uvicorn's loggers, so the filter below stays in place
    logging.getLogger("uvicorn.error").addFilter(_QuietResets())
    server = _Server(config, f"ESM simulator ready at {scheme}://{shown_host}:{actual_port}/rest-api/itsm/v1")
    server.run(sockets=[sock])
