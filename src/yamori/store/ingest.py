"""Submitted scans → assets and findings with a lifecycle; submitted alerts → alert rows.

The lifecycle, per asset and scan kind (an image scan never resolves a posture finding):

- a finding the scan reports (``OPEN``/``FAIL``) is *present*: new → ``open``; ``open`` → only
  ``last_seen`` moves; ``resolved`` → ``open`` again with ``reopened_count`` + 1 and a history
  row; ``suppressed`` stays suppressed (an accepted risk is not re-raised by every scan);
- a stored finding of that asset the scan does not report, or reports as ``PASS`` /
  ``NOT_APPLICABLE``, is *absent*: ``open`` → ``resolved``; suppressed stays suppressed;
- ``ERROR``/``MANUAL``/``UNKNOWN`` outcomes say nothing about the finding: it is left as it is,
  so a failed API call never closes real problems;
- a suppression whose expiry has passed falls back to ``open`` if the last scan still saw the
  finding, else ``resolved`` (``expire_suppressions``, run before every submission and read).

Submitting the same payload twice therefore changes nothing but ``last_seen`` (and records a
second scan run: runs are the submission log). Everything happens in the caller's transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yamori.store.db import utcnow
from yamori.store.models import AlertRecord, Asset, FindingHistory, FindingRecord, ImagePackage, ScanRun
from yamori.store.payloads import (
    SEVERITY_RANK,
    AlertPayload,
    FindingPayload,
    ImageScanPayload,
    PostureScanPayload,
    WorkloadReportPayload,
)

PRESENT = frozenset({"OPEN", "FAIL"})
ABSENT = frozenset({"PASS", "NOT_APPLICABLE", "RESOLVED"})
_CHUNK = 500  # keeps IN (...) lists below every backend's bound-parameter limit
SCAN_ACTOR = "scan"
WORKLOAD_KIND = "container"  # a container seen running on a host (k8s_object: a Kubernetes object)
NOT_RUNNING = "not running"


@dataclass(slots=True)
class IngestCounts:
    """What a submission changed; stored on the scan run and returned to the client."""

    assets: int = 0
    new: int = 0
    reopened: int = 0
    resolved: int = 0
    unchanged: int = 0
    suppressed: int = 0
    packages: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, int]:
        return {
            "assets": self.assets,
            "new": self.new,
            "reopened": self.reopened,
            "resolved": self.resolved,
            "unchanged": self.unchanged,
            "suppressed": self.suppressed,
            "packages": self.packages,
            **self.extra,
        }


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def add_history(
    session: Session, record: FindingRecord, to_status: str, actor: str, reason: str, now: datetime
) -> None:
    """Change a finding's status and write the history row that says who, when and why."""
    session.add(
        FindingHistory(
            finding_pk=record.id,
            at=now,
            from_status=record.status,
            to_status=to_status,
            actor=actor,
            reason=reason,
        )
    )
    record.status = to_status


def expire_suppressions(session: Session, now: datetime | None = None) -> int:
    """End suppressions whose expiry has passed; returns how many ended."""
    now = now or utcnow()
    expired = session.scalars(
        select(FindingRecord).where(
            FindingRecord.status == "suppressed",
            FindingRecord.suppressed_until.is_not(None),
            FindingRecord.suppressed_until <= now,
        )
    ).all()
    for record in expired:
        target = "open" if record.present else "resolved"
        add_history(
            session, record, target, "expiry", f"suppression expired ({record.suppressed_reason})", now
        )
        if target == "resolved":
            record.resolved_at = now
    return len(expired)


