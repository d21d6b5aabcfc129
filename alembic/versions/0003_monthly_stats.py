"""monthly stats: per station-month sums, day counts and default degree days

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 03:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "monthly_stats",
        sa.Column("station_id", sa.Text(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False, comment="1st day"),
        sa.Column("max_temp_sum", sa.Integer(), nullable=True, comment="tenths of °C"),
        sa.Column("min_temp_sum", sa.Integer(), nullable=True, comment="tenths of °C"),
        sa.Column("precipitation_sum", sa.Integer(), nullable=True, comment="tenths of mm"),
        sa.Column(
            "max_temp_days",
            sa.SmallInteger(),
            nullable=False,
            comment="days with a max temperature",
        ),
        sa.Column(
            "min_temp_days",
            sa.SmallInteger(),
            nullable=False,
            comment="days with a min temperature",
        ),
        sa.Column(
            "precipitation_days",
            sa.SmallInteger(),
            nullable=False,
            comment="days with a precipitation value",
        ),
        sa.Column(
            "degree_days_days", sa.SmallInteger(), nullable=False, comment="days with both temps"
        ),
        sa.Column("gdd", sa.Numeric(), nullable=True, comment="GDD 10/30 °C, °C·days"),
        sa.Column("edd", sa.Double(), nullable=True, comment="EDD above 29 °C, °C·days"),
        sa.PrimaryKeyConstraint("station_id", "month", name=op.f("pk_monthly_stats")),
    )
    op.create_index(op.f("ix_monthly_stats_month"), "monthly_stats", ["month"])
    # Databases loaded before this revision: fill the table from their observations (the
    # loader keeps it right from here on).
    from weather_api.db.climate import MONTHLY_REFRESH_SQL, default_degree_day_params

    op.get_bind().execute(
        sa.text(MONTHLY_REFRESH_SQL.format(stations="")), default_degree_day_params()
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_monthly_stats_month"), table_name="monthly_stats")
    op.drop_table("monthly_stats")
