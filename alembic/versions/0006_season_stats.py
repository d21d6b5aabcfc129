"""season stats: per station-year sums of the default growing season (04-01 to 09-30)

The default season's summaries and the yield beside them add six monthly rows per
station-year; this table holds the sum, so that they read one row per station-season.

A trigger on ``monthly_stats`` keeps it right, in the statement (so the transaction) that
writes the monthly rows, rather than a call in the loader: after a rollback, code at 0005
serves and loads into this schema and refreshes ``monthly_stats`` only, and the trigger
refreshes the seasons of whatever it writes, so the table is never stale, whichever
release, command or hand wrote the months. Monthly rows are never deleted. Expand-only.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 06:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    "max_temp_sum",
    "max_temp_days",
    "min_temp_sum",
    "min_temp_days",
    "precipitation_sum",
    "precipitation_days",
    "gdd",
    "edd",
    "degree_days_days",
)
# The season's months of the given station-years (all when {years} is empty), summed.
_REFRESH = (
    f"INSERT INTO season_stats (station_id, year, {', '.join(_COLUMNS)}) "
    "SELECT m.station_id, CAST(date_part('year', m.month) AS smallint), "
    + ", ".join(f"sum(m.{c})" for c in _COLUMNS)
    + " FROM monthly_stats AS m {years} "
    "WHERE CAST(date_part('month', m.month) AS int) BETWEEN 4 AND 9 GROUP BY 1, 2 "
    "ON CONFLICT (station_id, year) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS)
)
# The station-years of the changed months, each an index range of monthly_stats' key.
_CHANGED = (
    "JOIN (SELECT DISTINCT station_id, CAST(date_part('year', month) AS int) AS y "
    "FROM changed WHERE CAST(date_part('month', month) AS int) BETWEEN 4 AND 9) AS c "
    "ON m.station_id = c.station_id "
    "AND m.month BETWEEN make_date(c.y, 4, 1) AND make_date(c.y, 9, 1)"
)


def upgrade() -> None:
    op.create_table(
        "season_stats",
        sa.Column("station_id", sa.Text(), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("max_temp_sum", sa.Integer(), nullable=True, comment="tenths of °C"),
        sa.Column("max_temp_days", sa.SmallInteger(), nullable=False),
        sa.Column("min_temp_sum", sa.Integer(), nullable=True, comment="tenths of °C"),
        sa.Column("min_temp_days", sa.SmallInteger(), nullable=False),
        sa.Column("precipitation_sum", sa.Integer(), nullable=True, comment="tenths of mm"),
        sa.Column("precipitation_days", sa.SmallInteger(), nullable=False),
        sa.Column("gdd", sa.Numeric(), nullable=True, comment="GDD 10/30 °C, °C·days"),
        sa.Column("edd", sa.Double(), nullable=True, comment="EDD above 29 °C, °C·days"),
        sa.Column("degree_days_days", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "year", name=op.f("pk_season_stats")),
        comment="sums of monthly_stats over the default season, April to September",
    )
    op.create_index(op.f("ix_season_stats_year"), "season_stats", ["year"])
    op.execute(
        "CREATE FUNCTION refresh_season_stats() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {_REFRESH.format(years=_CHANGED)}; RETURN NULL; END $$"
    )
    # ON CONFLICT DO UPDATE fires both, each with its own rows.
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"CREATE TRIGGER season_stats_{event.lower()} AFTER {event} ON monthly_stats "
            "REFERENCING NEW TABLE AS changed FOR EACH STATEMENT "
            "EXECUTE FUNCTION refresh_season_stats()"
        )
    op.execute(_REFRESH.format(years=""))
    # Expand-only: code at 0004 and 0005 serves this schema as well as code at 0006.
    op.execute(f"INSERT INTO schema_compatibility (revision) VALUES ('{revision}')")


def downgrade() -> None:
    op.execute(f"DELETE FROM schema_compatibility WHERE revision = '{revision}'")
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER season_stats_{event} ON monthly_stats")
    op.execute("DROP FUNCTION refresh_season_stats()")
    op.drop_index(op.f("ix_season_stats_year"), table_name="season_stats")
    op.drop_table("season_stats")
