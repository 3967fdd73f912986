"""Grants for years: grants.refresh_used_at and refresh_expires_at (what keeps a grant alive, and when Google
ends it), grant_health (what Google said to the calls made for each user, by the hour), and
security_events.state (what a verification event carried back: the receiver's registration verified)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 23:50:00

Google ends a refresh token unused for six months, and a time-limited one (`refresh_token_expires_in`) when its
time is up. `refresh_used_at`: when the refresh token was last used or issued (the keep-alive refreshes grants
idle for DARKROOM_GRANT_KEEPALIVE_DAYS); `refresh_expires_at`: the end Google announced, if it did. Expand only,
nullable: the previous release's workers, which write neither, keep working beside this one (a grant whose
refresh_used_at they did not move is refreshed by the keep-alive a little early). grant_health is new: rows
of one user's hour, written by every process a few times a minute, deleted a day after their hour.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from workers.store.migrations.online import create_index, drop_index

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("grants") as batch:
        batch.add_column(sa.Column("refresh_used_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("refresh_expires_at", sa.DateTime(), nullable=True))
    # a grant's last refresh is its last use we know of; a grant never refreshed was issued when it was made
    op.execute("UPDATE grants SET refresh_used_at = COALESCE(last_refresh_at, created_at) WHERE state = 'active'")
    # the keep-alive's grants, oldest use first; the grants whose end is near (darkroom status)
    create_index("ix_grants_keepalive", "grants", ["refresh_used_at"], "state = 'active'")
    create_index("ix_grants_refresh_expires_at", "grants", ["refresh_expires_at"], "state = 'active'")
    # what a verification event carried back, found by `darkroom risc verify`
    with op.batch_alter_table("security_events") as batch:
        batch.add_column(sa.Column("state", sa.String(length=255), nullable=True))
    op.create_index(op.f("ix_security_events_state"), "security_events", ["state"])
    op.create_table(
        "grant_health",
        sa.Column("sub", sa.String(length=255), nullable=False),
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("refresh_ok", sa.Integer(), nullable=False),
        sa.Column("refresh_failed", sa.Integer(), nullable=False),
        sa.Column("calls_ok", sa.Integer(), nullable=False),
        sa.Column("calls_failed", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("sub", "hour"),
    )
    # the hours of the last day, for every user at once (darkroom status, metrics, users list --health)
    op.create_index("ix_grant_health_hour", "grant_health", ["hour"])
    op.create_index(op.f("ix_grant_health_last_error_at"), "grant_health", ["last_error_at"])


def downgrade() -> None:
    op.drop_table("grant_health")
    op.drop_index(op.f("ix_security_events_state"), "security_events")
    with op.batch_alter_table("security_events") as batch:
        batch.drop_column("state")
    drop_index("ix_grants_refresh_expires_at", "grants")
    drop_index("ix_grants_keepalive", "grants")
    with op.batch_alter_table("grants") as batch:
        batch.drop_column("refresh_expires_at")
        batch.drop_column("refresh_used_at")
