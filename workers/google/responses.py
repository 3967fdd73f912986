"""Google's HTTP answers and transport failures translated into darkroom's error tree, here and only here.

Every caller in workers.google wraps its request in `translated(what)`: an error status becomes the tree's leaf
for it, a transport failure (timeout, reset, DNS) becomes Unavailable, and each call is counted by endpoint.
"""

from __future__ import annotations

import contextlib
import datetime
import email.utils
import json
import time
from collections.abc import Iterator, Mapping

import google.auth.exceptions
import httplib2
import requests
import urllib3
from googleapiclient.errors import HttpError

from workers import metrics
from workers.errors import BadRequest, DarkroomError, MediaGone, Misconfigured, QuotaWait, Unavailable
from workers.google import quota

# Google's per-minute limits ask for seconds; a day's limit is known without a header (quota.next_reset).
MAX_RETRY_AFTER_S = 3600.0
_TRANSPORT_ERRORS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    httplib2.HttpLib2Error,
    google.auth.exceptions.TransportError,
    OSError,
)


def message_of(body: bytes | str) -> str:
    """Google's own error message, short: never the request (which may carry a token)."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return ""
    if isinstance(error, dict):
        return f"{error.get('status', '')}: {error.get('message', '')}"[:200]
    return str(error)[:100]


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Google's Retry-After (seconds or an HTTP date), at most MAX_RETRY_AFTER_S; None when absent or unreadable.
    The wait it asks for is shared by every caller of the API, so a number from a broken proxy must not stop
    the Library API for every user for years."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        if value.strip().isdigit():
            delay = float(value)
        else:
            parsed = email.utils.parsedate_to_datetime(value)
            delay = parsed.timestamp() - time.time()
    except (ValueError, TypeError, OverflowError, IndexError):
        return None
    return min(max(0.0, delay), MAX_RETRY_AFTER_S)


def _refresh_reason(exc: google.auth.exceptions.RefreshError) -> str:
    """Google's error code from a refused grant (`invalid_grant`), never the response's other text."""
    text = str(exc.args[0]) if exc.args else ""
    return text.split(":", 1)[0][:60] or "refused"


def error_for(what: str, status: int, headers: Mapping[str, str], body: bytes | str) -> DarkroomError:
    detail = f"{what}: HTTP {status} {message_of(body)}".strip()
    if status == 429:
        # A day's quota does not come back before midnight Pacific: waiting it out on a backoff only spends the
        # retries. Anything else (a per-minute limit, Google's hidden ones) is a wait shared by every caller.
        now = quota.utcnow()
        if quota.is_daily_limit(body):
            return QuotaWait(detail, quota.next_reset(now), daily=True)
        # Google's Retry-After, if any; the governor and the actors wait at least rate_limit_min_delay_s.
        delay_s = retry_after_s(headers)
        return QuotaWait(detail, now + datetime.timedelta(seconds=delay_s or 0.0), daily=False, delay_s=delay_s)
    if status >= 500 or status in (401, 408):
        # A 401 here came after a refresh already: a clock or propagation hiccup, worth one more try.
        return Unavailable(detail)
    if status in (404, 410):
        return MediaGone(detail)
    return BadRequest(detail)


def check(what: str, status: int, headers: Mapping[str, str], body: bytes | str) -> None:
    """Count the answer, and raise the tree's leaf for an error status."""
    metrics.google_call(what, status)
    if status >= 400:
        raise error_for(what, status, headers, body)


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Translate whatever the request in the block raises; the block counts its own successful answers."""
    try:
        yield
    except DarkroomError:
        raise
    except google.auth.exceptions.RefreshError as exc:
        # google-auth's own token grant for a service account (FCM): refused for good unless it says otherwise
        metrics.google_call(what, "refused")
        if getattr(exc, "retryable", False):
            raise Unavailable(f"{what}: the service account's token could not be had now") from None
        raise Misconfigured(f"{what}: Google refused the service account's key: {_refresh_reason(exc)}") from None
    except HttpError as exc:
        metrics.google_call(what, exc.resp.status)
        raise error_for(what, exc.resp.status, dict(exc.resp), exc.content) from None
    except _TRANSPORT_ERRORS as exc:
        metrics.google_call(what, "error")
        raise Unavailable(f"{what}: {exc.__class__.__name__}") from None
