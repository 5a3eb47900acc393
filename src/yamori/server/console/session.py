"""Console sessions: the API token in an HttpOnly cookie, checked against the store per request.

Why the cookie holds the token itself rather than a session id: the token is already a
self-authenticating secret that the store can verify (scrypt hash, revocation) on every request,
on any replica, with the same ``TokenVerifier`` the API uses — so there is no session table to
keep and revoking a token ends its console sessions at once. The cookie is HttpOnly (scripts,
including an injected one, cannot read it), SameSite=Strict (other sites cannot make the browser
send it), scoped to ``/console`` and Secure when the request came over HTTPS.

CSRF: every state-changing form carries ``csrf``, an HMAC of a fixed label keyed by the session's
token. It is per session, needs no server state, and cannot be computed without the token that
only the HttpOnly cookie holds. POSTs with another ``Origin`` are refused as well.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import HTTPException, Request, Response, status
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from yamori.server.auth import READ, require
from yamori.store.tokens import Principal, TokenVerifier

COOKIE = "yamori_console"
COOKIE_PATH = "/console"
_CSRF_LABEL = b"yamori-console-csrf-v1"
MAX_FORM_BYTES = 64 * 1024


class LoginRequired(Exception):
    """No valid token in the cookie: pages redirect to the login page, feeds answer 401."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


def csrf_token(token: str) -> str:
    """The session's CSRF value: derived from the token, so it changes with every login."""
    return hmac.new(token.encode(), _CSRF_LABEL, hashlib.sha256).hexdigest()


async def verify_token(request: Request, token: str) -> Principal | None:
    """The API's own token check (same verifier, same store), off the event loop."""
    store = request.app.state.store
    verifier: TokenVerifier = request.app.state.verifier

    def check() -> Principal | None:
        with store.session() as session:
            return verifier.verify(session, token)

    return await run_in_threadpool(check)


async def console_user(request: Request) -> Principal:
    """Dependency of every console route: the cookie's token, valid now, with a reading role.

    Role checks go through ``auth.require`` — the console has no role rules of its own.
    """
    token = request.cookies.get(COOKIE, "").strip()
    if not token:
        raise LoginRequired()
    who = await verify_token(request, token)
    if who is None:
        raise LoginRequired("your token is invalid or was revoked")
    request.state.console_token = token
    return require(READ)(who)


def session_csrf(request: Request) -> str:
    """The CSRF value for forms on this page (after ``console_user`` ran)."""
    return csrf_token(str(request.state.console_token))


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form body, first value per field (no multipart dependency needed)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "form too large")
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in parsed.items()}


def check_origin(request: Request) -> None:
    """Refuse a POST whose ``Origin`` names another site (browsers send it on form posts)."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-origin form submission refused")


def check_csrf(request: Request, form: dict[str, str]) -> None:
    """403 unless the form's ``csrf`` matches this session's value."""
    check_origin(request)
    expected = session_csrf(request)
    if not hmac.compare_digest(form.get("csrf", "").encode(), expected.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or invalid CSRF token; reload the page")


def set_session(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=COOKIE_PATH,
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")


def safe_next(target: str | None) -> str:
    """Only a console path may follow the login (no open redirect to another site)."""
    if target and target.startswith(f"{COOKIE_PATH}/") and not target.startswith("//"):
        return target
    return f"{COOKIE_PATH}/"


def login_redirect(request: Request, exc: LoginRequired) -> Response:
    """Pages go to the login form (remembering where the user was); feeds get a plain 401."""
    wants_data = request.url.path.endswith((".json", "/stream"))
    if wants_data:
        return JSONResponse({"detail": exc.reason or "log in first"}, status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"{COOKIE_PATH}/login?next={quote(target, safe='')}"
    response = RedirectResponse(location, status_code=status.HTTP_303_SEE_OTHER)
    if exc.reason:
        clear_session(response)
    return response
