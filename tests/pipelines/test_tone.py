"""The tone pass in place (pipelines/_tone.c) and the frames it works in (codec.Frame): the same pixels as
Pillow's point, on every path."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image

from emulator import photos
from pipelines import codec, enhance_bytes, steps

# Not importorskip: pyproject.toml builds the extension optionally, so a build that failed would otherwise be
# noticed only as a slower tone pass.
from pipelines import _tone  # isort: skip


def _pillow(frame: bytes, width: int, lut: bytes) -> bytes:
    image = Image.frombytes("RGB", (width, len(frame) // (4 * width)), frame, "raw", "RGBX")
    return image.point(list(lut)).tobytes("raw", "RGBX")


@pytest.mark.parametrize("apply", [_tone.apply, _tone.apply_portable], ids=["apply", "portable"])
def test_each_channel_goes_through_its_own_table_exactly_as_pillows_point(apply):
    rnd = random.Random(5)
    # widths around the 16-pixel steps of the SIMD loop, so every tail length is seen
    for width in [*range(1, 40), 1000, 4001]:
        height = rnd.randint(1, 5)
        frame = bytearray(rnd.randbytes(4 * width * height))
        lut = rnd.randbytes(768)
        expected = bytearray(_pillow(bytes(frame), width, lut))
        expected[3::4] = frame[3::4]  # Pillow writes X as 255; the pass leaves it as it was
        apply(frame, lut)
        assert frame == expected, width


def test_it_works_on_a_view_of_a_larger_frame_and_touches_nothing_past_it():
    frame = bytearray(range(256)) * 8
    lut = bytes(255 - v for v in range(256)) * 3
    view = memoryview(frame)[: 4 * 17]
    _tone.apply(view, lut)
    assert frame[:4] == bytes([255, 254, 253, 3])
    assert frame[4 * 17 :] == (bytearray(range(256)) * 8)[4 * 17 :]


def test_bad_arguments_are_refused_not_run():
    with pytest.raises(ValueError, match="whole RGBX pixels"):
        _tone.apply(bytearray(6), bytes(768))
    with pytest.raises(ValueError, match="3 channels"):
        _tone.apply(bytearray(8), bytes(256))
    with pytest.raises(TypeError):
        _tone.apply(bytes(8), bytes(768))  # read-only memory


def test_a_jpeg_decodes_into_the_frame_with_the_same_pixels_and_the_next_one_reuses_its_memory():
    frame = codec.Frame()
    first, second = photos.jpeg(320, 240, seed=1), photos.jpeg(160, 120, seed=2)
    decoded = codec.decode(first, frame=frame)
    assert decoded.frame is not None and decoded.image.tobytes() == codec.decode(first).image.tobytes()
    assert bytes(decoded.frame) == decoded.image.tobytes("raw", "RGBX")
    memory = decoded.frame.obj
    again = codec.decode(second, frame=frame)
    assert again.frame is not None and again.frame.obj is memory
    assert again.image.tobytes() == codec.decode(second).image.tobytes()


def test_a_frame_lets_go_of_memory_over_what_it_keeps():
    frame = codec.Frame(kept_bytes=4 * 160 * 120)
    kept = codec.decode(photos.jpeg(160, 120, seed=1), frame=frame).frame
    larger = codec.decode(photos.jpeg(320, 240, seed=1), frame=frame).frame
    assert kept is not None and larger is not None and larger.obj is not kept.obj
    assert codec.decode(photos.jpeg(100, 100, seed=1), frame=frame).frame.obj is kept.obj


def test_a_heic_decodes_into_the_frame_and_what_pillow_cannot_is_left_to_it():
    pytest.importorskip("pillow_heif")
    heic = codec.decode(photos.heic(320, 240, seed=3, orientation=6), frame=codec.Frame())
    assert heic.frame is not None and bytes(heic.frame) == heic.image.tobytes("raw", "RGBX")
    grey = Image.new("L", (64, 48), 90)
    for image, fmt in ((grey, "JPEG"), (Image.new("RGB", (64, 48), (9, 8, 7)), "PNG")):
        out = io.BytesIO()
        image.save(out, fmt)
        assert codec.decode(out.getvalue(), frame=codec.Frame()).frame is None, fmt


def test_the_tone_in_the_frame_gives_what_pillow_gives():
    data = photos.jpeg(400, 300, seed=6)
    in_frame, in_pillow = codec.decode(data, frame=codec.Frame()), codec.decode(data)
    assert in_frame.frame is not None and in_pillow.frame is None
    for decoded in (in_frame, in_pillow):
        steps.tone(decoded.image, 1.4, -20.0, (1.05, 1.0, 0.93), decoded.frame)
    assert in_frame.image.tobytes() == in_pillow.image.tobytes()
    assert in_frame.image.tobytes() != codec.decode(data).image.tobytes()


def test_photos_enhanced_one_after_another_on_a_thread_are_each_right():
    """enhance_bytes decodes every photo of a thread into one Frame: each result must be its own photo's."""
    inputs = [photos.jpeg(320 + 16 * n, 240, seed=n) for n in range(3)]
    alone = [enhance_bytes(data).data for data in inputs]
    assert [enhance_bytes(data).data for data in inputs + inputs[::-1]] == alone + alone[::-1]


def test_a_broken_photo_never_shows_the_pixels_the_frame_held_before():
    """A frame keeps the last photo's pixels, maybe another user's: a photo whose decoder stopped short must fail,
    or come out as it does in a fresh frame Pillow zeroed, never with rows of the photo before it."""
    frame = codec.Frame()
    previous = photos.jpeg(320, 240, seed=8)
    rnd = random.Random(9)
    for progressive in (False, True):
        image = Image.open(io.BytesIO(photos.jpeg(320, 240, seed=9)))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=90, progressive=progressive)
        whole = out.getvalue()
        cuts = [whole[:n] for n in sorted(rnd.sample(range(200, len(whole)), 25))]
        damaged = []
        for _ in range(25):
            spoiled = bytearray(whole)
            at = rnd.randrange(len(whole) // 3, len(whole) - 2)
            spoiled[at : at + 8] = rnd.randbytes(8)
            damaged.append(bytes(spoiled))
        for broken in cuts + damaged:
            codec.decode(previous, frame=frame)
            try:
                decoded = codec.decode(broken, frame=frame)
            except codec.DecodeError:
                continue
            assert decoded.image.tobytes() == codec.decode(broken).image.tobytes()
