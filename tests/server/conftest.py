"""Fixtures of the server tests: the same tests run on SQLite and on a real PostgreSQL.

``db_url`` is parametrized over both backends; ``client`` is a FastAPI TestClient on a freshly
migrated store with one token per role in ``tokens``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from support.postgres import PostgresServer, postgres_server  # noqa: F401  (fixture)
from yamori.server import ServerSettings, create_app
from yamori.store import Store, open_store
from yamori.store.tokens import create_token

ROLES = ("admin", "analyst", "viewer", "agent")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'server.sqlite'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = open_store(db_url)
    yield opened
    opened.dispose()


@pytest.fixture
def tokens(store: Store) -> dict[str, str]:
    with store.session() as session:
        return {role: create_token(session, f"test-{role}", role).secret for role in ROLES}


@pytest.fixture
def client(store: Store, tokens: dict[str, str]) -> Iterator[TestClient]:
    app = create_app(ServerSettings(max_body_bytes=2 * 1024 * 1024), store=store)
    with TestClient(app) as test_client:
        yield test_client
