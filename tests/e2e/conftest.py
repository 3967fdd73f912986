"""Every e2e suite runs twice: on the embedded default's SQLite with one photos process, and on PostgreSQL with
two photos processes claiming work concurrently, as a deployment on many machines does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(params=["sqlite", "postgres"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Keyword arguments for tests.support.processes.running: the database and how many photos processes."""
    if request.param == "sqlite":
        return {"database_url": f"sqlite:///{tmp_path / 'darkroom.db'}", "DARKROOM_PHOTOS_PROCESSES": "1"}
    return {"database_url": request.getfixturevalue("postgres_url"), "DARKROOM_PHOTOS_PROCESSES": "2"}
