"""``yamori server``: the REST API over the store (the web console is built on top of it).

``create_app(settings)`` gives the FastAPI application; ``yamori.cli.server`` runs it with
uvicorn. See docs/server.md for the routes, roles and finding lifecycle.
"""

from yamori.server.app import ServerSettings, create_app, ensure_admin_token

__all__ = ["ServerSettings", "create_app", "ensure_admin_token"]
