"""Which users and items a batch reprocessing run takes."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select

from workers.store.db import Database
from workers.store.models import Grant, Item
from workers.store.states import GrantState, ItemState, SourceKind


@dataclass(frozen=True)
class Selection:
    user: str | None
    source: SourceKind
    since: datetime.datetime | None
    failed: bool
    stale_recipe: bool


def _who(selection: Selection) -> ColumnElement[bool]:
    """The selected users as a condition on items: one user, or every active grant as a subquery, never a list
    of them (a bind parameter each: PostgreSQL takes at most 65,535, and 184,000 users failed)."""
    if selection.user:
        return Item.sub == selection.user
    return Item.sub.in_(select(Grant.sub).where(Grant.state == GrantState.ACTIVE))


def active_users(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(Grant.sub).where(Grant.state == GrantState.ACTIVE).order_by(Grant.sub)))


def failed_items(db: Database, selection: Selection) -> list[tuple[str, str]]:
    """The selected failed items, as (sub, item id): two strings a row, whatever the number."""
    query = select(Item.sub, Item.id).where(Item.state == ItemState.FAILED, _who(selection))
    query = query.where(Item.source == selection.source)
    if selection.since:
        query = query.where(Item.created_at >= selection.since)
    with db.session() as s:
        return [(sub, item_id) for sub, item_id in s.execute(query.order_by(Item.created_at))]


def users_with_stale_recipe(db: Database, selection: Selection, recipe: str) -> list[str]:
    query = select(Item.sub).where(_who(selection), Item.state == ItemState.DONE, Item.recipe != recipe)
    with db.session() as s:
        return list(s.scalars(query.where(Item.source == SourceKind.INBOX).distinct().order_by(Item.sub)))
