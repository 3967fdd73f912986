"""Decoding and encoding photos: formats allowed, bombs refused, orientation applied, EXIF and ICC kept."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, JpegImagePlugin, MpoImagePlugin, PngImagePlugin, WebPImagePlugin

# Image.open(formats=...) needs each plugin registered; Pillow registers them lazily, so name them here.
_PLUGINS = (JpegImagePlugin, MpoImagePlugin, PngImagePlugin, WebPImagePlugin)

# Only photo formats reach a decoder; exotic ones carry most of Pillow's advisories (image-processing.md §2).
# MPO (multi-picture JPEG) comes through the JPEG opener, which returns an MpoImageFile.
FORMATS = ("JPEG", "PNG", "WEBP")
MAX_PIXELS = 120_000_000  # admits 108 MP phone shots; 200 MP needs a deliberate raise
ORIENTATION = 0x0112


class DecodeError(ValueError):
    """The bytes are not a photo in a format we read."""


class ImageTooLarge(DecodeError):
    """More pixels than MAX_PIXELS: refused before decoding."""


@dataclass(frozen=True)
class Decoded:
    image: Image.Image  # YCbCr, upright
    exif: bytes
    icc_profile: bytes | None
    subsampling: int  # Pillow's code: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0
    input_bytes: int


@dataclass(frozen=True)
class Enhanced:
    data: bytes
    width: int
    height: int
    input_bytes: int
    mime_type: str = "image/jpeg"


def decode(data: bytes, max_pixels: int = MAX_PIXELS) -> Decoded:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLarge(f"{width}x{height} is over the {max_pixels} pixel limit")
            subsampling = _subsampling(image)
            if image.format in ("JPEG", "MPO") and image.mode == "RGB":
                image.draft("YCbCr", image.size)  # the decoder skips its YCbCr->RGB step
            icc = image.info.get("icc_profile")
            image = ImageOps.exif_transpose(image) or image
            image.load()
    except ImageTooLarge:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecodeError(f"not a readable photo: {exc.__class__.__name__}") from exc
    return Decoded(_as_ycbcr(image), _exif_upright(image), icc, subsampling, len(data))


def _as_ycbcr(image: Image.Image) -> Image.Image:
    if image.mode == "YCbCr":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        image = flat
    return image.convert("RGB").convert("YCbCr")


def _subsampling(image: Image.Image) -> int:
    if isinstance(image, JpegImagePlugin.JpegImageFile):
        sampling = JpegImagePlugin.get_sampling(image)
        return sampling if sampling in (0, 1, 2) else 2
    return 2


def _exif_upright(image: Image.Image) -> bytes:
    exif = image.getexif()
    if ORIENTATION in exif:
        exif[ORIENTATION] = 1  # the pixels are upright now
    return exif.tobytes() if len(exif) else b""


def encode(decoded: Decoded, image: Image.Image, quality: int = 88) -> Enhanced:
    """JPEG with the source's EXIF (orientation reset), ICC profile and chroma subsampling."""
    out = io.BytesIO()
    options: dict[str, object] = {"quality": quality, "subsampling": decoded.subsampling, "optimize": False}
    if decoded.exif:
        options["exif"] = decoded.exif
    if decoded.icc_profile:
        options["icc_profile"] = decoded.icc_profile
    image.save(out, "JPEG", **options)
    return Enhanced(out.getvalue(), image.width, image.height, decoded.input_bytes)
