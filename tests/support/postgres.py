"""A real PostgreSQL for the server-store tests, started once per session on a free port.

initdb refuses to run as root, so the cluster lives in a temp dir owned by the ``postgres``
user and every server command runs through ``runuser -u postgres``. Each test then gets a fresh,
empty database (``CREATE DATABASE``), which also exercises the migrations from zero every time.
Without root, a postgres user or the Debian binaries the fixture skips and says why.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.registry import free_port

__all__ = ["PostgresServer", "postgres_server"]


@dataclass
class PostgresServer:
    port: int
    data_dir: Path
    bin_dir: Path
    _counter: itertools.count[int]

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = f"yamori_test_{os.getpid()}_{next(self._counter)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        _as_postgres([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "stop"])


def _as_postgres(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True, timeout=120, check=False
    )


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def start_postgres() -> tuple[PostgresServer | None, str]:
    """(server, "") or (None, the reason it could not start)."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        return None, "PostgreSQL is not installed (scripts/install-system-deps.sh installs it)"
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        return None, "starting PostgreSQL needs root (initdb runs as the postgres user via runuser)"
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        return None, "no postgres user on this machine"
    root = Path(tempfile.mkdtemp(prefix="yamori-pg-"))
    os.chown(root, user.pw_uid, user.pw_gid)
    data = root / "data"
    init = _as_postgres(
        [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"]
    )
    if init.returncode != 0:
        return None, f"initdb failed: {init.stderr.strip() or init.stdout.strip()}"
    port = free_port()
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    started = _as_postgres(
        [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"]
    )
    if started.returncode != 0:
        log = (root / "log").read_text(errors="replace") if (root / "log").exists() else ""
        return None, f"pg_ctl start failed: {started.stderr.strip()} {log.strip()[-500:]}"
    server = PostgresServer(port=port, data_dir=data, bin_dir=bin_dir, _counter=itertools.count())
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            psycopg.connect(server.url("postgres")).close()
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                server.stop()
                return None, "PostgreSQL did not accept connections within 30 s"
            time.sleep(0.2)
    return server, ""


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server, reason = start_postgres()
    if server is None:
        pytest.skip(reason)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.data_dir.parent, ignore_errors=True)
