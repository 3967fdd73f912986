"""The error tree is total: each infrastructure failure leaves its boundary as a leaf of it, so the retry policy
treats an outage as transient and never as an unknown bug."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from settings import Settings
from tests.support.processes import free_port
from workers.errors import DarkroomError, PermanentError, TransientError, Unavailable, VaultError
from workers.intake.limits import RateLimiter
from workers.queue import broker, messages
from workers.queue.locks import Locks
from workers.store.db import Database
from workers.store.vault import Vault, new_key


def nowhere() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


def test_a_database_that_cannot_open_is_unavailable(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/no/such/dir/x.db")
    with pytest.raises(Unavailable), db.session() as s:
        s.execute(text("SELECT 1"))


def test_a_missing_table_is_unavailable_not_a_bug(tmp_path):
    from workers.store import submissions

    with pytest.raises(Unavailable):
        submissions.get(Database(f"sqlite:///{tmp_path}/empty.db"), "0" * 32)


def test_redis_out_of_reach_is_unavailable_for_locks_limits_and_messages():
    with pytest.raises(Unavailable), Locks(nowhere()).hold("x", timeout_s=1):
        pass
    with pytest.raises(Unavailable):
        Locks(nowhere()).claim("x", 1)
    with pytest.raises(Unavailable):
        RateLimiter(nowhere(), per_minute=1).allow("client")
    previous = broker.current() if broker.is_set() else None
    try:
        broker.setup(Settings(_env_file=None, redis_url=nowhere(), token_keys=new_key()))
        with pytest.raises(Unavailable):
            messages.exchange_code("0" * 32)
    finally:
        broker.set_current(previous)


def test_a_lock_held_too_long_is_unavailable():
    locks = Locks(None)
    with locks.hold("busy"), pytest.raises(Unavailable), locks.hold("busy", timeout_s=0.05):
        pass


def test_a_ciphertext_no_key_opens_is_permanent():
    sealed = Vault([new_key().encode()[:32]]).encrypt("secret", "row")
    with pytest.raises(VaultError) as raised:
        Vault([b"k" * 32]).decrypt(sealed, "row")
    assert isinstance(raised.value, PermanentError)


def test_every_leaf_is_either_permanent_or_transient():
    leaves = [c for c in _subclasses(DarkroomError) if not c.__subclasses__()]
    assert leaves and all(issubclass(c, PermanentError | TransientError) for c in leaves)


def _subclasses(cls: type) -> list[type]:
    children: list[type] = cls.__subclasses__()
    found: list[type] = []
    for child in children:
        found += [child, *_subclasses(child)]
    return found
