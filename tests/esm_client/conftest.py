"""Fixtures for the ESM client tests: a client on the session's ESM simulator (real HTTPS).

Tests do not wipe the simulator (other test packages share it); each one tags the cards
it creates with a unique ``task_id`` and filters on it. Knobs are reset after every test.
"""
from __future__ import annotations

import logging
import uuid

import pytest

from jira_esm_connector.http import RetryPolicy

FAST_RETRY = RetryPolicy(total=3, backoff_base=0.01, backoff_cap=0.05, jitter=0, max_retry_after=1.0)


@pytest.fixture
def esm_logger() -> logging.Logger:
    return logging.getLogger("tests.esm_client")


@pytest.fixture
def esm(esm_sim, esm_logger, caplog):
    caplog.set_level(logging.DEBUG)
    client = esm_sim.client(retry=FAST_RETRY, logger=esm_logger)
    try:
        yield client
    finally:
        client.close()
        esm_sim.admin("POST", "reset", {})  # knobs back to defaults; cards stay


@pytest.fixture
def tag() -> str:
    """A task id unique to the test, stamped on every card it creates."""
    return f"t-{uuid.uuid4().hex[:10]}"
