"""The quota governor: every Google call counted per API and per Pacific day, project-wide, and an API paused
for everyone when its day's budget is spent or Google answers 429 for a per-day limit, with one probe call
every `quota_probe_interval_s` in case the quota was raised. A per-minute 429 slows every caller of that API
together. The state is in Redis (every process, every machine share it) or, for the embedded default, here.

The last `library_newcomer_reserve` of a day's budget is kept for users who have made at most
`library_light_user_calls` calls that day: fair share divides the photos workers between users busy at the same
moment, this divides the day, so that one user's picks early in the day cannot spend everyone's (a user waits
for the reserve like any other quota wait: failing nothing, spending no retry, shown as `waiting`).

Photos calls `before` ahead of each request (which raises QuotaWait while the API waits) and `answered` after
it; the actors put a waiting message back on its queue for later without spending a retry.

It lives in the queue room, beside the locks, though the design's layout names operations/: every Context holds
a governor, and the operations use cases take a Context, so there it would make operations and context import
each other. Like the locks it is state that processes share through Redis, and it imports no use case.
"""

from __future__ import annotations

import dataclasses
import datetime
import threading
import time
from dataclasses import dataclass
from typing import Any

from settings import Settings
from workers.errors import QuotaWait
from workers.google.quota import APIS, LIBRARY, api_of, next_reset, quota_day, utcnow
from workers.queue.connection import client, translated

_DAY_S = 86_400


@dataclass(frozen=True)
class Use:
    """One API's day so far: requests counted, the budget (None: no daily budget), what it waits for, and the
    probes sent while it was paused."""

    api: str
    day: str
    used: int
    budget: int | None
    paused_until: datetime.datetime | None
    slowed_until: datetime.datetime | None
    probes: int = 0

    def as_json(self) -> dict[str, Any]:
        instants = {"paused_until": _rfc3339(self.paused_until), "slowed_until": _rfc3339(self.slowed_until)}
        return {**dataclasses.asdict(self), **instants}


def _at(stamp: float | None) -> datetime.datetime | None:
    return None if stamp is None else datetime.datetime.fromtimestamp(stamp, datetime.UTC).replace(tzinfo=None)


def _rfc3339(at: datetime.datetime | None) -> str | None:
    return None if at is None else at.replace(microsecond=0).isoformat() + "Z"


@dataclass(frozen=True)
class _Counted:
    """What `before` reads: the day's count (with this call, if it was counted), the pause and slow-down ends."""

    used: int
    paused_at: float | None
    slowed_at: float | None
    counted: bool
    mine: int = 0  # the user's own calls of the day, with this one


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


# Counted only when not paused: a paused call's count and the decrement taking it back would race with the
# successful probe that starts the budget anew (Governor.answered), leaving the count one short of Google's.
# KEYS[4] counts the user's own calls of the day when ARGV[3] is 1.
_COUNT_UNLESS_PAUSED = """
local paused = redis.call('GET', KEYS[2])
local slowed = redis.call('GET', KEYS[3])
if paused and tonumber(paused) > tonumber(ARGV[2]) then
  return {tonumber(redis.call('GET', KEYS[1]) or '0'), paused, slowed, 0, 0}
end
local used = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
local mine = 0
if ARGV[3] == '1' then
  mine = redis.call('INCR', KEYS[4])
  redis.call('EXPIRE', KEYS[4], ARGV[1])
end
return {used, paused, slowed, 1, mine}
"""


