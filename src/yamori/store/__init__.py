"""The server's store: SQLAlchemy models, alembic migrations, ingestion and queries.

``open_store(url)`` gives a migrated ``Store``; ``ingest`` turns submitted scans and alerts into
assets, findings with a lifecycle, and alerts; ``queries`` answers the API's list and summary
requests; ``tokens`` issues and checks API tokens; ``retention`` purges old alerts.
"""

from yamori.store.db import Store, StoreError, default_url, open_store

__all__ = ["Store", "StoreError", "default_url", "open_store"]
