"""A before/after contact sheet: each original beside its enhanced result, upright, labelled."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageOps

THUMB = (360, 270)
GAP, LABEL = 12, 22


def _thumb(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        upright = ImageOps.exif_transpose(image).convert("RGB")
        upright.thumbnail(THUMB)
        return upright


def contact_sheet(pairs: list[tuple[str, bytes, bytes]], columns: int = 2) -> bytes:
    """PNG bytes: `columns` before/after pairs per row, each pair captioned with its label."""
    pair_w, cell_h = THUMB[0] * 2 + GAP, THUMB[1] + LABEL + GAP
    rows = max(1, -(-len(pairs) // columns))
    sheet = Image.new("RGB", (columns * (pair_w + GAP * 2) + GAP, rows * cell_h + GAP + LABEL), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    draw.text((GAP, 4), "left: original    right: enhanced by darkroom", fill=(220, 220, 220))
    for n, (label, before, after) in enumerate(pairs):
        x = GAP + (n % columns) * (pair_w + GAP * 2)
        y = GAP + LABEL + (n // columns) * cell_h
        for offset, data in ((0, before), (THUMB[0] + GAP, after)):
            thumb = _thumb(data)
            sheet.paste(thumb, (x + offset + (THUMB[0] - thumb.width) // 2, y + (THUMB[1] - thumb.height) // 2))
        draw.text((x, y + THUMB[1] + 4), label, fill=(200, 200, 200))
    out = io.BytesIO()
    sheet.save(out, "PNG", optimize=False)
    return out.getvalue()
