"""Enhancement speed against the codec floor and a naive Pillow pipeline, measured side by side in one run.

    python bench/enhance.py [--rounds N] [--photos landscape-12,portrait-12,heic-12,landscape-24] [--rss-mp 48]

The photos are generated as a phone writes them (emulator/photos.py: EXIF with camera, capture settings and
GPS, an sRGB ICC profile): landscape JPEGs, a 12 MP portrait JPEG stored sideways with EXIF Orientation 6
(as every iPhone portrait shot is), and a 12 MP HEIC (the iPhone default; needs pillow-heif to generate).

- floor:  decode + encode (our codec, no enhancement: EXIF, ICC, same quality and subsampling); for HEIC,
          HEIF decode + JPEG encode
- naive:  RGB decode, exif_transpose, autocontrast 0.5 %, UnsharpMask(2, 150, 3) on RGB, encode
- recipe: darkroom's default recipe (auto-v1), bytes in, bytes out
- portable: the recipe with the tone pass's portable loop, as on a CPU without AVX-512 VBMI (pipelines/_tone.c)

CPU time per photo (time.process_time, one thread), so MP/s is per core. The three run interleaved,
round after round, and the medians are compared, so machine noise hits all of them alike.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageFilter, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulator.photos import heic, jpeg
from pipelines import _tone, codec, dqt, enhance_bytes, recipes, steps


def floor(data: bytes) -> bytes:
    decoded = codec.decode(data, frame=codec.thread_frame())  # as enhance_bytes decodes
    return codec.encode(decoded, decoded.image).data


def naive(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as source:
        image = ImageOps.exif_transpose(source).convert("RGB")
        image = ImageOps.autocontrast(image, cutoff=0.5).filter(ImageFilter.UnsharpMask(2, 150, 3))
        out = io.BytesIO()
        image.save(
            out, "JPEG", quality=90, exif=source.info.get("exif", b""), icc_profile=source.info.get("icc_profile")
        )
        return out.getvalue()


def recipe(data: bytes) -> bytes:
    return enhance_bytes(data).data


def portable(data: bytes) -> bytes:
    chosen, steps.IN_PLACE = steps.IN_PLACE, _tone.apply_portable
    try:
        return enhance_bytes(data).data
    finally:
        steps.IN_PLACE = chosen


CASES: dict[str, Callable[[bytes], bytes]] = {"floor": floor, "naive": naive, "recipe": recipe, "portable": portable}


def measure(data: bytes, rounds: int) -> dict[str, float]:
    seconds: dict[str, list[float]] = {name: [] for name in CASES}
    for n in range(rounds):
        for name, case in CASES.items():
            started = time.process_time()
            case(data)
            seconds[name].append(time.process_time() - started)
        print(f"  round {n + 1}/{rounds}", end="\r", file=sys.stderr, flush=True)
    return {name: statistics.median(values) for name, values in seconds.items()}


def _sized(megapixels: int) -> tuple[int, int]:
    width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    return width, width * 3 // 4


def _photo(kind: str, megapixels: int) -> bytes:
    width, height = _sized(megapixels)
    if kind == "landscape":
        return jpeg(width, height, seed=megapixels, quality=92)
    if kind == "portrait":  # shown height x width, stored width x height with the tag that turns it
        return jpeg(height, width, seed=megapixels, quality=92, orientation=6)
    if kind == "heic":
        return heic(width, height, seed=megapixels, quality=50)  # about an iPhone's bytes per pixel
    raise SystemExit(f"unknown photo kind {kind!r}: landscape, portrait or heic")


def sharpening_costs(data: bytes, rounds: int) -> tuple[float, float]:
    """CPU seconds of sharpening a decoded non-JPEG photo in pixels (what the recipe did) and of scaling the
    tables of the JPEG it writes (what it does)."""
    decoded = codec.decode(data)
    written = codec.encode(decoded, decoded.image).data
    pixels, tables = [], []
    for _ in range(rounds):
        started = time.process_time()
        steps.sharpen_luma(decoded.image, 0.5)
        pixels.append(time.process_time() - started)
        started = time.process_time()
        dqt.sharpened(written, recipes.recipe("auto-v1").sharpen, max_value=255)
        tables.append(time.process_time() - started)
    return statistics.median(pixels), statistics.median(tables)


def tone_costs(data: bytes, rounds: int) -> dict[str, float]:
    """CPU seconds of the tone pass alone on one decoded photo: in its frame with SIMD (where the CPU has it) and
    with the portable loop, and with Pillow's point a strip at a time (what a frame Pillow allocated gets)."""
    in_frame, in_pillow = codec.decode(data, frame=codec.Frame()), codec.decode(data)
    assert in_frame.frame is not None
    lut = bytes(range(256)) * 3
    passes: dict[str, Callable[[], object]] = {
        "simd": lambda: _tone.apply(in_frame.frame, lut),
        "portable": lambda: _tone.apply_portable(in_frame.frame, lut),
        "pillow": lambda: steps.tone(in_pillow.image, 1.0, 0.0, (1.0, 1.0, 1.0)),
    }
    seconds: dict[str, list[float]] = {name: [] for name in passes}
    for _ in range(rounds):
        for name, run in passes.items():
            started = time.process_time()
            run()
            seconds[name].append(time.process_time() - started)
    return {name: statistics.median(values) for name, values in seconds.items()}


