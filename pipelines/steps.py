"""Small pure enhancement steps. Each takes an image and numbers and returns an image or numbers (tone changes
the image it is given, in place).

Statistics come from a nearest-neighbour subsample (no filtering cost); the whole tonal change is one
lookup table per channel, applied in a single pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageChops

try:
    from pipelines import _tone

    IN_PLACE: Callable[[memoryview, bytes], None] | None = _tone.apply
except ImportError:  # built without a C compiler (pyproject.toml): Pillow's point does the same, slower
    IN_PLACE = None

STATS_STEP = 8  # every 8th pixel each way: 1/64 of the work, the same percentiles
TONE_STRIP_BYTES = 512 << 10  # the tone pass's strips stay in a core's L2 cache: 32 rows of a 12 MP photo


NEUTRAL_SATURATION = 48  # of 255: pixels greyer than this vote on white balance
MIN_NEUTRAL = 0.01  # below 1 % neutral pixels, leave the balance alone


@dataclass(frozen=True)
class Stats:
    luma: list[int]  # histogram of L
    neutral_means: tuple[float, float, float] | None  # R, G, B means of the near-neutral pixels


def stats(image: Image.Image, sharpen_amount: float = 0.0) -> Stats:
    """Of the image as it will be shown: sharpened by `sharpen_amount` where the sharpening is still to come
    (it widens the histogram, and so takes some of the levels' stretch)."""
    size = (max(1, image.width // STATS_STEP), max(1, image.height // STATS_STEP))
    small = _sample(image, size, sharpen_amount)
    # Gray-world over near-neutral pixels only (as OpenCV's GrayworldWB): a blue sky or a lawn must not
    # pull the balance; clouds, walls and roads should.
    neutral = neutral_mask(small)
    rgb = small.histogram(mask=neutral)
    enough = sum(rgb[:256]) > MIN_NEUTRAL * size[0] * size[1]
    means = (_mean(rgb[:256]), _mean(rgb[256:512]), _mean(rgb[512:])) if enough else None
    return Stats(small.convert("L").histogram(), means)


# HSV saturation below NEUTRAL_SATURATION, as Pillow computes it (255 (max - min) / max, truncated), is
# max - min below this, by max: exact for every pair (tests/pipelines/test_recipes.py checks all of them).
_NEUTRAL_SPREAD = [max(1, math.ceil(NEUTRAL_SATURATION * v / 255)) for v in range(256)]


def neutral_mask(image: Image.Image) -> Image.Image:
    """255 where an RGB pixel's HSV saturation is below NEUTRAL_SATURATION, else 0: from each pixel's
    brightest and darkest channel, a third of the cost of converting to HSV."""
    r, g, b = image.split()
    brightest = ImageChops.lighter(ImageChops.lighter(r, g), b)
    spread = ImageChops.subtract(brightest, ImageChops.darker(ImageChops.darker(r, g), b))
    return ImageChops.subtract(brightest.point(_NEUTRAL_SPREAD), spread).point(_ANY)


_ANY = [0] + [255] * 255


def _sample(image: Image.Image, size: tuple[int, int], sharpen_amount: float) -> Image.Image:
    """Every STATS_STEP-th pixel each way; with an amount, each as sharpen_luma would make it, from that pixel
    and its four neighbours, each sampled the same way one pixel over (5/64 of the pixels, not all of them)."""
    if not sharpen_amount or image.width < 3 or image.height < 3:
        return image.resize(size, Image.Resampling.NEAREST)

    def shifted(dx: int, dy: int) -> Image.Image:
        box = (1 + dx, 1 + dy, image.width - 1 + dx, image.height - 1 + dy)
        return image.resize(size, Image.Resampling.NEAREST, box=box).convert("YCbCr")

    y, cb, cr = shifted(0, 0).split()
    around = [shifted(dx, dy).getchannel("Y") for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))]
    blur = Image.blend(Image.blend(around[0], around[1], 0.5), Image.blend(around[2], around[3], 0.5), 0.5)
    return Image.merge("YCbCr", (Image.blend(blur, y, 1.0 + sharpen_amount), cb, cr)).convert("RGB")


def _mean(histogram: list[int]) -> float:
    return sum(v * n for v, n in enumerate(histogram)) / max(sum(histogram), 1)


def _percentile(histogram: list[int], fraction: float) -> int:
    target, seen = sum(histogram) * fraction, 0
    for value, count in enumerate(histogram):
        seen += count
        if seen > target:
            return value
    return len(histogram) - 1


def levels(histogram: list[int], clip: float, max_gain: float) -> tuple[float, float]:
    """(gain, offset) that stretch luma so the `clip` percentiles reach black and white, gain bounded.

    One map for all three channels, so hues keep their tone (Photoshop's monochromatic Auto Contrast)."""
    low, high = _percentile(histogram, clip), _percentile(histogram, 1.0 - clip)
    gain = min(255.0 / max(high - low, 1), max_gain)
    if gain <= 1.0:
        return 1.0, 0.0
    # Centre a capped stretch on the clipped range so it does not push everything dark or light.
    return gain, 127.5 - (low + high) / 2 * gain


def gray_world(means: tuple[float, float, float] | None, max_change: float) -> tuple[float, float, float]:
    """Per-channel gains that move the channel means toward their common grey, each within ±max_change."""
    if means is None:
        return 1.0, 1.0, 1.0
    grey = sum(means) / 3
    return tuple(min(1 + max_change, max(1 - max_change, grey / max(m, 1.0))) for m in means)  # type: ignore[return-value]


def tone(
    image: Image.Image,
    gain: float,
    offset: float,
    balance: tuple[float, float, float],
    frame: memoryview | None = None,
) -> Image.Image:
    """White balance, then levels: one LUT per channel, one pass, in place. So a photo needs one frame of memory,
    not two (a 48 MP frame is 192 MB: Pillow keeps RGB in 4 bytes a pixel). In `frame`, the memory of image's
    pixels when darkroom decoded them there (codec.Frame), by pipelines/_tone.c (with AVX-512 VBMI where the CPU
    has it). Otherwise with Pillow, a strip of rows at a time, each in cache (docs/benchmarks.md has the three)."""
    lut: list[int] = []
    for channel_gain in balance:
        scale = channel_gain * gain
        # Rounded, then clamped: a third of the cost of min(max(round())) per entry, and a photo's 768 entries
        # are a tenth of a small photo's whole tone pass.
        lut += [0 if v < 0 else 255 if v > 255 else v for v in [round(v * scale + offset) for v in range(256)]]
    if frame is not None and IN_PLACE is not None:
        IN_PLACE(frame, bytes(lut))
        return image
    # On Pillow's core image: Image.point rounds all 768 entries again on every call, which for a strip costs
    # as much as the strip's pixels (faster than through the public calls, or in one piece).
    core, rows = image.im, max(1, TONE_STRIP_BYTES // (4 * image.width))
    for top in range(0, image.height, rows):
        box = (0, top, image.width, min(image.height, top + rows))
        core.paste(core.crop(box).point(lut, None), box)
    return image


def cross_blur(band: Image.Image) -> Image.Image:
    """Mean of the four edge neighbours, from four shifts and three blends (Pillow's kernels are slower)."""
    across = Image.blend(ImageChops.offset(band, 1, 0), ImageChops.offset(band, -1, 0), 0.5)
    down = Image.blend(ImageChops.offset(band, 0, 1), ImageChops.offset(band, 0, -1), 0.5)
    return Image.blend(across, down, 0.5)


def sharpen_luma(image: Image.Image, amount: float) -> Image.Image:
    """Unsharp mask on luma only, in pixels: for inputs whose decoder could not do it (PNG, WebP, HEIC)."""
    y, cb, cr = image.convert("YCbCr").split()
    # blend with t > 1 extrapolates: blur + (1 + amount) * (y - blur) = y + amount * (y - blur)
    y = Image.blend(cross_blur(y), y, 1.0 + amount)
    return Image.merge("YCbCr", (y, cb, cr)).convert("RGB")
