"""Health per grant: what Google said to the token refreshes and API calls made for each user, so an operator
sees which grants are sick (`darkroom users list --health failing`, `darkroom status`, the metrics), as the
token vaults do (../shared/reference/operations.md §4: 24-hour counts, healthy / degraded / failing, the last
error and when). Kept per user and hour; read over the last 24 hours (`WINDOW`, by the hour).

Each process tallies in memory (`Recorder`) and writes its tallies every FLUSH_S seconds in one statement (and
when it exits): a photo's calls cost the database nothing more. A process killed outright loses its last
seconds of them."""

from __future__ import annotations

import atexit
import datetime
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, and_, case, delete, func, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from workers.errors import DarkroomError, GoogleWait
from workers.store.db import Database, changed
from workers.store.models import GrantHealth, rfc3339, utcnow

log = logging.getLogger(__name__)

WINDOW = datetime.timedelta(hours=24)
DEGRADED_ABOVE = 0.10  # more than a tenth of the day's calls failed
HEALTHY, DEGRADED, FAILING = "healthy", "degraded", "failing"
STATES = (HEALTHY, DEGRADED, FAILING)
_TABLE = cast(Table, GrantHealth.__table__)
_COUNTS = ("refresh_ok", "refresh_failed", "calls_ok", "calls_failed")


def hour_of(at: datetime.datetime) -> datetime.datetime:
    return at.replace(minute=0, second=0, microsecond=0)


@dataclass
class Tally:
    """What Google answered the refreshes and calls made for a user: one process's hour, not yet written, or
    the sum of the last 24 hours, a grant's health. Its `state` is healthy, degraded (more than 10 % failed) or
    failing (nothing succeeded); a grant nothing was asked for is healthy."""

    refresh_ok: int = 0
    refresh_failed: int = 0
    calls_ok: int = 0
    calls_failed: int = 0
    last_error: str | None = None
    last_error_at: datetime.datetime | None = None

    @property
    def state(self) -> str:
        failed = self.refresh_failed + self.calls_failed
        succeeded = self.refresh_ok + self.calls_ok
        if not failed:
            return HEALTHY
        if not succeeded:
            return FAILING
        return DEGRADED if failed / (failed + succeeded) > DEGRADED_ABOVE else HEALTHY

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "refreshes": {"ok": self.refresh_ok, "failed": self.refresh_failed},
            "calls": {"ok": self.calls_ok, "failed": self.calls_failed},
            "last_error": self.last_error,
            "last_error_at": rfc3339(self.last_error_at),
        }


def add(db: Database, tallies: dict[tuple[str, datetime.datetime], Tally]) -> None:
    """Add tallies to their users' hours: one statement (an upsert) for all of them."""
    if not tallies:
        return
    rows = [{"sub": sub, "hour": hour, **vars(tally)} for (sub, hour), tally in tallies.items()]
    insert = (postgresql.insert if db.is_postgres else sqlite.insert)(_TABLE).values(rows)
    new = insert.excluded
    newer = or_(
        _TABLE.c.last_error_at.is_(None),
        and_(new.last_error_at.isnot(None), new.last_error_at >= _TABLE.c.last_error_at),
    )
    statement = insert.on_conflict_do_update(
        index_elements=["sub", "hour"],
        set_={
            **{name: _TABLE.c[name] + new[name] for name in _COUNTS},
            "last_error": case((newer, new.last_error), else_=_TABLE.c.last_error),
            "last_error_at": case((newer, new.last_error_at), else_=_TABLE.c.last_error_at),
        },
    )
    with db.session() as s:
        s.execute(statement)


def _since(now: datetime.datetime) -> datetime.datetime:
    return hour_of(now) - WINDOW + datetime.timedelta(hours=1)


def _summed(now: datetime.datetime) -> Any:
    return select(_TABLE.c.sub, *(func.sum(_TABLE.c[name]).label(name) for name in _COUNTS)).where(
        _TABLE.c.hour >= _since(now)
    )


def of(db: Database, subs: Sequence[str], now: datetime.datetime) -> dict[str, Tally]:
    """The health of each of `subs` that anything was asked for in the last 24 hours."""
    if not subs:
        return {}
    with db.session() as s:
        rows = s.execute(_summed(now).where(_TABLE.c.sub.in_(subs)).group_by(_TABLE.c.sub)).all()
        return _with_errors(s, rows, now)


def failing(db: Database, now: datetime.datetime, limit: int) -> dict[str, Tally]:
    """Up to `limit` users whose last 24 hours are failing: something was asked, nothing succeeded."""
    ok = func.sum(_TABLE.c.refresh_ok) + func.sum(_TABLE.c.calls_ok)
    query = _summed(now).group_by(_TABLE.c.sub).having(ok == 0).order_by(_TABLE.c.sub).limit(limit)
    with db.session() as s:
        return _with_errors(s, s.execute(query).all(), now)


