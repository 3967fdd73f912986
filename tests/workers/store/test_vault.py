"""The vault: authenticated encryption bound to a row, several keys, lookup hashes."""

from __future__ import annotations

import base64

import pytest

from workers.store.vault import Vault, VaultError, new_key


def key() -> bytes:
    return base64.urlsafe_b64decode(new_key())


def test_roundtrip_and_ciphertext_hides_the_plaintext():
    vault = Vault([key()])
    sealed = vault.encrypt("1//0refresh-token", "grant:1:refresh")
    assert "refresh-token" not in sealed and sealed.startswith("v1.")
    assert vault.decrypt(sealed, "grant:1:refresh") == "1//0refresh-token"
    assert vault.encrypt("same", "c") != vault.encrypt("same", "c")  # fresh nonce each time


def test_ciphertext_moved_to_another_row_does_not_open():
    vault = Vault([key()])
    sealed = vault.encrypt("secret", "grant:alice:refresh")
    with pytest.raises(VaultError):
        vault.decrypt(sealed, "grant:mallory:refresh")


def test_tampered_ciphertext_does_not_open():
    vault = Vault([key()])
    sealed = vault.encrypt("secret", "ctx")
    flipped = sealed[:-4] + ("AAAA" if sealed[-4:] != "AAAA" else "BBBB")
    with pytest.raises(VaultError):
        vault.decrypt(flipped, "ctx")


def test_old_keys_decrypt_and_the_first_encrypts():
    old, new = key(), key()
    sealed_old = Vault([old]).encrypt("secret", "ctx")
    rotated = Vault([new, old])
    assert rotated.decrypt(sealed_old, "ctx") == "secret"
    assert not rotated.is_current(sealed_old)
    assert rotated.is_current(rotated.encrypt("secret", "ctx"))
    with pytest.raises(VaultError):
        Vault([new]).decrypt(sealed_old, "ctx")


def test_lookup_hashes_are_keyed_and_cover_every_key():
    first, second = key(), key()
    hashes = Vault([first, second]).lookup_hashes("4/0Acode")
    assert hashes[0] == Vault([first]).lookup_hashes("4/0Acode")[0]
    assert hashes[1] == Vault([second]).lookup_hashes("4/0Acode")[0]
    assert "4/0Acode" not in "".join(hashes) and hashes[0] != hashes[1]
