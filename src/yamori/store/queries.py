"""Reads for the API and the console: filtered, sorted, paginated lists, the summary, and the
analyst actions on a finding (suppress, resolve, reopen).

Every filter value is a bound parameter and every sort key comes from a fixed table of columns,
so what a user types into a filter is only ever data (the tests send SQL injection strings).
Pagination is offset-based with a total count: the console shows "page 3 of 40", and with the
indexes on status/severity/last_seen it stays usable at 100,000+ findings. Every sort ends with
the primary key so pages never overlap or skip rows when values tie.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, delete, func, or_, select, update
from sqlalchemy.orm import Session

from yamori.store.db import iso, utcnow
from yamori.store.ingest import add_history
from yamori.store.models import AlertRecord, Asset, FindingRecord, ImagePackage, ScanRun, Setting
from yamori.store.payloads import SEVERITY_RANK

MAX_LIMIT = 1000


class QueryError(ValueError):
    """A request the store cannot answer as asked (unknown sort key, bad state change)."""


class NotFound(LookupError):
    """No row with that id."""


@dataclass(slots=True)
class Page:
    """One page of rows plus what the client needs to fetch the next one."""

    total: int
    offset: int
    limit: int
    items: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        following = self.offset + len(self.items)
        return {
            "total": self.total,
            "offset": self.offset,
            "limit": self.limit,
            "next_offset": following if following < self.total else None,
            "items": self.items,
        }


@dataclass(slots=True)
class FindingFilter:
    severity: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    scan_kind: list[str] = field(default_factory=list)
    rule: list[str] = field(default_factory=list)
    asset: int | None = None
    asset_kind: list[str] = field(default_factory=list)
    kev: bool | None = None
    fix_available: bool | None = None
    text: str | None = None


def _order(columns: dict[str, Any], sort: str, order: str, pk: Any) -> list[Any]:
    if sort not in columns:
        raise QueryError(f"cannot sort by {sort!r}; choose one of {', '.join(sorted(columns))}")
    if order not in ("asc", "desc"):
        raise QueryError("order must be asc or desc")
    column = columns[sort]
    return [column.desc(), pk.desc()] if order == "desc" else [column.asc(), pk.asc()]


def _page(
    session: Session, query: Select[Any], order_by: list[Any], offset: int, limit: int
) -> tuple[int, list[Any]]:
    if limit < 1 or limit > MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT}")
    if offset < 0:
        raise QueryError("offset must be 0 or more")
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = session.scalars(query.order_by(*order_by).offset(offset).limit(limit)).all()
    return total, list(rows)


def _text(columns: list[Any], text: str | None) -> ColumnElement[bool] | None:
    if not text:
        return None
    return or_(*(column.icontains(text, autoescape=True) for column in columns))


# --- findings --------------------------------------------------------------------------------

FINDING_SORTS: dict[str, Any] = {
    "severity": FindingRecord.severity_rank,
    "last_seen": FindingRecord.last_seen,
    "first_seen": FindingRecord.first_seen,
    "risk": FindingRecord.risk,
    "rule": FindingRecord.rule_id,
    "status": FindingRecord.status,
    "title": FindingRecord.title,
    "id": FindingRecord.id,
}


def finding_to_json(record: FindingRecord, asset: Asset | None = None) -> dict[str, Any]:
    asset = asset or record.asset
    return {
        "id": record.id,
        "finding_id": record.finding_id,
        "asset": {"id": asset.id, "kind": asset.kind, "name": asset.name},
        "scan_kind": record.scan_kind,
        "kind": record.kind,
        "rule_id": record.rule_id,
        "severity": record.severity,
        "status": record.status,
        "present": record.present,
        "title": record.title,
        "description": record.description,
        "remediation": record.remediation,
        "resource": record.resource,
        "package_name": record.package_name,
        "kev": record.kev,
        "fix_available": record.fix_available,
        "risk": record.risk,
        "evidence": record.evidence,
        "details": record.details,
        "first_seen": iso(record.first_seen),
        "last_seen": iso(record.last_seen),
        "resolved_at": iso(record.resolved_at),
        "reopened_count": record.reopened_count,
        "suppression": (
            {
                "reason": record.suppressed_reason,
                "until": iso(record.suppressed_until),
                "by": record.suppressed_by,
            }
            if record.status == "suppressed"
            else None
        ),
    }


def list_findings(
    session: Session,
    filters: FindingFilter,
    *,
    sort: str = "severity",
    order: str = "desc",
    offset: int = 0,
    limit: int = 50,
) -> Page:
    conditions: list[ColumnElement[bool]] = []
    if filters.severity:
        conditions.append(FindingRecord.severity.in_([s.upper() for s in filters.severity]))
    if filters.status:
        conditions.append(FindingRecord.status.in_([s.lower() for s in filters.status]))
    if filters.kind:
        conditions.append(FindingRecord.kind.in_(filters.kind))
    if filters.scan_kind:
        conditions.append(FindingRecord.scan_kind.in_(filters.scan_kind))
    if filters.rule:
        conditions.append(FindingRecord.rule_id.in_(filters.rule))
    if filters.asset is not None:
        conditions.append(FindingRecord.asset_id == filters.asset)
    if filters.asset_kind:
        conditions.append(FindingRecord.asset.has(Asset.kind.in_(filters.asset_kind)))
    if filters.kev is not None:
        conditions.append(FindingRecord.kev.is_(filters.kev))
    if filters.fix_available is not None:
        conditions.append(FindingRecord.fix_available.is_(filters.fix_available))
    text = _text(
        [FindingRecord.title, FindingRecord.rule_id, FindingRecord.resource, FindingRecord.package_name],
        filters.text,
    )
    if text is not None:
        conditions.append(text)
    query = select(FindingRecord).where(*conditions)
    total, rows = _page(session, query, _order(FINDING_SORTS, sort, order, FindingRecord.id), offset, limit)
    assets = _assets_by_id(session, {r.asset_id for r in rows})
    return Page(total, offset, limit, [finding_to_json(r, assets[r.asset_id]) for r in rows])


def _assets_by_id(session: Session, ids: set[int]) -> dict[int, Asset]:
    if not ids:
        return {}
    return {a.id: a for a in session.scalars(select(Asset).where(Asset.id.in_(ids)))}


def get_finding(session: Session, pk: int) -> FindingRecord:
    record = session.get(FindingRecord, pk)
    if record is None:
        raise NotFound(f"no finding with id {pk}")
    return record


def finding_detail(session: Session, pk: int) -> dict[str, Any]:
    record = get_finding(session, pk)
    doc = finding_to_json(record)
    doc["history"] = [
        {
            "at": iso(h.at),
            "from": h.from_status,
            "to": h.to_status,
            "actor": h.actor,
            "reason": h.reason,
        }
        for h in record.history
    ]
    return doc


def suppress_finding(
    session: Session, pk: int, *, reason: str, until: datetime | None, actor: str
) -> FindingRecord:
    """Accept a risk: the finding leaves the open list until ``until`` (never, when None)."""
    if not reason.strip():
        raise QueryError("a suppression needs a reason")
    now = utcnow()
    if until is not None and until <= now:
        raise QueryError("the suppression expiry must be in the future")
    record = get_finding(session, pk)
    note = reason if until is None else f"{reason} (until {iso(until)})"
    add_history(session, record, "suppressed", actor, note, now)
    record.suppressed_reason = reason
    record.suppressed_until = until
    record.suppressed_by = actor
    return record


def resolve_finding(session: Session, pk: int, *, reason: str, actor: str) -> FindingRecord:
    """Mark fixed by hand; the next scan that still reports it reopens it (and counts that)."""
    record = get_finding(session, pk)
    if record.status == "resolved":
        return record
    now = utcnow()
    add_history(session, record, "resolved", actor, reason or "resolved by hand", now)
    record.resolved_at = now
    _clear_suppression(record)
    return record


def reopen_finding(session: Session, pk: int, *, reason: str, actor: str) -> FindingRecord:
    record = get_finding(session, pk)
    if record.status == "open":
        return record
    now = utcnow()
    if record.status == "resolved":
        record.reopened_count += 1
    add_history(session, record, "open", actor, reason or "reopened by hand", now)
    record.resolved_at = None
    _clear_suppression(record)
    return record


def _clear_suppression(record: FindingRecord) -> None:
    record.suppressed_reason = None
    record.suppressed_until = None
    record.suppressed_by = None


# --- assets ----------------------------------------------------------------------------------

ASSET_SORTS: dict[str, Any] = {
    "name": Asset.name,
    "kind": Asset.kind,
    "first_seen": Asset.first_seen,
    "last_seen": Asset.last_seen,
    "id": Asset.id,
}


def asset_to_json(asset: Asset, open_counts: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "id": asset.id,
        "kind": asset.kind,
        "key": asset.key,
        "name": asset.name,
        "attributes": asset.attributes,
        "first_seen": iso(asset.first_seen),
        "last_seen": iso(asset.last_seen),
        "open_findings": open_counts or {},
    }


def _open_counts(session: Session, ids: list[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}
    if not ids:
        return counts
    rows = session.execute(
        select(FindingRecord.asset_id, FindingRecord.severity, func.count())
        .where(FindingRecord.asset_id.in_(ids), FindingRecord.status == "open")
        .group_by(FindingRecord.asset_id, FindingRecord.severity)
    )
    for asset_id, severity, count in rows:
        counts[asset_id][severity] = count
    return counts


def list_assets(
    session: Session,
    *,
    kind: list[str] | None = None,
    text: str | None = None,
    sort: str = "last_seen",
    order: str = "desc",
    offset: int = 0,
    limit: int = 50,
) -> Page:
    conditions: list[ColumnElement[bool]] = []
    if kind:
        conditions.append(Asset.kind.in_(kind))
    matched = _text([Asset.name, Asset.key], text)
    if matched is not None:
        conditions.append(matched)
    query = select(Asset).where(*conditions)
    total, rows = _page(session, query, _order(ASSET_SORTS, sort, order, Asset.id), offset, limit)
    counts = _open_counts(session, [a.id for a in rows])
    return Page(total, offset, limit, [asset_to_json(a, counts[a.id]) for a in rows])


def asset_detail(session: Session, pk: int) -> dict[str, Any]:
    asset = session.get(Asset, pk)
    if asset is None:
        raise NotFound(f"no asset with id {pk}")
    doc = asset_to_json(asset, _open_counts(session, [pk])[pk])
    if asset.kind == WORKLOAD_KIND:
        doc["links"] = workload_links(session, asset)
    return doc


# --- workloads -------------------------------------------------------------------------------

WORKLOAD_KIND = "container"
_CONTAINER_ID = re.compile(r"[0-9a-f]{12,64}")


def workload_image(session: Session, attributes: dict[str, Any]) -> tuple[Asset, str] | None:
    """The scanned image a container runs, and how it was matched.

    The image id (the config digest) names the exact content the container runs, so it wins;
    then the manifest digest; then the reference — a tag may have been rebuilt and rescanned
    since the container started, so ``reference`` says "this tag as last scanned".
    """
    ref = str(attributes.get("image") or "")
    image_id = str(attributes.get("image_id") or "")
    digest = str(attributes.get("image_digest") or "")
    conditions: list[ColumnElement[bool]] = []
    if ref:
        conditions.append(Asset.key == ref)
    if image_id:
        conditions.append(Asset.attributes["image_id"].as_string() == image_id)
    if digest:
        conditions.append(Asset.attributes["digest"].as_string() == digest)
    if not conditions:
        return None
    candidates = session.scalars(
        select(Asset)
        .where(Asset.kind == "image", or_(*conditions))
        .order_by(Asset.last_seen.desc(), Asset.id.desc())
        .limit(20)
    ).all()

    def rank(candidate: Asset) -> tuple[int, int, str]:
        # then, among equals, the one scanned under the container's own reference
        same_ref = 0 if ref and candidate.key == ref else 1
        if image_id and candidate.attributes.get("image_id") == image_id:
            return 0, same_ref, "image id"
        if digest and candidate.attributes.get("digest") == digest:
            return 1, same_ref, "digest"
        return 2, same_ref, "reference"

    if candidates:
        best = min(candidates, key=lambda candidate: rank(candidate)[:2])  # first of the newest
        return best, rank(best)[2]
    return None


def workload_links(session: Session, asset: Asset) -> dict[str, Any]:
    """A workload's image asset (for its vulnerabilities and packages) and host asset."""
    image = workload_image(session, asset.attributes)
    host_name = str(asset.attributes.get("host") or "")
    host = (
        session.scalar(
            select(Asset).where(Asset.kind == "host", Asset.name == host_name).order_by(Asset.id).limit(1)
        )
        if host_name
        else None
    )
    return {
        "image": {"id": image[0].id, "name": image[0].name, "matched_by": image[1]} if image else None,
        "host": {"id": host.id, "name": host.name} if host else None,
    }


