"""google as it is: web platform, refresh token lookups and last refresh, several events per security token

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 20:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("platform", sa.String(length=16), nullable=False, server_default="ios"))
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refresh_lookup", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("refresh_prefix_lookup", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("last_refresh_at", sa.DateTime(), nullable=True))
        batch_op.create_index("ix_grants_refresh_lookup", ["refresh_lookup"], unique=False)
        batch_op.create_index("ix_grants_refresh_prefix_lookup", ["refresh_prefix_lookup"], unique=False)
    with op.batch_alter_table("security_events", schema=None) as batch_op:
        batch_op.alter_column("event_type", type_=sa.Text(), existing_type=sa.String(length=255))


def downgrade() -> None:
    with op.batch_alter_table("security_events", schema=None) as batch_op:
        batch_op.alter_column("event_type", type_=sa.String(length=255), existing_type=sa.Text())
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_index("ix_grants_refresh_prefix_lookup")
        batch_op.drop_index("ix_grants_refresh_lookup")
        batch_op.drop_column("last_refresh_at")
        batch_op.drop_column("refresh_prefix_lookup")
        batch_op.drop_column("refresh_lookup")
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_column("platform")
