"""Indexes that follow the work in flight, not the history; items outlive their submission (retention)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 20:00:00

Every periodic and per-photo statement reads what is unfinished, or one user's items in one state: these
indexes make its cost follow that, not the years of finished rows beside it (issue #28, bench/volume.py). On
PostgreSQL they are built CONCURRENTLY, outside a transaction: the previous release's workers keep reading and
writing `items` meanwhile. `items.submission_id` may be NULL: the inbox ledger row of a photo outlives the
submission that found it, which retention deletes (workers/operations/retention.py). Expand only: the previous
release's code never reads a NULL there (it reads submission_id of unfinished items only).
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from workers.store.migrations.online import create_index, drop_index

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The predicates are literals, as the queries that use them write them (workers/store/items.py): PostgreSQL
# uses a partial index only for a query whose WHERE clause implies the index's, which it cannot prove of a
# bound parameter.
# (name, table, columns, partial predicate[, columns carried for index-only counts on PostgreSQL])
INDEXES: list[tuple[Any, ...]] = [
    # the sweeper's stale items: unfinished and not waiting for a turn
    ("ix_items_stale", "items", ["updated_at"], "state NOT IN ('done', 'failed', 'skipped', 'held')"),
    # whether a submission is complete, for one or for all processing ones at once
    ("ix_items_open_by_submission", "items", ["submission_id"], "state NOT IN ('done', 'failed', 'skipped')"),
    # items finished lately: darkroom status's last day (one entry per photo, written as it finishes)
    ("ix_items_finished", "items", ["updated_at"], "state IN ('done', 'failed', 'skipped')", ("state",)),
    # a user's items in a state, oldest first: the batch wait, a turn's release, what is in flight
    ("ix_items_sub_state", "items", ["sub", "state", "created_at"], None),
    ("ix_submissions_updated_at", "submissions", ["updated_at"], None, ("status",)),  # retention, the last day
    # the day's failures, newest first: few, among a year of them
    ("ix_submissions_status_updated", "submissions", ["status", "updated_at"], None),
    (
        "ix_submissions_code_kept",
        "submissions",
        ["created_at"],
        "code_hash NOT LIKE 'redeemed:%' AND code_hash NOT LIKE 'internal:%'",
    ),
    ("ix_security_events_unapplied", "security_events", ["received_at"], "applied_at IS NULL"),
    ("ix_security_events_received_at", "security_events", ["received_at"], None),  # retention
    ("ix_submissions_push_kept", "submissions", ["updated_at"], "push_secret IS NOT NULL"),  # push tokens let go
    ("ix_notifications_created_at", "notifications", ["created_at"], None),  # retention
    ("ix_grants_updated_at", "grants", ["updated_at"], None),  # tombstones past retention, keep-alive
]


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.alter_column("submission_id", existing_type=sa.String(32), nullable=True)
    for name, table, columns, where, *include in INDEXES:
        create_index(name, table, columns, where, *include)


def downgrade() -> None:
    for name, table, *_ in reversed(INDEXES):
        drop_index(name, table)
    with op.batch_alter_table("items") as batch:
        batch.alter_column("submission_id", existing_type=sa.String(32), nullable=False)
