"""A year of production data beside none: the same work in flight, with and without a year of history.

    python bench/volume.py [--url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--scale 1.0] [--repeat 5]

Two schemas in the database at `--url`, migrated by darkroom:
- `vol_flight`: only the work in flight (2 % of a year's submissions, their items unfinished or done);
- `vol_year`: the same, plus a year of finished history beside it, filled with SQL (generate_series), at
  `--scale` 1.0: 200,000 users, 990,669 submissions, 9.9 M items, 2.6 M notifications, 50,000 security
  events, one user with about 10,000 items.
Then, in each, the median of `--repeat` runs of: a sweep, a status read, a photo's per-user statements (the
batch wait, a turn's release, what is in flight, the uploaded items), `darkroom status`, a retention batch,
and as commands (a process each, with its peak memory): `users list`, `reprocess --all --dry-run`,
`reprocess --all --failed --dry-run`. Prints a Markdown table for docs/benchmarks.md: each figure, full over
in flight, and whether it is within 1.5 times plus 5 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy  # noqa: E402

from settings import Settings  # noqa: E402
from workers.context import Context  # noqa: E402
from workers.operations import report, retention, sweeper  # noqa: E402
from workers.queue import broker  # noqa: E402
from workers.store import items, submissions  # noqa: E402
from workers.store.db import Database  # noqa: E402
from workers.store.vault import new_key  # noqa: E402

YEAR = {"users": 200_000, "submissions": 990_669, "notifications": 2_600_000, "security_events": 50_000}
ITEMS_PER_SUBMISSION = 10
IN_FLIGHT = 0.02  # of the submissions: half processing, the rest before their items
HEAVY = "u0"  # the user with a long history: every 1,000th submission is theirs

# The work in flight: the newest 2 % of submission numbers. Each is n in [first_flight, count).
_FLIGHT_SQL = """
INSERT INTO grants (sub, state, scopes, created_at, updated_at)
SELECT 'u' || g, 'active', 'photospicker.mediaitems.readonly photoslibrary.appendonly', now(), now()
FROM generate_series(0, :users - 1) g ON CONFLICT DO NOTHING;
INSERT INTO submissions (id, code_hash, source, platform, status, sub, created_at, updated_at)
SELECT md5('s' || n), 'redeemed:' || md5('s' || n), 'picker', 'ios',
       CASE WHEN n % 2 = 0 THEN 'processing' WHEN n % 4 = 1 THEN 'awaiting_pick' ELSE 'exchanging' END,
       CASE WHEN n % 1000 = 0 THEN 'u0' ELSE 'u' || (n % :users) END,
       now() - interval '20 minutes', now() - (n % 60) * interval '1 second'
FROM generate_series(:first_flight, :count - 1) n;
INSERT INTO items (id, submission_id, sub, source, source_media_id, recipe, state, base_url, filename, attempts,
                   created_at, updated_at)
SELECT md5('i' || i), md5('s' || n), CASE WHEN n % 1000 = 0 THEN 'u0' ELSE 'u' || (n % :users) END,
       'picker', 'm' || i, 'auto-v1',
       (ARRAY['held', 'queued', 'downloaded', 'uploaded', 'done', 'done', 'held', 'held', 'queued', 'done'])
           [1 + i % 10],
       'https://lh3.googleusercontent.com/base-' || i, 'IMG_' || i || '.jpg', 1,
       now() - interval '20 minutes' + (i % 10) * interval '1 microsecond', now() - (i % 60) * interval '1 second'
