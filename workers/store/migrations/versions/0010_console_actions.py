"""console_actions: what operators did in the console, and who

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 23:55:00

A new table: the previous release's processes never read it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_actions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_console_actions_at"), "console_actions", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_console_actions_at"), "console_actions")
    op.drop_table("console_actions")
