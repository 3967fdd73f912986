"""The Library API's project quota as Google enforces it: requests per day and per minute, for the whole project
(every client and user), with Google's 429 body: status RESOURCE_EXHAUSTED and a google.rpc.ErrorInfo whose
metadata names the quota metric and the limit (docs/google.md#quotas). A request refused for quota is not
counted. Days are the emulator's own: `new_day` starts one (Google resets at midnight Pacific time).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

SERVICE = "photoslibrary.googleapis.com"
PER_DAY, PER_MINUTE = "AllRequestsPerDayPerProject", "AllRequestsPerMinutePerProject"


@dataclass
class Quota:
    daily_limit: int = 10_000  # Google's default for the Library API
    minute_limit: int = 0  # 0: none (Google publishes none for the Library API; a test sets one)
    day: int = 1
    used_today: int = 0
    minute_start: float = field(default_factory=time.monotonic)
    used_this_minute: int = 0
    refused: int = 0

    def charge(self) -> dict[str, Any] | None:
        """Count one Library request, or the 429 error body that refuses it."""
        now = time.monotonic()
        if now - self.minute_start >= 60:
            self.minute_start, self.used_this_minute = now, 0
        if self.used_today >= self.daily_limit:
            return self._refusal(PER_DAY, "per day", self.daily_limit)
        if self.minute_limit and self.used_this_minute >= self.minute_limit:
            return self._refusal(PER_MINUTE, "per minute", self.minute_limit)
        self.used_today += 1
        self.used_this_minute += 1
        return None

    def new_day(self) -> None:
        self.day, self.used_today = self.day + 1, 0

    def _refusal(self, limit: str, per: str, value: int) -> dict[str, Any]:
        self.refused += 1
        message = (
            f"Quota exceeded for quota metric 'All requests' and limit 'All requests {per}' of service '{SERVICE}' "
            "for consumer 'project_number:424242424242'."
        )
        info = {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "RATE_LIMIT_EXCEEDED",
            "domain": "googleapis.com",
            "metadata": {
                "service": SERVICE,
                "quota_metric": f"{SERVICE}/all_requests",
                "quota_limit": limit,
                "quota_limit_value": str(value),
                "consumer": "projects/424242424242",
            },
        }
        help_link = {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [{"description": "Request a higher quota limit.", "url": "https://cloud.google.com/docs/quotas"}],
        }
        return {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED", "details": [info, help_link]}

    def as_json(self) -> dict[str, Any]:
        return {
            "daily_limit": self.daily_limit,
            "minute_limit": self.minute_limit,
            "day": self.day,
            "used_today": self.used_today,
            "used_this_minute": self.used_this_minute,
            "refused": self.refused,
        }
