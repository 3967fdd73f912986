"""The registry of secret columns: every vault-encrypted column with the context that binds its ciphertext to
its row. Whatever seals, opens or rotates a secret goes through here, so rotation cannot miss a column
(tests/workers/store/test_sealed.py fails when a `*_secret` column is not registered)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workers.store.models import Base, Grant, Item, Submission
from workers.store.vault import Vault


@dataclass(frozen=True)
class SecretColumn:
    model: type[Base]
    column: str
    context_template: str  # `{key}` is the row's primary key

    def context(self, key: str) -> str:
        return self.context_template.format(key=key)

    def seal(self, vault: Vault, key: str, plaintext: str) -> str:
        return vault.encrypt(plaintext, self.context(key))

    def open(self, vault: Vault, key: str, ciphertext: str) -> str:
        return vault.decrypt(ciphertext, self.context(key))

    def key_of(self, row: Any) -> str:
        (primary,) = self.model.__mapper__.primary_key
        return str(getattr(row, str(primary.key)))


GRANT_REFRESH = SecretColumn(Grant, "refresh_secret", "grant:{key}:refresh")
GRANT_ACCESS = SecretColumn(Grant, "access_secret", "grant:{key}:access")
SUBMISSION_CODE = SecretColumn(Submission, "code_secret", "submission:{key}:code")
ITEM_UPLOAD = SecretColumn(Item, "upload_secret", "item:{key}:upload")

SECRET_COLUMNS = (GRANT_REFRESH, GRANT_ACCESS, SUBMISSION_CODE, ITEM_UPLOAD)
