"""The overview summary (readers) and retention settings and purge (admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from yamori.server.api.deps import Admin, Reader, StoreDep
from yamori.store.queries import get_retention, purge, set_retention, summary

router = APIRouter(tags=["system"])


class RetentionRequest(BaseModel):
    alerts_days: int | None = Field(default=None, ge=1, le=36500)
    captures_days: int | None = Field(default=None, ge=1, le=36500)


@router.get("/summary")
def overview(_who: Reader, store: StoreDep, top: int = 10) -> dict[str, Any]:
    with store.session() as session:
        return summary(session, top=max(1, min(top, 100)))


@router.get("/settings/retention")
def retention(_who: Admin, store: StoreDep) -> dict[str, int]:
    with store.session() as session:
        return get_retention(session)


@router.put("/settings/retention")
def change_retention(body: RetentionRequest, _who: Admin, store: StoreDep) -> dict[str, int]:
    with store.session() as session:
        return set_retention(session, body.alerts_days, body.captures_days)


@router.post("/retention/purge")
def run_purge(_who: Admin, store: StoreDep) -> dict[str, int]:
    with store.session() as session:
        return purge(session)