def _upsert_assets(
    session: Session, kind: str, wanted: dict[str, tuple[str, dict[str, Any]]], now: datetime
) -> dict[str, Asset]:
    """Assets by key, created when new; ``last_seen`` and attributes refreshed when known."""
    keys = list(wanted)
    found: dict[str, Asset] = {}
    for chunk in _chunks(keys):
        for asset in session.scalars(select(Asset).where(Asset.kind == kind, Asset.key.in_(chunk))):
            found[asset.key] = asset
    for key, (name, attributes) in wanted.items():
        known = found.get(key)
        if known is None:
            asset = Asset(kind=kind, key=key, name=name, attributes=attributes, first_seen=now, last_seen=now)
            session.add(asset)
            found[key] = asset
        else:
            known.last_seen = now
            if known.name != name:
                known.name = name
            if known.attributes != attributes:
                known.attributes = attributes
    session.flush()
    return found


def _vulnerability_columns(finding: FindingPayload) -> dict[str, Any]:
    vuln = finding.vulnerability or {}
    fixed = vuln.get("fixed_versions") or []
    return {
        "package_name": str(vuln.get("package_name", ""))[:512],
        "kev": bool(vuln.get("kev", False)),
        "fix_available": bool(fixed) or vuln.get("fix_state") == "fixed",
        "risk": float(vuln.get("risk") or 0.0),
    }


def _details(finding: FindingPayload) -> dict[str, Any]:
    details: dict[str, Any] = {
        "sub_key": finding.sub_key,
        "account": finding.account,
        "region": finding.region,
        "compliance": finding.compliance,
        "references": finding.references,
    }
    if finding.vulnerability is not None:
        details["vulnerability"] = finding.vulnerability
    return details


def _apply_present(record: FindingRecord, finding: FindingPayload) -> None:
    """Refresh what a newer scan may say differently (severity re-scored, new evidence)."""
    values: dict[str, Any] = {
        "kind": finding.kind,
        "rule_id": finding.rule_id,
        "severity": finding.severity,
        "severity_rank": SEVERITY_RANK[finding.severity],
        "title": finding.title,
        "description": finding.description,
        "remediation": finding.remediation,
        "resource": finding.resource,
        "evidence": finding.evidence,
        "details": _details(finding),
        **_vulnerability_columns(finding),
    }
    for name, value in values.items():
        if getattr(record, name) != value:  # untouched columns stay out of the UPDATE
            setattr(record, name, value)


def _sync_findings(
    session: Session,
    scan_kind: str,
    by_asset: dict[int, list[FindingPayload]],
    now: datetime,
    counts: IngestCounts,
) -> None:
    """The lifecycle rules of the module docstring, for every asset the scan covered."""
    asset_ids = list(by_asset)
    stored_by_asset: dict[int, dict[str, FindingRecord]] = defaultdict(dict)
    for chunk in _chunks(asset_ids):
        query = select(FindingRecord).where(
            FindingRecord.scan_kind == scan_kind, FindingRecord.asset_id.in_(chunk)
        )
        for record in session.scalars(query):
            stored_by_asset[record.asset_id][record.finding_id] = record

    new_records: list[tuple[FindingRecord, str]] = []
    for asset_id, findings in by_asset.items():
        existing = stored_by_asset.get(asset_id, {})
        present: dict[str, FindingPayload] = {}
        inconclusive: set[str] = set()
        for finding in findings:
            outcome = finding.status.upper()
            if outcome in PRESENT:
                present[finding.stable_id()] = finding
            elif outcome not in ABSENT:
                inconclusive.add(finding.stable_id())
        for finding_id, finding in present.items():
            stored = existing.pop(finding_id, None)
            if stored is None:
                record = FindingRecord(
                    finding_id=finding_id,
                    asset_id=asset_id,
                    scan_kind=scan_kind,
                    status="open",
                    present=True,
                    first_seen=now,
                    last_seen=now,
                    reopened_count=0,
                )
                _apply_present(record, finding)
                session.add(record)
                new_records.append((record, "first seen"))
                counts.new += 1
                continue
            record = stored
            record.last_seen = now
            if not record.present:
                record.present = True
            _apply_present(record, finding)
            if record.status == "resolved":
                add_history(session, record, "open", SCAN_ACTOR, "seen again by a scan", now)
                record.resolved_at = None
                record.reopened_count += 1
                counts.reopened += 1
            elif record.status == "suppressed":
                counts.suppressed += 1
            else:
                counts.unchanged += 1
        for finding_id, record in existing.items():  # stored, but not reported this time
            if finding_id in inconclusive:
                continue
            if record.present:
                record.present = False
            if record.status == "open":
                add_history(session, record, "resolved", SCAN_ACTOR, "not reported by the latest scan", now)
                record.resolved_at = now
                counts.resolved += 1
    if new_records:
        session.flush()  # ids for the history rows
        session.add_all(
            FindingHistory(
                finding_pk=record.id, at=now, from_status=None, to_status="open", actor=SCAN_ACTOR, reason=why
            )
            for record, why in new_records
        )


