"""The demo's contact sheet shows each photo as a viewer would: upright by its EXIF orientation."""

from __future__ import annotations

import io

from PIL import Image

from emulator import photos
from pipelines import enhance_bytes
from pipelines.contact_sheet import GAP, LABEL, THUMB, contact_sheet


def test_a_portrait_shot_stored_sideways_is_shown_upright_before_and_after():
    before = photos.jpeg(240, 320, seed=3, orientation=6)  # a portrait shot: stored 320x240, tagged 6
    after = enhance_bytes(before).data
    with Image.open(io.BytesIO(contact_sheet([("portrait", before, after)], columns=1))) as sheet:
        for left in (GAP, GAP + THUMB[0] + GAP):
            cell = sheet.crop((left, GAP + LABEL, left + THUMB[0], GAP + LABEL + THUMB[1]))
            box = cell.convert("L").point(lambda v: 255 if v > 40 else 0).getbbox()
            assert box is not None
            width, height = box[2] - box[0], box[3] - box[1]
            assert height > width * 1.2, f"shown {width}x{height}: not upright"
