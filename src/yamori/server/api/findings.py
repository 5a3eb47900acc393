"""Findings: filtered lists, one finding with its history, and the analyst actions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from yamori.server.api.deps import Reader, StoreDep, Triager, csv
from yamori.store.queries import (
    FindingFilter,
    finding_detail,
    list_findings,
    reopen_finding,
    resolve_finding,
    suppress_finding,
)

router = APIRouter(tags=["findings"])


class SuppressRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=4000)
    until: datetime | None = Field(default=None, description="expiry (RFC 3339); none: until lifted")


class NoteRequest(BaseModel):
    reason: str = Field(default="", max_length=4000)


@router.get("/findings")
def findings(
    _who: Reader,
    store: StoreDep,
    severity: Annotated[list[str] | None, Query(description="e.g. HIGH,CRITICAL")] = None,
    status: Annotated[list[str] | None, Query(description="open, resolved, suppressed")] = None,
    kind: Annotated[list[str] | None, Query(description="vulnerability, misconfiguration, …")] = None,
    scan_kind: Annotated[list[str] | None, Query(description="image or posture")] = None,
    rule: Annotated[list[str] | None, Query()] = None,
    asset: int | None = None,
    asset_kind: Annotated[list[str] | None, Query()] = None,
    kev: bool | None = None,
    fix_available: bool | None = None,
    q: Annotated[str | None, Query(description="text in title, rule, resource, package")] = None,
    sort: str = "severity",
    order: str = "desc",
    offset: int = 0,
    limit: int = 50,
) -> dict[str, Any]:
    filters = FindingFilter(
        severity=csv(severity),
        status=csv(status),
        kind=csv(kind),
        scan_kind=csv(scan_kind),
        rule=csv(rule),
        asset=asset,
        asset_kind=csv(asset_kind),
        kev=kev,
        fix_available=fix_available,
        text=q,
    )
    with store.session() as session:
        return list_findings(session, filters, sort=sort, order=order, offset=offset, limit=limit).to_json()


@router.get("/findings/{finding}")
def finding(finding: int, _who: Reader, store: StoreDep) -> dict[str, Any]:
    with store.session() as session:
        return finding_detail(session, finding)


@router.post("/findings/{finding}/suppress")
def suppress(finding: int, body: SuppressRequest, who: Triager, store: StoreDep) -> dict[str, Any]:
    until = body.until
    if until is not None and until.tzinfo is not None:
        until = until.astimezone(UTC).replace(tzinfo=None)
    with store.session() as session:
        suppress_finding(session, finding, reason=body.reason, until=until, actor=who.name)
        session.flush()
        return finding_detail(session, finding)


@router.post("/findings/{finding}/resolve")
def resolve(finding: int, who: Triager, store: StoreDep, body: NoteRequest | None = None) -> dict[str, Any]:
    with store.session() as session:
        resolve_finding(session, finding, reason=body.reason if body else "", actor=who.name)
        session.flush()
        return finding_detail(session, finding)


@router.post("/findings/{finding}/reopen")
def reopen(finding: int, who: Triager, store: StoreDep, body: NoteRequest | None = None) -> dict[str, Any]:
    with store.session() as session:
        reopen_finding(session, finding, reason=body.reason if body else "", actor=who.name)
        session.flush()
        return finding_detail(session, finding)
