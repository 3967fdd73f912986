"""Decoding and encoding photos: formats allowed, bombs refused, orientation tag, EXIF and ICC kept.

Any bytes end as a photo or a DecodeError: what is refused (too many pixels, too many progressive scans) is
refused from the header before any pixel is decoded, and metadata that does not parse is dropped, not fatal.
Both directions stay on libjpeg-turbo's fastest path (RGB in and out); a JPEG's luma sharpening can ride
along inside the decoder (pipelines.dqt).

Pixels stay as the camera stored them and the EXIF Orientation tag goes out as it came in: a JPEG may carry
it, and Google Photos and every current viewer turn the photo upright by it. Turning 12 MP of pixels costs
more than the whole enhancement (docs/benchmarks.md), for an output nobody sees differently.
A decoder that turns the pixels itself (libheif applies HEIF's irot/imir) resets the tag it hands over.
"""

from __future__ import annotations

import ctypes
import io
import os
import struct
import threading
import warnings
from dataclasses import dataclass

from PIL import Image, JpegImagePlugin, PngImagePlugin, WebPImagePlugin, _imaging  # _imaging: Image.core

from pipelines import dqt, heif

# Image.open(formats=...) needs each plugin registered; Pillow registers them lazily, so name them here.
_PLUGINS = (JpegImagePlugin, PngImagePlugin, WebPImagePlugin)
# Only photo formats reach a decoder; exotic ones carry most of Pillow's security advisories.
# MPO (multi-picture JPEG) comes through the JPEG opener.
FORMATS = ("JPEG", "PNG", "WEBP", *heif.FORMATS)
MAX_PIXELS = 100_000_000  # admits 48 MP and 100 MP phone shots; one 400 MB frame (4 bytes a pixel) at the limit
# A progressive JPEG decodes every scan over the whole frame: a camera writes about ten, a hostile file
# thousands (20,000 scans in 2.9 MB took 103 s of CPU). Counted in the bytes before decoding.
MAX_SCANS = 64
MAX_SIDE = 65_500  # libjpeg's limit: a wider or taller photo could be decoded, but not written out
MAX_ICC_BYTES = 1 << 21  # 2 MiB: real profiles are kilobytes; an oversize one (20 MB seen) is dropped
# The limit is set once for the process, so Pillow's own 89 MP default does not refuse what darkroom admits.
# Pillow still refuses twice the limit itself; below that, darkroom's header check refuses with its own
# error, so Pillow's warning in between says nothing darkroom does not.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# tune_process: Pillow's block allocator (https://pillow.readthedocs.io/en/stable/reference/block_allocator.html)
# hands a freed frame back to the OS at once by default (PILLOW_BLOCKS_MAX=0), so each photo's frame is fresh pages for
# the kernel to fault in and zero: at 12 MP some 11,000 faults, kernel time a photo as much as
# the whole enhancement. Freed blocks are kept instead, for the next photo, up to BLOCKS_KEPT of BLOCK_BYTES
# (200 MB: one 48 MP frame, four 12 MP ones), so a photos process stays at the size its largest photo took.
# Blocks of one small size, not Pillow's 16 MB: a cached block is resized to each request, and the tone pass's
# strips (steps.TONE_STRIP_BYTES) would shrink 16 MB blocks that the next frame grows again (mremap, in
# kernel time). An operator's PILLOW_BLOCK_SIZE and PILLOW_BLOCKS_MAX are left as set.
BLOCK_BYTES = 256 << 10
BLOCKS_KEPT = 800
# glibc's malloc treats a photo's bytes alike (a 12 MP JPEG is 2.5 MB in and 3.5 MB out, copied on the way in
# HTTP and here): by default a block over its mmap threshold may be fresh pages, and freed memory over the trim
# threshold at a heap's top goes back to the OS, to be faulted in again by the next photo. With these a block
# under 32 MB (glibc's ceiling for the setting; a 48 MP JPEG is some 20 MB) comes from the heap, and a heap keeps
# up to 128 MB it freed. An operator's MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_ or GLIBC_TUNABLES win.
MALLOC_MMAP_THRESHOLD = 32 << 20
MALLOC_TRIM_THRESHOLD = 128 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h


def _keep_freed_bytes() -> None:
    if any(name in os.environ for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not a libc with mallopt (macOS): its allocator as it is
        return
    mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD)


def tune_process() -> None:
    """Set this process's allocators for one photo after another, as described above: what a photos worker and
    `darkroom enhance` call as they start. Importing pipelines changes neither allocator."""
    if "PILLOW_BLOCK_SIZE" not in os.environ:
        _imaging.set_block_size(BLOCK_BYTES)
    if "PILLOW_BLOCKS_MAX" not in os.environ:
        _imaging.set_blocks_max(BLOCKS_KEPT)
    _keep_freed_bytes()


