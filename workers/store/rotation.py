"""Key rotation: re-encrypt every registered secret column under the vault's first key, and re-key the code
lookup hashes. After it has run, the old keys can be dropped from DARKROOM_TOKEN_KEYS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workers.store.db import Database
from workers.store.models import Submission
from workers.store.sealed import SECRET_COLUMNS, SUBMISSION_CODE, SecretColumn
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
        for submission in s.scalars(select(Submission).where(Submission.code_secret.is_not(None))):
            code = SUBMISSION_CODE.open(vault, submission.id, str(submission.code_secret))
            submission.code_hash = vault.lookup_hashes(code)[0]
    return done


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
