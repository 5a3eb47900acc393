"""Reads only the console needs: the trend, top risks, vulnerability lists and groupings, and
posture controls. Everything else comes from ``yamori.store.queries`` (shared with the API).

Vulnerability lists filter and paginate in SQL: the status/severity index serves the common
case ("open, critical first"), and only one page of rows is ever loaded, so the page stays quick
with 100,000+ findings. Posture controls are aggregated per rule in SQL and then mapped to
controls through one sample finding per rule, because a rule's compliance references are the
same on every resource it checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, cast, func, or_, select
from sqlalchemy.orm import Session

from yamori.store.db import iso, utcnow
from yamori.store.models import AlertRecord, Asset, FindingHistory, FindingRecord
from yamori.store.queries import alert_to_json, finding_to_json

PAGE_SIZE = 50
HIGH_PRIORITIES = ("emergency", "alert", "critical", "error")


@dataclass(slots=True)
class Paged:
    """One page of rows and where it sits in the whole list."""

    items: list[dict[str, Any]]
    total: int
    page: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


def _paginate(page: int) -> tuple[int, int]:
    page = max(1, page)
    return page, (page - 1) * PAGE_SIZE


# --- overview --------------------------------------------------------------------------------


def trend(session: Session, days: int = 14) -> list[dict[str, Any]]:
    """Findings opened (new or reopened) and resolved per day, from the history rows."""
    today = utcnow().date()
    since = today - timedelta(days=days - 1)
    day = func.date(FindingHistory.at)
    rows = session.execute(
        select(day, FindingHistory.to_status, func.count())
        .where(FindingHistory.at >= since, FindingHistory.to_status.in_(("open", "resolved")))
        .group_by(day, FindingHistory.to_status)
    )
    counts: dict[str, dict[str, int]] = {}
    for when, to_status, count in rows:
        counts.setdefault(str(when)[:10], {})[to_status] = count
    out = []
    for offset in range(days):
        date = (since + timedelta(days=offset)).isoformat()
        values = counts.get(date, {})
        out.append({"date": date, "opened": values.get("open", 0), "resolved": values.get("resolved", 0)})
    return out


def trend_bars(points: list[dict[str, Any]], height: int = 120, width: int = 16) -> dict[str, Any]:
    """Bar geometry for the inline SVG chart (two bars a day), computed here to keep the
    template free of arithmetic."""
    peak = max([1] + [max(p["opened"], p["resolved"]) for p in points])
    bars = []
    for index, point in enumerate(points):
        x = index * (2 * width + 8) + 4
        for shift, name in ((0, "opened"), (width, "resolved")):
            value = point[name]
            h = round(value / peak * (height - 20))
            bars.append(
                {"x": x + shift, "y": height - h, "w": width - 2, "h": h, "kind": name, "value": value}
            )
    return {
        "bars": bars,
        "labels": [
            {"x": i * (2 * width + 8) + 4, "text": p["date"][5:]} for i, p in enumerate(points) if i % 2 == 0
        ],
        "width": len(points) * (2 * width + 8) + 8,
        "height": height + 16,
        "peak": peak,
    }


def top_vulnerabilities(session: Session, limit: int = 10) -> list[dict[str, Any]]:
    """Open critical vulnerabilities that are known exploited or have a fix: fix these first."""
    rows = session.scalars(
        select(FindingRecord)
        .where(
            FindingRecord.status == "open",
            FindingRecord.severity_rank == 4,
            FindingRecord.kind == "vulnerability",
            or_(FindingRecord.kev.is_(True), FindingRecord.fix_available.is_(True)),
        )
        .order_by(FindingRecord.kev.desc(), FindingRecord.risk.desc(), FindingRecord.id.desc())
        .limit(limit)
    ).all()
    return [finding_to_json(r) for r in rows]


def public_misconfigurations(session: Session, limit: int = 10) -> list[dict[str, Any]]:
    """Open critical misconfigurations of resources exposed to the internet (rules naming
    public access: the posture checks' own vocabulary)."""
    public = or_(
        FindingRecord.rule_id.icontains("public"),
        FindingRecord.title.icontains("public"),
        FindingRecord.title.icontains("0.0.0.0/0"),
    )
    rows = session.scalars(
        select(FindingRecord)
        .where(
            FindingRecord.status == "open",
            FindingRecord.severity_rank == 4,
            FindingRecord.scan_kind == "posture",
        )
        .where(public)
        .order_by(FindingRecord.last_seen.desc(), FindingRecord.id.desc())
        .limit(limit)
    ).all()
    return [finding_to_json(r) for r in rows]


def recent_high_alerts(session: Session, limit: int = 10) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(AlertRecord)
        .where(func.lower(AlertRecord.priority).in_(HIGH_PRIORITIES))
        .order_by(AlertRecord.time.desc(), AlertRecord.id.desc())
        .limit(limit)
    ).all()
    return [alert_to_json(r) for r in rows]


