"""Alembic migrations of the server store, shipped in the package and run by ``upgrade``."""