def _sync_packages(session: Session, asset: Asset, packages: list[Any], counts: IngestCounts) -> None:
    """Replace the image's SBOM by difference, so an unchanged SBOM writes nothing."""

    def identity(name: str, version: str, type_: str, location: str) -> tuple[str, str, str, str]:
        return (type_, name, version, location)

    stored = {
        identity(p.name, p.version, p.type, p.location): p
        for p in session.scalars(select(ImagePackage).where(ImagePackage.asset_id == asset.id))
    }
    seen: set[tuple[str, str, str, str]] = set()
    for pkg in packages:
        key = identity(pkg.name, pkg.version, pkg.type, pkg.location)
        if key in seen:
            continue
        seen.add(key)
        row = stored.pop(key, None)
        if row is None:
            session.add(
                ImagePackage(
                    asset_id=asset.id,
                    name=pkg.name,
                    version=pkg.version,
                    type=pkg.type,
                    location=pkg.location,
                    purl=pkg.purl,
                    licenses=list(pkg.licenses),
                    layer_digest=pkg.layer_digest,
                    layer_index=pkg.layer_index,
                )
            )
        else:
            for name in ("purl", "layer_digest", "layer_index"):
                if getattr(row, name) != getattr(pkg, name):
                    setattr(row, name, getattr(pkg, name))
            if row.licenses != list(pkg.licenses):
                row.licenses = list(pkg.licenses)
    for row in stored.values():
        session.delete(row)
    counts.packages = len(seen)


def _record_run(
    session: Session, kind: str, source: str, target: str, started: datetime, counts: IngestCounts
) -> ScanRun:
    run = ScanRun(
        kind=kind,
        source=source,
        target=target,
        started_at=started,
        finished_at=utcnow(),
        counts=counts.to_json(),
    )
    session.add(run)
    session.flush()
    return run


def ingest_image_scan(
    session: Session, payload: ImageScanPayload, source: str
) -> tuple[ScanRun, IngestCounts]:
    """An image (or host/filesystem) scan: one asset, its SBOM, its vulnerability findings.

    The asset key is the reference as scanned (``repo:tag``): finding ids hash that same name,
    so a rebuilt image with a fixed package resolves the old finding instead of starting a new
    asset. The current digest is kept in the attributes.
    """
    now = utcnow()
    expire_suppressions(session, now)
    art = payload.artifact
    kind = "host" if art.type == "host" else "image"
    attributes: dict[str, Any] = {
        "type": art.type,
        "digest": art.digest,
        "image_id": art.image_id,
        "repo_tags": art.repo_tags,
        "repo_digests": art.repo_digests,
        "architecture": art.architecture,
        "os_type": art.os_type,
        "os": payload.os,
    }
    asset = _upsert_assets(session, kind, {art.name: (art.name, attributes)}, now)[art.name]
    counts = IngestCounts(assets=1)
    _sync_packages(session, asset, payload.packages, counts)
    _sync_findings(session, "image", {asset.id: payload.findings}, now, counts)
    return _record_run(session, "image", source, art.name, now, counts), counts