def workload_ids(session: Session, container_ids: set[str]) -> dict[str, int]:
    """Alert container ids (Falco prints 12 hex digits, runtimes 64) → workload asset ids."""
    wanted = sorted(c for c in container_ids if c and _CONTAINER_ID.fullmatch(c))
    if not wanted:
        return {}
    rows = session.execute(
        select(Asset.key, Asset.id).where(
            Asset.kind == WORKLOAD_KIND, or_(*(Asset.key.startswith(c) for c in wanted))
        )
    ).all()
    found: dict[str, int] = {}
    for cid in wanted:
        for key, pk in rows:
            if key.startswith(cid):
                found[cid] = pk
                break
    return found


def list_packages(session: Session, asset_id: int, *, text: str | None, offset: int, limit: int) -> Page:
    if session.get(Asset, asset_id) is None:
        raise NotFound(f"no asset with id {asset_id}")
    conditions: list[ColumnElement[bool]] = [ImagePackage.asset_id == asset_id]
    matched = _text([ImagePackage.name, ImagePackage.purl], text)
    if matched is not None:
        conditions.append(matched)
    query = select(ImagePackage).where(*conditions)
    sorts = {"name": ImagePackage.name}
    total, rows = _page(session, query, _order(sorts, "name", "asc", ImagePackage.id), offset, limit)
    items = [
        {
            "name": p.name,
            "version": p.version,
            "type": p.type,
            "purl": p.purl,
            "location": p.location,
            "licenses": p.licenses,
            "layer_digest": p.layer_digest,
            "layer_index": p.layer_index,
            "in_use": p.in_use,
        }
        for p in rows
    ]
    return Page(total, offset, limit, items)


