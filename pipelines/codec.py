"""Decoding and encoding photos: formats allowed, bombs refused, orientation applied, EXIF and ICC kept.

Both directions stay on libjpeg-turbo's fastest path (RGB in and out); a JPEG's luma sharpening can ride
along inside the decoder (pipelines.dqt).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

from pipelines import dqt, heif

# Image.open(formats=...) needs each plugin registered; Pillow registers them lazily, so name them here.
_PLUGINS = (JpegImagePlugin, PngImagePlugin, WebPImagePlugin)
# Only photo formats reach a decoder; exotic ones carry most of Pillow's advisories (image-processing.md §2).
# MPO (multi-picture JPEG) comes through the JPEG opener.
FORMATS = ("JPEG", "PNG", "WEBP", *heif.FORMATS)
MAX_PIXELS = 100_000_000  # admits 48 MP and 100 MP phone shots; about 1.6 GB peak per worker thread at the limit
ORIENTATION = 0x0112
DEFAULT_QUALITY = 88
MAX_QUALITY = 90  # above this the file grows fast for detail nobody sees (Pillow advises at most 95)


class DecodeError(ValueError):
    """The bytes are not a photo in a format we read."""


class ImageTooLarge(DecodeError):
    """More pixels than MAX_PIXELS: refused before decoding."""


@dataclass(frozen=True)
class Decoded:
    image: Image.Image  # RGB, upright
    exif: bytes
    icc_profile: bytes | None
    subsampling: int  # Pillow's code: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0
    quality: int
    input_bytes: int
    sharpened: bool  # the decoder already sharpened luma


@dataclass(frozen=True)
class Enhanced:
    data: bytes
    width: int
    height: int
    input_bytes: int
    mime_type: str = "image/jpeg"


def decode(data: bytes, sharpen: dqt.Sharpen | None = None, max_pixels: int = MAX_PIXELS) -> Decoded:
    boosted = dqt.sharpened(data, sharpen) if sharpen is not None else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(boosted or data), formats=FORMATS)
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLarge(f"{width}x{height} is over the {max_pixels} pixel limit")
            subsampling, quality = _jpeg_settings(image, data)
            icc = image.info.get("icc_profile")
            image = ImageOps.exif_transpose(image) or image
            image.load()
    except ImageTooLarge:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecodeError(f"not a readable photo: {exc.__class__.__name__}") from exc
    exif = _exif_upright(image)
    return Decoded(_as_rgb(image), exif, icc, subsampling, quality, len(data), boosted is not None)


def _jpeg_settings(image: Image.Image, data: bytes) -> tuple[int, int]:
    if not isinstance(image, JpegImagePlugin.JpegImageFile):
        return 2, DEFAULT_QUALITY
    sampling = JpegImagePlugin.get_sampling(image)
    quality = min(dqt.estimated_quality(data) or DEFAULT_QUALITY, MAX_QUALITY)
    return (sampling if sampling in (0, 1, 2) else 2), quality


def _as_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def _exif_upright(image: Image.Image) -> bytes:
    exif = image.getexif()
    if ORIENTATION in exif:
        exif[ORIENTATION] = 1  # the pixels are upright now
    return exif.tobytes() if len(exif) else b""


def encode(decoded: Decoded, image: Image.Image) -> Enhanced:
    """JPEG with the source's EXIF (orientation reset), ICC profile, chroma subsampling and quality (capped)."""
    out = io.BytesIO()
    options: dict[str, object] = {"quality": decoded.quality, "subsampling": decoded.subsampling}
    if decoded.exif:
        options["exif"] = decoded.exif
    if decoded.icc_profile:
        options["icc_profile"] = decoded.icc_profile
    image.save(out, "JPEG", **options)
    return Enhanced(out.getvalue(), image.width, image.height, decoded.input_bytes)
