"""A bounded property-based fuzz run against the real app, driven by its own OpenAPI document: no 5xx,
and every answer matches the document (status, content type, body schema)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from ingest.app import create_app
from settings import Settings
from workers.queue import broker
from workers.store.db import Database
from workers.store.vault import new_key

# schemathesis loads the schema when the module is collected, so the app is built here; its database and
# broker are made ready just before the run (other tests set up brokers of their own in between).
CONFIG = Settings(
    _env_file=None,
    database_url=f"sqlite:///{Path(tempfile.mkdtemp()) / 'fuzz.db'}",
    redis_url=None,
    token_keys=new_key(),
    rate_limit_per_minute=100_000,
    google_client_id="1234-web.apps.googleusercontent.com",
    google_client_secret="GOCSPX-test",
)
APP = create_app(CONFIG)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def ready() -> Iterator[None]:
    broker.setup(CONFIG)
    Database(CONFIG.database_url).migrate()
    yield
    APP.state.context.db.dispose()


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_input_breaks_the_api(case):
    case.call_and_validate()
