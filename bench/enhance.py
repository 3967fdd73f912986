"""Enhancement speed against the codec floor and a naive Pillow pipeline, measured side by side in one run.

    python bench/enhance.py [--rounds N] [--sizes 12,24] [--rss-mp 48]

- floor:  decode + encode (our codec, no enhancement: EXIF, ICC, same quality and subsampling)
- naive:  RGB decode, exif_transpose, autocontrast 0.5 %, UnsharpMask(2, 150, 3) on RGB, encode
- recipe: darkroom's default recipe (auto-v1), bytes in, bytes out

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

from emulator.photos import jpeg  # noqa: E402
from pipelines import codec, enhance_bytes  # noqa: E402


def floor(data: bytes) -> bytes:
    decoded = codec.decode(data)
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


CASES: dict[str, Callable[[bytes], bytes]] = {"floor": floor, "naive": naive, "recipe": recipe}


def measure(data: bytes, rounds: int) -> dict[str, float]:
    seconds: dict[str, list[float]] = {name: [] for name in CASES}
    for n in range(rounds):
        for name, case in CASES.items():
            started = time.process_time()
            case(data)
            seconds[name].append(time.process_time() - started)
        print(f"  round {n + 1}/{rounds}", end="\r", file=sys.stderr, flush=True)
    return {name: statistics.median(values) for name, values in seconds.items()}


def peak_rss_mib(megapixels: int) -> tuple[float, float]:
    """Peak RSS of a fresh process before and after it enhances one photo of this size, read from a file
    (the photo is generated here, so its generation does not count)."""
    width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    with tempfile.NamedTemporaryFile(suffix=".jpg") as photo:
        photo.write(jpeg(width, width * 3 // 4, seed=7, quality=92))
        photo.flush()
        # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across execve, so a child would report the parent's peak.
        hwm = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"
        probe = (
            "import sys; sys.path.insert(0, '.'); from pipelines import enhance_bytes;"
            f"data = open({photo.name!r}, 'rb').read(); before = {hwm}; enhance_bytes(data); print(before, {hwm})"
        )
        root = Path(__file__).resolve().parents[1]
        out = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True)
    before, after = (int(v) / 1024 for v in out.stdout.split())
    return before, after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--sizes", default="12,24", help="megapixels, comma-separated")
    parser.add_argument("--rss-mp", type=int, default=48)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    for mp in (int(s) for s in args.sizes.split(",")):
        width = int((mp * 1e6 * 4 / 3) ** 0.5)
        data = jpeg(width, width * 3 // 4, seed=mp, quality=92)
        print(f"{mp} MP ({width}x{width * 3 // 4}, {len(data) / 1e6:.1f} MB JPEG):", file=sys.stderr)
        medians = measure(data, args.rounds)
        pixels = width * (width * 3 // 4) / 1e6
        size_ratio = len(recipe(data)) / len(data)
        results.append(
            {
                "mp": mp,
                "seconds": medians,
                "mp_per_s": {k: pixels / v for k, v in medians.items()},
                "recipe_over_floor": medians["recipe"] / medians["floor"],
                "naive_over_recipe": medians["naive"] / medians["recipe"],
                "output_over_input": size_ratio,
            }
        )
    rss = peak_rss_mib(args.rss_mp)
    if args.json:
        print(json.dumps({"results": results, "peak_rss_mib": rss}, indent=1))
        return
    print("| photo | floor MP/s | naive MP/s | recipe MP/s | recipe / floor | naive / recipe | output / input size |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        s = r["mp_per_s"]
        print(
            f"| {r['mp']} MP | {s['floor']:.1f} | {s['naive']:.1f} | {s['recipe']:.1f} | "
            f"{r['recipe_over_floor']:.2f}x | {r['naive_over_recipe']:.2f}x | {r['output_over_input']:.2f} |"
        )
    print(
        f"\npeak RSS of one process enhancing one {args.rss_mp} MP photo: {rss[1]:.0f} MiB "
        f"({rss[0]:.0f} MiB with the photo's bytes loaded, before decoding)"
    )


if __name__ == "__main__":
    main()
