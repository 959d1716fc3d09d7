"""Run the simulator app with uvicorn on a pre-bound socket (HTTPS unless told otherwise)."""
from __future__ import annotations

import socket
import sys
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .app import Simulator


def _protocol_class(sim: Simulator) -> type:
    """uvicorn's h11 protocol that lets the app find (and abort) a request's transport."""

    class TrackingProtocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            peer = transport.get_extra_info("peername")
            if peer:
                self._sim_peer = (str(peer[0]), int(peer[1]))
                sim.transports[self._sim_peer] = transport

        def connection_lost(self, exc: Exception | None) -> None:
            peer = getattr(self, "_sim_peer", None)
            if peer:
                sim.transports.pop(peer, None)
            super().connection_lost(exc)

    return TrackingProtocol


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready_line: str) -> None:
        super().__init__(config)
        self.ready_line = ready_line

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        print(self.ready_line, flush=True)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(
    sim: Simulator, app: Any, host: str, port: int, *, certfile: str | None, keyfile: str | None,
    log_level: str = "warning",
) -> None:
    sock = bind(host, port)
    actual_port = sock.getsockname()[1]
    scheme = "https" if certfile else "http"
    shown_host = f"[{host}]" if ":" in host else host
    config = uvicorn.Config(
        app, log_level=log_level, access_log=False, http=_protocol_class(sim), lifespan="off",
        ssl_certfile=certfile, ssl_keyfile=keyfile, timeout_keep_alive=30, timeout_graceful_shutdown=2,
    )
    server = _Server(config, f"Jira simulator ready at {scheme}://{shown_host}:{actual_port}")
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        sys.stdout.flush()
