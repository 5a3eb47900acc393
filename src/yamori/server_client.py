"""Client side of ``yamori server``: submit a scan or alerts with retries.

Scanners run in CI jobs and on nodes where the server may be restarting or briefly overloaded,
so connection errors, 429 and 5xx are retried with exponential backoff; 4xx answers are final
(a bad token or payload will not get better by repeating it) and raise at once with the server's
message. ``server_options`` is the decorator that gives a scanning command ``--server`` and
``--token``; ``submit_scan`` is the one call to make after the result is built.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import click
import orjson

if TYPE_CHECKING:  # httpx is imported when a submission happens: every scan command imports this
    import httpx

Kind = Literal["image", "posture", "alerts", "workloads"]
ROUTES: dict[str, str] = {
    "image": "/api/v1/scans/image",
    "posture": "/api/v1/scans/posture",
    "alerts": "/api/v1/alerts",
    "workloads": "/api/v1/scans/workloads",
}
F = TypeVar("F", bound=Callable[..., Any])


class SubmitError(RuntimeError):
    """The server refused the submission or could not be reached; one line saying why."""


def submit_scan(
    url: str,
    token: str,
    payload: dict[str, Any] | list[Any] | bytes,
    *,
    kind: Kind = "image",
    attempts: int = 5,
    backoff: float = 0.5,
    timeout: float = 120.0,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """POST one payload to the server; returns its JSON answer (counts of what changed).

    ``payload`` is the document as the CLI prints it (``-f json``), already parsed, or its raw
    bytes (alerts as JSON lines). Submissions are idempotent on the server, so a retry after a
    response was lost cannot double-count findings.
    """
    if kind not in ROUTES:
        raise SubmitError(f"unknown kind {kind!r}; choose one of {', '.join(ROUTES)}")
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    content_type = "application/json"
    if kind == "alerts" and isinstance(payload, bytes) and not payload.lstrip().startswith(b"["):
        content_type = "application/x-ndjson"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    endpoint = url.rstrip("/") + ROUTES[kind]
    last = ""
    import httpx

    with httpx.Client(timeout=timeout, transport=transport) as client:
        for attempt in range(max(1, attempts)):
            if attempt:
                time.sleep(backoff * 2 ** (attempt - 1))
            try:
                response = client.post(endpoint, content=body, headers=headers)
            except httpx.TransportError as exc:
                last = f"cannot reach {url}: {exc}"
                continue
            if response.status_code == 429 or response.status_code >= 500:
                last = f"{endpoint}: HTTP {response.status_code}"
                continue
            if response.status_code >= 400:
                raise SubmitError(f"{endpoint}: HTTP {response.status_code}: {_detail(response)}")
            answer: dict[str, Any] = response.json()
            return answer
    raise SubmitError(f"{last} (gave up after {attempts} attempts)")


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:200]


def server_options(function: F) -> F:
    """``--server URL --token T`` (also ``YAMORI_SERVER``/``YAMORI_TOKEN``) for a command."""
    function = click.option(
        "--token", envvar="YAMORI_TOKEN", help="API token for --server (an agent token is enough)."
    )(function)
    return click.option(
        "--server", "server_url", envvar="YAMORI_SERVER", help="Also submit the result to this yamori server."
    )(function)


def submit_if_requested(
    server_url: str | None, token: str | None, payload: dict[str, Any] | list[Any] | bytes, kind: Kind
) -> None:
    """The one call a command makes after building its result; prints a line on stderr."""
    if not server_url:
        return
    if not token:
        raise click.UsageError("--server needs --token (or YAMORI_TOKEN)")
    try:
        answer = submit_scan(server_url, token, payload, kind=kind)
    except SubmitError as exc:
        click.echo(f"yamori: error: {exc}", err=True)
        raise click.exceptions.Exit(2) from None
    counts = answer.get("counts")
    summary = ", ".join(f"{k} {v}" for k, v in counts.items()) if isinstance(counts, dict) else str(answer)
    click.echo(f"yamori: submitted to {server_url}: {summary}", err=True)
