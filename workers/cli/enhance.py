"""`darkroom enhance IN OUT`: try a recipe on local files, a file or a directory into a directory.

It never writes over a source, into the directory it reads, through a symbolic link, or twice to one name
(`x.jpg` and `x.png` both make `x.jpg`: the second is reported, not written); it carries on past a file it
cannot read and ends with a summary, non-zero if anything was left out.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from settings import Settings
from workers.errors import UsageError

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif"}


def enhance(args: argparse.Namespace, settings: Settings) -> int:
    import pipelines

    pipelines.tune_process()
    pairs, collisions = _pairs(Path(args.input), Path(args.output))
    failed = too_large = 0
    for n, (src, dst) in enumerate(pairs, 1):
        try:
            result = pipelines.enhance_bytes(src.read_bytes(), args.recipe)
            _write(dst, result.data)
        except pipelines.ImageTooLarge as exc:
            too_large += 1
            print(f"[{n}/{len(pairs)}] {_shown(src.name)}: too large ({exc})", file=sys.stderr)
            continue
        except (pipelines.DecodeError, OSError) as exc:
            failed += 1
            print(f"[{n}/{len(pairs)}] {_shown(src.name)}: skipped ({exc})", file=sys.stderr)
            continue
        ratio = len(result.data) / max(result.input_bytes, 1)
        size = f"{result.width}x{result.height}, size x{ratio:.2f}"
        print(f"[{n}/{len(pairs)}] {_shown(src.name)} -> {_shown(str(dst))} ({size})")
    for src, dst in collisions:
        print(f"{_shown(src.name)}: skipped ({_shown(dst.name)} is written from another file)", file=sys.stderr)
    large = f"{too_large} too large, " if too_large else ""
    print(
        f"{len(pairs) - failed - too_large} enhanced, {large}{failed} unreadable, {len(collisions)} name collisions",
        file=sys.stderr,
    )
    return 1 if failed or too_large or collisions else 0


def _shown(name: str) -> str:
    """A file name as it may be printed: control characters escaped, so a name cannot move the cursor, clear or
    retitle the terminal."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in name)


def _pairs(source: Path, target: Path) -> tuple[list[tuple[Path, Path]], list[tuple[Path, Path]]]:
    if source.is_file():
        if target.exists() and target.resolve() == source.resolve():
            raise UsageError(f"{target} is the source itself: name another output")
        return [(source, target)], []
    if not source.is_dir():
        raise UsageError(f"{source} does not exist")
    if target.is_symlink():
        raise UsageError(f"{target} is a symbolic link: name a real directory")
    if target.resolve() == source.resolve() or source.resolve() in target.resolve().parents:
        raise UsageError(f"{target} is inside {source}: the output would mix with the photos it reads")
    target.mkdir(parents=True, exist_ok=True)
    pairs: dict[Path, Path] = {}
    collisions = []
    for src in sorted(p for p in source.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file()):
        dst = target / f"{src.stem}.jpg"
        if dst in pairs.values():
            collisions.append((src, dst))
        else:
            pairs[src] = dst
    return list(pairs.items()), collisions


def _write(path: Path, data: bytes) -> None:
    """Write `path` without following a symbolic link there (O_NOFOLLOW): a link planted in OUT stays a link."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def register(sub: Any) -> None:
    command = sub.add_parser("enhance", help="enhance a local file, or a directory into a directory")
    command.add_argument("input")
    command.add_argument("output")
    command.add_argument("--recipe", default="auto-v1")
    command.set_defaults(run=enhance)
