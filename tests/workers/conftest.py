"""darkroom running embedded (web and workers in this process) against the emulator over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from settings import Settings
from workers.embedded import Embedded

HEADERS = {"X-Requested-With": "tests"}


class Darkroom:
    def __init__(self, app: Embedded) -> None:
        self.app, self.url = app, app.url

    def submit(self, code: str, source: str = "picker") -> str:
        response = requests.post(f"{self.url}/v1/auth-codes", json={"code": code, "source": source}, headers=HEADERS)
        assert response.status_code == 202, response.text
        return response.json()["submission_id"]

    def status(self, submission_id: str) -> dict:
        return requests.get(f"{self.url}/v1/submissions/{submission_id}").json()

    def wait(self, submission_id: str, *wanted: str, timeout_s: float = 30) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.status(submission_id)
            if status["status"] in wanted or status["status"] == "failed":
                return status
            time.sleep(0.05)
        raise AssertionError(f"still {status} after {timeout_s} s")


@pytest.fixture
def darkroom(settings: Settings) -> Iterator[Darkroom]:
    app = Embedded(settings, port=0)
    app.start()
    yield Darkroom(app)
    app.stop()
