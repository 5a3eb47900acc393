"""Opening the store: database URL → engine + session factory, migrated to the latest schema.

The server calls ``open_store`` once at start; every request then takes a session from
``Store.session()``. Migrations run through alembic's API against the package's own
``migrations`` folder, so an installed wheel migrates without an ``alembic.ini`` on disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from yamori.config import data_dir


class StoreError(RuntimeError):
    """The database cannot be opened or migrated; the message says what and how to fix it."""


def utcnow() -> datetime:
    """Naive UTC now: what every DateTime column holds (see models' docstring)."""
    return datetime.now(UTC).replace(tzinfo=None)


def iso(value: datetime | None) -> str | None:
    """Naive UTC from the database → RFC 3339 with ``Z`` (what the API returns)."""
    return None if value is None else value.isoformat(timespec="microseconds") + "Z"


def default_url() -> str:
    """SQLite in the data dir: one machine needs no database server."""
    return f"sqlite:///{data_dir() / 'server.sqlite'}"


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` as users write it; SQLAlchemy needs the driver (psycopg 3) named."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the console read while a scan is being stored; busy_timeout makes concurrent
    # writers wait instead of failing; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    except ModuleNotFoundError as exc:
        raise StoreError(
            f"{exc.name} is missing for {url.split(':', 1)[0]}; install yamori[postgres]"
        ) from None


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run alembic ``upgrade`` in-process on this engine (idempotent)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@dataclass
class Store:
    """An engine and its session factory; the one object the server's routes depend on."""

    engine: Engine
    sessions: sessionmaker[Session]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose work is one transaction: committed on success, rolled back on error.

        Submissions rely on this: a payload that fails half-way leaves nothing behind.
        """
        with self.sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(url: str | None = None, *, migrate: bool = True) -> Store:
    engine = make_engine(url or default_url())
    if migrate:
        try:
            upgrade(engine)
        except Exception as exc:
            engine.dispose()
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"cannot open the store at {engine.url!r}: {first}") from exc
    return Store(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))
