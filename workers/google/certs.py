"""Google's ID-token certificates, fetched once per their Cache-Control and shared by every verification in the
process: a flood of tokens (forged or not) costs Google one fetch per max-age, not one per token. A token whose
`kid` is not among them makes one refetch (Google rotates its keys)."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import requests

from workers.errors import Unavailable
from workers.google.responses import check, translated

_MAX_AGE = re.compile(r"max-age=(\d+)")
MIN_REFETCH_S = 5.0  # an unknown kid refetches at most this often: a forger's kid must not make every call fetch


class Certs:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # one fetch at a time: concurrent verifications wait for it, then share it
        self._found: dict[str, tuple[float, float, dict[str, str]]] = {}  # url: (fresh until, fetched at, certs)

    def for_kid(self, url: str, kid: str | None, timeout_s: float) -> dict[str, str]:
        with self._lock:
            fresh_until, fetched_at, certs = self._found.get(url, (0.0, 0.0, {}))
            now = time.monotonic()
            stale = now >= fresh_until or (kid not in certs and now - fetched_at >= MIN_REFETCH_S)
            if stale:
                certs, max_age = _fetch(url, timeout_s)
                self._found[url] = (now + max_age, now, certs)
            return certs

    def clear(self) -> None:
        """Forget every fetched set (a test's new Google may answer at an address an earlier one had)."""
        with self._lock:
            self._found.clear()


def _fetch(url: str, timeout_s: float) -> tuple[dict[str, str], float]:
    with translated("oauth.certs"):
        response = requests.get(url, timeout=timeout_s)
    check("oauth.certs", response.status_code, response.headers, response.content)
    try:
        body: Any = response.json()
    except ValueError as exc:
        raise Unavailable("oauth.certs: the answer is not JSON") from exc
    found = _MAX_AGE.search(response.headers.get("cache-control", ""))
    return {str(k): str(v) for k, v in dict(body).items()}, float(found.group(1)) if found else 0.0


CERTS = Certs()
