"""Which users and items a batch reprocessing run takes."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from sqlalchemy import select

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


def active_users(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(Grant.sub).where(Grant.state == GrantState.ACTIVE).order_by(Grant.sub)))


def failed_items(db: Database, selection: Selection, subs: list[str]) -> list[Item]:
    with db.session() as s:
        query = select(Item).where(Item.state == ItemState.FAILED, Item.sub.in_(subs), Item.source == selection.source)
        if selection.since:
            query = query.where(Item.created_at >= selection.since)
        return list(s.scalars(query.order_by(Item.created_at)))


def users_with_stale_recipe(db: Database, subs: list[str], recipe: str) -> list[str]:
    with db.session() as s:
        query = select(Item.sub).where(Item.sub.in_(subs), Item.state == ItemState.DONE, Item.recipe != recipe)
        return sorted(set(s.scalars(query.where(Item.source == SourceKind.INBOX))))
