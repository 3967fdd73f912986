"""What a kept decode frame may hand the next photo: nothing. A photo either overwrites every pixel of the frame
it decodes into, or is decoded elsewhere, or is refused (security review 2, findings 1, 2, 9 and 10)."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from PIL import Image

from emulator import photos
from pipelines import DecodeError, ImageTooLarge, codec, decode, enhance_bytes
from tests.support import hostile


def test_a_jpeg_with_no_scan_is_refused_and_never_shows_the_photo_before_it():
    frame = codec.Frame()
    codec.decode(photos.jpeg(64, 48, seed=1), frame=frame)
    with pytest.raises(DecodeError):
        codec.decode(hostile.jpeg_without_scan(64, 48), frame=frame)
    with pytest.raises(DecodeError):  # the same on the path the workers take
        enhance_bytes(photos.jpeg(64, 48, seed=1))
        enhance_bytes(hostile.jpeg_without_scan(64, 48))


def test_a_heif_item_string_that_is_not_utf8_is_refused_without_a_crash():
    # In a child process: on pi-heif 1.4 this input kills whoever decodes it (SIGSEGV).
    script = (
        "from tests.support import hostile\n"
        "from pipelines import DecodeError, decode\n"
        "try:\n    decode(hostile.heic_with_item_type())\n"
        "except DecodeError as exc:\n    print(exc)\n"
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert child.returncode == 0 and "not UTF-8" in child.stdout, (child.returncode, child.stderr[-500:])


def test_a_heif_item_named_in_utf8_is_read_as_before():
    assert decode(hostile.heic_with_item_type(b"Ex\xc3\xa9")).image.size == (64, 48)


def test_a_heic_cut_short_or_emptied_is_a_decode_error():
    heic = photos.heic(64, 48)
    mdat = heic.index(b"mdat")
    for broken in (heic[: mdat + 40], heic[: mdat + 4] + b"\x00" * (len(heic) - mdat - 4), heic[: mdat + 4]):
        with pytest.raises(DecodeError):
            enhance_bytes(broken)


def test_a_photo_wider_than_jpeg_can_hold_is_refused_from_its_header():
    out = io.BytesIO()
    Image.new("RGB", (65_536, 2), (1, 2, 3)).save(out, "PNG")
    with pytest.raises(ImageTooLarge, match="65500"):
        enhance_bytes(out.getvalue())


def test_a_progressive_jpeg_is_admitted_only_as_large_as_its_decoder_memory_allows():
    # libjpeg keeps every coefficient of a progressive frame beside the frame darkroom decodes into
    with pytest.raises(ImageTooLarge, match="progressive"):
        decode(hostile.jpeg_claiming(10_000, 10_000, progressive=True))
    with pytest.raises(ImageTooLarge, match="progressive"):
        decode(hostile.jpeg_claiming(7_000, 7_000, progressive=True))  # 49 MP at 4:4:4: 490 MB
    # the same size in one scan needs only its frame: admitted (libjpeg fills what the short file lacks)
    assert decode(hostile.jpeg_claiming(7_000, 7_000)).image.size == (7_000, 7_000)
    assert decode(hostile.jpeg_claiming(4_000, 3_000, progressive=True)).image.size == (4_000, 3_000)


def test_a_heif_of_a_million_empty_boxes_is_refused_without_listing_them():
    heic = photos.heic(64, 48)
    hostile_heif = heic + b"\x00\x00\x00\x08free" * 1_000_000  # 8 MB of boxes after the photo
    with pytest.raises(DecodeError, match="more than 4096 boxes"):
        decode(hostile_heif)
