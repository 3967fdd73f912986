"""Versioned enhancement recipes. A recipe's name is part of each item's idempotency key: change the
steps or their parameters, and you add a new name rather than edit an old one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from PIL import Image

from pipelines import dqt, steps
from pipelines.codec import Decoded, Enhanced, decode, encode, thread_frame
from pipelines.dqt import Sharpen


@dataclass(frozen=True)
class Auto:
    """Auto-levels that keep tone, bounded gray-world white balance, and luma sharpening."""

    clip: float = 0.005  # 0.5 % at each end, Photoshop's Auto Contrast default
    max_gain: float = 2.5
    max_balance: float = 0.10  # each channel moves at most 10 %: a cast is corrected, warm light is kept
    sharpen: Sharpen = Sharpen(amount=0.5, sigma=1.0)

    def __call__(self, decoded: Decoded) -> Image.Image:
        """Levels and white balance, in the decoded frame itself; the sharpening is done in quantization tables
        (enhance_bytes)."""
        image = decoded.image
        found = steps.stats(image, 0.0 if decoded.sharpened else self.sharpen.amount)
        gain, offset = steps.levels(found.luma, self.clip, self.max_gain)
        balance = steps.gray_world(found.neutral_means, self.max_balance)
        return steps.tone(image, gain, offset, balance, decoded.frame)


RECIPES: dict[str, Auto] = {"auto-v1": Auto()}


def recipe(name: str) -> Auto:
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}") from None


def enhance_bytes(data: bytes, name: str = "auto-v1") -> Enhanced:
    """The recipe on one photo. Its luma sharpening costs nothing per pixel: a JPEG's is done by darkroom's
    decoder from scaled tables (pipelines.dqt); any other input's by the next decoder of the JPEG written,
    whose tables are scaled the same way (a pixel pass cost as much as the rest together: docs/benchmarks.md)."""
    chosen = recipe(name)
    decoded = decode(data, chosen.sharpen, frame=thread_frame())
    enhanced = encode(decoded, chosen(decoded))
    if decoded.sharpened:
        return enhanced
    boosted = dqt.sharpened(enhanced.data, chosen.sharpen, max_value=255)
    if boosted is not None:
        return dataclasses.replace(enhanced, data=boosted)
    # Not reached with Pillow's encoder (YCbCr, a luma table of its own); in pixels if it ever is.
    in_pixels = steps.sharpen_luma(decoded.image, chosen.sharpen.amount)
    return encode(decoded, chosen(dataclasses.replace(decoded, image=in_pixels, frame=None)))