FROM generate_series(:first_flight, :count - 1) n, generate_series(n * 10, n * 10 + 9) i
WHERE n % 2 = 0;
"""

# A year of finished history: submissions 0 .. first_flight - 1, spread over the year before the work in flight.
_HISTORY_SQL = """
INSERT INTO submissions (id, code_hash, source, platform, status, sub, error_code, created_at, updated_at)
SELECT md5('s' || n), 'redeemed:' || md5('s' || n), CASE WHEN n % 3 = 0 THEN 'inbox' ELSE 'picker' END, 'ios',
       CASE WHEN n % 50 = 0 THEN 'failed' ELSE 'done' END,
       CASE WHEN n % 1000 = 0 THEN 'u0' ELSE 'u' || (n % :users) END,
       CASE WHEN n % 50 = 0 THEN 'grant_revoked' END,
       now() - interval '366 days' + n * (interval '365 days' / :first_flight),
       now() - interval '366 days' + n * (interval '365 days' / :first_flight) + interval '2 minutes'
FROM generate_series(0, :first_flight - 1) n;
INSERT INTO items (id, submission_id, sub, source, source_media_id, recipe, state, output_media_id, error_code,
                   attempts, created_at, updated_at)
SELECT md5('i' || i), md5('s' || (i / 10)), CASE WHEN (i / 10) % 1000 = 0 THEN 'u0' ELSE 'u' || ((i / 10) % :users) END,
       CASE WHEN (i / 10) % 3 = 0 THEN 'inbox' ELSE 'picker' END, 'm' || i,
       CASE WHEN i % 7 = 0 THEN 'auto-v0' ELSE 'auto-v1' END,
       CASE WHEN i % 100 = 0 THEN 'failed' WHEN i % 97 = 0 THEN 'skipped' ELSE 'done' END,
       'out-' || i, CASE WHEN i % 100 = 0 THEN 'media_gone' END, 1,
       now() - interval '366 days' + (i / 10) * (interval '365 days' / :first_flight),
       now() - interval '366 days' + (i / 10) * (interval '365 days' / :first_flight) + interval '1 minute'
FROM generate_series(0, :first_flight * 10 - 1) i;
INSERT INTO notifications (id, channel, event_type, submission_id, sub, payload, state, attempts, next_attempt_at,
                           created_at, delivered_at)
SELECT md5('n' || n), 'webhook', 'submission.done', md5('s' || (n % :first_flight)), 'u' || (n % :users), '{}',
       'delivered', 1, now(), now() - interval '366 days' + n * (interval '365 days' / :notifications), now()
