from __future__ import annotations

import pytest

from .scripted_server import ScriptedServer


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
