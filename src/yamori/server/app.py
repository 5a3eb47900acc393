"""The FastAPI application: settings, store, middleware, routers, OpenAPI behind a token.

``create_app`` migrates the database before returning (``alembic upgrade head``), so a server
never answers on an old schema, and every replica can start against the same PostgreSQL: alembic
takes the version table's row lock, and a replica finding the schema current does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from yamori import __version__
from yamori.server.auth import ANY, require
from yamori.server.limits import BodyLimitMiddleware
from yamori.store.db import Store, open_store
from yamori.store.queries import NotFound, QueryError, purge
from yamori.store.tokens import IssuedToken, create_token, has_active_admin

DEFAULT_PORT = 8470
DEFAULT_MAX_BODY = 50 * 1024 * 1024
DEFAULT_PURGE_INTERVAL = 3600.0  # seconds between retention purges while serving
log = logging.getLogger("yamori.server")


@dataclass(slots=True)
class ServerSettings:
    """How to run: which database, where to listen, how large a submission may be."""

    db_url: str | None = None  # None: SQLite in the data dir
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    max_body_bytes: int = DEFAULT_MAX_BODY
    purge_on_start: bool = True
    # Retention is enforced at start and then on this timer (0 turns the timer off). Every
    # replica runs it; the deletes are idempotent, so replicas purging together is harmless.
    purge_interval: float = DEFAULT_PURGE_INTERVAL


def ensure_admin_token(store: Store, name: str = "first-admin") -> IssuedToken | None:
    """On a store without an active admin token, create one (the caller prints it once)."""
    with store.session() as session:
        if has_active_admin(session):
            return None
        return create_token(session, name, "admin")


def purge_now(store: Store) -> dict[str, int]:
    """One retention pass (alerts past ``alerts_days``, capture references past
    ``captures_days``) in its own transaction."""
    with store.session() as session:
        return purge(session)


async def _purge_every(store: Store, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            done = await run_in_threadpool(purge_now, store)
        except Exception:  # a failed pass (database away) is retried at the next tick
            log.exception("retention purge failed")
            continue
        if any(done.values()):
            log.info("retention purge: %s", done)


def create_app(settings: ServerSettings, store: Store | None = None) -> FastAPI:
    store = store or open_store(settings.db_url)
    if settings.purge_on_start:
        with store.session() as session:
            purge(session)

    from yamori.server.api import alerts, assets, findings, scans, system, tokens
    from yamori.server.console import mount_console
    from yamori.store.tokens import TokenVerifier

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        timer = (
            asyncio.create_task(_purge_every(store, settings.purge_interval))
            if settings.purge_interval > 0
            else None
        )
        try:
            yield
        finally:
            if timer is not None:
                timer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await timer

    app = FastAPI(
        lifespan=lifespan,
        title="yamori server",
        version=__version__,
        description="Assets, findings with a lifecycle, runtime alerts. Every route needs a bearer token.",
        openapi_url=None,  # served below behind authentication
        docs_url=None,
        redoc_url=None,
    )
    app.state.store = store
    app.state.verifier = TokenVerifier()
    app.state.settings = settings
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)

    @app.exception_handler(NotFound)
    async def _not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(QueryError)
    async def _bad_query(_request: Request, exc: QueryError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"detail": _validation_message(exc.errors()), "errors": _jsonable(exc.errors())}, 422
        )

    @app.get("/api/v1/health", tags=["system"])
    def health() -> dict[str, str]:
        """Liveness and database reachability; the one route that needs no token."""
        with store.session() as session:
            session.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    @app.get("/api/openapi.json", include_in_schema=False, dependencies=[Depends(require(ANY))])
    def openapi() -> dict[str, Any]:
        return app.openapi()

    for module in (scans, findings, assets, alerts, system, tokens):
        app.include_router(module.router, prefix="/api/v1")
    mount_console(app)  # the web console: same process, same store, same tokens
    return app


def _validation_message(errors: Any) -> str:
    """The first problem in one line: where (``body.findings.3.severity``) and what."""
    try:
        first = errors[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return f"invalid request: {where}: {first.get('msg', 'invalid')}"
    except (IndexError, TypeError, AttributeError):
        return "invalid request"


def _jsonable(errors: Any) -> list[dict[str, Any]]:
    # pydantic puts exception objects in ``ctx``; keep the parts a client can read.
    return [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in errors[:20]
    ]