# --- alerts and scan runs --------------------------------------------------------------------

ALERT_SORTS: dict[str, Any] = {
    "time": AlertRecord.time,
    "rule": AlertRecord.rule,
    "priority": AlertRecord.priority,
    "id": AlertRecord.id,
}


@dataclass(slots=True)
class AlertFilter:
    rule: list[str] = field(default_factory=list)
    priority: list[str] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    hostname: str | None = None
    container: str | None = None
    namespace: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None


def alert_to_json(row: AlertRecord) -> dict[str, Any]:
    return {
        "id": row.id,
        "time": row.time_ns or iso(row.time),
        "rule": row.rule,
        "priority": row.priority,
        "source": row.source,
        "hostname": row.hostname,
        "output": row.output,
        "output_fields": row.output_fields,
        "tags": row.tags,
        "container_id": row.container_id,
        "container_name": row.container_name,
        "namespace": row.namespace,
        "pod": row.pod,
        "capture_ref": row.capture_ref,
        "received_at": iso(row.received_at),
    }


def list_alerts(
    session: Session,
    filters: AlertFilter,
    *,
    sort: str = "time",
    order: str = "desc",
    offset: int = 0,
    limit: int = 50,
) -> Page:
    conditions: list[ColumnElement[bool]] = []
    if filters.rule:
        conditions.append(AlertRecord.rule.in_(filters.rule))
    if filters.priority:
        conditions.append(func.lower(AlertRecord.priority).in_([p.lower() for p in filters.priority]))
    if filters.source:
        conditions.append(AlertRecord.source.in_(filters.source))
    if filters.hostname:
        conditions.append(AlertRecord.hostname == filters.hostname)
    if filters.container:
        conditions.append(
            or_(
                AlertRecord.container_id == filters.container, AlertRecord.container_name == filters.container
            )
        )
    if filters.namespace:
        conditions.append(AlertRecord.namespace == filters.namespace)
    if filters.since:
        conditions.append(AlertRecord.time >= filters.since)
    if filters.until:
        conditions.append(AlertRecord.time < filters.until)
    matched = _text([AlertRecord.output, AlertRecord.rule], filters.text)
    if matched is not None:
        conditions.append(matched)
    query = select(AlertRecord).where(*conditions)
    total, rows = _page(session, query, _order(ALERT_SORTS, sort, order, AlertRecord.id), offset, limit)
    items = [alert_to_json(r) for r in rows]
    workloads = workload_ids(session, {r.container_id for r in rows if r.container_id})
    for item in items:
        item["workload_id"] = workloads.get(item["container_id"] or "")
    return Page(total, offset, limit, items)


