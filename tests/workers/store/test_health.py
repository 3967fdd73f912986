"""Grant health in the store, on SQLite and PostgreSQL: tallies from several processes add up in their user's
hour, the latest failure is kept whichever process wrote last, the last 24 hours are read and older hours are
let go."""

from __future__ import annotations

import datetime

from workers.store import health
from workers.store.health import Tally
from workers.store.models import utcnow


def test_tallies_add_up_per_hour_and_the_latest_error_wins(store):
    db, _ = store
    now = utcnow()
    hour, earlier = health.hour_of(now), now - datetime.timedelta(minutes=1)
    health.add(db, {("a", hour): Tally(calls_ok=5, calls_failed=1, last_error="x: newer", last_error_at=now)})
    health.add(db, {("a", hour): Tally(calls_ok=4, refresh_ok=1, last_error="x: older", last_error_at=earlier)})
    health.add(db, {("a", hour): Tally(calls_ok=1)})  # another process, no failure: the error stays
    found = health.of(db, ["a", "nobody"], now)
    assert list(found) == ["a"]
    assert (found["a"].calls_ok, found["a"].calls_failed, found["a"].refresh_ok) == (10, 1, 1)
    assert found["a"].last_error == "x: newer" and found["a"].state == "healthy"  # 1 of 12


def test_the_day_is_read_older_hours_are_not_and_prune_lets_them_go(store):
    db, _ = store
    now = utcnow()
    day_ago = health.hour_of(now) - datetime.timedelta(hours=24)
    health.add(db, {("old", day_ago): Tally(calls_failed=3, last_error="y", last_error_at=day_ago)})
    health.add(db, {("old", health.hour_of(now)): Tally(calls_ok=1)})
    health.add(db, {("sick", health.hour_of(now) - datetime.timedelta(hours=23)): Tally(refresh_failed=2)})
    health.add(db, {("mixed", health.hour_of(now)): Tally(calls_ok=8, calls_failed=2)})
    assert health.of(db, ["old"], now)["old"].state == "healthy"  # its failures are a day old
    assert health.counts(db, now) == {"healthy": 1, "degraded": 1, "failing": 1}
    assert list(health.failing(db, now, limit=10)) == ["sick"]
    assert health.prune(db, health.hour_of(now) - datetime.timedelta(hours=23)) == 1
    assert health.of(db, ["old"], now + datetime.timedelta(hours=25)) == {}  # a day later: nothing


def test_a_recorder_writes_its_tallies_and_keeps_them_when_a_write_fails(tmp_path):
    from workers.errors import QuotaWait, Unavailable
    from workers.store.db import Database
    from workers.store.health import CALL, REFRESH, Recorder

    db = Database(f"sqlite:///{tmp_path / 'health.db'}")
    recorder = Recorder(db, flush_s=3600)
    recorder.record("a", CALL, "library.albums.list", Unavailable("HTTP 503"))
    recorder.record("a", CALL, "library.albums.list")
    recorder.record("a", CALL, "library.uploads", QuotaWait("spent", utcnow(), daily=True))  # no call was made
    recorder.flush()  # no table yet: the write fails, the tallies stay
    db.migrate()
    recorder.record("a", REFRESH, "oauth.token.refresh_token")
    recorder.flush()
    found = health.of(db, ["a"], utcnow())["a"]
    assert (found.calls_ok, found.calls_failed, found.refresh_ok, found.refresh_failed) == (1, 1, 1, 0)
    assert found.last_error == "library.albums.list: Unavailable: HTTP 503"
    db.dispose()
