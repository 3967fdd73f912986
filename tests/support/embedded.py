"""darkroom running embedded (web and workers in the test process) against the emulator over HTTP, and the
settings every test starts from: each Google URL at the emulator, retries that wait milliseconds, not seconds."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import requests

from settings import Settings
from workers.cli.demo import demo_settings
from workers.cli.embedded import Embedded

HEADERS = {"X-Requested-With": "tests"}
# What tests shorten: the backoff between retries (the budgets stay as they are) and how long an upload waits
# before it asks for its batchCreate. Nothing a test asserts depends on how long darkroom waits.
FAST = {"retry_min_backoff_ms": 50, "retry_max_backoff_ms": 500, "create_batch_delay_ms": 200}


def settings_for(emulator_url: str, database_url: str, **overrides: Any) -> Settings:
    return demo_settings(emulator_url, database_url).model_copy(update={**FAST, **overrides})


class Darkroom:
    def __init__(self, app: Embedded) -> None:
        self.app, self.url = app, app.url

    def submit(self, code: str, source: str = "picker") -> str:
        response = requests.post(f"{self.url}/v1/auth-codes", json={"code": code, "source": source}, headers=HEADERS)
        assert response.status_code == 202, response.text
        return str(response.json()["submission_id"])

    def status(self, submission_id: str) -> dict[str, Any]:
        return dict(requests.get(f"{self.url}/v1/submissions/{submission_id}").json())

    def wait(self, submission_id: str, *wanted: str, timeout_s: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.status(submission_id)
            if status["status"] in wanted or status["status"] == "failed":
                return status
            time.sleep(0.05)
        raise AssertionError(f"still {status} after {timeout_s} s")


@contextlib.contextmanager
def running(settings: Settings) -> Iterator[Darkroom]:
    """Embedded darkroom on a free port; its worker threads look for a stop every 100 ms, so it stops fast."""
    app = Embedded(settings, port=0, worker_timeout_ms=100)
    app.start()
    try:
        yield Darkroom(app)
    finally:
        app.stop()
