"""darkroom embedded with webhooks to a verifying receiver and pushes to the emulator's FCM."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from settings import Settings
from tests.support.embedded import Darkroom, running
from tests.support.receiver import SECRET, Receiver, receiving

# Retries in tenths of seconds, the window a few seconds: a test sees a day's schedule in miniature.
QUICK = {"notify_min_backoff_s": 0.1, "notify_max_backoff_s": 0.4, "notify_retry_window_s": 30.0}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as found:
        yield found


@pytest.fixture
def told(settings: Settings, receiver: Receiver, admin, emulator, tmp_path: Path) -> Settings:
    account = tmp_path / "firebase-service-account.json"
    account.write_text(json.dumps(admin.service_account("darkroom-demo")))
    return settings.model_copy(
        update={
            "webhook_url": receiver.url,
            "webhook_secrets": SecretStr(f"whsec_{'A' * 32},{SECRET}"),  # two: the app rotates; one is its own
            "fcm_service_account_file": account,
            "fcm_uri": f"{emulator.url}/fcm",
            **QUICK,
        }
    )


@pytest.fixture
def app(told: Settings) -> Iterator[Darkroom]:
    with running(told) as darkroom:
        yield darkroom
