from __future__ import annotations

import pytest

from .scripted_server import ScriptedServer
from .tls_cutting_server import TlsCuttingServer


@pytest.fixture(scope="session")
def _scripted_server():
    server = ScriptedServer().start()
    yield server
    server.stop()


@pytest.fixture
def scripted(_scripted_server):
    _scripted_server.reset_state()
    yield _scripted_server
    _scripted_server.reset_state()


@pytest.fixture
def tls_cutting(tmp_path_factory):
    """``tls_cutting(cuts=n)``: a started :class:`TlsCuttingServer`, stopped after the test."""
    servers: list[TlsCuttingServer] = []
    tls_dir = tmp_path_factory.mktemp("tls")

    def start(cuts: int) -> TlsCuttingServer:
        servers.append(TlsCuttingServer(tls_dir, cuts).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
