"""Generated phone-like photos: a dull, slightly tinted outdoor scene as JPEG with EXIF and an sRGB ICC profile.

Each photo is stored turned as its EXIF orientation (1–8) says, so that a correct decoder shows it upright.
"""

from __future__ import annotations

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
    """An upright RGB scene: sky, hills, a sun and a few houses, flattened and tinted the way dull photos are."""
    rnd = random.Random(seed)
    sky = Image.linear_gradient("L").resize((width, height))
    image = Image.merge("RGB", [sky.point(lambda v, c=c: int(110 + v * c)) for c in (0.25, 0.3, 0.45)])
    draw = ImageDraw.Draw(image)
    sun = rnd.uniform(0.1, 0.9) * width, rnd.uniform(0.1, 0.3) * height
    radius = min(width, height) * rnd.uniform(0.05, 0.1)
    draw.ellipse((sun[0] - radius, sun[1] - radius, sun[0] + radius, sun[1] + radius), fill=(190, 180, 150))
    horizon = int(height * rnd.uniform(0.5, 0.7))
    points = [
        (x, horizon + rnd.randint(-height // 10, height // 10)) for x in range(0, width + 200, max(width // 8, 1))
    ]
    draw.polygon([(0, height), *points, (width, height)], fill=(rnd.randint(90, 110), rnd.randint(110, 130), 90))
    for _ in range(rnd.randint(3, 6)):
        x, w, h = rnd.uniform(0, width * 0.9), width * rnd.uniform(0.04, 0.1), height * rnd.uniform(0.08, 0.18)
        base = height * rnd.uniform(0.75, 0.95)
        draw.rectangle((x, base - h, x + w, base), fill=(rnd.randint(120, 170), rnd.randint(100, 130), 100))
    noise = Image.effect_noise((width, height), 12).convert("RGB")
    image = Image.blend(image, noise, 0.08).filter(ImageFilter.GaussianBlur(1))
    # Dull: squeeze the tones into the middle and warm them a little, as an underexposed hazy shot.
    return image.point([int(70 + v * 0.45) for v in range(256)] + [int(65 + v * 0.42) for v in range(256)] * 2)


def jpeg(width: int, height: int, *, seed: int = 0, orientation: int = 1, quality: int = 88) -> bytes:
    """A JPEG whose displayed (upright) size is width × height."""
    image = scene(width, height, seed)
    if orientation in _STORED_AS:
        image = image.transpose(_STORED_AS[orientation])
    exif = Image.Exif()
    make, model = _CAMERAS[seed % len(_CAMERAS)]
    exif[0x010F], exif[0x0110], exif[0x0112] = make, model, orientation
    exif[0x0131] = "emulator"
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, exif=exif.tobytes(), icc_profile=_SRGB)
    return out.getvalue()


def add_photos(
    google: Google, sub: str, count: int, width: int = 1600, height: int = 1200, seed: int = 0
) -> list[Media]:
    """Give a user `count` photos, cycling through the eight orientations and a few cameras."""
    made = []
    for n in range(count):
        orientation = n % 8 + 1
        data = jpeg(width, height, seed=seed + n, orientation=orientation)
        made.append(google.add_media(sub, f"IMG_{seed + n:04d}.jpg", "image/jpeg", data, width, height))
    return made
