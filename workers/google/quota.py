"""Google's quota facts: which API an endpoint counts against, when a quota day ends (midnight Pacific time),
and what a 429 says about itself (google.rpc.ErrorInfo: the limit's name tells a day from a minute).

Source: docs/google.md#quotas. The counting and pausing live in workers.queue.governor.
"""

from __future__ import annotations

import datetime
import json
import zoneinfo
from typing import Any

PACIFIC = zoneinfo.ZoneInfo("America/Los_Angeles")
LIBRARY, PICKER, MEDIA = "library", "picker", "media"
APIS = (LIBRARY, PICKER, MEDIA)
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def api_of(endpoint: str) -> str:
    """`library.uploads` -> library; `picker.sessions.get` -> picker; base-URL bytes (counted apart) -> media."""
    prefix = endpoint.split(".", 1)[0]
    return MEDIA if prefix == "content" else prefix


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def quota_day(now: datetime.datetime) -> str:
    """The Pacific date a naive-UTC instant falls on: Google's quota day."""
    return now.replace(tzinfo=datetime.UTC).astimezone(PACIFIC).date().isoformat()


def next_reset(now: datetime.datetime) -> datetime.datetime:
    """The next midnight Pacific time, as naive UTC: when a spent daily quota comes back."""
    local = now.replace(tzinfo=datetime.UTC).astimezone(PACIFIC)
    midnight = datetime.datetime.combine(local.date() + datetime.timedelta(days=1), datetime.time(), PACIFIC)
    return midnight.astimezone(datetime.UTC).replace(tzinfo=None)


def is_daily_limit(body: bytes | str) -> bool:
    """Whether a 429's body names a per-day limit in its ErrorInfo (`quota_limit` ...PerDay...)."""
    try:
        error: Any = json.loads(body).get("error", {})
        details = error.get("details", []) if isinstance(error, dict) else []
    except (ValueError, AttributeError):
        return False
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and detail.get("@type") == _ERROR_INFO:
            metadata = detail.get("metadata") or {}
            limit = str(metadata.get("quota_limit", "")) + " " + str(metadata.get("quota_limit_name", ""))
            if "perday" in limit.lower().replace("_", "").replace(" ", ""):
                return True
    return False
