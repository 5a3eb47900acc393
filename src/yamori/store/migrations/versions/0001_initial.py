"""Initial schema: assets, image packages, findings and their history, scan runs, alerts, tokens,
settings.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("time_ns", sa.String(length=40), nullable=False),
        sa.Column("rule", sa.String(length=512), nullable=False),
        sa.Column("priority", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("hostname", sa.String(length=256), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("output_fields", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("container_id", sa.String(length=128), nullable=True),
        sa.Column("container_name", sa.String(length=256), nullable=True),
        sa.Column("namespace", sa.String(length=256), nullable=True),
        sa.Column("pod", sa.String(length=256), nullable=True),
        sa.Column("capture_ref", sa.String(length=1024), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_container", ["container_id"], unique=False)
        batch_op.create_index("ix_alerts_namespace", ["namespace"], unique=False)
        batch_op.create_index("ix_alerts_rule", ["rule"], unique=False)
        batch_op.create_index("ix_alerts_time", ["time"], unique=False)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    op.create_table(
        "assets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "key", name="uq_assets_kind_key"),
    )
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assets_last_seen"), ["last_seen"], unique=False)

    op.create_table(
        "scan_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.Column("target", sa.String(length=1024), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("scan_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scan_runs_started_at"), ["started_at"], unique=False)

    op.create_table(
        "settings",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("finding_id", sa.String(length=64), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("scan_kind", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("rule_id", sa.String(length=256), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("severity_rank", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("remediation", sa.Text(), nullable=False),
        sa.Column("resource", sa.String(length=1024), nullable=False),
        sa.Column("package_name", sa.String(length=512), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("kev", sa.Boolean(), nullable=False),
        sa.Column("fix_available", sa.Boolean(), nullable=False),
        sa.Column("risk", sa.Float(), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("reopened_count", sa.Integer(), nullable=False),
        sa.Column("suppressed_reason", sa.Text(), nullable=True),
        sa.Column("suppressed_until", sa.DateTime(), nullable=True),
        sa.Column("suppressed_by", sa.String(length=256), nullable=True),
        sa.ForeignKeyConstraint(["asset_id"], ["assets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("asset_id", "scan_kind", "finding_id", name="uq_findings_asset_kind_id"),
    )
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_findings_asset_id"), ["asset_id"], unique=False)
        batch_op.create_index("ix_findings_last_seen", ["last_seen"], unique=False)
        batch_op.create_index("ix_findings_rule", ["rule_id"], unique=False)
        batch_op.create_index("ix_findings_status_severity", ["status", "severity_rank"], unique=False)

    op.create_table(
        "image_packages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("version", sa.String(length=256), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("purl", sa.String(length=1024), nullable=False),
        sa.Column("location", sa.String(length=1024), nullable=False),
        sa.Column("licenses", sa.JSON(), nullable=False),
        sa.Column("layer_digest", sa.String(length=128), nullable=True),
        sa.Column("layer_index", sa.Integer(), nullable=True),
        sa.Column("in_use", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(["asset_id"], ["assets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("image_packages", schema=None) as batch_op:
        batch_op.create_index("ix_image_packages_asset", ["asset_id"], unique=False)

    op.create_table(
        "finding_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("finding_pk", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["finding_pk"], ["findings.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("finding_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_finding_history_finding_pk"), ["finding_pk"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("finding_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_finding_history_finding_pk"))

    op.drop_table("finding_history")
    with op.batch_alter_table("image_packages", schema=None) as batch_op:
        batch_op.drop_index("ix_image_packages_asset")

    op.drop_table("image_packages")
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_index("ix_findings_status_severity")
        batch_op.drop_index("ix_findings_rule")
        batch_op.drop_index("ix_findings_last_seen")
        batch_op.drop_index(batch_op.f("ix_findings_asset_id"))

    op.drop_table("findings")
    op.drop_table("settings")
    with op.batch_alter_table("scan_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scan_runs_started_at"))

    op.drop_table("scan_runs")
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assets_last_seen"))

    op.drop_table("assets")
    op.drop_table("api_tokens")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_time")
        batch_op.drop_index("ix_alerts_rule")
        batch_op.drop_index("ix_alerts_namespace")
        batch_op.drop_index("ix_alerts_container")

    op.drop_table("alerts")
