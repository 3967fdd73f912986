"""POST /v1/auth-codes on one uvicorn worker, against a minimal ASGI app that only pushes to Redis: same
server, same load generator (wrk), alternating rounds in one run.

    python bench/ingest.py [--seconds 8] [--connections 16] [--rounds 2] [--database sqlite|postgres]

Every request carries a new code, so the ingest does its whole job each time: check, keyed hash, lookup,
AES-GCM, insert, enqueue. Needs wrk (`apt-get install wrk`) and Redis (DARKROOM_TEST_REDIS_URL).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.processes import free_port  # noqa: E402
from workers.store.db import Database  # noqa: E402
from workers.store.vault import new_key  # noqa: E402

REDIS_URL = os.environ.get("DARKROOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
POSTGRES_URL = os.environ.get("DARKROOM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
APPS = (("minimal", "bench.minimal_app:app", False), ("ingest", "ingest.app:create_app", True))
LUA = """
-- Each wrk thread runs its own Lua state with the same random seed: the thread number keeps codes apart.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  started = os.time()
  counter = 0
end
function request()
  counter = counter + 1
  local body = string.format('{"code": "4/0Abench-%d-%d-%d"}', started, tid, counter)
  return wrk.format("POST", "/v1/auth-codes", {["Content-Type"] = "application/json",
                                              ["X-Requested-With"] = "bench"}, body)
end
"""


def _pinned(core: int) -> list[str]:
    """Run on one core (taskset, where there is one and the machine has two or more): the load generator then
    does not take CPU time from the server it measures."""
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and (os.cpu_count() or 1) >= 2 else []


def _serve(app: str, port: int, env: dict[str, str], factory: bool) -> subprocess.Popen[bytes]:
    command = [*_pinned(1), sys.executable, "-m", "uvicorn", app, "--port", str(port), "--no-access-log"]
    command += ["--log-level", "warning"]
    process = subprocess.Popen([*command, *(["--factory"] if factory else [])], cwd=ROOT, env=env)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{app} did not start")


def _load(port: int, seconds: int, connections: int, script: Path) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}"
    out = subprocess.run(
        [*_pinned(0), "wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = {p: _ms(re.search(rf"\s{p}%\s+([\d.]+\w+)", out).group(1)) for p in ("50", "99")}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": latency["50"], "p99": latency["99"], "errors": float(non2xx.group(1)) if non2xx else 0}


def _ms(text: str) -> float:
    value, unit = float(re.match(r"[\d.]+", text).group(0)), re.sub(r"[\d.]+", "", text)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/ingest.py needs wrk: apt-get install wrk")
    workdir = Path(tempfile.mkdtemp(prefix="darkroom-ingest-"))
    database = f"sqlite:///{workdir / 'ingest.db'}" if args.database == "sqlite" else POSTGRES_URL
    Database(database).migrate()
    script = workdir / "post.lua"
    script.write_text(LUA)
    env = {
        **os.environ,
        "DARKROOM_DATABASE_URL": database,
        "DARKROOM_REDIS_URL": REDIS_URL,
        "DARKROOM_TOKEN_KEYS": new_key(),
        "DARKROOM_GOOGLE_CLIENT_ID": "bench-web.apps.googleusercontent.com",  # the web process refuses to start
        "DARKROOM_GOOGLE_CLIENT_SECRET": "bench",  # without a client; the bench redeems no code
        "DARKROOM_RATE_LIMIT_PER_MINUTE": "100000000",
        "DARKROOM_LOG_FORMAT": "text",
        "DARKROOM_LOG_LEVEL": "WARNING",
    }
    best: dict[str, dict[str, float]] = {}
    for round_ in range(args.rounds):
        for name, app, factory in (
            ("minimal", "bench.minimal_app:app", False),
            ("ingest", "ingest.app:create_app", True),
        ):
            redis.Redis.from_url(REDIS_URL).flushdb()
            port = free_port()
            server = _serve(app, port, env, factory)
            try:
                result = _load(port, args.seconds, args.connections, script)
            finally:
                server.terminate()
                server.wait()
            print(f"round {round_ + 1} {name}: {result}", file=sys.stderr)
            if name not in best or result["rps"] > best[name]["rps"]:
                best[name] = result
    m, i = best["minimal"], best["ingest"]
    print(f"{args.connections} connections, {args.seconds} s per round, best of {args.rounds}, {args.database}\n")
    print("| app | requests/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---|---|---|---|")
    for name, r in (("minimal (Redis push only)", m), ("darkroom ingest", i)):
        print(f"| {name} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['errors']:.0f} |")
    print(f"\ningest / minimal requests/s: {i['rps'] / m['rps']:.2f}")


if __name__ == "__main__":
    main()
