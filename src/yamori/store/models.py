"""The server's tables, as SQLAlchemy 2 typed declarative models.

One schema serves SQLite (one machine) and PostgreSQL (replicas), so only portable types are
used: JSON columns (JSON on SQLite, JSON on PostgreSQL), naive UTC ``DateTime`` (SQLite has no
time zones; storing UTC everywhere keeps comparisons identical on both), strings with explicit
lengths. The alembic migrations under ``migrations/versions`` create exactly these tables; a test
compares the two so they cannot drift apart.

Status values of stored findings are lifecycle states (``open``, ``resolved``, ``suppressed``),
not the check outcomes a scan reports (PASS/FAIL): the store turns outcomes into a lifecycle.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# code: an IaC resource; container: a container seen on a host (a workload, `yamori workloads`);
# k8s_object: a Kubernetes object (manifest or cluster object)
ASSET_KINDS = ("image", "host", "container", "cloud_resource", "k8s_object", "code")
FINDING_STATUSES = ("open", "resolved", "suppressed")
SCAN_KINDS = ("image", "posture", "alerts", "workloads")
ROLES = ("admin", "analyst", "viewer", "agent")


class Base(DeclarativeBase):
    """Declarative base; ``type_annotation_map`` maps plain ``dict``/``list`` to JSON."""

    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Asset(Base):
    """Something scanned: an image (keyed by its reference), a host, a cloud resource (ARN)."""

    __tablename__ = "assets"
    __table_args__ = (UniqueConstraint("kind", "key", name="uq_assets_kind_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(1024))
    name: Mapped[str] = mapped_column(String(1024))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    first_seen: Mapped[datetime] = mapped_column(DateTime)
    last_seen: Mapped[datetime] = mapped_column(DateTime, index=True)

    packages: Mapped[list[ImagePackage]] = relationship(
        back_populates="asset", cascade="all, delete-orphan", passive_deletes=True
    )


class ImagePackage(Base):
    """One package of an image's SBOM, with the layer that introduced it.

    ``in_use`` stays NULL until the runtime sensor reports which packages processes load: NULL
    means "not known", which is different from "not loaded".
    """

    __tablename__ = "image_packages"
    __table_args__ = (Index("ix_image_packages_asset", "asset_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(512))
    version: Mapped[str] = mapped_column(String(256))
    type: Mapped[str] = mapped_column(String(32))
    purl: Mapped[str] = mapped_column(String(1024), default="")
    location: Mapped[str] = mapped_column(String(1024), default="")
    licenses: Mapped[list[Any]] = mapped_column(JSON, default=list)
    layer_digest: Mapped[str | None] = mapped_column(String(128), nullable=True)
    layer_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    in_use: Mapped[bool | None] = mapped_column(Boolean, nullable=True)

    asset: Mapped[Asset] = relationship(back_populates="packages")


class FindingRecord(Base):
    """A finding over time. ``finding_id`` is ``Finding.id`` (a hash of rule + resource + …).

    Unique per asset rather than globally: an image finding's id hashes the image reference,
    and two assets can legitimately share a rule and resource string.
    """

    __tablename__ = "findings"
    __table_args__ = (
        UniqueConstraint("asset_id", "scan_kind", "finding_id", name="uq_findings_asset_kind_id"),
        Index("ix_findings_status_severity", "status", "severity_rank"),
        Index("ix_findings_last_seen", "last_seen"),
        Index("ix_findings_rule", "rule_id"),
        # migration 0002: the console's list order, and counts by status and severity
        Index("ix_findings_kind_status_order", "kind", "status", "severity_rank", "risk", "id"),
        Index("ix_findings_status_severity_name", "status", "severity"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_id: Mapped[str] = mapped_column(String(64))
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    scan_kind: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    rule_id: Mapped[str] = mapped_column(String(256))
    severity: Mapped[str] = mapped_column(String(16))
    severity_rank: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    # Whether the latest scan of the asset still reported it: decides what an expired
    # suppression falls back to (open when still present, resolved when gone).
    present: Mapped[bool] = mapped_column(Boolean, default=True)
    title: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    remediation: Mapped[str] = mapped_column(Text, default="")
    resource: Mapped[str] = mapped_column(String(1024), default="")
    package_name: Mapped[str] = mapped_column(String(512), default="")
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    kev: Mapped[bool] = mapped_column(Boolean, default=False)
    fix_available: Mapped[bool] = mapped_column(Boolean, default=False)
    risk: Mapped[float] = mapped_column(Float, default=0.0)
    first_seen: Mapped[datetime] = mapped_column(DateTime)
    last_seen: Mapped[datetime] = mapped_column(DateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    reopened_count: Mapped[int] = mapped_column(Integer, default=0)
    suppressed_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    suppressed_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    suppressed_by: Mapped[str | None] = mapped_column(String(256), nullable=True)

    asset: Mapped[Asset] = relationship()
    history: Mapped[list[FindingHistory]] = relationship(
        back_populates="finding",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="FindingHistory.id",
    )


class FindingHistory(Base):
    """One status change of a finding: who (a token name or ``scan``), when, why."""

    __tablename__ = "finding_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_pk: Mapped[int] = mapped_column(ForeignKey("findings.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(256))
    reason: Mapped[str] = mapped_column(Text, default="")

    finding: Mapped[FindingRecord] = relationship(back_populates="history")


class ScanRun(Base):
    """One submission: what kind, from whom, and what it changed (counts)."""

    __tablename__ = "scan_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(256))
    target: Mapped[str] = mapped_column(String(1024), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AlertRecord(Base):
    """A runtime alert in Falco's JSON shape, with the fields consoles filter on as columns."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_time", "time"),
        Index("ix_alerts_rule", "rule"),
        Index("ix_alerts_namespace", "namespace"),
        Index("ix_alerts_container", "container_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[datetime] = mapped_column(DateTime)
    # Falco prints nanoseconds; DateTime keeps microseconds, so the exact value is kept too.
    time_ns: Mapped[str] = mapped_column(String(40), default="")
    rule: Mapped[str] = mapped_column(String(512))
    priority: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(64))
    hostname: Mapped[str] = mapped_column(String(256), default="")
    output: Mapped[str] = mapped_column(Text, default="")
    output_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    container_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    container_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    namespace: Mapped[str | None] = mapped_column(String(256), nullable=True)
    pod: Mapped[str | None] = mapped_column(String(256), nullable=True)
    capture_ref: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    received_at: Mapped[datetime] = mapped_column(DateTime)


class ApiToken(Base):
    """An API token: only a salted scrypt hash is kept; the secret is shown once at creation."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The public half of the token (``ymr_<public_id>_<secret>``) finds the row without a scan.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    salt: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_used: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Setting(Base):
    """Server settings that must be shared by every replica (retention), as key → JSON."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
