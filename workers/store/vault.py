"""The token vault: AES-256-GCM per secret, bound to its row by associated data, under rotating keys.

A ciphertext reads `v1.<key id>.<nonce+ciphertext>`; the first key encrypts and every key decrypts, so
`darkroom keys rotate` can re-encrypt under a new first key and then drop the old ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from workers.errors import VaultError

__all__ = ["Vault", "VaultError", "new_key"]


def new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"darkroom key id" + key).hexdigest()[:12]


class Vault:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("a vault needs at least one key")
        self._keys = {_key_id(k): AESGCM(k) for k in keys}  # AESGCM holds no per-message state: shareable
        self._current = _key_id(keys[0])
        # Separate subkeys: the lookup hash must not be usable as an encryption key, nor the other way round.
        self._hash_keys = [hmac.new(k, b"darkroom code lookup", hashlib.sha256).digest() for k in keys]

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._keys[self._current].encrypt(nonce, plaintext.encode(), context.encode())
        return f"v1.{self._current}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, ciphertext: str, context: str) -> str:
        try:
            _version, key_id, payload = ciphertext.split(".", 2)
            cipher = self._keys[key_id]
            raw = base64.urlsafe_b64decode(payload)
            return cipher.decrypt(raw[:12], raw[12:], context.encode()).decode()
        except (ValueError, KeyError, InvalidTag) as exc:
            raise VaultError("cannot decrypt: unknown key, wrong row or tampered ciphertext") from exc

    @property
    def key_count(self) -> int:
        return len(self._hash_keys)

    def is_current(self, ciphertext: str) -> bool:
        return ciphertext.split(".", 2)[1] == self._current

    def lookup_hashes(self, value: str) -> list[str]:
        """Keyed hashes of `value` under every key, the first one current: find a row without storing the value."""
        return [hmac.new(k, value.encode(), hashlib.sha256).hexdigest() for k in self._hash_keys]
