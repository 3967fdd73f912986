"""Hostile bytes at the codec (security review rows 5, 7, 8): any input ends as a photo or a DecodeError,
refused from its header before any pixel is decoded, and bad metadata is dropped rather than fatal."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from emulator import photos
from pipelines import DecodeError, ImageTooLarge, codec, decode, enhance_bytes
from tests.support.waiting import in_threads


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` and holds one row of data: enough for any header check."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, body: struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))  # noqa: E731
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b"")
    )


def test_a_photo_between_pillows_default_and_darkrooms_limit_is_not_refused_for_its_size():
    with pytest.raises(DecodeError) as raised:  # 95 MP: over Pillow's 89 MP default, under darkroom's 100 MP
        decode(png_header(10_000, 9_500))
    assert not isinstance(raised.value, ImageTooLarge) and "DecompressionBomb" not in str(raised.value)
    assert Image.MAX_IMAGE_PIXELS == codec.MAX_PIXELS  # set once, for the process


def test_a_photo_over_the_limit_is_refused_from_its_header():
    with pytest.raises(ImageTooLarge, match="pixel limit"):
        decode(png_header(12_000, 9_000))  # 108 MP


def test_the_limit_holds_on_many_threads_at_once():
    errors: list[BaseException] = []

    def one() -> None:
        try:
            decode(png_header(12_000, 9_000))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    in_threads(one, 8)
    assert len(errors) == 8 and all(isinstance(e, ImageTooLarge) for e in errors)


def test_a_progressive_jpeg_with_thousands_of_scans_is_refused_before_decoding():
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(out, "JPEG", progressive=True)
    data = out.getvalue()
    last_scan = data.rindex(b"\xff\xda")
    scan = data[last_scan:-2]  # SOS header and its entropy-coded data, without EOI
    hostile = data[:-2] + scan * 5000 + b"\xff\xd9"
    with pytest.raises(DecodeError, match="progressive scans"):
        decode(hostile)


def test_exif_that_does_not_parse_is_dropped_and_the_photo_goes_through():
    good = photos.jpeg(64, 48, orientation=6)
    start = good.index(b"Exif\x00\x00")
    broken = good[: start + 6] + b"MM\x00\x2a\xff\xff\xff\xf0" + b"\x07" * 40 + good[start + 54 :]
    result = enhance_bytes(broken)
    assert result.width in (48, 64) and result.height in (48, 64)


def test_an_oversize_icc_profile_is_dropped_not_kept():
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (100, 100, 100)).save(out, "JPEG", icc_profile=b"\x00" * (3 << 20))
    decoded = decode(out.getvalue())
    assert decoded.icc_profile is None


def saved(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


SEEDS = {
    "jpeg": photos.jpeg(48, 32, orientation=3),
    "png": saved(Image.new("RGBA", (24, 16), (1, 2, 3, 4)), "PNG"),
    "webp": saved(Image.new("RGB", (24, 16), (9, 8, 7)), "WEBP"),
    "heif": photos.heic(32, 24),
}


@settings(max_examples=150, deadline=2000, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(sorted(SEEDS)),
    cuts=st.lists(st.tuples(st.integers(0, 4096), st.binary(min_size=0, max_size=16)), max_size=6),
    truncate=st.integers(0, 4096),
)
def test_any_mutation_of_a_photo_ends_as_a_photo_or_a_decode_error_in_time(seed, cuts, truncate):
    """Headers, EXIF and ICC blocks sit in the first bytes of each format: mutate there, and cut the end."""
    data = bytearray(SEEDS[seed])
    for offset, chunk in cuts:
        at = offset % max(len(data), 1)
        data[at : at + len(chunk)] = chunk
    data = data[: len(data) - truncate % max(len(data), 1)] if truncate % 3 == 0 else data
    try:
        result = enhance_bytes(bytes(data))
    except DecodeError:
        return
    assert result.width > 0 and result.height > 0
