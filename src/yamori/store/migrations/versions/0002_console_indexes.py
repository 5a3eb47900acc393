"""Indexes for the console's lists at 100,000 findings.

The vulnerabilities list orders open findings by severity, then risk, then id; without an index in
that order every page sorts all of them again, and deep pages (offset 50,000) took over a second.
Counting by status and severity (the overview) reads the second index alone.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index(
        "ix_findings_kind_status_order", "findings", ["kind", "status", "severity_rank", "risk", "id"]
    )
    op.create_index("ix_findings_status_severity_name", "findings", ["status", "severity"])


def downgrade() -> None:
    op.drop_index("ix_findings_status_severity_name", table_name="findings")
    op.drop_index("ix_findings_kind_status_order", table_name="findings")
