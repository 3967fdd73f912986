"""Versioned enhancement recipes. A recipe's name is part of each item's idempotency key: change the
steps or their parameters, and you add a new name rather than edit an old one.
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from pipelines import steps
from pipelines.codec import Enhanced, decode, encode


def _auto_v1(image: Image.Image) -> Image.Image:
    toned = steps.tone(image, clip=0.005, max_gain=2.5, max_shift=12.0, saturation=1.15)
    y, cb, cr = toned.split()
    return Image.merge("YCbCr", (steps.sharpen_luma(y, radius=1.2, percent=70, threshold=2), cb, cr))


RECIPES: dict[str, Callable[[Image.Image], Image.Image]] = {"auto-v1": _auto_v1}


def enhance(image: Image.Image, recipe: str) -> Image.Image:
    try:
        step = RECIPES[recipe]
    except KeyError:
        raise ValueError(f"unknown recipe {recipe!r}; known: {', '.join(RECIPES)}") from None
    return step(image)


def enhance_bytes(data: bytes, recipe: str = "auto-v1") -> Enhanced:
    decoded = decode(data)
    return encode(decoded, enhance(decoded.image, recipe))
