"""Each fault of the matrix (docs/faults.md) once, at the settings darkroom ships: every picked photo in the album
exactly once, every webhook event and push delivered once, the submission final, and the work moving again
within 60 s of the fault's end. `make faults` runs them several times and writes the table."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.matrix import FAULTS, judge, run_fault

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.timeout(420)]


@pytest.mark.parametrize("name", list(FAULTS))
def test_the_fault_is_over_within_60_s_of_its_end_and_nothing_is_lost_or_done_twice(name: str, tmp_path: Path):
    fault = FAULTS[name]
    verdict = run_fault(fault, tmp_path)
    assert judge(fault, verdict) == [], verdict
