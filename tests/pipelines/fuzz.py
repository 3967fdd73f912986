"""Fuzz the decoders as the workers run them: mutated photos, each decoded into a frame that holds the photo
before it (random pixels, another user's), compared with the same bytes decoded in a fresh frame and in Pillow's
own memory. A finding is a crash of the process (a native decoder's), an exception that is not a DecodeError,
or a result that differs between the three (a decoder that left pixels of the photo before it).

    python -m tests.pipelines.fuzz --cpu-seconds 600 [--processes 2] [--seed N] [--out DIR]   (make fuzz)

Each process decodes in a child of its own, so a crash costs the child: its last input is kept in --out
(crash-*.bin) and a new child goes on. Prints progress, then the totals; exits non-zero on any finding.
tests/pipelines/test_fuzz.py runs a short, fixed-seed round of it in `make test`.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import random
import resource
import struct
import sys
import time
from collections import Counter
from pathlib import Path

from PIL import Image

from emulator import photos
from pipelines import DecodeError, codec


def seeds() -> dict[str, bytes]:
    """Real photos of each kind the workers read, small, so a second holds hundreds of decodes."""

    def saved(fmt: str, **options: object) -> bytes:
        out = io.BytesIO()
        Image.open(io.BytesIO(photos.jpeg(96, 64, seed=3))).save(out, fmt, **options)
        return out.getvalue()

    return {
        "jpeg": photos.jpeg(96, 64, seed=1, orientation=6),
        "progressive": saved("JPEG", progressive=True, quality=90),
        "jpeg444": saved("JPEG", subsampling=0, quality=95),
        "heic": photos.heic(96, 64, seed=2),
        "png": saved("PNG"),
        "webp": saved("WEBP"),
    }


def _jpeg_segments(data: bytes) -> list[int]:
    """Where each marker of a JPEG is, as a parser that follows segment lengths finds them."""
    found, at = [], 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        found.append(at)
        if data[at + 1] == 0xDA:
            break
        at += 2 + struct.unpack_from(">H", data, at + 2)[0]
    return found


def _heif_boxes(data: bytes) -> list[int]:
    found, stack = [], [(0, len(data))]
    while stack:
        at, end = stack.pop()
        while at + 8 <= end:
            size = struct.unpack_from(">I", data, at)[0]
            found.append(at)
            kind = data[at + 4 : at + 8]
            if kind in (b"meta", b"iinf", b"iprp", b"ipco", b"iref"):
                stack.append((at + 12 if kind in (b"meta", b"iinf") else at + 8, min(at + size, end)))
            if size < 8:
                break
            at += size
    return found


def mutate(rnd: random.Random, data: bytes) -> bytes:
    """One to four mutations, most of them where parsers decide: marker and box headers, lengths, strings."""
    out = bytearray(data)
    structure = _heif_boxes(data) if data[4:8] == b"ftyp" else _jpeg_segments(data) if data[:2] == b"\xff\xd8" else []
    for _ in range(rnd.randint(1, 4)):
        near = rnd.choice(structure) if structure and rnd.random() < 0.6 else rnd.randrange(len(out))
        at = min(max(0, near + rnd.randint(-2, 12)), len(out) - 1)
        kind = rnd.randrange(9)
        if kind == 0:
            out[at] ^= 1 << rnd.randrange(8)
        elif kind == 1:
            out[at] = rnd.choice((0x00, 0xFF, 0x7F, 0x80, 0xDA, 0xD9, 0xC0, 0xC2, rnd.randrange(256)))
        elif kind == 2:
            out[at : at + 2] = struct.pack(">H", rnd.choice((0, 1, 2, 0xFFFF, rnd.randrange(65536))))
        elif kind == 3:
            del out[at : at + rnd.randint(1, 64)]
        elif kind == 4:
            out[at:at] = rnd.randbytes(rnd.randint(1, 32))
        elif kind == 5:
            del out[rnd.randrange(max(1, len(out) // 4), len(out)) :]  # cut the end
        elif kind == 6:  # a segment or box elsewhere repeated here
            start = rnd.randrange(len(out))
            out[at:at] = out[start : start + rnd.randint(4, 200)]
        elif kind == 7:
            out[at : at + 4] = rnd.randbytes(4)
        else:  # a JPEG's scan marker spoiled, or a string byte made invalid UTF-8
            target = bytes(out).find(b"\xff\xda") if rnd.random() < 0.5 else at
            if 0 <= target < len(out) - 1:
                out[target + rnd.randrange(2)] = rnd.choice((0xFF, 0xC3, 0xFE, 0x00))
    return bytes(out)


def _decoded(data: bytes, frame: codec.Frame | None) -> bytes | str:
    try:
        return codec.decode(data, frame=frame).image.tobytes()
    except DecodeError:
        return "DecodeError"


def check(data: bytes, kept: codec.Frame, previous: bytes) -> str:
    """'refused', 'decoded' or a finding: 'leak' (results differ) or the name of an exception that escaped."""
    codec.decode(previous, frame=kept)
    try:
        results = {_decoded(data, kept), _decoded(data, codec.Frame()), _decoded(data, None)}
    except Exception as exc:  # noqa: BLE001 - every escape is a finding, named
        return type(exc).__name__
    if len(results) > 1:
        return "leak"
    return "refused" if results == {"DecodeError"} else "decoded"


def _child(seed: int, budget_s: float, out: Path, report: multiprocessing.Queue) -> None:
    rnd, kinds, counts = random.Random(seed), seeds(), Counter[str]()
    previous = [photos.jpeg(96, 64, seed=100 + n) for n in range(3)] + [photos.heic(96, 64, seed=200)]
    kept, current = codec.Frame(), out / f"current-{os.getpid()}.bin"
    started = time.process_time()
    while time.process_time() - started < budget_s:
        name = rnd.choice(sorted(kinds))
        data = mutate(rnd, kinds[name])
        current.write_bytes(data)  # what a crash leaves behind
        outcome = check(data, kept, rnd.choice(previous))
        counts[outcome] += 1
        if outcome not in ("refused", "decoded"):
            (out / f"{outcome}-{name}-{seed}-{counts[outcome]}.bin").write_bytes(data)
    current.unlink(missing_ok=True)
    report.put(dict(counts))


def run(cpu_seconds: float, processes: int, seed: int, out: Path, progress: bool = True) -> Counter[str]:
    """Fuzz for about `cpu_seconds` of CPU over `processes` processes; the outcomes counted."""
    out.mkdir(parents=True, exist_ok=True)
    context = multiprocessing.get_context("fork")
    report: multiprocessing.Queue = context.Queue()
    totals: Counter[str] = Counter()
    slice_s = max(1.0, min(30.0, cpu_seconds / processes / 10))
    spent, started, round_ = 0.0, time.monotonic(), 0
    while spent < cpu_seconds:
        children = []
        for n in range(processes):
            child = context.Process(target=_child, args=(seed + round_ * processes + n, slice_s, out, report))
            child.start()
            children.append(child)
        for child in children:
            child.join()
            if child.exitcode != 0:  # a crash: keep its last input
                totals[f"crash (exit {child.exitcode})"] += 1
                current = out / f"current-{child.pid}.bin"
                if current.exists():
                    current.rename(out / f"crash-{seed}-{round_}-{child.pid}.bin")
        while not report.empty():
            totals.update(report.get())
        spent = _children_cpu_s()
        round_ += 1
        if progress:
            cases = sum(totals.values())
            print(f"  {spent:6.0f} of {cpu_seconds:.0f} CPU s, {cases} cases: {dict(totals)}", flush=True)
    print(f"{time.monotonic() - started:.0f} s of wall time", flush=True)
    return totals


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


FINE = {"refused", "decoded"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-seconds", type=float, default=600)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--out", type=Path, default=Path("fuzz-findings"))
    args = parser.parse_args(argv)
    print(f"fuzzing the decoders for {args.cpu_seconds:.0f} CPU s, seed {args.seed}, findings in {args.out}/")
    totals = run(args.cpu_seconds, args.processes, args.seed, args.out)
    findings = {k: v for k, v in totals.items() if k not in FINE}
    print(json.dumps({"cases": sum(totals.values()), **totals}))
    print("findings: " + (json.dumps(findings) if findings else "none"))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