def list_scan_runs(session: Session, *, kind: list[str] | None, offset: int, limit: int) -> Page:
    conditions = [ScanRun.kind.in_(kind)] if kind else []
    query = select(ScanRun).where(*conditions)
    sorts = {"started_at": ScanRun.started_at}
    total, rows = _page(session, query, _order(sorts, "started_at", "desc", ScanRun.id), offset, limit)
    items = [
        {
            "id": r.id,
            "kind": r.kind,
            "source": r.source,
            "target": r.target,
            "started_at": iso(r.started_at),
            "finished_at": iso(r.finished_at),
            "counts": r.counts,
        }
        for r in rows
    ]
    return Page(total, offset, limit, items)


# --- summary ---------------------------------------------------------------------------------


def asset_counts(session: Session) -> dict[str, int]:
    """Assets per kind (the inventory's tabs)."""
    rows = session.execute(select(Asset.kind, func.count()).group_by(Asset.kind))
    return {kind: count for kind, count in rows}


def summary(session: Session, *, top: int = 10) -> dict[str, Any]:
    """The console's overview: counts by severity and status, assets by kind, recent alerts,
    and the open findings to fix first (known-exploited, then severity, then risk score)."""
    by_status: dict[str, dict[str, int]] = {}
    for status, severity, count in session.execute(
        select(FindingRecord.status, FindingRecord.severity, func.count()).group_by(
            FindingRecord.status, FindingRecord.severity
        )
    ):
        by_status.setdefault(status, {})[severity] = count
    open_by_severity = {name: by_status.get("open", {}).get(name, 0) for name in SEVERITY_RANK}
    assets = asset_counts(session)
    since = utcnow() - timedelta(hours=24)
    alerts: dict[str, int] = {
        priority: count
        for priority, count in session.execute(
            select(AlertRecord.priority, func.count())
            .where(AlertRecord.time >= since)
            .group_by(AlertRecord.priority)
        )
    }
    risky = session.scalars(
        select(FindingRecord)
        .where(FindingRecord.status == "open")
        .order_by(
            case((FindingRecord.kev.is_(True), 1), else_=0).desc(),
            FindingRecord.severity_rank.desc(),
            FindingRecord.risk.desc(),
            FindingRecord.last_seen.desc(),
            FindingRecord.id.desc(),
        )
        .limit(top)
    ).all()
    asset_rows = _assets_by_id(session, {r.asset_id for r in risky})
    return {
        "findings": {
            "by_status": {s: sum(v.values()) for s, v in by_status.items()},
            "by_status_and_severity": by_status,
            "open_by_severity": open_by_severity,
            "open_kev": session.scalar(
                select(func.count()).where(and_(FindingRecord.status == "open", FindingRecord.kev.is_(True)))
            )
            or 0,
        },
        "assets": {"by_kind": assets, "total": sum(assets.values())},
        "alerts_24h": {"by_priority": alerts, "total": sum(alerts.values())},
        "top_risks": [finding_to_json(r, asset_rows[r.asset_id]) for r in risky],
    }


