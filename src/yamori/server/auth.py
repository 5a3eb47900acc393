"""Bearer-token authentication and role checks, as FastAPI dependencies.

Roles are coarse on purpose — four of them cover who talks to the server:

=========  ====================================================================
admin      everything, including tokens and retention settings
analyst    read everything; suppress, resolve and reopen findings
viewer     read everything
agent      submit scans and alerts only (CI jobs, sensors); cannot read results
=========  ====================================================================

A missing, malformed, unknown or revoked token is 401; a valid token whose role lacks the
right is 403. Nothing but the health endpoint answers without a token.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, HTTPException, Request, status
from starlette.concurrency import run_in_threadpool

from yamori.store.tokens import Principal, TokenVerifier

READ = ("admin", "analyst", "viewer")
TRIAGE = ("admin", "analyst")
SUBMIT = ("admin", "agent")
ADMIN = ("admin",)
ANY = ("admin", "analyst", "viewer", "agent")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


async def principal(request: Request) -> Principal:
    """The caller, from ``Authorization: Bearer <token>``; 401 when there is none valid."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("missing bearer token (Authorization: Bearer <token>)")
    store = request.app.state.store
    verifier: TokenVerifier = request.app.state.verifier

    def check() -> Principal | None:
        with store.session() as session:
            return verifier.verify(session, token.strip())

    # scrypt and the database are blocking: keep them off the event loop.
    found = await run_in_threadpool(check)
    if found is None:
        raise _unauthorized("invalid or revoked token")
    return found


def require(roles: tuple[str, ...]) -> Callable[..., Principal]:
    """A dependency that admits only these roles (403 for the others)."""

    def dependency(who: Principal = Depends(principal)) -> Principal:  # noqa: B008
        if who.role not in roles:
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"role {who.role!r} may not do this (needs {' or '.join(roles)})",
            )
        return who

    return dependency
