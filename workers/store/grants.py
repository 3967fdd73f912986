"""Grants: a user's tokens (vault ciphertext only), granted scopes, profile claims and state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, literal_column, select, update

from workers.store import notifications
from workers.store.db import Database
from workers.store.models import Album, Grant, Item, Submission, utcnow
from workers.store.sealed import GRANT_ACCESS, GRANT_REFRESH, GRANT_REFRESH_LOOKUP, GRANT_REFRESH_PREFIX_LOOKUP
from workers.store.states import EventType, GrantState
from workers.store.vault import Vault

PROFILE_CLAIMS = ("email", "email_verified", "name", "given_name", "family_name", "picture", "locale")
_TOKEN_COLUMNS = ("refresh_secret", "refresh_lookup", "refresh_prefix_lookup", "access_secret", "access_expires_at")


@dataclass(frozen=True)
class Access:
    token: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"Access(expires_at={self.expires_at!r})"


_GRANTS = cast(Table, Grant.__table__)
GET = select(_GRANTS).where(_GRANTS.c.sub == bindparam("sub"))
# Once per photo, with the item's attempt (workers.store.hotpath.begin_attempt): the grant of the item's user.
OF_ITEM = select(_GRANTS).where(
    _GRANTS.c.sub == select(Item.sub).where(Item.id == bindparam("item_id")).scalar_subquery()
)


def get(db: Database, sub: str) -> Grant | None:
    """The grant, detached from any session."""
    with db.session() as s:
        row = s.execute(GET, {"sub": sub}).mappings().first()
    return Grant(**row) if row is not None else None


def save_exchange(
    db: Database,
    vault: Vault,
    *,
    sub: str,
    claims: dict[str, Any],
    scopes: tuple[str, ...],
    state: GrantState,
    access: Access,
    refresh_token: str | None,
    refresh_expires_at: datetime | None = None,
) -> bool:
    """Store what a code exchange returned; a missing refresh token never replaces a stored one (nor its use
    and end). `refresh_expires_at`: when Google ends the new refresh token, if it said.

    Returns whether the grant has a refresh token afterwards.
    """
    with db.session() as s:
        grant = s.get(Grant, sub) or Grant(sub=sub)
        grant.state, grant.scopes = state, " ".join(scopes)
        for claim in PROFILE_CLAIMS:
            setattr(grant, claim, claims.get(claim))
        grant.access_secret = GRANT_ACCESS.seal(vault, sub, access.token)
        grant.access_expires_at = access.expires_at
        if refresh_token:
            values = {**_refresh_values(vault, sub, refresh_token), "refresh_used_at": utcnow()}
            for column, value in {**values, "refresh_expires_at": refresh_expires_at}.items():
                setattr(grant, column, value)
        s.add(grant)
        return grant.refresh_secret is not None


def _refresh_values(vault: Vault, sub: str, refresh_token: str) -> dict[str, str]:
    """The sealed refresh token and the keyed hashes that find it again from a RISC event."""
    return {
        "refresh_secret": GRANT_REFRESH.seal(vault, sub, refresh_token),
        "refresh_lookup": GRANT_REFRESH_LOOKUP.of(vault, refresh_token),
        "refresh_prefix_lookup": GRANT_REFRESH_PREFIX_LOOKUP.of(vault, refresh_token),
    }


def find_by_refresh_token(db: Database, vault: Vault, digest: str | None, prefix: str | None) -> str | None:
    """The sub whose refresh token has this SHA-512-twice `digest` (hex) or this 16-character `prefix`."""
    with db.session() as s:
        if digest is not None:
            hashes = GRANT_REFRESH_LOOKUP.candidates(vault, digest)
            return s.scalar(select(Grant.sub).where(Grant.refresh_lookup.in_(hashes)).limit(1))
        if prefix is not None:
            hashes = GRANT_REFRESH_PREFIX_LOOKUP.candidates(vault, prefix)
            return s.scalar(select(Grant.sub).where(Grant.refresh_prefix_lookup.in_(hashes)).limit(1))
    return None


def access_of(db: Database, vault: Vault, sub: str | Grant) -> Access | None:
    """The user's access token; given the grant row already read, it is not read again."""
    grant = sub if isinstance(sub, Grant) else get(db, sub)
    if grant is None or grant.access_secret is None or grant.access_expires_at is None:
        return None
    return Access(GRANT_ACCESS.open(vault, grant.sub, grant.access_secret), grant.access_expires_at)