def peak_rss_mib(megapixels: int, progressive: bool = False) -> tuple[float, float]:
    """Peak RSS of a fresh process before and after it enhances one photo of this size, read from a file
    (the photo is generated here, so its generation does not count)."""
    width, height = _sized(megapixels)
    data = jpeg(width, height, seed=7, quality=92)
    if progressive:  # its decoder keeps every coefficient beside the frame
        out = io.BytesIO()
        Image.open(io.BytesIO(data)).save(out, "JPEG", quality=92, progressive=True)
        data = out.getvalue()
    with tempfile.NamedTemporaryFile(suffix=".jpg") as photo:
        photo.write(data)
        photo.flush()
        # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across execve, so a child would report the parent's peak.
        hwm = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"
        probe = (
            "import sys; sys.path.insert(0, '.'); from pipelines import enhance_bytes, tune_process; tune_process();"
            f"data = open({photo.name!r}, 'rb').read(); before = {hwm}; enhance_bytes(data); print(before, {hwm})"
        )
        root = Path(__file__).resolve().parents[1]
        ran = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True)
    before, after = (int(v) / 1024 for v in ran.stdout.split())
    return before, after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--photos", default="landscape-12,portrait-12,heic-12,landscape-24", help="kind-megapixels")
    parser.add_argument("--rss-mp", type=int, default=48)
    # the largest progressive 4:2:0 photo the codec admits: its coefficients and frame fit 400 MB
    parser.add_argument("--rss-progressive-mp", type=int, default=0, help="also a progressive photo this large")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results, sharpening, tone = [], None, None
    for photo in args.photos.split(","):
        kind, mp = photo.split("-")[0], int(photo.split("-")[1])
        print(f"generating {photo}...", file=sys.stderr, flush=True)
        data = _photo(kind, int(mp))
        width, height = _sized(int(mp))
        print(f"{photo} ({width}x{height}, {len(data) / 1e6:.1f} MB):", file=sys.stderr)
        medians = measure(data, args.rounds)
        if kind == "heic" and sharpening is None:
            sharpening = (photo, *sharpening_costs(data, args.rounds))
        if kind != "heic" and tone is None:
            tone = (photo, tone_costs(data, args.rounds))
        pixels = width * height / 1e6
        size_ratio = len(recipe(data)) / len(data)
        results.append(
            {
                "photo": photo,
                "input_mb": len(data) / 1e6,
                "seconds": medians,
                "mp_per_s": {k: pixels / v for k, v in medians.items()},
                "recipe_over_floor": medians["recipe"] / medians["floor"],
                "portable_over_floor": medians["portable"] / medians["floor"],
                "naive_over_recipe": medians["naive"] / medians["recipe"],
                "output_over_input": size_ratio,
            }
        )
    rss = peak_rss_mib(args.rss_mp)
    progressive = peak_rss_mib(args.rss_progressive_mp, progressive=True) if args.rss_progressive_mp else None
    if args.json:
        found = {"results": results, "peak_rss_mib": rss, "progressive_rss_mib": progressive}
        print(json.dumps({**found, "sharpening": sharpening, "tone": tone}, indent=1))
        return
    print(
        "| photo | input MB | floor ms | recipe ms | floor MP/s | naive MP/s | recipe MP/s | recipe / floor "
        "| without SIMD | naive / recipe | output / input size |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        s, ms = r["mp_per_s"], {k: v * 1000 for k, v in r["seconds"].items()}
        print(
            f"| {r['photo']} | {r['input_mb']:.1f} | {ms['floor']:.0f} | {ms['recipe']:.0f} | {s['floor']:.1f} "
            f"| {s['naive']:.1f} | {s['recipe']:.1f} | {r['recipe_over_floor']:.2f}x | {r['portable_over_floor']:.2f}x "
            f"| {r['naive_over_recipe']:.2f}x "
            f"| {r['output_over_input']:.2f} |"
        )
    if sharpening is not None:
        print(
            f"\nsharpening a decoded {sharpening[0]} in pixels: {sharpening[1] * 1000:.0f} ms of CPU; "
            f"scaling the luma table of the JPEG written instead: {sharpening[2] * 1000:.2f} ms"
        )
    if tone is not None:
        ms = {name: v * 1000 for name, v in tone[1].items()}
        print(
            f"\nthe tone pass alone on {tone[0]}: {ms['simd']:.1f} ms in the frame "
            f"({_tone.SIMD or 'no SIMD on this CPU'}), {ms['portable']:.1f} ms with the portable loop, "
            f"{ms['pillow']:.1f} ms with Pillow's point"
        )
    print(
        f"\npeak RSS of one process enhancing one {args.rss_mp} MP photo: {rss[1]:.0f} MiB "
        f"({rss[0]:.0f} MiB with the photo's bytes loaded, before decoding)"
    )
    if progressive is not None:
        print(f"and one progressive {args.rss_progressive_mp} MP photo: {progressive[1]:.0f} MiB")


if __name__ == "__main__":
    main()
