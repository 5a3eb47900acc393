"""Jinja2 rendering with autoescape forced on, and the security headers every page carries.

Autoescape is set explicitly (not by file extension) so that no template can be added that
renders a finding's text as markup. The Content-Security-Policy allows scripts and styles only
from the console's own static files: an escaped payload cannot run, and even a template mistake
would not let an inline ``<script>`` execute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from yamori import __version__

TEMPLATES = Path(__file__).parent / "templates"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")


def _query(params: dict[str, Any], **changes: Any) -> str:
    """The current filters with some changed: pagination and sort links keep the filters."""
    merged = {**params, **changes}
    return "?" + urlencode({k: v for k, v in merged.items() if v not in (None, "", False)}, doseq=True)


def _when(value: str | None) -> str:
    """RFC 3339 from the store → ``2024-05-01 12:30:05`` (UTC), short enough for tables."""
    if not value:
        return ""
    return value.replace("T", " ")[:19]


environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.globals.update(query=_query, severities=SEVERITIES, version=__version__)
environment.filters["when"] = _when


def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """A page: the template with the signed-in user and the session's CSRF value available."""
    base: dict[str, Any] = {"request": request, "user": None, "csrf": "", "page": ""}
    state = request.state
    if hasattr(state, "console_token"):
        from yamori.server.console.session import session_csrf

        base["csrf"] = session_csrf(request)
    html = environment.get_template(template).render({**base, **context})
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
