"""Key rotation: re-encrypt every registered secret column under the vault's first key, and re-key every
registered keyed-hash column (code lookups, refresh token lookups). After it has run, the old keys can be
dropped from DARKROOM_TOKEN_KEYS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workers.store.db import Database
from workers.store.sealed import KEYED_COLUMNS, SECRET_COLUMNS, KeyedColumn, SecretColumn
from workers.store.vault import Vault


@dataclass
class Rotated:
    secrets: int = 0
    already_current: int = 0


def rotate(db: Database, vault: Vault) -> Rotated:
    done = Rotated()
    with db.session() as s:
        for secret in SECRET_COLUMNS:
            _reseal_column(s, vault, secret, done)
        for keyed in KEYED_COLUMNS:
            _rekey_column(s, vault, keyed)
    return done


def _rekey_column(s: Session, vault: Vault, keyed: KeyedColumn) -> None:
    """Hash again under the first key, from the sealed source (a row whose source is gone keeps its hash)."""
    source = getattr(keyed.model, keyed.source.column)
    for row in s.scalars(select(keyed.model).where(source.is_not(None))):
        key = keyed.source.key_of(row)
        setattr(row, keyed.column, keyed.of(vault, keyed.source.open(vault, key, getattr(row, keyed.source.column))))


def _reseal_column(s: Session, vault: Vault, secret: SecretColumn, done: Rotated) -> None:
    column = getattr(secret.model, secret.column)
    for row in s.scalars(select(secret.model).where(column.is_not(None))):
        _reseal(vault, secret, row, done)


def _reseal(vault: Vault, secret: SecretColumn, row: Any, done: Rotated) -> None:
    sealed = getattr(row, secret.column)
    if vault.is_current(sealed):
        done.already_current += 1
        return
    key = secret.key_of(row)
    setattr(row, secret.column, secret.seal(vault, key, secret.open(vault, key, sealed)))
    done.secrets += 1
