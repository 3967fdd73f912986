"""The whole pipeline against the emulator with network-like latency: the Procfile's processes on Redis.

    python bench/pipeline.py [--users 2] [--photos 100] [--latency-ms 50] [--processes 1,2,4]

For each number of photos processes (2 threads each), on a fresh stack: users sign in, pick their photos,
and the clock runs from the pick to the last photo in the album. It prints photos per second, Photos API
calls per photo (Picker, Library and media bytes; the least possible is about 2.02: one download, one
upload and a batchCreate shared by up to 49), and token refreshes per 100 photos.
Needs Redis (DARKROOM_TEST_REDIS_URL, default redis://127.0.0.1:6379/9; it is flushed).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulator.client import AdminClient  # noqa: E402
from tests.support.processes import Stack, wait_for  # noqa: E402

REDIS_URL = os.environ.get("DARKROOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
PHOTOS_API = ("picker.", "library.", "content.")


def run(processes: int, users: int, photos: int, latency_ms: int) -> dict[str, float]:
    redis.Redis.from_url(REDIS_URL).flushdb()
    workdir = Path(tempfile.mkdtemp(prefix="darkroom-bench-"))
    stack = Stack(
        workdir,
        f"sqlite:///{workdir / 'darkroom.db'}",
        REDIS_URL,
        DARKROOM_PHOTOS_PROCESSES=str(processes),
        DARKROOM_PHOTOS_THREADS="2",
        dramatiq_queue_prefetch="2",
        DARKROOM_LOG_FORMAT="text",
    )
    try:
        stack.up("web", "exchange", "photos", "maintenance")
        admin = AdminClient(stack.emulator_url)
        people = [admin.add_user(photos=photos, width=1600, height=1200, seed=n * photos) for n in range(users)]
        admin.set_lifetimes(latency_s=latency_ms / 1000)
        urls = [stack.submit(admin.mint_code(p["sub"])) for p in people]
        for url in urls:
            _wait(url, "awaiting_pick")
        before = admin.counts()
        started = time.monotonic()
        for person in people:
            admin.pick(sub=person["sub"])
        for url in urls:
            _wait(url, "done")
        elapsed = time.monotonic() - started
        counts = admin.counts()
        admin.close()
    finally:
        stack.stop_all()
    total = users * photos
    api = sum(n for e, n in counts.items() if e.startswith(PHOTOS_API))
    refreshes = counts.get("oauth.token.refresh_token", 0) - before.get("oauth.token.refresh_token", 0)
    return {
        "photos_per_s": total / elapsed,
        "api_per_photo": api / total,
        "refreshes_per_100": 100 * refreshes / total,
        "seconds": elapsed,
    }


def _wait(url: str, wanted: str) -> None:
    status = wait_for(url, wanted, timeout_s=900)
    if status["status"] == "failed":
        raise RuntimeError(f"submission failed: {status['error']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=2)
    parser.add_argument("--photos", type=int, default=100, help="per user")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--processes", default="1,2,4")
    args = parser.parse_args()
    rows = []
    for n in (int(p) for p in args.processes.split(",")):
        print(f"{n} photos process(es)...", file=sys.stderr, flush=True)
        rows.append((n, run(n, args.users, args.photos, args.latency_ms)))
    print(f"{args.users} users x {args.photos} photos of 1600x1200, {args.latency_ms} ms per Google call\n")
    print("| photos processes | photos/s | Photos API calls per photo | token refreshes per 100 photos |")
    print("|---|---|---|---|")
    for n, r in rows:
        print(f"| {n} | {r['photos_per_s']:.1f} | {r['api_per_photo']:.3f} | {r['refreshes_per_100']:.1f} |")


if __name__ == "__main__":
    main()
