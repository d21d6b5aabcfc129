"""station metadata from ghcnd-stations.txt

Nullable columns only: servers of the previous version keep reading and loading the
table while and after this runs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 03:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS: tuple[sa.Column[object], ...] = (
    sa.Column("name", sa.Text(), nullable=True, comment="NOAA station name"),
    sa.Column("latitude", sa.Double(), nullable=True, comment="decimal degrees, WGS 84"),
    sa.Column("longitude", sa.Double(), nullable=True, comment="decimal degrees, WGS 84"),
    sa.Column("elevation", sa.Numeric(6, 1), nullable=True, comment="metres"),
    sa.Column("gsn", sa.Boolean(), nullable=True, comment="in the GCOS Surface Network"),
    sa.Column("hcn_crn", sa.Text(), nullable=True, comment="HCN or CRN network flag"),
    sa.Column("wmo_id", sa.Text(), nullable=True, comment="World Meteorological Org. id"),
)


def upgrade() -> None:
    for column in _COLUMNS:
        op.add_column("stations", column)
    # A plain btree, available on every PostgreSQL and RDS without extensions: distance
    # searches narrow to a latitude band computed from the radius, boxes to both ranges.
    op.create_index("ix_stations_latitude_longitude", "stations", ["latitude", "longitude"])


def downgrade() -> None:
    op.drop_index("ix_stations_latitude_longitude", table_name="stations")
    for column in reversed(_COLUMNS):
        op.drop_column("stations", column.name)
