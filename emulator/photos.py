"""Generated phone-like photos: a dull, slightly tinted outdoor scene as JPEG with EXIF and an sRGB ICC profile.

Each photo is stored turned as its EXIF orientation (1-8) says, so that a correct decoder shows it upright.
"""

from __future__ import annotations

import functools
import io
import random

from PIL import Image, ImageCms, ImageDraw, ImageFilter

from emulator.world import Google, Media

# What undoes each EXIF orientation on display (Pillow's exif_transpose), and so what makes the stored pixels.
_STORED_AS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}
_CAMERAS = [("Apple", "iPhone 15 Pro"), ("Google", "Pixel 8"), ("samsung", "SM-S918B"), ("FUJIFILM", "X-T5")]
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def scene(width: int, height: int, seed: int) -> Image.Image:
    """An upright RGB scene with a phone photo's detail (sky, clouds, textured hills, houses, trees, sensor
    grain), then flattened and tinted the way dull, hazy shots are."""
    rnd = random.Random(seed)
    unit = min(width, height)
    # Sky and clouds are smooth: draw them at 1/8 scale, blur there, and scale up.
    small = _sky(max(8, width // 8), max(8, height // 8))
    draw = ImageDraw.Draw(small)
    for _ in range(rnd.randint(3, 6)):
        cx, cy, r = rnd.uniform(0, small.width), rnd.uniform(0, small.height * 0.35), unit / 8 * rnd.uniform(0.05, 0.12)
        draw.ellipse((cx - 2 * r, cy - r, cx + 2 * r, cy + r), fill=(235, 238, 242))
    image = small.filter(ImageFilter.GaussianBlur(max(1, unit // 400))).resize(
        (width, height), Image.Resampling.BICUBIC
    )
    draw = ImageDraw.Draw(image)
    sun = rnd.uniform(0.1, 0.9) * width, rnd.uniform(0.08, 0.25) * height
    radius = unit * rnd.uniform(0.04, 0.07)
    draw.ellipse((sun[0] - radius, sun[1] - radius, sun[0] + radius, sun[1] + radius), fill=(255, 236, 170))
    horizon = int(height * rnd.uniform(0.5, 0.65))
    step = max(width // 12, 1)
    ridge = [(x, horizon + rnd.randint(-height // 12, height // 12)) for x in range(0, width + step, step)]
    hills = Image.new("L", (width, height), 0)
    ImageDraw.Draw(hills).polygon([(0, height), *ridge, (width, height)], fill=255)
    texture = _noise(width, height, 60, rnd)
    grass = Image.merge("RGB", [texture.point([int(v * c) for v in range(256)]) for c in (0.45, 0.75, 0.35)])
    image.paste(grass, mask=hills)
    draw = ImageDraw.Draw(image)
    for _ in range(rnd.randint(4, 8)):
        _house(draw, rnd, width, height, unit)
    for _ in range(rnd.randint(5, 10)):
        x, y, r = rnd.uniform(0, width), height * rnd.uniform(0.6, 0.95), unit * rnd.uniform(0.02, 0.05)
        draw.line((x, y, x, y + 2.5 * r), fill=(70, 50, 35), width=max(2, int(r / 5)))
        draw.ellipse((x - r, y - 1.6 * r, x + r, y + 0.4 * r), fill=(40, rnd.randint(80, 110), 40))
    grain = _noise(width, height, 24, rnd).convert("RGB")
    image = Image.blend(image, grain, 0.12)
    # Dull: squeeze the tones into the middle, lift the blacks (haze) and warm everything a little.
    return image.point(
        [int(62 + v * 0.5) for v in range(256)]
        + [int(60 + v * 0.46) for v in range(256)]
        + [int(58 + v * 0.42) for v in range(256)]
    )


@functools.cache
def _tile(sigma: int) -> Image.Image:
    return Image.effect_noise((509, 509), sigma)  # a prime side, so repeats do not line up with 8x8 blocks


def _noise(width: int, height: int, sigma: int, rnd: random.Random) -> Image.Image:
    """Gaussian noise over the whole frame from one cached tile, placed at a random offset."""
    tile, out = _tile(sigma), Image.new("L", (width, height))
    dx, dy = rnd.randrange(509), rnd.randrange(509)
    for x in range(-dx, width, 509):
        for y in range(-dy, height, 509):
            out.paste(tile, (x, y))
    return out


def _sky(width: int, height: int) -> Image.Image:
    ramp = Image.linear_gradient("L").resize((1, 256)).resize((width, height))
    top, bottom = (55, 105, 185), (175, 200, 228)
    bands = [ramp.point([int(a + (b - a) * v / 255) for v in range(256)]) for a, b in zip(top, bottom, strict=True)]
    return Image.merge("RGB", bands)


def _house(draw: ImageDraw.ImageDraw, rnd: random.Random, width: int, height: int, unit: int) -> None:
    w, h = unit * rnd.uniform(0.08, 0.16), unit * rnd.uniform(0.08, 0.14)
    x, base = rnd.uniform(0, width - w), height * rnd.uniform(0.72, 0.97)
    wall = (rnd.randint(170, 230), rnd.randint(120, 190), rnd.randint(90, 150))
    draw.rectangle((x, base - h, x + w, base), fill=wall, outline=(60, 50, 45), width=max(1, unit // 400))
    draw.polygon([(x - w * 0.08, base - h), (x + w / 2, base - h * 1.6), (x + w * 1.08, base - h)], fill=(150, 50, 40))
    pane = w / 7
    for col in range(3):
        for row in range(2):
            wx, wy = x + pane * (1 + 2 * col), base - h + pane * (1 + 2.2 * row)
            draw.rectangle((wx, wy, wx + pane, wy + pane * 1.2), fill=(60, 80, 110), outline=(240, 240, 235))


def jpeg(width: int, height: int, *, seed: int = 0, orientation: int = 1, quality: int = 88) -> bytes:
    """A JPEG whose displayed (upright) size is width x height."""
    image = scene(width, height, seed)
    if orientation in _STORED_AS:
        image = image.transpose(_STORED_AS[orientation])
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, exif=_phone_exif(seed, orientation).tobytes(), icc_profile=_SRGB)
    return out.getvalue()


def _phone_exif(seed: int, orientation: int, camera: tuple[str, str] | None = None) -> Image.Exif:
    """What a phone writes: the camera, the orientation, capture time and settings, and where it was."""
    exif = Image.Exif()
    make, model = camera or _CAMERAS[seed % len(_CAMERAS)]
    exif[0x010F], exif[0x0110], exif[0x0112] = make, model, orientation
    taken_at = f"2026:11:28 10:41:{seed % 60:02d}"
    exif[0x0131], exif[0x0132] = "emulator", taken_at
    exif[0x011A], exif[0x011B], exif[0x0128] = 72.0, 72.0, 2  # 72 dpi, the resolution every phone writes
    taken = exif.get_ifd(0x8769)  # the Exif IFD
    taken[0x9003] = taken[0x9004] = taken_at  # DateTimeOriginal, -Digitized
    taken[0x9011] = "+01:00"  # OffsetTimeOriginal
    taken[0x829A], taken[0x829D], taken[0x8827] = 1 / 120, 1.78, 64  # exposure, f-number, ISO
    taken[0x920A], taken[0xA405] = 6.86, 24  # focal length, 35 mm equivalent
    taken[0xA434] = f"{model} back triple camera 6.86mm f/1.78"  # LensModel
    where = exif.get_ifd(0x8825)  # the GPS IFD
    where[1], where[2], where[3], where[4] = "N", (48.0, 51.0, 29.5), "E", (2.0, 17.0, 40.2)
    return exif


def heic(width: int, height: int, *, seed: int = 0, quality: int = 80, orientation: int = 1) -> bytes:
    """A HEIC photo (iPhone's default) with EXIF and ICC; needs pillow-heif, the one HEIF encoder on PyPI.
    An orientation is written as HEIF writes it (an irot/imir transform), which decoders apply."""
    try:
        import pillow_heif
    except ImportError as exc:
        raise RuntimeError("HEIC photos need pillow-heif (pip install pillow-heif)") from exc
    exif = _phone_exif(seed, orientation, ("Apple", "iPhone 15 Pro"))
    image = scene(width, height, seed)
    if orientation in _STORED_AS:
        image = image.transpose(_STORED_AS[orientation])
    out = io.BytesIO()
    pillow_heif.from_pillow(image).save(out, quality=quality, exif=exif.tobytes(), icc_profile=_SRGB)
    return out.getvalue()


def add_photos(
    google: Google, sub: str, count: int, width: int = 1600, height: int = 1200, seed: int = 0, kind: str = "jpeg"
) -> list[Media]:
    """Give a user `count` photos: JPEGs cycling through the eight orientations and a few cameras, or HEICs."""
    made = []
    for n in range(count):
        if kind == "heic":
            data, name, mime = heic(width, height, seed=seed + n), f"IMG_{seed + n:04d}.HEIC", "image/heic"
        else:
            data, name, mime = (
                jpeg(width, height, seed=seed + n, orientation=n % 8 + 1),
                f"IMG_{seed + n:04d}.jpg",
                "image/jpeg",
            )
        made.append(google.add_media(sub, name, mime, data, width, height))
    return made


def add_video(google: Google, sub: str, n: int) -> Media:
    """A short clip from the phone: the Picker calls it VIDEO; its bytes are at `=dv`, a still at `=d`."""
    data = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(64)
    return google.add_media(sub, f"VID_{n:04d}.MP4", "video/mp4", data, 1920, 1080, kind="VIDEO")
