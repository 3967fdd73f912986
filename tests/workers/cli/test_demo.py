"""`darkroom demo`, as a newcomer runs it: the whole flow offline, a contact sheet, and the app told."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from tests.support.processes import cli


@pytest.mark.slow
def test_the_demo_ends_done_with_a_contact_sheet_and_the_app_told(tmp_path):
    result = cli("demo", "--out", str(tmp_path / "out"), env=dict(os.environ), cwd=tmp_path, timeout_s=240)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    with Image.open(tmp_path / "out" / "contact-sheet.png") as sheet:
        assert sheet.width > 0 and sheet.height > 0
    assert result.stdout.count("webhook verified (standardwebhooks)") == 2
    assert "push to the phone (FCM)" in result.stdout and "the app was told" in result.stdout
