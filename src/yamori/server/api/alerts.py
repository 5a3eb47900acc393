"""Runtime alerts: POST in Falco's JSON (an array, one object, or JSON lines), GET filtered."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from yamori.server.api.deps import Reader, StoreDep, Submitter, csv
from yamori.store.ingest import ingest_alerts
from yamori.store.payloads import AlertPayload
from yamori.store.queries import AlertFilter, list_alerts

router = APIRouter(tags=["alerts"])
_ALERTS = TypeAdapter(list[AlertPayload])

_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
        "description": "Alerts as `yamori detect --format json` (or Falco's json_output) writes them.",
    }
}


def parse_alert_body(body: bytes) -> list[Any]:
    """A JSON array, a single object, or one JSON object per line — whatever a sensor sends."""
    text = body.strip()
    if not text:
        raise HTTPException(400, "empty body: send a JSON array of alerts or JSON lines")
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        items = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                raise HTTPException(400, f"malformed JSON on line {number}: {exc}") from None
        return items
    return doc if isinstance(doc, list) else [doc]


@router.post("/alerts", status_code=201, openapi_extra=_BODY_DOC)
async def submit_alerts(request: Request, _who: Submitter, store: StoreDep) -> dict[str, Any]:
    items = parse_alert_body(await request.body())
    try:
        alerts = _ALERTS.validate_python(items)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise HTTPException(422, f"invalid alert: {where}: {first['msg']}") from None

    def store_all() -> int:
        with store.session() as session:
            return ingest_alerts(session, alerts)

    return {"stored": await run_in_threadpool(store_all)}


@router.get("/alerts")
def alerts(
    _who: Reader,
    store: StoreDep,
    rule: Annotated[list[str] | None, Query()] = None,
    priority: Annotated[list[str] | None, Query()] = None,
    source: Annotated[list[str] | None, Query()] = None,
    hostname: str | None = None,
    container: Annotated[str | None, Query(description="container id or name")] = None,
    namespace: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    q: Annotated[str | None, Query(description="text in the output or rule name")] = None,
    sort: str = "time",
    order: str = "desc",
    offset: int = 0,
    limit: int = 50,
) -> dict[str, Any]:
    filters = AlertFilter(
        rule=rule or [],  # rule names contain commas often enough: no splitting here
        priority=csv(priority),
        source=csv(source),
        hostname=hostname,
        container=container,
        namespace=namespace,
        since=_naive(since),
        until=_naive(until),
        text=q,
    )
    with store.session() as session:
        return list_alerts(session, filters, sort=sort, order=order, offset=offset, limit=limit).to_json()


def _naive(value: datetime | None) -> datetime | None:
    from datetime import UTC

    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)
