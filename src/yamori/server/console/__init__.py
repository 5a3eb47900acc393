"""The web console: server-rendered pages over the same store and tokens as the REST API.

It lives in the server process (no separate front-end build, nothing to deploy twice) and is
mounted by ``create_app`` through ``mount_console``. Pages are Jinja2 templates with autoescape
on, because findings and alerts carry attacker-controlled text (package names, process command
lines); the only script is a small static file, so a strict Content-Security-Policy can forbid
inline script altogether.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from yamori.server.console.session import LoginRequired, login_redirect

PREFIX = "/console"
STATIC_DIR = Path(__file__).parent / "static"


def mount_console(app: FastAPI) -> None:
    """Add the console's routes, its static files and the login redirect to ``app``."""
    from yamori.server.console import actions, admin, live, pages

    for module in (pages, actions, live, admin):
        app.include_router(module.router, prefix=PREFIX, include_in_schema=False)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="console-static")

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        return login_redirect(request, exc)

    @app.get("/", include_in_schema=False)
    def _root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=307)