def ingest_posture_scan(
    session: Session, payload: PostureScanPayload, source: str
) -> tuple[ScanRun, IngestCounts]:
    """A cloud posture scan: one asset per resource named by any finding (PASS ones included,
    which is how a fixed resource's earlier FAIL gets resolved)."""
    now = utcnow()
    expire_suppressions(session, now)
    grouped: dict[str, list[FindingPayload]] = defaultdict(list)
    wanted: dict[str, tuple[str, dict[str, Any]]] = {}
    for finding in payload.findings:
        grouped[finding.resource].append(finding)
        if finding.resource not in wanted:
            wanted[finding.resource] = (
                finding.resource,
                {
                    "account": finding.account,
                    "region": finding.region,
                    "provider": payload.scan.get("provider"),
                },
            )
    # `yamori iac` reports in the same shape: its resources are code (file addresses), not cloud.
    asset_kind = "code" if payload.scan.get("provider") == "iac" else "cloud_resource"
    assets = _upsert_assets(session, asset_kind, wanted, now)
    counts = IngestCounts(assets=len(assets))
    by_asset = {assets[resource].id: findings for resource, findings in grouped.items()}
    _sync_findings(session, "posture", by_asset, now, counts)
    accounts = payload.scan.get("accounts") or []
    target = ",".join(str(a) for a in accounts) if isinstance(accounts, list) else str(accounts)
    return _record_run(session, "posture", source, target, now, counts), counts


def ingest_workloads(
    session: Session, payload: WorkloadReportPayload, source: str
) -> tuple[ScanRun, IngestCounts]:
    """A host's containers (``yamori workloads``): one ``container`` asset per container id.

    The report is a snapshot of the host: containers of that host stored earlier and not in it
    keep their asset (and history) with ``state`` set to ``not running``. The image is kept as
    the container names it (reference, id, digest); the link to the image asset is made when
    read (``queries.workload_links``), so an image scanned after the report still links.
    """
    now = utcnow()
    wanted: dict[str, tuple[str, dict[str, Any]]] = {}
    for workload in payload.workloads:
        attributes = workload.model_dump(exclude={"id"})
        attributes["host"] = payload.host
        attributes["short_id"] = workload.id[:12]
        wanted[workload.id] = (workload.name or workload.id[:12], attributes)
    known = set(
        session.scalars(
            select(Asset.key).where(Asset.kind == WORKLOAD_KIND, Asset.key.in_(list(wanted) or [""]))
        )
    )
    assets = _upsert_assets(session, WORKLOAD_KIND, wanted, now)
    gone = 0
    others = session.scalars(
        select(Asset).where(Asset.kind == WORKLOAD_KIND, Asset.attributes["host"].as_string() == payload.host)
    )
    for asset in others:
        if asset.key in assets or asset.attributes.get("state") == NOT_RUNNING:
            continue
        asset.attributes = {**asset.attributes, "state": NOT_RUNNING}
        gone += 1
    counts = IngestCounts(
        assets=len(assets),
        extra={"workloads": len(assets), "new_workloads": len(set(assets) - known), "not_running": gone},
    )
    return _record_run(session, "workloads", source, payload.host, now, counts), counts


def _field(fields: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = fields.get(name)
        if value not in (None, "", "<NA>"):
            return str(value)[:256]
    return None


def ingest_alerts(session: Session, alerts: list[AlertPayload]) -> int:
    """Store alerts; the container/Kubernetes fields consoles filter on become columns."""
    now = utcnow()
    rows = []
    for alert in alerts:
        when, exact = alert.timestamp()
        fields = alert.output_fields
        rows.append(
            AlertRecord(
                time=when,
                time_ns=exact[:40],
                rule=alert.rule,
                priority=alert.priority,
                source=alert.source,
                hostname=alert.hostname,
                output=alert.output,
                output_fields=fields,
                tags=list(alert.tags),
                container_id=_field(fields, "container.id"),
                container_name=_field(fields, "container.name"),
                namespace=_field(fields, "k8s.ns.name", "ka.target.namespace"),
                pod=_field(fields, "k8s.pod.name", "ka.target.name"),
                capture_ref=alert.capture_ref,
                received_at=now,
            )
        )
    session.add_all(rows)
    session.flush()
    return len(rows)
