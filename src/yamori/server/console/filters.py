"""Query-string parsing for the console's filter forms.

HTML forms send empty strings for untouched fields and check boxes as ``on``; these helpers turn
that into the ``None``/bool/number values the queries take, ignoring garbage rather than
failing the page (a hand-edited URL shows everything instead of an error).
"""

from __future__ import annotations

from fastapi import Request

from yamori.server.console.data import VulnFilter
from yamori.store.queries import AlertFilter


def text(request: Request, name: str) -> str:
    return request.query_params.get(name, "").strip()[:512]


def number(request: Request, name: str, default: int = 1) -> int:
    try:
        return int(text(request, name))
    except ValueError:
        return default


def tristate(request: Request, name: str) -> bool | None:
    """``yes``/``no``/anything else → True/False/None (a three-way select)."""
    return {"yes": True, "no": False}.get(text(request, name))


def vuln_filter(request: Request) -> VulnFilter:
    epss: float | None
    try:
        epss = float(text(request, "epss")) if text(request, "epss") else None
    except ValueError:
        epss = None
    image = number(request, "image", 0) or None
    status = text(request, "status") or "open"
    return VulnFilter(
        severity=[s for s in request.query_params.getlist("severity") if s],
        status=status,
        fix=tristate(request, "fix"),
        kev=tristate(request, "kev"),
        epss=epss,
        image=image,
        text=text(request, "q"),
    )


def alert_filter(request: Request) -> AlertFilter:
    rule = text(request, "rule")
    priority = text(request, "priority")
    return AlertFilter(
        rule=[rule] if rule else [],
        priority=[priority] if priority else [],
        container=text(request, "container") or None,
        namespace=text(request, "namespace") or None,
    )


def params(request: Request) -> dict[str, str | list[str]]:
    """The current query string as a dict (lists kept), for links that change one value."""
    out: dict[str, str | list[str]] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        out[key] = values if len(values) > 1 else values[0]
    return out
