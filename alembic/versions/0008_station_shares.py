"""station shares: each station summary's shares of days with a value, stored

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SHARES = {
    "max_temp": "share of days with a max temperature",
    "min_temp": "share of days with a min temperature",
    "precipitation": "share of days with a precipitation value",
}


def upgrade() -> None:
    # Stored generated columns: the database computes them for the rows already there and
    # for every writer, an older image's loads included.
    for name, comment in _SHARES.items():
        op.add_column(
            "station_summaries",
            sa.Column(
                f"{name}_share",
                sa.Double(),
                sa.Computed(
                    f"round({name}_days / nullif(days, 0)::numeric, 4)::double precision",
                    # PostgreSQL 18 would make it virtual: computed on every read again.
                    persisted=True,
                ),
                comment=comment,
            ),
        )
    # Expand-only: code at 0007 and before serves this schema too.
    op.execute("INSERT INTO schema_compatibility (revision) VALUES ('0008')")


def downgrade() -> None:
    op.execute("DELETE FROM schema_compatibility WHERE revision = '0008'")
    for name in _SHARES:
        op.drop_column("station_summaries", f"{name}_share")