class _Memory:
    """The embedded default's store: one process, so a dict under a lock does."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[int | float, float]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str) -> int | float | None:
        found = self._values.get(key)
        if found is None or found[1] < time.monotonic():
            self._values.pop(key, None)
            return None
        return found[0]

    def incr(self, key: str, by: int, ttl_s: float) -> int:
        with self._lock:
            value = int(self._live(key) or 0) + by
            self._values[key] = (value, time.monotonic() + ttl_s)
            return value

    def get(self, key: str) -> float | None:
        with self._lock:
            value = self._live(key)
            return None if value is None else float(value)

    def set(self, key: str, value: float, ttl_s: float) -> None:
        with self._lock:
            self._values[key] = (value, time.monotonic() + ttl_s)

    def delete(self, key: str) -> None:
        with self._lock:
            self._values.pop(key, None)

    def count_unless_paused(
        self, key: str, ttl_s: float, paused: str, slowed: str, now: float, user_key: str | None = None
    ) -> _Counted:
        with self._lock:
            paused_at, slowed_at = self._live(paused), self._live(slowed)
            if paused_at is not None and paused_at > now:
                return _Counted(int(self._live(key) or 0), float(paused_at), _float(slowed_at), counted=False)
            value = int(self._live(key) or 0) + 1
            self._values[key] = (value, time.monotonic() + ttl_s)
            mine = 0
            if user_key is not None:
                mine = int(self._live(user_key) or 0) + 1
                self._values[user_key] = (mine, time.monotonic() + ttl_s)
            return _Counted(value, _float(paused_at), _float(slowed_at), counted=True, mine=mine)

    def claim(self, key: str, ttl_s: float) -> bool:
        with self._lock:
            if self._live(key) is not None:
                return False
            self._values[key] = (1, time.monotonic() + ttl_s)
            return True


class _Redis:
    def __init__(self, url: str, timeout_s: float) -> None:
        self._redis = client(url, timeout_s)
        self._count = self._redis.register_script(_COUNT_UNLESS_PAUSED)  # EVALSHA, loaded again if Redis forgot

    def incr(self, key: str, by: int, ttl_s: float) -> int:
        with translated("quota count"):
            pipe = self._redis.pipeline(transaction=False)
            pipe.incrby(key, by)
            pipe.expire(key, int(ttl_s))
            return int(pipe.execute()[0])

    def get(self, key: str) -> float | None:
        with translated("quota read"):
            value = self._redis.get(key)
        return None if value is None else float(value)

    def count_unless_paused(
        self, key: str, ttl_s: float, paused: str, slowed: str, now: float, user_key: str | None = None
    ) -> _Counted:
        """One round trip, one script (twice per photo: this is the hot path): count the call (and the user's)
        unless the API is paused, and read what it waits for."""
        keys = [key, paused, slowed, user_key or key]
        with translated("quota count"):
            used, paused_at, slowed_at, counted, mine = self._count(
                keys=keys, args=[int(ttl_s), now, "1" if user_key else "0"]
            )
        return _Counted(int(used), _float(paused_at), _float(slowed_at), counted=bool(counted), mine=int(mine))

    def set(self, key: str, value: float, ttl_s: float) -> None:
        with translated("quota write"):
            self._redis.set(key, str(value), px=max(1, int(ttl_s * 1000)))

    def delete(self, key: str) -> None:
        with translated("quota write"):
            self._redis.delete(key)

    def claim(self, key: str, ttl_s: float) -> bool:
        with translated("quota probe"):
            return bool(self._redis.set(key, "1", nx=True, px=max(1, int(ttl_s * 1000))))


class Governor:
    def __init__(self, settings: Settings) -> None:
        self._store: _Memory | _Redis = (
            _Redis(settings.redis_url, settings.data_timeout_s) if settings.redis_url else _Memory()
        )
        self.budgets: dict[str, int] = {LIBRARY: settings.library_daily_quota}
        self.reserved: dict[str, int] = {LIBRARY: int(settings.library_daily_quota * settings.library_newcomer_reserve)}
        self.light_calls = settings.library_light_user_calls
        self.probe_interval_s = settings.quota_probe_interval_s
        self.min_wait = datetime.timedelta(seconds=settings.rate_limit_min_delay_s)  # Google: 30 s after a 429

    # --- around each call ----------------------------------------------------------------------

    def before(self, endpoint: str, sub: str | None = None) -> bool:
        """Count the call about to be made (for `sub`, if given), or raise QuotaWait if its API waits, or if
        the user has had their share of the day; True if it is the probe of a paused API (tell `answered` so)."""
        api, now = api_of(endpoint), utcnow()
        day = quota_day(now)
        used_key = self._used_key(api, day)
        user_key = f"darkroom:quota:user:{api}:{day}:{sub}" if sub and api in self.reserved else None
        # Counted first (unless paused), in the same round trip as what the API waits for; taken back if not sent.
        stamp = now.replace(tzinfo=datetime.UTC).timestamp()
        read = self._store.count_unless_paused(
            used_key, 2 * _DAY_S, f"darkroom:quota:paused:{api}", f"darkroom:quota:slowed:{api}", stamp, user_key
        )
        used, paused, slowed = read.used, _at(read.paused_at), _at(read.slowed_at)
        probing = False
        try:
            if not read.counted:
                assert paused is not None
                if not self._store.claim(f"darkroom:quota:probe:{api}", self.probe_interval_s):
                    raise QuotaWait(f"{endpoint}: the {api} API's quota for today is spent", paused, daily=True)
                probing = True  # this call finds out whether the quota came back
                used = self._store.incr(used_key, 1, 2 * _DAY_S)
                self._store.incr(f"darkroom:quota:probes:{api}:{day}", 1, 2 * _DAY_S)
            if slowed is not None and now < slowed:
                raise QuotaWait(f"{endpoint}: Google asked the {api} API to slow down", slowed, daily=False)
            budget = self.budgets.get(api)
            if budget is not None and used > budget and not probing:
                until = self.pause(api, now)
                raise QuotaWait(f"{endpoint}: today's budget of {budget} {api} requests is spent", until, daily=True)
            if budget is not None and read.mine > self.light_calls and used > budget - self.reserved[api]:
                raise QuotaWait(
                    f"{endpoint}: the rest of today's {api} requests is kept for users who have used few today",
                    next_reset(now),
                    daily=True,
                )
        except QuotaWait as exc:
            if read.counted or probing:
                self._store.incr(used_key, -1, 2 * _DAY_S)  # not sent after all
            if read.counted and user_key is not None:
                self._store.incr(user_key, -1, 2 * _DAY_S)
            if sub is not None:
                self._mark_waiting(sub, exc.until, now)
            raise
        return probing

    def waiting_until(self, sub: str) -> datetime.datetime | None:
        """Until when the user's work last waited for Google's quota, while it still may (what the app sees)."""
        until = self._instant(f"waiting:{sub}")
        return until if until is not None and utcnow() < until else None

    def for_user(self, sub: str) -> UserGate:
        return UserGate(self, sub)

    def _mark_waiting(self, sub: str, until: datetime.datetime, now: datetime.datetime) -> None:
        # Kept while the work may still be waiting: it comes back within two probe intervals (workers.actors).
        shown = min(until, now + datetime.timedelta(seconds=2 * self.probe_interval_s))
        self._set_instant(f"waiting:{sub}", until, now, ttl_until=shown)

    def answered(self, endpoint: str, error: BaseException | None, probe: bool = False) -> None:
        """What Google said: a 429 pauses (a day's limit) or slows (any other) the API for every caller. A probe
        that succeeded means the quota is back, because Google's day turned before ours (its clock, or an
        emulator's compressed days) or because it was raised. Either way the budget starts anew from this call,
        so the next pause comes from our own count, before Google refuses a burst of calls in flight. Any other
        success says nothing of the pause (a call counted within the budget may end after the pause began), and
        costs no round trip."""
        api, now = api_of(endpoint), utcnow()
        if isinstance(error, QuotaWait):
            if error.daily:
                self.pause(api, now, error.until)
            else:
                self._set_instant(f"slowed:{api}", max(error.until, now + self.min_wait), now)
            return
        if error is None and probe:
            self._store.set(self._used_key(api, quota_day(now)), 1, 2 * _DAY_S)
            self._store.delete(f"darkroom:quota:paused:{api}")

    def pause(self, api: str, now: datetime.datetime, until: datetime.datetime | None = None) -> datetime.datetime:
        until = until or next_reset(now)
        self._set_instant(f"paused:{api}", until, now)
        return until

    # --- what operators and the status read ----------------------------------------------------

    def paused_until(self, api: str = LIBRARY) -> datetime.datetime | None:
        paused = self._instant(f"paused:{api}")
        return paused if paused is not None and utcnow() < paused else None

    def report(self) -> list[Use]:
        now = utcnow()
        day = quota_day(now)
        uses = []
        for api in APIS:
            used = int(self._store.get(self._used_key(api, day)) or 0)
            slowed = self._instant(f"slowed:{api}")
            slowed = slowed if slowed is not None and now < slowed else None
            probes = int(self._store.get(f"darkroom:quota:probes:{api}:{day}") or 0)
            uses.append(Use(api, day, used, self.budgets.get(api), self.paused_until(api), slowed, probes))
        return uses

    # --- storage -------------------------------------------------------------------------------

    @staticmethod
    def _used_key(api: str, day: str) -> str:
        return f"darkroom:quota:used:{api}:{day}"

    def _instant(self, name: str) -> datetime.datetime | None:
        return _at(self._store.get(f"darkroom:quota:{name}"))

    def _set_instant(
        self, name: str, at: datetime.datetime, now: datetime.datetime, ttl_until: datetime.datetime | None = None
    ) -> None:
        stamp = at.replace(tzinfo=datetime.UTC).timestamp()
        ttl_s = max(1.0, ((ttl_until or at) - now).total_seconds()) + (0 if ttl_until else 60)
        self._store.set(f"darkroom:quota:{name}", stamp, ttl_s)


class UserGate:
    """The governor as one user's Photos calls see it: each call counted for the user too (the reserve)."""

    def __init__(self, governor: Governor, sub: str) -> None:
        self._governor, self._sub = governor, sub

    def before(self, endpoint: str) -> bool:
        return self._governor.before(endpoint, self._sub)

    def answered(self, endpoint: str, error: BaseException | None, probe: bool = False) -> None:
        self._governor.answered(endpoint, error, probe)
