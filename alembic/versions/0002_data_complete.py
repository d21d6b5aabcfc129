"""data_version.complete: whether a load has run to its end

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 03:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A server default, so code of the previous revision keeps working on this schema.
    op.add_column(
        "data_version",
        sa.Column(
            "complete",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="a load has run to its end: no initial load is left half done",
        ),
    )
    # A database loaded before this revision is complete if some load ran to its end; one
    # whose only loads were cut short stays incomplete, and the next start resumes it.
    op.execute(
        "UPDATE data_version SET complete = EXISTS "
        "(SELECT 1 FROM load_runs WHERE status IN ('succeeded', 'failed'))"
    )


def downgrade() -> None:
    op.drop_column("data_version", "complete")
