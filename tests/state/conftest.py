"""State store fixtures: one store per test on SQLite (temp file) and on PostgreSQL
(a unique schema per test, dropped afterwards)."""
from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from jira_esm_connector.state import StateStore

PG_URL = os.environ.get("JIRA_ESM_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_schema():
    schema = f"jesm_test_{uuid.uuid4().hex[:10]}"
    yield schema
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_factory(request, tmp_path):
    """Returns ``make()`` -> a StateStore on the same database each call (to test re-opening)."""
    made: list[StateStore] = []
    if request.param == "sqlite":
        url, kwargs = f"sqlite:///{tmp_path}/state.db", {}
    else:
        schema = request.getfixturevalue("pg_schema")
        url, kwargs = PG_URL, {"schema": schema}

    def make(**extra) -> StateStore:
        store = StateStore(url, **{**kwargs, **extra})
        made.append(store)
        return store

    make.url = url  # type: ignore[attr-defined]
    make.kwargs = kwargs  # type: ignore[attr-defined]
    make.backend = request.param  # type: ignore[attr-defined]
    yield make
    for store in made:
        store.dispose()


@pytest.fixture
def store(store_factory) -> StateStore:
    return store_factory()
