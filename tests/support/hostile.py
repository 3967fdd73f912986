"""Hostile photos the security reviews made, built from the emulator's good ones: each is a few bytes away from
a real photo, so what it exercises is the one flaw it carries."""

from __future__ import annotations

import io
import struct

from PIL import Image

from emulator import photos


def jpeg_without_scan(width: int = 64, height: int = 48) -> bytes:
    """SOI, tables and a frame header, then no scan: Pillow opens it, and finds nothing to decode."""
    whole = photos.jpeg(width, height, seed=7)
    return whole[: whole.index(b"\xff\xda")] + b"\xff\xd9"


def heic_with_item_type(item_type: bytes = b"Exi\xff") -> bytes:
    """A HEIC whose Exif item's `infe` type is replaced (4 bytes): pi-heif 1.4 crashes on one not UTF-8."""
    whole = photos.heic(64, 48)
    at = whole.index(b"Exif", whole.index(b"infe"))
    return whole[:at] + item_type + whole[at + 4 :]


def jpeg_claiming(width: int, height: int, *, progressive: bool = False, subsampling: int = 0) -> bytes:
    """A small JPEG whose frame header claims width x height: enough for any check made from the header."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 120, 150)).save(out, "JPEG", progressive=progressive, subsampling=subsampling)
    data = bytearray(out.getvalue())
    sof = next(i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] in (0xC0, 0xC2))
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)
