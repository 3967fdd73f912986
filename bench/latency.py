"""The seconds a user feels (issue #27), split into Google's time (measured at the emulator) and darkroom's own:

1. the link: from the app's POST /v1/auth-codes until GET /v1/submissions/{id} carries `picker_uri`;
2. the pick: from the user's pick in the Picker until the submission is `done` (one photo in the album).

    python bench/latency.py [--users 20] [--poll-interval-s 1] [--only embedded|procfile] [--idle-s 10]

`--users` new users one after another, each read every 20 ms as an app would; on the embedded default
(`darkroom serve`: web and workers in one process, SQLite) and on the Procfile's processes (own Redis and
PostgreSQL, every type at its shipped settings, two photos processes: tests/support/cluster.py). Then each
process's CPU while idle over `--idle-s`. The first user comes 3 s after the web answers, once the worker
processes have booted. Google's time is the sum of the emulator's time on the requests it
answered in the interval (they come one after another on these paths); darkroom's own is the rest.
Needs root for PostgreSQL (initdb runs as postgres).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emulator.client import AdminClient  # noqa: E402
from tests.support.cluster import Cluster  # noqa: E402
from tests.support.embedded import HEADERS  # noqa: E402
from tests.support.processes import DARKROOM, Processes, env_of, free_port, wait_http  # noqa: E402
from workers.cli.demo import demo_settings  # noqa: E402

READ_EVERY_S = 0.02
BOOT_S = 3.0  # the worker processes boot and warm their threads before the first user comes
TICK = os.sysconf("SC_CLK_TCK")


def until(url: str, done: Callable[[dict[str, Any]], bool], session: requests.Session, timeout_s: float = 60) -> float:
    """Read `url` every 20 ms (on a fixed clock, as an app's timer fires) until `done(status)`: the time it was
    first seen so."""
    started = time.monotonic()
    for tick in itertools.count(1):
        status = session.get(url, timeout=5).json()
        if done(status):
            return time.time()
        if status.get("status") == "failed":
            raise AssertionError(f"the submission failed: {status}")
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"{url} not there within {timeout_s} s")
        time.sleep(max(0.0, started + tick * READ_EVERY_S - time.monotonic()))
    raise AssertionError("unreachable")


def google_s(admin: AdminClient, since: float, until_: float) -> float:
    """The emulator's time on the requests it answered within [since, until_]."""
    return sum(r["took_s"] for r in admin.requests() if since <= r["at"] - r["took_s"] and r["at"] <= until_)


def users(web_url: str, admin: AdminClient, count: int) -> list[dict[str, float]]:
    out = []
    with requests.Session() as session:
        for _ in range(count):
            person = admin.add_user(photos=1)
            code = admin.mint_code(person["sub"])
            posted = time.time()
            answer = session.post(f"{web_url}/v1/auth-codes", json={"code": code}, headers=HEADERS, timeout=10)
            url = f"{web_url}{answer.json()['status_url']}"
            linked = until(url, lambda s: bool(s.get("picker_uri")), session)
            admin.pick(sub=person["sub"])
            picked = time.time()
            done = until(url, lambda s: s.get("status") == "done", session)
            out.append(
                {
                    "link_s": linked - posted,
                    "link_google_s": google_s(admin, posted, linked),
                    "pick_s": done - picked,
                    "pick_google_s": google_s(admin, picked, done),
                }
            )
            print(f"  user {len(out)}: {out[-1]}", file=sys.stderr, flush=True)
    return out


def cpu_ticks(pgid: int) -> dict[int, tuple[str, int]]:
    """Every process of a process group: its command and CPU ticks so far."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, fields = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and name != "sh":
            out[int(stat.parent.name)] = (name, int(fields[11]) + int(fields[12]))
    return out


def idle_cpu(groups: dict[str, int], seconds: float) -> dict[str, float]:
    """Each process type's busiest process's share of a core while nothing is asked of it."""
    before = {name: cpu_ticks(pgid) for name, pgid in groups.items()}
    time.sleep(seconds)
    after = {name: cpu_ticks(pgid) for name, pgid in groups.items()}
    return {
        name: max(
            (
                (ticks - before[name].get(pid, (None, ticks))[1]) / TICK / seconds
                for pid, (_, ticks) in after[name].items()
            ),
            default=0.0,
        )
        for name in groups
    }


@contextmanager
def embedded(workdir: Path) -> Iterator[tuple[str, AdminClient, dict[str, int]]]:
    processes = Processes(workdir, {})
    try:
        emulator_url = processes.emulator(free_port())
        settings = demo_settings(emulator_url, f"sqlite:///{workdir / 'darkroom.db'}")  # the shipped waits
        port = free_port()
        processes.env = env_of(settings, DARKROOM_LOG_LEVEL="WARNING")
        processes.start("serve", shlex.join([*DARKROOM, "serve", "--port", str(port)]))
        web_url = f"http://127.0.0.1:{port}"
        wait_http(f"{web_url}/healthz")
        yield web_url, AdminClient(emulator_url), {"serve": processes.running["serve"].pid}
    finally:
        processes.stop_all()


@contextmanager
def procfile(workdir: Path) -> Iterator[tuple[str, AdminClient, dict[str, int]]]:
    with Cluster(workdir, photos_hosts=2, netns=False) as cluster:
        admin = AdminClient(cluster.emulator_url)
        names = ("web", "exchange", "maintenance", *cluster.photos)
        yield cluster.web_url, admin, {name: cluster.running[name].pid for name in names}


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered) * 1000:.0f} / {p95 * 1000:.0f} / {ordered[-1] * 1000:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--poll-interval-s", type=float, default=1.0)
    parser.add_argument("--only", choices=("embedded", "procfile"))
    parser.add_argument("--idle-s", type=float, default=10.0)
    args = parser.parse_args()
    setups = {
        "embedded default (`darkroom serve`, SQLite)": embedded,
        "Procfile processes (Redis, PostgreSQL)": procfile,
    }
    if args.only:
        setups = {k: v for k, v in setups.items() if v.__name__ == args.only}
    rows, idle = [], {}
    for label, setup in setups.items():
        workdir = Path(tempfile.mkdtemp(prefix="darkroom-latency-"))
        try:
            with setup(workdir) as (web_url, admin, groups):
                admin.set_lifetimes(poll_interval_s=args.poll_interval_s)
                time.sleep(BOOT_S)
                print(f"{label}:", file=sys.stderr, flush=True)
                results = users(web_url, admin, args.users)
                time.sleep(2)
                idle[label] = idle_cpu(groups, args.idle_s)
                admin.close()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        own_link = [r["link_s"] - r["link_google_s"] for r in results]
        own_pick = [r["pick_s"] - r["pick_google_s"] for r in results]
        rows.append((label, results, own_link, own_pick))
    print(f"{args.users} users one after another, read every 20 ms; Picker pollInterval {args.poll_interval_s} s.")
    print("Milliseconds, p50 / p95 / worst.\n")
    columns = ["setup", "link: all", "link: Google's", "link: darkroom's own"]
    columns += ["pick to done: all", "pick: Google's", "pick: darkroom's own"]
    print("| " + " | ".join(columns) + " |")
    print("|---|---|---|---|---|---|---|")
    for label, results, own_link, own_pick in rows:
        print(
            f"| {label} | {percentiles([r['link_s'] for r in results])} "
            f"| {percentiles([r['link_google_s'] for r in results])} | {percentiles(own_link)} "
            f"| {percentiles([r['pick_s'] for r in results])} | {percentiles([r['pick_google_s'] for r in results])} "
            f"| {percentiles(own_pick)} |"
        )
    print("\nIdle, each type's busiest process, % of a core:\n")
    for label, shares in idle.items():
        print(f"- {label}: " + ", ".join(f"{name} {share * 100:.2f} %" for name, share in shares.items()))


if __name__ == "__main__":
    main()
