"""darkroom running embedded (web and workers in this process) against the emulator over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from settings import Settings
from tests.support.embedded import Darkroom, running
from tests.support.stub import Harness, harness


@pytest.fixture
def darkroom(settings: Settings) -> Iterator[Darkroom]:
    with running(settings) as app:
        yield app


@pytest.fixture
def uc(settings: Settings) -> Iterator[Harness]:
    """Use cases against the emulator and a StubBroker nothing consumes (tests/support/stub.py)."""
    with harness(settings) as h:
        yield h
