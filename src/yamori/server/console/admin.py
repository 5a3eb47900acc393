"""Admin pages: API tokens (list, create — shown once —, revoke) and retention settings.

Same checks as every console POST (see ``actions``): a valid session, the role through the
API's ``require(ADMIN)`` — analysts and viewers get 403 on the pages and on hand-made POSTs —
and the session's CSRF value. A new token's secret is rendered in the response to the POST
that created it and nowhere else (pages carry ``Cache-Control: no-store``); the store keeps
only its hash, like tokens made by ``yamori server token create``.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from yamori.server.auth import ADMIN, require
from yamori.server.console.render import render
from yamori.server.console.session import check_csrf, console_user, read_form
from yamori.store.db import Store
from yamori.store.models import ROLES
from yamori.store.queries import QueryError, get_retention, purge, set_retention
from yamori.store.tokens import (
    IssuedToken,
    Principal,
    TokenError,
    create_token,
    list_tokens,
    revoke_token,
    token_to_json,
)

router = APIRouter(prefix="/admin")


def console_admin(who: Annotated[Principal, Depends(console_user)]) -> Principal:
    """A signed-in admin (403 for analysts and viewers, login redirect without a session)."""
    return require(ADMIN)(who)


Admin = Annotated[Principal, Depends(console_admin)]


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _page(request: Request, who: Principal, template: str, section: str, **context: Any) -> HTMLResponse:
    context = {"user": who, "page": "admin", "section": section, "can_triage": True, **context}
    return render(request, template, context)


def _tokens_page(
    request: Request, who: Principal, *, issued: IssuedToken | None = None, error: str = "", notice: str = ""
) -> HTMLResponse:
    with _store(request).session() as session:
        rows = [token_to_json(row) for row in list_tokens(session)]
    return _page(
        request,
        who,
        "admin_tokens.html",
        "tokens",
        tokens=rows,
        roles=ROLES,
        issued=issued,
        error=error,
        notice=notice,
    )


@router.get("/")
def admin_home(_who: Admin) -> RedirectResponse:
    return RedirectResponse("/console/admin/tokens", status_code=303)


@router.get("/tokens")
def tokens(request: Request, who: Admin) -> HTMLResponse:
    notice = request.query_params.get("notice", "")[:200]
    error = request.query_params.get("error", "")[:200]
    return _tokens_page(request, who, notice=notice, error=error)


@router.post("/tokens")
async def create(request: Request, who: Admin) -> Response:
    form = await read_form(request)
    check_csrf(request, form)
    name, role = form.get("name", "").strip()[:256], form.get("role", "")
    store = _store(request)

    def issue() -> IssuedToken:
        with store.session() as session:
            return create_token(session, name, role)

    try:
        issued = await run_in_threadpool(issue)
    except TokenError as exc:
        return _tokens_page(request, who, error=str(exc))
    return await run_in_threadpool(lambda: _tokens_page(request, who, issued=issued))


@router.post("/tokens/{token_id}/revoke")
async def revoke(request: Request, who: Admin, token_id: int) -> Response:
    form = await read_form(request)
    check_csrf(request, form)
    if token_id == who.token_id:
        message = "you are signed in with that token: sign in with another admin token to revoke it"
        return RedirectResponse(f"/console/admin/tokens?error={quote(message)}", status_code=303)
    store = _store(request)

    def apply() -> str:
        with store.session() as session:
            return str(revoke_token(session, token_id).name)

    try:
        name = await run_in_threadpool(apply)
    except TokenError as exc:
        return RedirectResponse(f"/console/admin/tokens?error={quote(str(exc))}", status_code=303)
    return RedirectResponse(f"/console/admin/tokens?notice={quote(f'revoked {name}')}", status_code=303)


def _retention_page(request: Request, who: Principal, *, error: str = "", notice: str = "") -> HTMLResponse:
    with _store(request).session() as session:
        current = get_retention(session)
    return _page(
        request,
        who,
        "admin_retention.html",
        "retention",
        retention=current,
        interval=getattr(request.app.state.settings, "purge_interval", 0),
        error=error,
        notice=notice,
    )


@router.get("/retention")
def retention(request: Request, who: Admin) -> HTMLResponse:
    notice = request.query_params.get("notice", "")[:200]
    return _retention_page(request, who, notice=notice)


def _days(form: dict[str, str], name: str) -> int:
    value = form.get(name, "").strip()
    try:
        days = int(value)
    except ValueError:
        raise QueryError(f"{name.replace('_', ' ')}: {value!r} is not a number of days") from None
    if not 1 <= days <= 36500:
        raise QueryError(f"{name.replace('_', ' ')} must be between 1 and 36500")
    return days


@router.post("/retention")
async def save_retention(request: Request, who: Admin) -> Response:
    """Save, then purge at once: a shorter retention takes effect now, not at the next tick."""
    form = await read_form(request)
    check_csrf(request, form)
    store = _store(request)
    try:
        alerts_days, captures_days = _days(form, "alerts_days"), _days(form, "captures_days")
    except QueryError as exc:
        message = str(exc)
        return await run_in_threadpool(lambda: _retention_page(request, who, error=message))

    def apply() -> dict[str, int]:
        with store.session() as session:
            set_retention(session, alerts_days, captures_days)
            return purge(session)

    done = await run_in_threadpool(apply)
    notice = (
        f"saved; purged {done['alerts_deleted']} alert(s) and {done['captures_dropped']} capture reference(s)"
    )
    return RedirectResponse(f"/console/admin/retention?notice={quote(notice)}", status_code=303)
