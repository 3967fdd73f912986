"""Pure image code: decode, enhance recipes, encode. Imports the standard library, Pillow and pi-heif only, and
its own C loop for the tone pass (_tone.c, optional: steps falls back to Pillow).

enhance_bytes(data, recipe) -> Enhanced      the whole recipe on one photo's bytes
tune_process()                               the allocators set for photos, once, as a process that enhances starts
"""

from __future__ import annotations

from pipelines.codec import DecodeError, Enhanced, ImageTooLarge, decode, encode, tune_process
from pipelines.recipes import RECIPES, enhance_bytes, recipe

__all__ = [
    "RECIPES",
    "DecodeError",
    "Enhanced",
    "ImageTooLarge",
    "decode",
    "encode",
    "enhance_bytes",
    "recipe",
    "tune_process",
]
