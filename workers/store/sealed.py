"""The registry of secret columns: every vault-encrypted column with the context that binds its ciphertext to
its row, and every keyed-hash column that finds a row by a secret without storing it. Whatever seals, opens,
looks up or rotates a secret goes through here, so rotation cannot miss a column
(tests/workers/store/test_sealed.py fails when a `*_secret` or keyed column is not registered)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
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
SUBMISSION_PUSH = SecretColumn(Submission, "push_secret", "submission:{key}:push")

SECRET_COLUMNS = (GRANT_REFRESH, GRANT_ACCESS, SUBMISSION_CODE, ITEM_UPLOAD, SUBMISSION_PUSH)


def refresh_digest(refresh_token: str) -> str:
    """SHA-512 of SHA-512 of the token, in hex: what RISC's `hash_base64_sha512_sha512` names, decoded."""
    return hashlib.sha512(hashlib.sha512(refresh_token.encode()).digest()).hexdigest()


def refresh_prefix(refresh_token: str) -> str:
    """The first 16 characters: what RISC's `prefix` names (docs/google.md#risc)."""
    return refresh_token[:16]


@dataclass(frozen=True)
class KeyedColumn:
    """A keyed hash (Vault.lookup_hashes) of `derive(plaintext of source)`, kept beside the sealed source."""

    model: type[Base]
    column: str
    source: SecretColumn
    derive: Callable[[str], str]

    def of(self, vault: Vault, plaintext: str) -> str:
        return vault.lookup_hashes(self.derive(plaintext))[0]

    def candidates(self, vault: Vault, derived: str) -> list[str]:
        """The hashes a row may hold for `derived`, one per key (a rotation may be under way)."""
        return vault.lookup_hashes(derived)


SUBMISSION_CODE_HASH = KeyedColumn(Submission, "code_hash", SUBMISSION_CODE, lambda code: code)
GRANT_REFRESH_LOOKUP = KeyedColumn(Grant, "refresh_lookup", GRANT_REFRESH, refresh_digest)
GRANT_REFRESH_PREFIX_LOOKUP = KeyedColumn(Grant, "refresh_prefix_lookup", GRANT_REFRESH, refresh_prefix)

KEYED_COLUMNS = (SUBMISSION_CODE_HASH, GRANT_REFRESH_LOOKUP, GRANT_REFRESH_PREFIX_LOOKUP)
