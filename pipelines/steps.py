"""Small pure enhancement steps on YCbCr images: each takes and returns one image, parameters as arguments."""

from __future__ import annotations

from PIL import Image, ImageFilter


def _percentile(histogram: list[int], fraction: float) -> int:
    target, seen = sum(histogram) * fraction, 0
    for value, count in enumerate(histogram):
        seen += count
        if seen > target:
            return value
    return len(histogram) - 1


def levels_lut(y: Image.Image, clip: float, max_gain: float) -> list[int]:
    """Stretch luma so the `clip` percentiles reach black and white, with the gain bounded."""
    histogram = y.histogram()
    low, high = _percentile(histogram, clip), _percentile(histogram, 1.0 - clip)
    span = max(high - low, 1)
    gain = min(255.0 / span, max_gain)
    # Centre the bounded stretch on the old midpoint so a capped gain does not push everything dark.
    offset = 127.5 - (low + high) / 2 * gain
    return [min(255, max(0, round(v * gain + offset))) for v in range(256)]


def chroma_luts(cb: Image.Image, cr: Image.Image, max_shift: float, saturation: float) -> tuple[list[int], list[int]]:
    """Gray-world white balance (shift chroma means toward neutral, bounded) and a gentle saturation gain."""
    luts = []
    for channel in (cb, cr):
        histogram = channel.histogram()
        mean = sum(v * n for v, n in enumerate(histogram)) / max(sum(histogram), 1)
        shift = max(-max_shift, min(max_shift, 128.0 - mean))
        luts.append([min(255, max(0, round((v + shift - 128.0) * saturation + 128.0))) for v in range(256)])
    return luts[0], luts[1]


def sharpen_luma(y: Image.Image, radius: float, percent: int, threshold: int) -> Image.Image:
    return y.filter(ImageFilter.UnsharpMask(radius=radius, percent=percent, threshold=threshold))


def tone(image: Image.Image, *, clip: float, max_gain: float, max_shift: float, saturation: float) -> Image.Image:
    """Levels on luma and white balance on chroma, applied as one LUT pass over the three channels."""
    y, cb, cr = image.split()
    cb_lut, cr_lut = chroma_luts(cb, cr, max_shift, saturation)
    return image.point(levels_lut(y, clip, max_gain) + cb_lut + cr_lut)
