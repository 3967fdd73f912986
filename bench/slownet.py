"""darkroom with its data a network away: every process reaches Redis and PostgreSQL through a proxy that adds
`--delay-ms` each way (a separate data host), against the same run through the same proxies with none added,
side by side, in alternating rounds.

    python bench/slownet.py [--delay-ms 1] [--rounds 3] [--users 4] [--photos 24] [--reads 400] [--size 640x480]

Each round is a whole deployment of its own (tests/support/cluster.py: own redis-server and PostgreSQL, the
emulator, every Procfile type at its shipped settings, two photos processes of 2 threads), and measures:
- photos per second: `--users` users pick `--photos` each at once, from the picks to the last
  `submission.done` webhook;
- status reads: `--reads` sequential GET /v1/submissions/{id} of a finished submission, p50 and p99;
- round trips to Redis and to PostgreSQL (counted by the proxies) per photo (less what the idle deployment
  sends in as long: heartbeats, idle polls) and per status read;
- ingest: POST /v1/auth-codes under wrk (16 connections, 5 s) on a web process of the deployment's (its
  workers stopped, as bench/ingest.py measures the web alone), over the bare minimal app
  (bench/minimal_app.py) measured in the same round, once through the same proxy (the same network) and once
  on Redis directly.
Needs root (initdb runs as postgres), redis-server, PostgreSQL 15 and wrk (`apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import LUA, _load, _serve  # noqa: E402
from emulator.client import AdminClient  # noqa: E402
from tests.support.cluster import Cluster  # noqa: E402
from tests.support.processes import free_port  # noqa: E402
from tests.support.receiver import SECRET, Receiver, receiving  # noqa: E402


def picks(
    cluster: Cluster,
    admin: AdminClient,
    receiver: Receiver,
    users: int,
    photos: int,
    size: tuple[int, int] = (640, 480),
) -> tuple[list[str], float]:
    """Every user's code posted and picked, all at once; their status URLs and the seconds until the app heard
    `submission.done` for all. The bench listens to the webhooks, as an app does, and reads no status meanwhile:
    the round trips counted are the pipeline's own."""
    people = [admin.add_user(photos=photos, width=size[0], height=size[1]) for _ in range(users)]
    urls = [cluster.submit(admin.mint_code(p["sub"])) for p in people]
    ids = {url.rsplit("/", 1)[1] for url in urls}
    _heard(receiver, ids, "submission.awaiting_pick", 60)
    started = time.monotonic()
    for person in people:
        admin.pick(sub=person["sub"])
    _heard(receiver, ids, "submission.done", 300)
    return urls, time.monotonic() - started


