"""Decoding guards and the DQT rewrite that sharpens inside the JPEG decoder."""

from __future__ import annotations

import io
import os
import statistics
from pathlib import Path

import pytest
from PIL import Image, ImageFilter, ImageStat, JpegImagePlugin

from emulator import photos
from pipelines import DecodeError, ImageTooLarge, decode, dqt, enhance_bytes

SHARPEN = dqt.Sharpen(amount=0.6, sigma=1.0)


def test_unreadable_bytes_are_a_clear_decode_error():
    for junk in (b"", b"not an image", b"\xff\xd8\xff\xe0" + b"\x00" * 50, b"GIF89a" + b"\x00" * 64):
        with pytest.raises(DecodeError, match="not a readable photo"):
            decode(junk)


def test_exotic_formats_are_refused_even_when_pillow_reads_them():
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "TIFF")
    with pytest.raises(DecodeError):
        decode(out.getvalue())


def test_oversized_images_are_refused_before_decoding():
    data = photos.jpeg(400, 300)
    with pytest.raises(ImageTooLarge, match="pixel limit"):
        decode(data, max_pixels=100_000)


@pytest.mark.slow
def test_decompression_bomb_is_refused():
    # a tiny PNG that claims 30000 x 30000 pixels
    out = io.BytesIO()
    Image.new("L", (30000, 30000)).save(out, "PNG", optimize=True)
    assert len(out.getvalue()) < 2_000_000
    with pytest.raises(DecodeError):
        decode(out.getvalue())


def test_sharpened_tables_boost_high_frequencies_of_luma_only():
    data = photos.jpeg(256, 192, seed=4, quality=85)
    boosted = dqt.sharpened(data, SHARPEN)
    assert boosted is not None and len(boosted) >= len(data)
    before, after = JpegImagePlugin.JpegImageFile(io.BytesIO(data)), JpegImagePlugin.JpegImageFile(io.BytesIO(boosted))
    luma_before, luma_after = before.quantization[0], after.quantization[0]
    assert luma_after[0] == luma_before[0]  # DC untouched: no brightness change
    assert luma_after[63] > luma_before[63]  # the highest frequency boosted most
    assert after.quantization[1] == before.quantization[1]  # chroma untouched
    edges = lambda im: ImageStat.Stat(im.convert("L").filter(ImageFilter.FIND_EDGES)).mean[0]  # noqa: E731
    assert edges(after) > edges(before) * 1.1
    assert ImageStat.Stat(after.convert("L")).mean[0] == pytest.approx(
        ImageStat.Stat(before.convert("L")).mean[0], abs=1
    )


def test_tables_that_overflow_a_byte_are_written_as_16_bit():
    data = photos.jpeg(64, 48, seed=1, quality=10)
    boosted = dqt.sharpened(data, dqt.Sharpen(amount=3.0, sigma=1.0))
    assert boosted is not None
    image = JpegImagePlugin.JpegImageFile(io.BytesIO(boosted))
    image.load()
    assert max(image.quantization[0]) > 255


def test_files_it_cannot_rewrite_safely_are_left_alone():
    gray = io.BytesIO()
    Image.new("L", (32, 32), 128).save(gray, "JPEG")
    assert dqt.sharpened(gray.getvalue(), SHARPEN) is None  # one component
    shared = io.BytesIO()
    Image.new("RGB", (32, 32)).save(shared, "JPEG", qtables=[list(range(1, 65))])  # one table for all
    assert dqt.sharpened(shared.getvalue(), SHARPEN) is None
    assert dqt.sharpened(b"\xff\xd8\xff\xdb\x00", SHARPEN) is None  # truncated
    assert dqt.sharpened(b"PNG....", SHARPEN) is None


def test_quality_estimate_finds_libjpeg_quality():
    for quality in (50, 75, 85, 92, 98):
        out = io.BytesIO()
        photos.scene(64, 48, 1).save(out, "JPEG", quality=quality)
        assert dqt.estimated_quality(out.getvalue()) == pytest.approx(quality, abs=1)


def test_output_quality_follows_the_source_capped():
    low = photos.jpeg(320, 240, seed=2, quality=70)
    assert dqt.estimated_quality(enhance_bytes(low).data) == pytest.approx(70, abs=1)
    high = photos.jpeg(320, 240, seed=2, quality=98)
    assert dqt.estimated_quality(enhance_bytes(high).data) == pytest.approx(90, abs=1)


def test_zigzag_is_a_permutation():
    assert sorted(dqt.ZIGZAG) == list(range(64))


@pytest.mark.slow
def test_the_next_photos_frame_reuses_the_last_ones_memory_instead_of_faulting_in_fresh_pages():
    """The frame is a thread's codec.Frame, kept whatever Pillow's allocator is set to; with glibc's defaults
    freed memory goes back to the OS, and each photo's bytes would be faulted in anew."""
    import subprocess
    import sys

    probe = (
        "import resource, sys; sys.path.insert(0, '.');"
        "from emulator.photos import jpeg; from pipelines import enhance_bytes, tune_process; tune_process();"
        "data = jpeg(3200, 2400, seed=3, quality=92); faults = [];"
        "[(faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt), enhance_bytes(data)) for _ in range(5)];"
        "faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt);"
        "print(*[b - a for a, b in zip(faults, faults[1:])])"
    )
    root = Path(__file__).resolve().parents[2]

    def faults(**env: str) -> list[int]:
        ours = (
            "PILLOW_BLOCK_SIZE",
            "PILLOW_BLOCKS_MAX",
            "MALLOC_MMAP_THRESHOLD_",
            "MALLOC_TRIM_THRESHOLD_",
            "GLIBC_TUNABLES",
        )
        clean = {k: v for k, v in os.environ.items() if k not in ours}
        run = subprocess.run(
            [sys.executable, "-c", probe], cwd=root, env={**clean, **env}, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        return [int(n) for n in run.stdout.split()]

    # Pillow's or glibc's defaults, as an operator may choose them (GLIBC_TUNABLES set, even empty, is theirs)
    pillow_defaults = faults(PILLOW_BLOCK_SIZE=str(16 << 20), PILLOW_BLOCKS_MAX="0")
    glibc_defaults = faults(GLIBC_TUNABLES="")
    ours = faults()
    # A 7.7 MP frame is some 7,500 pages, the bytes in and out some 1,500. After the first photo a few hundred
    # pages are faulted in (Pillow's defaults made it 8,800 when the frame was Pillow's); glibc's, 2,000 or more.
    assert statistics.median(ours[1:]) < 1000, ours
    assert statistics.median(pillow_defaults[1:]) < 1000, pillow_defaults
    assert statistics.median(glibc_defaults[1:]) > 2 * statistics.median(ours[1:]), (glibc_defaults, ours)