# A thread's Frame keeps the memory of its largest photo up to this (a 24 MP frame); a larger one is let go.
FRAME_KEPT_BYTES = 100 << 20
_RGBX = 4  # bytes a pixel of a decoded RGB frame
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
# Pillow's EXIF (TIFF) parser warns of each odd tag it skips; what parses is kept, the rest dropped.
warnings.filterwarnings("ignore", category=UserWarning, module="PIL.TiffImagePlugin")
# What Pillow raises for EXIF it cannot parse (seen: SyntaxError, struct.error, TypeError, KeyError).
_BAD_METADATA = (SyntaxError, ValueError, TypeError, KeyError, IndexError, struct.error, UnicodeDecodeError)
_APP1_EXIF = b"Exif\x00\x00"
DEFAULT_QUALITY = 88
MAX_QUALITY = 90  # above this the file grows fast for detail nobody sees (Pillow advises at most 95)


class DecodeError(ValueError):
    """The bytes are not a photo in a format we read."""


class ImageTooLarge(DecodeError):
    """More pixels than MAX_PIXELS: refused before decoding."""


@dataclass(frozen=True)
class Decoded:
    image: Image.Image  # RGB, as stored: `exif` says how to show it upright
    exif: bytes
    icc_profile: bytes | None
    subsampling: int  # Pillow's code: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0
    quality: int
    input_bytes: int
    sharpened: bool  # the decoder already sharpened luma
    # image's pixels, RGBX rows top to bottom, when they are in darkroom's memory (decoded into a Frame)
    frame: memoryview | None = None


class Frame:
    """Memory that decoded photos' pixels go into, one photo after another, kept for the next one.

    Pillow zeroes every frame it allocates (48 MB at 12 MP), which the decoder then overwrites: a tenth of the
    codec's floor (docs/benchmarks.md). In a Frame the decoder writes into memory already faulted in, and
    the tone pass can change the pixels where they are (pipelines/_tone.c) instead of into a second frame. So a
    photo decoded into a Frame is good until the next decode into the same Frame: one Frame a thread
    (thread_frame), used by enhance_bytes, which returns only the bytes it encoded. The last photo's pixels stay
    in it, maybe another user's: decode hands a photo a Frame only when its decoder is known to write every pixel
    or raise (_fills_frame), so none of them reaches the next photo (tests/pipelines/test_frames.py and
    test_tone.py break photos to show it; bench/fuzz.py mutates thousands).
    """

    def __init__(self, kept_bytes: int = FRAME_KEPT_BYTES) -> None:
        self._buffer = bytearray()
        self._kept = kept_bytes

    def hold(self, image: Image.Image) -> memoryview:
        """Make image, opened and not yet loaded, decode into this frame; the memory its pixels will be in."""
        size = image.width * image.height * _RGBX
        buffer = self._buffer
        if size > len(buffer):
            buffer = bytearray(size)
            if size <= self._kept:
                self._buffer = buffer
        # Pillow's load() decodes into the image's core image when it has the right mode and size; map_buffer
        # is how Pillow itself maps a file's memory into one (ImageFile.load, Image.frombuffer).
        image.im = _imaging.map_buffer(buffer, image.size, "raw", 0, ("RGB", 0, 1))
        return memoryview(buffer)[:size]


class _Threads(threading.local):
    def __init__(self) -> None:  # once in each thread that looks
        self.frame = Frame()


_threads = _Threads()


def thread_frame() -> Frame:
    """This thread's Frame."""
    return _threads.frame


@dataclass(frozen=True)
class Enhanced:
    data: bytes
    width: int
    height: int
    input_bytes: int
    mime_type: str = "image/jpeg"


def decode(
    data: bytes, sharpen: dqt.Sharpen | None = None, max_pixels: int = MAX_PIXELS, frame: Frame | None = None
) -> Decoded:
    """The photo in data; an RGB JPEG or HEIC (a phone's) decodes into frame when one is given."""
    if data[:2] == b"\xff\xd8" and data.count(b"\xff\xda") > MAX_SCANS:  # 0xFF in scan data is stuffed: only SOS
        raise DecodeError(f"not a readable photo: more than {MAX_SCANS} progressive scans")
    boosted = dqt.sharpened(data, sharpen) if sharpen is not None else None
    try:
        if heif.is_heif(data):
            heif.check(data)  # before pi-heif's C code reads a string it would crash on
        image: Image.Image = Image.open(io.BytesIO(boosted or data), formats=FORMATS)
        width, height = image.size
        if width * height > max_pixels:
            raise ImageTooLarge(f"{width}x{height} is over the {max_pixels} pixel limit")
        if max(width, height) > MAX_SIDE:
            raise ImageTooLarge(f"{width}x{height}: a JPEG holds at most {MAX_SIDE} pixels a side")
        _check_decoder_memory(image, data, max_pixels * _RGBX)
        subsampling, quality = _jpeg_settings(image, data)
        icc = _icc(image)
        exif = _exif(image)
        held = frame.hold(image) if frame is not None and _fills_frame(image) else None
        core = image.im if held is not None else None
        image.load()
        # A decoder that found another size (libheif turning by irot) makes a core image of its own.
        pixels = held if core is not None and image.im is core else None
        return Decoded(_as_rgb(image), exif, icc, subsampling, quality, len(data), boosted is not None, pixels)
    except ImageTooLarge:
        raise
    except heif.BadHeif as exc:
        raise DecodeError(f"not a readable photo: {exc}") from exc
    # EOFError and RuntimeError: pi-heif's for a HEVC stream that ends early, or holds nothing
    except (
        OSError,
        ValueError,
        SyntaxError,
        EOFError,
        RuntimeError,
        struct.error,
        Image.DecompressionBombError,
    ) as exc:
        raise DecodeError(f"not a readable photo: {exc.__class__.__name__}") from exc