def counts(db: Database, now: datetime.datetime) -> dict[str, int]:
    """How many users of the last 24 hours are in each health state (those nothing was asked for: none). The
    database classifies and counts them (as Tally.state does), so /metrics reads a row per state, not one per
    user of the day, at every scrape."""
    day = _summed(now).group_by(_TABLE.c.sub).subquery()
    failed, succeeded = day.c.refresh_failed + day.c.calls_failed, day.c.refresh_ok + day.c.calls_ok
    state = case(
        (failed == 0, literal(HEALTHY)),
        (succeeded == 0, literal(FAILING)),
        (failed > DEGRADED_ABOVE * (failed + succeeded), literal(DEGRADED)),
        else_=literal(HEALTHY),
    ).label("state")
    found = dict.fromkeys(STATES, 0)
    with db.session() as s:
        for name, n in s.execute(select(state, func.count()).select_from(day).group_by(state)):
            found[str(name)] += int(n)
    return found


def _with_errors(s: Any, rows: Iterable[Any], now: datetime.datetime) -> dict[str, Tally]:
    summed = {row[0]: row[1:5] for row in rows}
    if not summed:
        return {}
    query = (
        select(_TABLE.c.sub, _TABLE.c.last_error, _TABLE.c.last_error_at)
        .where(_TABLE.c.hour >= _since(now), _TABLE.c.sub.in_(list(summed)), _TABLE.c.last_error_at.isnot(None))
        .order_by(_TABLE.c.last_error_at)
    )
    last = {sub: (error, at) for sub, error, at in s.execute(query)}  # the latest of each wins
    return {sub: _health(counted, *last.get(sub, (None, None))) for sub, counted in summed.items()}


def _health(counted: Sequence[Any], last_error: str | None = None, at: datetime.datetime | None = None) -> Tally:
    refresh_ok, refresh_failed, calls_ok, calls_failed = (int(n or 0) for n in counted)
    return Tally(refresh_ok, refresh_failed, calls_ok, calls_failed, last_error, at)


def prune(db: Database, before: datetime.datetime) -> int:
    """Delete the hours before `before` (a day old: nothing reads them)."""
    with db.session() as s:
        return changed(s.execute(delete(_TABLE).where(_TABLE.c.hour < before)))


FLUSH_S = 10.0
REFRESH, CALL = "refresh", "call"


def described(what: str, error: BaseException) -> str:
    """The failure as an operator reads it: where, and what Google answered (our own errors carry Google's
    status and error code, never a token)."""
    text = str(error) if isinstance(error, DarkroomError) else type(error).__name__
    return f"{what}: {type(error).__name__}: {text}"[:500]


class Recorder:
    """One process's tallies, written to the store every `flush_s` seconds by a thread of its own."""

    def __init__(self, db: Database, flush_s: float = FLUSH_S) -> None:
        self._db, self._flush_s = db, flush_s
        self._tallies: dict[tuple[str, datetime.datetime], Tally] = {}
        self._guard = threading.Lock()
        self._writer: threading.Thread | None = None

    def record(self, sub: str, kind: str, what: str, error: BaseException | None = None) -> None:
        """A refresh (`kind` REFRESH) or a Google call (CALL, `what` its endpoint) made for `sub`, and how it
        ended. A wait before the call (Google's quota, a refresh cooling down) is no call: not counted."""
        if isinstance(error, GoogleWait):
            return
        now = utcnow()
        with self._guard:
            tally = self._tallies.setdefault((sub, hour_of(now)), Tally())
            if kind == REFRESH:
                tally.refresh_ok += error is None
                tally.refresh_failed += error is not None
            else:
                tally.calls_ok += error is None
                tally.calls_failed += error is not None
            if error is not None:
                tally.last_error, tally.last_error_at = described(what, error), now
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_every, name="grant-health", daemon=True)
                self._writer.start()
                atexit.register(self.flush, last=True)

    def flush(self, last: bool = False) -> None:
        """Write what was tallied; on a failure (the database out of reach) keep it for the next try, unless
        this is the `last` one (the process exits: its last seconds of health are lost, and said so)."""
        with self._guard:
            taken, self._tallies = self._tallies, {}
        try:
            add(self._db, taken)
        except DarkroomError as exc:
            if last:
                log.info("the last grant health of this process was not written (%s)", exc)
                return
            log.warning("grant health not written (%s); tried again in %.0f s", exc, self._flush_s)
            with self._guard:
                for key, tally in taken.items():
                    self._merge(key, tally)

    def _merge(self, key: tuple[str, datetime.datetime], tally: Tally) -> None:
        mine = self._tallies.setdefault(key, Tally())
        for name in ("refresh_ok", "refresh_failed", "calls_ok", "calls_failed"):
            setattr(mine, name, getattr(mine, name) + getattr(tally, name))
        if tally.last_error_at is not None and (mine.last_error_at is None or tally.last_error_at > mine.last_error_at):
            mine.last_error, mine.last_error_at = tally.last_error, tally.last_error_at

    def _write_every(self) -> None:
        while True:
            time.sleep(self._flush_s)
            self.flush()