# --- vulnerabilities -------------------------------------------------------------------------


@dataclass(slots=True)
class VulnFilter:
    """The Vulnerabilities page's filters, as parsed from its query string."""

    severity: list[str] = field(default_factory=list)
    status: str = "open"
    fix: bool | None = None
    kev: bool | None = None
    epss: float | None = None
    image: int | None = None
    text: str = ""

    def conditions(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = [FindingRecord.kind == "vulnerability"]
        if self.status in ("open", "resolved", "suppressed"):
            out.append(FindingRecord.status == self.status)
        if self.severity:
            out.append(FindingRecord.severity.in_([s.upper() for s in self.severity]))
        if self.fix is not None:
            out.append(FindingRecord.fix_available.is_(self.fix))
        if self.kev is not None:
            out.append(FindingRecord.kev.is_(self.kev))
        if self.epss is not None:
            out.append(FindingRecord.details[("vulnerability", "epss_score")].as_float() >= self.epss)
        if self.image is not None:
            out.append(FindingRecord.asset_id == self.image)
        if self.text:
            out.append(
                or_(
                    FindingRecord.rule_id.icontains(self.text, autoescape=True),
                    FindingRecord.package_name.icontains(self.text, autoescape=True),
                    FindingRecord.title.icontains(self.text, autoescape=True),
                )
            )
        return out


def vulnerabilities(session: Session, filters: VulnFilter, page: int) -> Paged:
    page, offset = _paginate(page)
    conditions = filters.conditions()
    total = session.scalar(select(func.count(FindingRecord.id)).where(*conditions)) or 0
    rows = session.execute(
        select(FindingRecord, Asset)
        .join(Asset, Asset.id == FindingRecord.asset_id)
        .where(*conditions)
        .order_by(FindingRecord.severity_rank.desc(), FindingRecord.risk.desc(), FindingRecord.id.desc())
        .offset(offset)
        .limit(PAGE_SIZE)
    ).all()
    return Paged([finding_to_json(record, asset) for record, asset in rows], total, page)


def vulnerability_groups(session: Session, filters: VulnFilter, by: str, page: int) -> Paged:
    """Findings grouped by package name or by CVE, worst group first."""
    key = FindingRecord.package_name if by == "package" else FindingRecord.rule_id
    page, offset = _paginate(page)
    conditions = filters.conditions()
    grouped = select(key.label("key")).where(*conditions).group_by(key).subquery()
    total = session.scalar(select(func.count()).select_from(grouped)) or 0
    worst = func.max(FindingRecord.severity_rank)
    rows = session.execute(
        select(
            key,
            func.count(FindingRecord.id),
            worst,
            func.count(func.distinct(FindingRecord.asset_id)),
            func.sum(cast(FindingRecord.kev, Integer)),
            func.sum(cast(FindingRecord.fix_available, Integer)),
        )
        .where(*conditions)
        .group_by(key)
        .order_by(worst.desc(), func.count(FindingRecord.id).desc(), key)
        .offset(offset)
        .limit(PAGE_SIZE)
    ).all()
    names = {4: "CRITICAL", 3: "HIGH", 2: "MEDIUM", 1: "LOW", 0: "UNKNOWN"}
    items = [
        {
            "key": name,
            "findings": count,
            "severity": names.get(rank or 0, "UNKNOWN"),
            "assets": assets,
            "kev": kev or 0,
            "fixable": fixable or 0,
        }
        for name, count, rank, assets, kev, fixable in rows
    ]
    return Paged(items, total, page)


def scanned_images(session: Session, limit: int = 500) -> list[tuple[int, str]]:
    """Images and hosts for the image filter's drop-down."""
    rows = session.execute(
        select(Asset.id, Asset.name)
        .where(Asset.kind.in_(("image", "host")))
        .order_by(Asset.name)
        .limit(limit)
    )
    return [(pk, name) for pk, name in rows]


# --- posture ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Control:
    """A compliance control (``framework:id``) and the state of the checks mapped to it."""

    ref: str
    rules: set[str] = field(default_factory=set)
    failing: int = 0
    passing: int = 0
    suppressed: int = 0
    title: str = ""
    remediation: str = ""

    @property
    def framework(self) -> str:
        return self.ref.split(":", 1)[0] if ":" in self.ref else ""


def controls(session: Session) -> list[Control]:
    """Per control: failing (open), passing (fixed, i.e. resolved) and suppressed counts.

    Checks that passed on their first scan are not stored as findings, so ``passing`` counts the
    resources that failed once and were fixed.
    """
    per_rule: dict[str, dict[str, int]] = {}
    for rule, state, count in session.execute(
        select(FindingRecord.rule_id, FindingRecord.status, func.count())
        .where(FindingRecord.scan_kind == "posture")
        .group_by(FindingRecord.rule_id, FindingRecord.status)
    ):
        per_rule.setdefault(rule, {})[state] = count
    sample_ids = session.scalars(
        select(func.min(FindingRecord.id))
        .where(FindingRecord.scan_kind == "posture")
        .group_by(FindingRecord.rule_id)
    ).all()
    samples = session.scalars(select(FindingRecord).where(FindingRecord.id.in_(sample_ids))).all()
    found: dict[str, Control] = {}
    for sample in samples:
        refs = [str(r) for r in (sample.details or {}).get("compliance") or []] or [f"rule:{sample.rule_id}"]
        counts = per_rule.get(sample.rule_id, {})
        for ref in refs:
            control = found.setdefault(ref, Control(ref=ref))
            control.rules.add(sample.rule_id)
            control.failing += counts.get("open", 0)
            control.passing += counts.get("resolved", 0)
            control.suppressed += counts.get("suppressed", 0)
            if not control.remediation and sample.remediation:
                control.remediation = sample.remediation
            if not control.title:
                control.title = sample.title.split(" on ", 1)[0] if " on " in sample.title else sample.title
    return sorted(found.values(), key=lambda c: (-c.failing, c.ref))


def control_findings(session: Session, rules: set[str], page: int) -> Paged:
    """Every resource checked by a control's rules, failing first."""
    page, offset = _paginate(page)
    conditions = [FindingRecord.scan_kind == "posture", FindingRecord.rule_id.in_(sorted(rules))]
    total = session.scalar(select(func.count(FindingRecord.id)).where(*conditions)) or 0
    rows = session.execute(
        select(FindingRecord, Asset)
        .join(Asset, Asset.id == FindingRecord.asset_id)
        .where(*conditions)
        .order_by(FindingRecord.status, FindingRecord.severity_rank.desc(), FindingRecord.id)
        .offset(offset)
        .limit(PAGE_SIZE)
    ).all()
    return Paged([finding_to_json(record, asset) for record, asset in rows], total, page)


def resources(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """Cloud resources with the most failing checks, with their fixed and suppressed counts."""
    failing = func.sum(cast(FindingRecord.status == "open", Integer))
    rows = session.execute(
        select(
            Asset.id,
            Asset.name,
            failing,
            func.sum(cast(FindingRecord.status == "resolved", Integer)),
            func.sum(cast(FindingRecord.status == "suppressed", Integer)),
            func.max(Asset.last_seen),
        )
        .join(FindingRecord, FindingRecord.asset_id == Asset.id)
        .where(FindingRecord.scan_kind == "posture")
        .group_by(Asset.id, Asset.name)
        .order_by(failing.desc(), Asset.name)
        .limit(limit)
    ).all()
    return [
        {
            "id": pk,
            "name": name,
            "failing": f or 0,
            "passing": p or 0,
            "suppressed": s or 0,
            "last_seen": iso(seen),
        }
        for pk, name, f, p, s, seen in rows
    ]


# --- alerts ----------------------------------------------------------------------------------


def alert_rules(session: Session, limit: int = 300) -> list[str]:
    """Rule names seen, for the rule filter."""
    return list(session.scalars(select(AlertRecord.rule).distinct().order_by(AlertRecord.rule).limit(limit)))