def refresh_token_of(db: Database, vault: Vault, sub: str) -> str | None:
    grant = get(db, sub)
    if grant is None or grant.refresh_secret is None:
        return None
    return GRANT_REFRESH.open(vault, sub, grant.refresh_secret)


def store_refresh(
    db: Database,
    vault: Vault,
    sub: str,
    access: Access,
    refresh_token: str | None,
    scopes: tuple[str, ...],
    refresh_expires_at: datetime | None = None,
) -> None:
    """A refresh's answer: the refresh token was used now; Google may have said when it ends."""
    now = utcnow()
    values: dict[str, Any] = {
        "access_secret": GRANT_ACCESS.seal(vault, sub, access.token),
        "access_expires_at": access.expires_at,
        "last_refresh_at": now,
        "refresh_used_at": now,
    }
    if refresh_expires_at is not None:
        values["refresh_expires_at"] = refresh_expires_at
    if refresh_token:  # Google may rotate it; "none" never overwrites the one we hold
        values.update(_refresh_values(vault, sub, refresh_token))
    if scopes:
        values["scopes"] = " ".join(scopes)
    with db.session() as s:
        s.execute(update(Grant).where(Grant.sub == sub).values(**values))


def idle(db: Database, before: datetime, limit: int) -> list[tuple[str, datetime]]:
    """Active grants whose refresh token was last used before `before`, longest idle first, with that time:
    the keep-alive's (workers/grants/keepalive.py), read through ix_grants_keepalive."""
    query = (
        select(Grant.sub, Grant.refresh_used_at)
        .where(Grant.state == literal_column("'active'"), Grant.refresh_used_at < before)
        .order_by(Grant.refresh_used_at)
        .limit(limit)
    )
    with db.session() as s:
        return [(sub, used) for sub, used in s.execute(query) if used is not None]


def by_state(db: Database) -> dict[str, int]:
    with db.session() as s:
        return {state: int(n) for state, n in s.execute(select(Grant.state, func.count()).group_by(Grant.state))}


def expiring(db: Database, before: datetime) -> int:
    """Active grants whose refresh token Google ends before `before` (time-limited ones: darkroom status)."""
    query = select(func.count()).where(Grant.state == literal_column("'active'"), Grant.refresh_expires_at < before)
    with db.session() as s:
        return int(s.scalar(query) or 0)


def set_state(db: Database, sub: str, state: GrantState, *, drop_tokens: bool = False) -> None:
    """A grant that becomes `revoked` tells the app (grant.revoked), in the same transaction, once."""
    values: dict[str, Any] = {"state": state}
    if drop_tokens:
        values.update(dict.fromkeys(_TOKEN_COLUMNS))
    with db.session() as s:
        was = s.scalar(select(Grant.state).where(Grant.sub == sub)) if db.channels else None
        s.execute(update(Grant).where(Grant.sub == sub).values(**values))
        if state == GrantState.REVOKED and was not in (None, GrantState.REVOKED):
            notifications.emit(s, db, EventType.GRANT_REVOKED, {"sub": sub})


def forget(db: Database, sub: str) -> None:
    """Delete the user's tokens and personal data; a tombstone row keeps the state `deleted`."""
    with db.session() as s:
        grant = s.get(Grant, sub)
        if grant is not None:
            for column in (*_TOKEN_COLUMNS, *PROFILE_CLAIMS):
                setattr(grant, column, None)
            grant.scopes, grant.state = "", GrantState.DELETED
            notifications.emit(s, db, EventType.USER_DELETED, {"sub": sub})
        s.execute(delete(Item).where(Item.sub == sub))
        s.execute(delete(Album).where(Album.sub == sub))
        s.execute(update(Submission).where(Submission.sub == sub).values(sub=None))
