"""station summaries: per station with observations, its period and days with each value

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 06:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "station_summaries",
        sa.Column("station_id", sa.Text(), nullable=False),
        sa.Column("first_date", sa.Date(), nullable=False, comment="first day observed"),
        sa.Column("last_date", sa.Date(), nullable=False, comment="last day observed"),
        sa.Column(
            "days", sa.Integer(), nullable=False, comment="observation rows, any value missing"
        ),
        sa.Column(
            "max_temp_days", sa.Integer(), nullable=False, comment="days with a max temperature"
        ),
        sa.Column(
            "min_temp_days", sa.Integer(), nullable=False, comment="days with a min temperature"
        ),
        sa.Column(
            "precipitation_days",
            sa.Integer(),
            nullable=False,
            comment="days with a precipitation value",
        ),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_station_summaries")),
    )
    # Databases loaded before this revision: fill the table from their yearly stats (the
    # loader keeps it right from here on).
    from weather_api.db.stats import station_summaries_upsert

    op.get_bind().execute(station_summaries_upsert())
    # Expand-only: code at 0005 serves this schema too (it lists stations from the yearly
    # stats), but does not maintain the summaries: loads belong to the newest image.
    op.execute("INSERT INTO schema_compatibility (revision) VALUES ('0007')")


def downgrade() -> None:
    op.execute("DELETE FROM schema_compatibility WHERE revision = '0007'")
    op.drop_table("station_summaries")
