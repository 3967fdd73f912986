"""darkroom at the scale of a real app: many users sharing the photos workers and one project's daily quota.

    python bench/scale.py [--database sqlite|postgres] [--latency-ms 20] [--heavy 500] [--light 10]
                          [--light-photos 3] [--day 600] [--only fair|quota]

Every scenario runs on a fresh stack of the Procfile's processes (2 photos processes x 2 threads, Redis,
the emulator with `--latency-ms` per Google call), one after the other in this run. A user's time runs from
their pick to the app's `submission.done` webhook, as the app hears it.

Fair share:
- light users alone: `--light` users pick `--light-photos` each on an idle system;
- the heavy user alone: `--heavy` photos;
- the heavy user picks, then the light users pick, with darkroom's fair share (a window of 8 per user);
- the same with first come, first served (a window larger than any pick), for contrast.
It prints the light users' p95 time over their p95 alone (goal: at most 2) and the heavy user's photos/s over
its rate alone (goal: at least 0.9).

Quota efficiency: a demand of three days' quota (a mix of pick sizes), with days of `--day` Library requests
(darkroom's DARKROOM_LIBRARY_DAILY_QUOTA and the emulator's limit alike), compressed: once a day is spent the
bench waits a short night and starts a new one with the emulator's control. It prints photos published per
10,000 Library requests against the least possible for that mix (each photo's upload, one batchCreate per 49
of a user's photos, one album per new user), failed items, and Google's 429s against darkroom's probes.
Needs Redis (DARKROOM_TEST_REDIS_URL, default redis://127.0.0.1:6379/9; it is flushed) and, with
`--database postgres`, PostgreSQL (DARKROOM_TEST_POSTGRES_URL; a schema of its own, dropped after).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis
import requests
import sqlalchemy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulator.client import AdminClient
from tests.support.processes import PROCESS_TYPES, Stack, cli, wait_for
from workers.cli.receiver import SECRET, Receiver, receiving

REDIS_URL = os.environ.get("DARKROOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
POSTGRES_URL = os.environ.get("DARKROOM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
FIRST_COME_FIRST_SERVED = 1_000_000  # a window no pick fills: every photo is sent at the pick
PICK_SIZES = (3, 10, 1, 49, 25, 120, 5, 60, 2, 300, 8, 50)  # the quota run's mix, cycled
BATCH = 49  # the most batchCreate takes in one request, darkroom's batch


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'darkroom.db'}"
        return
    schema = f"bench_{secrets.token_hex(4)}"
    engine = sqlalchemy.create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


@contextlib.contextmanager
def deployment(args: argparse.Namespace, **env: str) -> Iterator[tuple[Stack, AdminClient, Receiver]]:
    """A fresh stack whose webhooks come here, the emulator's admin client, and the receiver."""
    redis.Redis.from_url(REDIS_URL).flushdb()
    workdir = Path(tempfile.mkdtemp(prefix="darkroom-scale-"))
    with receiving() as receiver, database(args.database, workdir) as database_url:
        stack = Stack(
            workdir,
            database_url,
            REDIS_URL,
            DARKROOM_WEBHOOK_URL=receiver.url,
            DARKROOM_WEBHOOK_SECRETS=SECRET,
            DARKROOM_PHOTOS_PROCESSES="2",
            DARKROOM_PHOTOS_THREADS="2",
            DARKROOM_LOG_FORMAT="text",
            DARKROOM_RATE_LIMIT_PER_MINUTE="100000",  # every user's code comes from this one address
            **env,
        )
        try:
            stack.up(*PROCESS_TYPES)
            admin = AdminClient(stack.emulator_url)
            admin.set_lifetimes(poll_interval_s=0.5)  # the shortest darkroom accepts
            yield stack, admin, receiver
            admin.close()
        finally:
            stack.stop_all()


def signed_in(stack: Stack, admin: AdminClient, users: list[dict[str, Any]]) -> dict[str, str]:
    """Each user's code posted and their picker open: the status URL by user."""
    urls = {user["sub"]: stack.submit(admin.mint_code(user["sub"])) for user in users}
    for url in urls.values():
        wait_for(url, "awaiting_pick", timeout_s=120, poll_s=0.2)
    return urls