# --- retention -------------------------------------------------------------------------------

RETENTION_KEY = "retention"
DEFAULT_RETENTION = {"alerts_days": 30, "captures_days": 7}


def get_retention(session: Session) -> dict[str, int]:
    row = session.get(Setting, RETENTION_KEY)
    return {**DEFAULT_RETENTION, **(row.value if row else {})}


def set_retention(session: Session, alerts_days: int | None, captures_days: int | None) -> dict[str, int]:
    current = get_retention(session)
    for name, value in (("alerts_days", alerts_days), ("captures_days", captures_days)):
        if value is not None:
            if value < 1:
                raise QueryError(f"{name} must be 1 or more")
            current[name] = value
    row = session.get(Setting, RETENTION_KEY)
    if row is None:
        session.add(Setting(key=RETENTION_KEY, value=dict(current)))
    else:
        row.value = dict(current)
    return current


def purge(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Delete alerts older than ``alerts_days``; drop capture references older than
    ``captures_days`` (the capture files are removed by whoever holds them)."""
    now = now or utcnow()
    retention = get_retention(session)
    alerts = session.execute(
        delete(AlertRecord).where(AlertRecord.time < now - timedelta(days=retention["alerts_days"]))
    )
    captures = session.execute(
        update(AlertRecord)
        .where(
            AlertRecord.capture_ref.is_not(None),
            AlertRecord.time < now - timedelta(days=retention["captures_days"]),
        )
        .values(capture_ref=None)
    )
    return {
        "alerts_deleted": getattr(alerts, "rowcount", 0) or 0,
        "captures_dropped": getattr(captures, "rowcount", 0) or 0,
    }
