"""The whole pipeline against the emulator with network-like latency: the Procfile's processes on Redis.

    python bench/pipeline.py [--users 2] [--photos 100] [--size 1600x1200] [--latency-ms 50] [--processes 1,2,4]
        [--runs 1] [--warmup 0]

For each number of photos processes (2 threads each), on a fresh stack: users sign in, pick their photos,
and the clock runs from the pick to the last photo in the album. It prints photos per second, Photos API
calls per photo (Picker, Library and media bytes; the least possible is about 2.02: one download, one
upload and a batchCreate shared by up to 49), and token refreshes per 100 photos.

Then darkroom's own cost: the CPU time of every darkroom process (web, exchange, photos, maintenance, each
with the worker processes it forked), from the pick to the end, as the kernel counted it for them
(/proc/PID/stat), per photo; and of that, the enhancement, as the photos processes counted it themselves
(darkroom_enhance_cpu_seconds_total: the thread time of each photo's recipe, decode to encode); and each
worker type's split by actor (darkroom_actor_cpu_seconds_total: the thread time of each message) and what it
ran outside any message. With --runs N, each figure is the median of N fresh stacks (single runs of a 96-photo
pick move by 15 % or more). With --warmup N, another user picks N photos on the stack first, outside the clock, so
what each process does once (its lazy imports, connections, compiled statements, the first frame) is not
counted: the figures are then a running deployment's, not a fresh one's.
Needs Redis (DARKROOM_TEST_REDIS_URL, default redis://127.0.0.1:6379/9; it is flushed).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulator.client import AdminClient
from tests.support.processes import PROCESS_TYPES, Stack, wait_for

REDIS_URL = os.environ.get("DARKROOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
PHOTOS_API = ("picker.", "library.", "content.")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU seconds (user + system) of each process type so far: every process of its process group."""
    groups = {process.pid: name for name, process in stack.running.items() if name in PROCESS_TYPES}
    used = dict.fromkeys(groups.values(), 0.0)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        group = groups.get(int(fields[2]))
        if group is not None:
            used[group] += (int(fields[11]) + int(fields[12])) / TICKS
    return used


WORKER_TYPES = ("exchange", "photos", "maintenance")


def worker_seconds(stack: Stack) -> dict[str, float]:
    """What the worker processes say their threads spent, from their Prometheus exposition: "enhancement" (the
    recipe, in the photos processes) and each actor's messages, as "type/actor" (the enhancement within
    photos/process_item)."""
    spent = {}
    for kind in WORKER_TYPES:
        port = stack.env[f"DARKROOM_{kind.upper()}_METRICS_PORT"]
        text = requests.get(f"http://127.0.0.1:{port}/", timeout=10).text
        if kind == "photos":
            found = re.search(r"^darkroom_enhance_cpu_seconds_total (\S+)$", text, re.MULTILINE)
            spent["enhancement"] = float(found.group(1)) if found else 0.0
        for actor, seconds in re.findall(
            r'^darkroom_actor_cpu_seconds_total\{actor="([^"]+)"\} (\S+)$', text, re.MULTILINE
        ):
            spent[f"{kind}/{actor}"] = float(seconds)
    return spent


def run(
    processes: int, users: int, photos: int, latency_ms: int, size: tuple[int, int], warmup: int = 0
) -> dict[str, Any]:
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
        width, height = size
        people = [admin.add_user(photos=photos, width=width, height=height, seed=n * photos) for n in range(users)]
        admin.set_lifetimes(latency_s=latency_ms / 1000)
        if warmup:
            early = admin.add_user(photos=warmup, width=width, height=height, seed=10**6)
            url = stack.submit(admin.mint_code(early["sub"]))
            _wait(url, "awaiting_pick")
            admin.pick(sub=early["sub"])
            _wait(url, "done")
        warm = admin.counts()  # the warm-up's calls are not the pick's
        urls = [stack.submit(admin.mint_code(p["sub"])) for p in people]
        for url in urls:
            _wait(url, "awaiting_pick")
        before = admin.counts()
        workers_before = worker_seconds(stack)  # asked before the clock starts: the asking costs them CPU
        cpu_before = cpu_seconds(stack)
        started = time.monotonic()
        for person in people:
            admin.pick(sub=person["sub"])
        # asking Google, not darkroom: the watching costs darkroom nothing
        _wait_for_albums(admin, users * photos + warmup)
        elapsed = time.monotonic() - started
        for url in urls:
            _wait(url, "done")
        cpu = {name: used - cpu_before[name] for name, used in cpu_seconds(stack).items()}
        threads = {name: used - workers_before.get(name, 0.0) for name, used in worker_seconds(stack).items()}
        counts = admin.counts()
        admin.close()
    finally:
        stack.stop_all()
    total = users * photos
    api = sum(n - warm.get(e, 0) for e, n in counts.items() if e.startswith(PHOTOS_API))
    refreshes = counts.get("oauth.token.refresh_token", 0) - before.get("oauth.token.refresh_token", 0)
    return {
        "photos_per_s": total / elapsed,
        "api_per_photo": api / total,
        "refreshes_per_100": 100 * refreshes / total,
        "seconds": elapsed,
        "cpu_ms_per_photo": {name: 1000 * used / total for name, used in cpu.items()},
        "enhance_ms_per_photo": 1000 * threads.pop("enhancement") / total,
        "actor_ms_per_photo": {name: 1000 * used / total for name, used in sorted(threads.items()) if used > 0},
    }


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the runs (a dict's, key by key)."""
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, dict):
            out[key] = _median([{k: r[key].get(k, 0.0) for k in value} for r in runs])
        else:
            out[key] = statistics.median(r[key] for r in runs)
    return out


