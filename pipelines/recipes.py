"""Versioned enhancement recipes. A recipe's name is part of each item's idempotency key: change the
steps or their parameters, and you add a new name rather than edit an old one.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from pipelines import steps
from pipelines.codec import Decoded, Enhanced, decode, encode
from pipelines.dqt import Sharpen


@dataclass(frozen=True)
class Auto:
    """Auto-levels that keep tone, bounded gray-world white balance, and luma sharpening."""

    clip: float = 0.005  # 0.5 % at each end, Photoshop's Auto Contrast default
    max_gain: float = 2.5
    max_balance: float = 0.10  # each channel moves at most 10 %: a cast is corrected, warm light is kept
    sharpen: Sharpen = Sharpen(amount=0.5, sigma=1.0)

    def __call__(self, decoded: Decoded) -> Image.Image:
        image = decoded.image
        if not decoded.sharpened:
            image = steps.sharpen_luma(image, self.sharpen.amount)
        found = steps.stats(image)
        gain, offset = steps.levels(found.luma, self.clip, self.max_gain)
        return steps.tone(image, gain, offset, steps.gray_world(found.neutral_means, self.max_balance))


RECIPES: dict[str, Auto] = {"auto-v1": Auto()}


def recipe(name: str) -> Auto:
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}") from None


def enhance_bytes(data: bytes, name: str = "auto-v1") -> Enhanced:
    chosen = recipe(name)
    decoded = decode(data, chosen.sharpen)
    return encode(decoded, chosen(decoded))