def _check_decoder_memory(image: Image.Image, data: bytes, budget: int) -> None:
    """Refuse a JPEG whose decoder would need more than `budget` bytes with its frame. libjpeg keeps every DCT
    coefficient of the whole photo (2 bytes each, 64 a block of each component) when the photo comes in more
    than one scan (progressive, or its components in scans of their own), beside the frame it decodes into: a
    progressive 100 MP photo needed about 1 GB in one thread, a baseline one 0.4 GB."""
    if image.format not in ("JPEG", "MPO") or not _buffers_coefficients(image, data):
        return
    layers = getattr(image, "layer", [])
    h_max = max((h for _, h, _, _ in layers), default=1) or 1
    v_max = max((v for _, _, v, _ in layers), default=1) or 1
    blocks = sum(-(-image.width * h // (8 * h_max)) * -(-image.height * v // (8 * v_max)) for _, h, v, _ in layers)
    needed = image.width * image.height * _RGBX + blocks * 64 * 2
    if needed > budget:
        raise ImageTooLarge(
            f"{image.width}x{image.height}: a progressive or multi-scan JPEG this large needs {needed >> 20} MB to "
            f"decode, over the {budget >> 20} MB a photo may take"
        )


def _buffers_coefficients(image: Image.Image, data: bytes) -> bool:
    if image.info.get("progressive") or image.info.get("progression"):
        return True
    components = dqt.first_scan_components(data)
    return components is None or components < len(getattr(image, "layer", []))


def _fills_frame(image: Image.Image) -> bool:
    """Whether image's load() is known to write every pixel of the core image it finds, or to raise: only then
    may it decode into a Frame, which holds the last photo's pixels. Pillow's JPEG decoder (MPO's plugin is
    JPEG's) writes each scanline of its one whole-image tile before it reports the end, and a short file raises;
    but a JPEG in which Pillow found no scan has no tile, and its load() returns at once, decoding nothing
    (tests/pipelines/test_frames.py). pi-heif copies libheif's whole picture in. Not PNG, whose RGB is rare in
    photos, nor WebP, whose plugin makes its own core image."""
    if image.mode != "RGB":
        return False
    if image.format in heif.FORMATS:
        return heif.copies_whole_picture(image)
    tiles = getattr(image, "tile", [])  # an ImageFile's: what load() decodes, region by region
    return (
        image.format in ("JPEG", "MPO")
        and len(tiles) == 1
        and tiles[0][0] == "jpeg"
        and tuple(tiles[0][1]) == (0, 0, *image.size)
    )


def _icc(image: Image.Image) -> bytes | None:
    icc = image.info.get("icc_profile")
    return icc if isinstance(icc, bytes) and 0 < len(icc) <= MAX_ICC_BYTES else None


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


def _exif(image: Image.Image) -> bytes:
    """The EXIF to keep, Orientation included (the pixels are not turned); EXIF that does not parse is dropped,
    with the orientation it may have held: metadata is no reason to refuse a photo."""
    try:
        exif = image.getexif()
        if not len(exif):
            return b""
        raw = image.info.get("exif")
        # As the source wrote it, once it parses: Pillow's serializer is pure Python (a fifth of a small photo's
        # enhancement). Only a block in JPEG's APP1 form (WebP may hold bare TIFF) is copied as it is.
        return raw if isinstance(raw, bytes) and raw.startswith(_APP1_EXIF) else exif.tobytes()
    except _BAD_METADATA:
        return b""


def encode(decoded: Decoded, image: Image.Image) -> Enhanced:
    """JPEG with the source's EXIF (its orientation too), ICC profile, chroma subsampling and quality (capped)."""
    out = io.BytesIO()
    options: dict[str, object] = {"quality": decoded.quality, "subsampling": decoded.subsampling}
    if decoded.exif:
        options["exif"] = decoded.exif
    if decoded.icc_profile:
        options["icc_profile"] = decoded.icc_profile
    image.save(out, "JPEG", **options)
    return Enhanced(out.getvalue(), image.width, image.height, decoded.input_bytes)