def _wait_for_albums(admin: AdminClient, total: int) -> None:
    deadline = time.monotonic() + 900
    while sum(len(album["items"]) for album in admin.state()["albums"]) < total:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {total} photos in the albums after 900 s")
        time.sleep(0.1)


def _wait(url: str, wanted: str) -> None:
    status = wait_for(url, wanted, timeout_s=900, poll_s=0.5)
    if status["status"] == "failed":
        raise RuntimeError(f"submission failed: {status['error']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=2)
    parser.add_argument("--photos", type=int, default=100, help="per user")
    parser.add_argument("--size", default="1600x1200", help="WIDTHxHEIGHT of each photo")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--runs", type=int, default=1, help="fresh stacks per row; each figure is their median")
    parser.add_argument("--warmup", type=int, default=0, help="photos another user picks first, outside the clock")
    args = parser.parse_args()
    rows = []
    for n in (int(p) for p in args.processes.split(",")):
        size = tuple(int(v) for v in args.size.split("x"))
        runs = []
        for k in range(args.runs):
            print(f"{n} photos process(es), run {k + 1}/{args.runs}...", file=sys.stderr, flush=True)
            runs.append(run(n, args.users, args.photos, args.latency_ms, size, args.warmup))
        rows.append((n, _median(runs)))
        if args.runs > 1:
            rests = [sum(r["cpu_ms_per_photo"].values()) - r["enhance_ms_per_photo"] for r in runs]
            print(f"  all but the enhancement, each run: {', '.join(f'{v:.1f}' for v in rests)}", file=sys.stderr)
    runs_said = f", median of {args.runs} runs" if args.runs > 1 else ""
    runs_said += f", after {args.warmup} photos of warm-up" if args.warmup else ""
    print(
        f"{args.users} users x {args.photos} photos of {args.size}, {args.latency_ms} ms per Google call{runs_said}\n"
    )
    print("| photos processes | photos/s | Photos API calls per photo | token refreshes per 100 photos |")
    print("|---|---|---|---|")
    for n, r in rows:
        print(f"| {n} | {r['photos_per_s']:.1f} | {r['api_per_photo']:.3f} | {r['refreshes_per_100']:.1f} |")
    print("\nCPU ms per photo, by process type (all its processes), and the enhancement within photos:\n")
    print(f"| photos processes | {' | '.join(PROCESS_TYPES)} | all | enhancement | all but the enhancement |")
    print("|---|" + "---|" * (len(PROCESS_TYPES) + 3))
    for n, r in rows:
        per, enhance = r["cpu_ms_per_photo"], r["enhance_ms_per_photo"]
        every = sum(per.values())
        cells = " | ".join(f"{per[name]:.1f}" for name in PROCESS_TYPES)
        print(f"| {n} | {cells} | {every:.1f} | {enhance:.1f} | {every - enhance:.1f} |")
    print("\nThe worker processes' CPU ms per photo: each actor's messages (photos/process_item's without the")
    print("enhancement), and what ran outside any message (dramatiq's consumers and heartbeats, idle polls):\n")
    actors = sorted({name for _, r in rows for name in r["actor_ms_per_photo"]})
    columns = [*actors, *(f"{kind} outside messages" for kind in WORKER_TYPES)]
    print(f"| photos processes | {' | '.join(columns)} |")
    print("|---|" + "---|" * len(columns))
    for n, r in rows:
        spent = dict(r["actor_ms_per_photo"])
        for kind in WORKER_TYPES:
            inside = sum(v for name, v in r["actor_ms_per_photo"].items() if name.startswith(f"{kind}/"))
            spent[f"{kind} outside messages"] = r["cpu_ms_per_photo"][kind] - inside
        if "photos/process_item" in spent:
            spent["photos/process_item"] -= r["enhance_ms_per_photo"]
        print(f"| {n} | {' | '.join(f'{spent.get(name, 0.0):.1f}' for name in columns)} |")


if __name__ == "__main__":
    main()
