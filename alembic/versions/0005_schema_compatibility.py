"""schema compatibility: the revisions whose code can serve this schema

A deploy that fails its smoke test rolls back to the previous image, which must keep
serving the schema the new one migrated. Migrations are expand-then-contract, one release
apart, and this table says which code revisions the current schema serves; readiness
accepts a schema past the image's own head only when the image's head is listed here.

Convention for every later migration: an expand-only migration (new tables, nullable or
defaulted columns, new indexes) adds its own revision and keeps the rows; a contract
migration (drops, renames, NOT NULL on existing data) deletes every row, then adds its own.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 04:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "schema_compatibility",
        sa.Column("revision", sa.Text(), primary_key=True),
    )
    # Expand-only: code at 0004 serves this schema as well as code at 0005.
    op.bulk_insert(table, [{"revision": "0004"}, {"revision": revision}])


def downgrade() -> None:
    op.drop_table("schema_compatibility")
