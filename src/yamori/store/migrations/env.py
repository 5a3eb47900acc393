"""Alembic environment: migrate the connection the caller hands over (see ``store.db.upgrade``).

There is no ``alembic.ini`` and no URL in here on purpose: the server decides which database to
use, so the environment only runs migrations on the connection it is given. Running the
``alembic`` command line against a URL still works through ``sqlalchemy.url`` for developers
writing a new revision.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from yamori.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables the portable way.
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as conn:
        _run(conn)