def _heard(receiver: Receiver, ids: set[str], kind: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        heard = {e["data"]["submission_id"] for e in receiver.events() if e["type"] == kind}
        if ids <= heard:
            return
        time.sleep(0.02)
    raise AssertionError(f"not every {kind} within {timeout_s} s")


def reads(url: str, n: int) -> list[float]:
    times = []
    with requests.Session() as session:
        for _ in range(n):
            started = time.perf_counter()
            assert session.get(url, timeout=5).status_code == 200
            times.append((time.perf_counter() - started) * 1000)
    return times


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ingest(cluster: Cluster, workdir: Path, seconds: int) -> dict[str, float]:
    """wrk against the deployment's own web (every code recorded through the proxies), then the minimal app
    through the same proxy and on the same Redis directly: their requests per second."""
    script = workdir / "post.lua"
    script.write_text(LUA)
    for name in ("exchange", "maintenance", *cluster.photos):  # the web alone, as bench/ingest.py measures it:
        cluster.kill(name, signal.SIGTERM)  # an exchange worker would redeem (and be refused) every posted code
    env = {**cluster.env, "DARKROOM_RATE_LIMIT_PER_MINUTE": "100000000", "DARKROOM_LOG_LEVEL": "WARNING"}
    results = {}
    for name, app, factory, port in (
        ("ingest", "ingest.app:create_app", True, free_port()),
        ("minimal", "bench.minimal_app:app", False, free_port()),
        ("minimal_direct", "bench.minimal_app:app", False, free_port()),
    ):
        run_env = {**env, "DARKROOM_REDIS_URL": cluster.redis_url("127.0.0.1")}
        if name == "minimal_direct":
            run_env["DARKROOM_REDIS_URL"] = cluster.redis.url()
        server = _serve(app, port, run_env, factory)
        try:
            results[name] = _load(port, seconds, 16, script)["rps"]
        finally:
            server.terminate()
            server.wait()
    return results


def one_round(args: argparse.Namespace, delay_ms: float) -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix="darkroom-slownet-"))
    try:
        with (
            receiving() as receiver,
            Cluster(
                workdir,
                photos_hosts=2,
                netns=False,
                data_delay_ms=delay_ms,
                DARKROOM_WEBHOOK_URL=receiver.url,
                DARKROOM_WEBHOOK_SECRETS=SECRET,
            ) as cluster,
        ):
            admin = AdminClient(cluster.emulator_url)
            admin.set_lifetimes(poll_interval_s=1)
            # What the deployment sends while idle (heartbeats, idle polls of every queue): taken off the pick's.
            time.sleep(2)
            idle_from, idle_started = cluster.round_trips(), time.monotonic()
            time.sleep(5)
            idle_to, idle_s = cluster.round_trips(), time.monotonic() - idle_started
            idle = {k: (idle_to[k] - idle_from[k]) / idle_s for k in idle_to}
            before = cluster.round_trips()
            urls, took = picks(cluster, admin, receiver, args.users, args.photos, args.size)
            during = cluster.round_trips()
            photos = args.users * args.photos
            # Status reads: the polls of the picks above count too, so the reads are counted on their own.
            time.sleep(1.0)
            quiet = cluster.round_trips()
            times = reads(urls[0], args.reads)
            time.sleep(0.5)
            after = cluster.round_trips()
            rps = ingest(cluster, workdir, args.ingest_seconds)
            admin.close()
        return {
            "photos_per_s": photos / took,
            "read_p50_ms": statistics.median(times),
            "read_p99_ms": percentile(times, 99),
            "redis_per_photo": (during["redis"] - before["redis"] - idle["redis"] * took) / photos,
            "db_per_photo": (during["postgres"] - before["postgres"] - idle["postgres"] * took) / photos,
            "redis_idle_per_s": idle["redis"],
            "redis_per_read": (after["redis"] - quiet["redis"]) / args.reads,
            "db_per_read": (after["postgres"] - quiet["postgres"]) / args.reads,
            "ingest_over_minimal": rps["ingest"] / rps["minimal"],
            "ingest_over_minimal_direct": rps["ingest"] / rps["minimal_direct"],
            "ingest_rps": rps["ingest"],
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--delay-ms", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--photos", type=int, default=24)
    parser.add_argument("--reads", type=int, default=400)
    parser.add_argument(
        "--size",
        type=lambda text: tuple(int(n) for n in text.split("x")),
        default=(640, 480),
        help="the photos' size, WxH: 640x480 (the default) makes the data's latency most of a photo's time; "
        "4032x3024 is a phone's 12 MP photo",
    )
    parser.add_argument("--ingest-seconds", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0 or shutil.which("wrk") is None:
        sys.exit("bench/slownet.py runs as root (initdb as postgres) and needs wrk: apt-get install wrk")
    rounds: dict[float, list[dict[str, float]]] = {0.0: [], args.delay_ms: []}
    for i in range(args.rounds):
        for delay in rounds:
            result = one_round(args, delay)
            print(f"round {i + 1}, {delay} ms each way: {result}", file=sys.stderr, flush=True)
            rounds[delay].append(result)
    med = {delay: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for delay, rs in rounds.items()}
    bare, slow = med[0.0], med[args.delay_ms]
    size = "x".join(map(str, args.size))
    print(f"{args.users} users x {args.photos} photos of {size}, {args.reads} reads, median of {args.rounds} rounds\n")
    print(f"| | proxy, 0 ms | proxy, {args.delay_ms} ms each way | ratio |")
    print("|---|---|---|---|")
    for key, label in (
        ("photos_per_s", "photos per second"),
        ("read_p50_ms", "status read p50, ms"),
        ("read_p99_ms", "status read p99, ms"),
        ("ingest_rps", "ingest requests/s"),
        ("ingest_over_minimal", "ingest over the bare minimal app through the same proxy"),
        ("ingest_over_minimal_direct", "ingest over the bare minimal app on Redis directly"),
        ("redis_per_photo", "Redis round trips per photo"),
        ("db_per_photo", "PostgreSQL round trips per photo"),
        ("redis_per_read", "Redis round trips per status read"),
        ("redis_idle_per_s", "Redis round trips per second, idle (heartbeats, polls)"),
        ("db_per_read", "PostgreSQL round trips per status read"),
    ):
        ratio = slow[key] / bare[key] if bare[key] else float("nan")
        print(f"| {label} | {bare[key]:.2f} | {slow[key]:.2f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