def done_times(receiver: Receiver, urls: dict[str, str], timeout_s: float) -> dict[str, float]:
    """When the app heard `submission.done` for each user (time.monotonic)."""
    deadline = time.monotonic() + timeout_s
    while len(found := heard_done(receiver, urls)) < len(urls):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(urls) - len(found)} submissions not done after {timeout_s} s")
        time.sleep(0.05)
    return found


def heard_done(receiver: Receiver, urls: dict[str, str]) -> dict[str, float]:
    """The users whose `submission.done` the app has heard so far, and when it first did."""
    wanted = {url.rsplit("/", 1)[1]: sub for sub, url in urls.items()}
    with receiver.lock:
        seen = [d for d in receiver.seen if d["verified"]]
    found: dict[str, float] = {}
    for delivery in seen:
        event = delivery["event"] or {}
        submission_id = (event.get("data") or {}).get("submission_id")
        if event.get("type") == "submission.failed" and submission_id in wanted:
            raise RuntimeError(f"a submission failed: {event.get('data')}")
        if event.get("type") == "submission.done" and submission_id in wanted:
            found.setdefault(wanted[submission_id], delivery["at"])
    return found


def failed_items(urls: dict[str, str]) -> int:
    return sum(requests.get(url, timeout=10).json()["counts"]["failed"] for url in urls.values())


def fair(args: argparse.Namespace, heavy: int, light: int, window: int) -> dict[str, Any]:
    """Pick to done for the heavy user (if any) and then the light users, on a fresh stack."""
    with deployment(args, DARKROOM_PHOTOS_USER_WINDOW=str(window)) as (stack, admin, receiver):
        size = {"width": 320, "height": 240}
        big = [admin.add_user(photos=heavy, seed=1, **size)] if heavy else []
        small = [admin.add_user(photos=args.light_photos, seed=1000 + n * 10, **size) for n in range(light)]
        urls = signed_in(stack, admin, big + small)
        admin.set_lifetimes(latency_s=args.latency_ms / 1000)
        picked: dict[str, float] = {}
        for user in big:
            picked[user["sub"]] = time.monotonic()
            admin.pick(sub=user["sub"])
            wait_for(urls[user["sub"]], "processing", timeout_s=60, poll_s=0.05)  # fanned out: its photos queued
        for user in small:
            picked[user["sub"]] = time.monotonic()
            admin.pick(sub=user["sub"])
        done = done_times(receiver, urls, timeout_s=1800)
        failed = failed_items(urls)
    light_s = [done[u["sub"]] - picked[u["sub"]] for u in small]
    heavy_s = [done[u["sub"]] - picked[u["sub"]] for u in big]
    return {
        "light_p95_s": p95(light_s) if light_s else None,
        "heavy_photos_per_s": heavy / heavy_s[0] if heavy_s else None,
        "heavy_s": heavy_s[0] if heavy_s else None,
        "failed": failed,
    }


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def demand(requests_wanted: int) -> list[int]:
    """Pick sizes, cycled from the mix, until their least possible Library requests reach `requests_wanted`."""
    sizes: list[int] = []
    for size in itertools.cycle(PICK_SIZES):
        if least_requests(sizes) >= requests_wanted:
            return sizes
        sizes.append(size)
    raise AssertionError("unreachable")


def least_requests(sizes: list[int]) -> int:
    """Each photo's upload, one batchCreate per 49 of a user's photos, one album per new user."""
    return sum(n + math.ceil(n / BATCH) + 1 for n in sizes)


