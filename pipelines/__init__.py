"""Pure image code: decode, enhance recipes, encode. Imports the standard library and Pillow only.

enhance_bytes(data, recipe) -> Enhanced      the whole recipe on one photo's bytes
"""

from __future__ import annotations

from pipelines.codec import DecodeError, Enhanced, ImageTooLarge, decode, encode
from pipelines.recipes import RECIPES, enhance, enhance_bytes

__all__ = ["RECIPES", "DecodeError", "Enhanced", "ImageTooLarge", "decode", "encode", "enhance", "enhance_bytes"]