FROM generate_series(0, :notifications - 1) n;
INSERT INTO security_events (jti, event_type, sub, received_at, applied_at)
SELECT 'jti-' || n, 'sessions-revoked', 'u' || (n % :users), now() - interval '300 days', now() - interval '300 days'
FROM generate_series(0, :security_events - 1) n;
"""


def _url(base: str, schema: str) -> str:
    return f"{base}?options=-csearch_path%3D{schema}"


def fill(base: str, schema: str, scale: float, history: bool) -> str:
    engine = sqlalchemy.create_engine(base)
    with engine.begin() as c:
        c.execute(sqlalchemy.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        c.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    url = _url(base, schema)
    db = Database(url)
    db.migrate()
    db.dispose()
    n = {k: max(1, int(v * scale)) for k, v in YEAR.items()}
    params = {**n, "count": n["submissions"], "first_flight": int(n["submissions"] * (1 - IN_FLIGHT))}
    engine = sqlalchemy.create_engine(url)
    started = time.monotonic()
    with engine.begin() as c:
        for sql in [*_statements(_FLIGHT_SQL), *(_statements(_HISTORY_SQL) if history else [])]:
            c.execute(sqlalchemy.text(sql), {k: v for k, v in params.items() if f":{k}" in sql})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(sqlalchemy.text("VACUUM ANALYZE"))
        sizes = {
            t: c.execute(sqlalchemy.text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("grants", "submissions", "items", "notifications", "security_events")
        }
    engine.dispose()
    print(f"{schema}: {sizes} in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return url


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]


def timed(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm: a connection, the plan cache
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs) * 1000


def command(url: str, *args: str) -> tuple[float, float]:
    """A darkroom command as an operator runs it: its wall time (ms) and peak memory (MB)."""
    env = {**os.environ, "DARKROOM_DATABASE_URL": url, "DARKROOM_TOKEN_KEYS": new_key(), "DARKROOM_REDIS_URL": ""}
    wrapper = (
        "import resource, sys, time\nfrom workers.cli import main\n"
        "sys.argv = ['darkroom', *sys.argv[1:]]\nt = time.perf_counter()\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(f'{(time.perf_counter() - t) * 1000:.1f} {peak:.1f}', file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    wall, rss = done.stderr.strip().splitlines()[-1].split()
    return float(wall), float(rss)


COMMANDS = {
    "users list": ("users", "list"),
    "reprocess --all --dry-run": ("reprocess", "--all", "--dry-run"),
    "reprocess --all --failed --dry-run": ("reprocess", "--all", "--source", "inbox", "--failed", "--dry-run"),
}


def measure(url: str, repeat: int) -> dict[str, float]:
    settings = Settings(_env_file=None, database_url=url, token_keys=new_key(), redis_url=None)
    ctx = Context(settings)
    broker.setup(settings)  # the embedded broker: what the sweep sends stays in memory
    db = ctx.db
    with db.engine.connect() as c:
        status_of = c.execute(
            sqlalchemy.text("SELECT id FROM submissions WHERE status = 'processing' ORDER BY id LIMIT 1")
        ).scalar_one()
    out = {
        "sweep": timed(lambda: sweeper.sweep(ctx), repeat),
        "status read (GET /v1/submissions/{id})": timed(lambda: submissions.snapshot(db, status_of), repeat * 10),
        "photo: batch wait (a user with 10,000 items)": timed(lambda: items.batch_wait(db, HEAVY), repeat * 10),
        "photo: a turn's release": timed(lambda: items.release(db, HEAVY, 1), repeat * 10),
        "photo: in flight": timed(lambda: items.in_flight(db, HEAVY), repeat * 10),
        "photo: uploaded items": timed(lambda: items.in_state(db, HEAVY, "uploaded", 49), repeat * 10),
        "darkroom status": timed(lambda: report.report(ctx), repeat),
        "a retention batch": timed(lambda: retention.prune(ctx, max_batches=1), repeat),
    }
    db.dispose()
    for name, args in COMMANDS.items():
        wall, rss = command(url, *args)
        out[name] = wall
        out[f"{name}: peak MB"] = rss
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="leave the two schemas behind")
    parser.add_argument("--reuse", action="store_true", help="measure the two schemas --keep left (migrated first)")
    args = parser.parse_args()
    if args.reuse:
        flight, year = _url(args.url, "vol_flight"), _url(args.url, "vol_year")
    else:
        flight = fill(args.url, "vol_flight", args.scale, history=False)
        year = fill(args.url, "vol_year", args.scale, history=True)
    try:
        empty, full = measure(flight, args.repeat), measure(year, args.repeat)
    finally:
        if not args.keep:
            engine = sqlalchemy.create_engine(args.url)
            with engine.begin() as c:
                c.execute(sqlalchemy.text("DROP SCHEMA IF EXISTS vol_flight CASCADE"))
                c.execute(sqlalchemy.text("DROP SCHEMA IF EXISTS vol_year CASCADE"))
            engine.dispose()
    print(f"\nscale {args.scale:g}, median of {args.repeat} (status read and photo statements: {args.repeat * 10})\n")
    print("| | in flight only | with a year | ratio | the goal |")
    print("|---|---|---|---|---|")
    for name in empty:
        unit = "MB" if name.endswith("peak MB") else "ms"
        ratio = full[name] / empty[name] if empty[name] else float("inf")
        if unit == "MB":
            within = "under 200 MB: " + ("yes" if full[name] < 200 else "**no**")
        elif name in COMMANDS or name == "a retention batch":  # a process's start; a batch that finds work
            within = ""
        else:
            within = "1.5x + 5 ms: " + ("yes" if full[name] <= 1.5 * empty[name] + 5 else "**no**")
        print(f"| {name} | {empty[name]:.2f} {unit} | {full[name]:.2f} {unit} | {ratio:.2f} | {within} |")


if __name__ == "__main__":
    main()