def quota(args: argparse.Namespace) -> dict[str, Any]:
    """Three days' demand through compressed days: what darkroom spent and what Google refused."""
    env = {"DARKROOM_LIBRARY_DAILY_QUOTA": str(args.day), "DARKROOM_QUOTA_PROBE_INTERVAL_S": "1"}
    sizes = demand(3 * args.day)
    with deployment(args, **env) as (stack, admin, receiver):
        admin.quota(daily_limit=args.day)
        users = [admin.add_user(photos=n, width=160, height=120, seed=5000 + 400 * i) for i, n in enumerate(sizes)]
        urls = signed_in(stack, admin, users)
        admin.set_lifetimes(latency_s=args.latency_ms / 1000)
        started = time.monotonic()
        for user in users:
            admin.pick(sub=user["sub"])
        days, spent_since = 1, None
        while len(heard_done(receiver, urls)) < len(urls):
            if time.monotonic() - started > 1800:
                raise RuntimeError("the quota run did not end in 30 minutes")
            if admin.quota()["used_today"] >= args.day:
                spent_since = spent_since or time.monotonic()
                if time.monotonic() - spent_since > args.night_s:  # a short night: darkroom probes meanwhile
                    admin.new_day()
                    days, spent_since = days + 1, None
                    print(f"  day {days}", file=sys.stderr, flush=True)
            time.sleep(0.1)
        elapsed = time.monotonic() - started
        library = [r for r in admin.requests() if r["endpoint"].startswith("library.")]
        published = sum(len(album["items"]) for album in admin.state()["albums"])
        failed = failed_items(urls)
        report = json.loads(cli("quota", "--json", env=stack.env).stdout)
    [use] = [u for u in report["apis"] if u["api"] == "library"]
    spent = sum(1 for r in library if r["status"] != 429)
    least = least_requests(sizes)
    return {
        "users": len(sizes),
        "photos": sum(sizes),
        "published": published,
        "days": days,
        "spent": spent,
        "least": least,
        "per_10k": published * 10_000 / spent,
        "least_per_10k": sum(sizes) * 10_000 / least,
        "refused": sum(1 for r in library if r["status"] == 429),
        "probes": use["probes"],
        "failed": failed,
        "seconds": elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--heavy", type=int, default=500)
    parser.add_argument("--light", type=int, default=10)
    parser.add_argument("--light-photos", type=int, default=3)
    parser.add_argument("--day", type=int, default=600, help="Library requests in a compressed day")
    parser.add_argument("--night-s", type=float, default=3.0, help="how long a spent day waits for the next")
    parser.add_argument("--only", choices=("fair", "quota"))
    args = parser.parse_args()
    print(f"{args.database}, 2 photos processes x 2 threads, {args.latency_ms} ms per Google call\n")
    if args.only in (None, "fair"):
        steps = [
            ("light users alone", 0, args.light, 8),
            ("heavy user alone", args.heavy, 0, 8),
            ("heavy, then light: fair share", args.heavy, args.light, 8),
            ("heavy, then light: first come, first served", args.heavy, args.light, FIRST_COME_FIRST_SERVED),
        ]
        runs = {}
        for name, heavy, light, window in steps:
            print(f"{name}...", file=sys.stderr, flush=True)
            runs[name] = fair(args, heavy, light, window)
        idle, alone = runs["light users alone"]["light_p95_s"], runs["heavy user alone"]["heavy_photos_per_s"]
        who = f"one user picks {args.heavy} photos, then {args.light} users pick {args.light_photos} each"
        print(f"Fair share: {who}\n")
        print("| scenario | light users' p95, s | over alone | heavy user's photos/s | over alone | failed |")
        print("|---|---|---|---|---|---|")
        for name, r in runs.items():
            light, heavy = r["light_p95_s"], r["heavy_photos_per_s"]
            light_cells = f"{light:.2f} | {light / idle:.2f}x" if light is not None else "- | -"
            heavy_cells = f"{heavy:.1f} | {heavy / alone:.2f}x" if heavy is not None else "- | -"
            print(f"| {name} | {light_cells} | {heavy_cells} | {r['failed']} |")
        print()
    if args.only in (None, "quota"):
        print("quota efficiency...", file=sys.stderr, flush=True)
        q = quota(args)
        print(
            f"Quota efficiency: {q['users']} users pick {q['photos']} photos, three days' demand at {args.day} "
            f"Library requests a day ({q['days']} compressed days, {q['seconds']:.0f} s)\n"
        )
        print(
            "| photos published | Library requests | least possible | photos per 10,000 requests | least possible "
            "| ratio | failed items | 429s | probes |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        print(
            f"| {q['published']} | {q['spent']} | {q['least']} | {q['per_10k']:.0f} | {q['least_per_10k']:.0f} "
            f"| {q['per_10k'] / q['least_per_10k']:.4f} | {q['failed']} | {q['refused']} | {q['probes']} |"
        )


if __name__ == "__main__":
    main()
