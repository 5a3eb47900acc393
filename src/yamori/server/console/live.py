"""Live alerts: a Server-Sent Events stream, and a JSON feed for clients without EventSource.

Alert ids only grow, so "what is new" is "id greater than the last one the page has". The
stream polls the store once a second with the page's filters (the same ``list_alerts`` the API
uses, so a filter means the same thing everywhere) and re-checks the token on every poll: a
revoked token's stream ends at once. Streams also end after a few minutes; EventSource
reconnects by itself with ``Last-Event-ID``, which keeps long-lived connections from piling up
behind proxies and lets a server restart go unnoticed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from yamori.server.console.filters import alert_filter, number
from yamori.server.console.session import console_user, verify_token
from yamori.store.db import Store
from yamori.store.queries import AlertFilter, list_alerts
from yamori.store.tokens import Principal

router = APIRouter()
User = Annotated[Principal, Depends(console_user)]
POLL_SECONDS = 1.0
STREAM_SECONDS = 300.0
BATCH = 200
KEEPALIVE_POLLS = 15


def alerts_after(store: Store, filters: AlertFilter, after: int) -> list[dict[str, Any]]:
    """Alerts matching the filters with an id above ``after``, oldest first."""
    with store.session() as session:
        newest = list_alerts(session, filters, sort="id", order="desc", limit=BATCH).items
    return sorted((a for a in newest if a["id"] > after), key=lambda a: a["id"])


def _start(request: Request) -> int:
    last = request.headers.get("last-event-id", "")
    return int(last) if last.isdigit() else max(0, number(request, "after", 0))


@router.get("/alerts/feed.json")
def feed(request: Request, _who: User) -> dict[str, Any]:
    """Polling fallback: ``?after=<id>`` → the newer alerts."""
    store: Store = request.app.state.store
    return {"items": alerts_after(store, alert_filter(request), _start(request))}


@router.get("/alerts/stream")
async def stream(request: Request, _who: User) -> StreamingResponse:
    store: Store = request.app.state.store
    filters = alert_filter(request)
    token = str(request.state.console_token)
    after = _start(request)

    async def events() -> AsyncIterator[bytes]:
        nonlocal after
        yield b"retry: 2000\n\n"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STREAM_SECONDS
        idle = 0
        while loop.time() < deadline and not await request.is_disconnected():
            if await verify_token(request, token) is None:
                yield b"event: logout\ndata: {}\n\n"
                return
            for alert in await run_in_threadpool(alerts_after, store, filters, after):
                after = alert["id"]
                yield b"id: %d\nevent: alert\ndata: %s\n\n" % (after, orjson.dumps(alert))
            idle += 1
            if idle % KEEPALIVE_POLLS == 0:  # proxies close connections that stay silent
                yield b": keep-alive\n\n"
            await asyncio.sleep(POLL_SECONDS)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
