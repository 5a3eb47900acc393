"""What changes state: logging in and out, suppressing, resolving and reopening findings.

Every POST here except the login goes through the same three checks, in this order: a valid
token in the cookie (``console_user``), the role (``auth.require(TRIAGE)``, the API's rule —
a viewer gets 403 even with a hand-made request), and the session's CSRF value.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from yamori.server.auth import READ, TRIAGE, require
from yamori.server.console.render import render
from yamori.server.console.session import (
    check_csrf,
    check_origin,
    clear_session,
    console_user,
    read_form,
    safe_next,
    set_session,
    verify_token,
)
from yamori.store.db import Store
from yamori.store.queries import QueryError, reopen_finding, resolve_finding, suppress_finding
from yamori.store.tokens import Principal

router = APIRouter()
User = Annotated[Principal, Depends(console_user)]


@router.get("/login")
def login_form(request: Request) -> HTMLResponse:
    return render(request, "login.html", {"next": safe_next(request.query_params.get("next")), "error": ""})


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the pasted token exactly as the API would, then keep it in the session cookie."""
    check_origin(request)
    form = await read_form(request)
    token = form.get("token", "").strip()
    target = safe_next(form.get("next"))
    who = await verify_token(request, token) if token else None
    if who is None:
        context = {"next": target, "error": "That token is not valid (unknown, malformed or revoked)."}
        return render(request, "login.html", context, status_code=401)
    try:
        require(READ)(who)
    except HTTPException:
        context = {"next": target, "error": f"A {who.role} token cannot read findings; use another token."}
        return render(request, "login.html", context, status_code=403)
    response = RedirectResponse(target, status_code=303)
    set_session(request, response, token)
    return response


@router.post("/logout")
async def logout(request: Request, _who: User) -> Response:
    check_csrf(request, await read_form(request))
    response = RedirectResponse("/console/login", status_code=303)
    clear_session(response)
    return response


def _until(value: str) -> datetime | None:
    """The expiry field: a date (end of that day, UTC) or a full date-time; empty is none."""
    value = value.strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise QueryError(f"cannot read the expiry {value!r}; use YYYY-MM-DD") from None
    if len(value) == 10:
        parsed = datetime.combine(parsed.date(), time(23, 59, 59))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _back(finding_id: int, error: str = "") -> RedirectResponse:
    suffix = f"?error={quote(error)}" if error else ""
    return RedirectResponse(f"/console/findings/{finding_id}{suffix}", status_code=303)


async def _triage_form(request: Request, who: Principal) -> dict[str, str]:
    require(TRIAGE)(who)
    form = await read_form(request)
    check_csrf(request, form)
    return form


@router.post("/findings/{finding_id}/suppress")
async def suppress(request: Request, who: User, finding_id: int) -> Response:
    form = await _triage_form(request, who)
    store: Store = request.app.state.store

    def apply() -> None:
        with store.session() as session:
            suppress_finding(
                session,
                finding_id,
                reason=form.get("reason", ""),
                until=_until(form.get("until", "")),
                actor=who.name,
            )

    try:
        await run_in_threadpool(apply)
    except QueryError as exc:
        return _back(finding_id, str(exc))
    return _back(finding_id)


async def _triage(request: Request, who: User, finding_id: int, change: Callable[..., object]) -> Response:
    """Apply one state change (resolve, reopen) with the form's reason; back to the finding."""
    form = await _triage_form(request, who)
    store: Store = request.app.state.store

    def apply() -> None:
        with store.session() as session:
            change(session, finding_id, reason=form.get("reason", ""), actor=who.name)

    await run_in_threadpool(apply)
    return _back(finding_id)


@router.post("/findings/{finding_id}/resolve")
async def resolve(request: Request, who: User, finding_id: int) -> Response:
    return await _triage(request, who, finding_id, resolve_finding)


@router.post("/findings/{finding_id}/reopen")
async def reopen(request: Request, who: User, finding_id: int) -> Response:
    """Back to open from resolved or suppressed (the history row says who and why)."""
    return await _triage(request, who, finding_id, reopen_finding)
