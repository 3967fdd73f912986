"""`darkroom enhance IN OUT`: try a recipe on local files, a file or a directory into a directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from settings import Settings
from workers.errors import UsageError

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif"}


def enhance(args: argparse.Namespace, settings: Settings) -> int:
    import pipelines

    pairs = _pairs(Path(args.input), Path(args.output))
    failed = 0
    for n, (src, dst) in enumerate(pairs, 1):
        try:
            result = pipelines.enhance_bytes(src.read_bytes(), args.recipe)
        except pipelines.DecodeError as exc:
            failed += 1
            print(f"[{n}/{len(pairs)}] {src.name}: skipped ({exc})", file=sys.stderr)
            continue
        dst.write_bytes(result.data)
        ratio = len(result.data) / max(result.input_bytes, 1)
        print(f"[{n}/{len(pairs)}] {src.name} -> {dst} ({result.width}x{result.height}, size x{ratio:.2f})")
    return 1 if failed else 0


def _pairs(source: Path, target: Path) -> list[tuple[Path, Path]]:
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
        target.mkdir(parents=True, exist_ok=True)
        return [(f, target / f"{f.stem}.jpg") for f in files]
    if source.is_file():
        return [(source, target)]
    raise UsageError(f"{source} does not exist")


def register(sub: Any) -> None:
    command = sub.add_parser("enhance", help="enhance a local file, or a directory into a directory")
    command.add_argument("input")
    command.add_argument("output")
    command.add_argument("--recipe", default="auto-v1")
    command.set_defaults(run=enhance)
