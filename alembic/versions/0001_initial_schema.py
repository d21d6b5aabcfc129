"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28 00:39:11.141439
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "corn_yields",
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column(
            "corn_grain_yield_kt",
            sa.Integer(),
            nullable=False,
            comment="US corn grain yield, thousand metric tons",
        ),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_corn_yields")),
    )
    op.create_table(
        "data_version",
        sa.Column("singleton", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("singleton", name=op.f("ck_data_version_singleton")),
        sa.PrimaryKeyConstraint("singleton", name=op.f("pk_data_version")),
    )
    op.create_table(
        "load_runs",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("trigger", sa.Text(), nullable=False, comment="cli, api or autoload"),
        sa.Column("status", sa.Text(), server_default="queued", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("files_total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("files_done", sa.Integer(), server_default="0", nullable=False),
        sa.Column("files_loaded", sa.Integer(), server_default="0", nullable=False),
        sa.Column("files_skipped", sa.Integer(), server_default="0", nullable=False),
        sa.Column("files_failed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("records_read", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("inserted", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("unchanged", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "errors",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'"),
            nullable=False,
        ),
        sa.Column("message", sa.Text(), nullable=True, comment="why a run failed as a whole"),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'interrupted')",
            name=op.f("ck_load_runs_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_load_runs")),
    )
    op.create_table(
        "observations",
        sa.Column("station_id", sa.Text(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("max_temp", sa.SmallInteger(), nullable=True, comment="tenths of °C"),
        sa.Column("min_temp", sa.SmallInteger(), nullable=True, comment="tenths of °C"),
        sa.Column("precipitation", sa.SmallInteger(), nullable=True, comment="tenths of mm"),
        sa.PrimaryKeyConstraint("station_id", "date", name=op.f("pk_observations")),
    )
    op.create_table(
        "source_files",
        sa.Column("key", sa.Text(), nullable=False, comment="station id, or 'yield'"),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False, comment="file name as last loaded"),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("load_run_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "loaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_source_files")),
    )
    op.create_table(
        "stations",
        sa.Column("station_id", sa.Text(), nullable=False, comment="GHCN/COOP station id"),
        sa.Column("state", sa.Text(), nullable=True, comment="US state from the COOP state code"),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_stations")),
    )
    op.create_table(
        "yearly_stats",
        sa.Column("station_id", sa.Text(), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("avg_max_temp_c", sa.Numeric(), nullable=True, comment="°C"),
        sa.Column("avg_min_temp_c", sa.Numeric(), nullable=True, comment="°C"),
        sa.Column("total_precipitation_cm", sa.Numeric(), nullable=True, comment="cm"),
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
            "days", sa.SmallInteger(), nullable=False, comment="observation rows, any value missing"
        ),
        sa.PrimaryKeyConstraint("station_id", "year", name=op.f("pk_yearly_stats")),
    )
    op.execute("INSERT INTO data_version DEFAULT VALUES")


def downgrade() -> None:
    op.drop_table("yearly_stats")
    op.drop_table("stations")
    op.drop_table("source_files")
    op.drop_table("observations")
    op.drop_table("load_runs")
    op.drop_table("data_version")
    op.drop_table("corn_yields")
