"""A short, fixed-seed round of the decoder fuzzer (tests/pipelines/fuzz.py; `make fuzz` runs ten CPU minutes):
no crash, no exception outside DecodeError, no result that differs with what the frame held before."""

from __future__ import annotations

import pytest

from tests.pipelines import fuzz


@pytest.mark.slow
def test_mutated_photos_never_crash_escape_or_show_the_photo_before_them(tmp_path):
    totals = fuzz.run(cpu_seconds=6, processes=1, seed=20261207, out=tmp_path, progress=False)
    assert totals["decoded"] > 100 and totals["refused"] > 100  # it did decode and refuse: the round is real
    assert {k: v for k, v in totals.items() if k not in fuzz.FINE} == {}
