"""Key rotation: re-encrypt every secret under the vault's first key, and re-key the code lookup hashes.

After it has run, the old keys can be dropped from DARKROOM_TOKEN_KEYS.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from workers.store.db import Database
from workers.store.models import Grant, Submission
from workers.store.vault import Vault


@dataclass
class Rotated:
    secrets: int = 0
    already_current: int = 0


def rotate(db: Database, vault: Vault) -> Rotated:
    done = Rotated()
    with db.session() as s:
        for grant in s.scalars(select(Grant)):
            for column, kind in (("refresh_secret", "refresh"), ("access_secret", "access")):
                _reseal(vault, grant, column, f"grant:{grant.sub}:{kind}", done)
        for submission in s.scalars(select(Submission).where(Submission.code_secret.is_not(None))):
            context = f"submission:{submission.id}:code"
            _reseal(vault, submission, "code_secret", context, done)
            submission.code_hash = vault.lookup_hashes(vault.decrypt(submission.code_secret, context))[0]  # type: ignore[arg-type]
    return done


def _reseal(vault: Vault, row: object, column: str, context: str, done: Rotated) -> None:
    sealed = getattr(row, column)
    if sealed is None:
        return
    if vault.is_current(sealed):
        done.already_current += 1
        return
    setattr(row, column, vault.encrypt(vault.decrypt(sealed, context), context))
    done.secrets += 1
