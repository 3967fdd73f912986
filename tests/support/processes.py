"""Start the Procfile's lines as real processes (and the emulator as its own), with their output in files."""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MARKER = "DARKROOM_TEST_PROCESSES"  # in the environment of every process a test starts (Processes.strays)


# Ports for the servers tests start. Asking the kernel for port 0 and closing the socket is racy: the kernel may
# hand the same ephemeral port to the next call, to another xdist worker or to any outgoing connection. So each
# worker takes ports from its own slice below the ephemeral range, never the same one twice, and only one that
# nothing holds now.
PORTS_FROM, PORTS_PER_WORKER = 20_000, 1_500
_ports = itertools.count()


def free_port() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    first = PORTS_FROM + (int(worker) if worker.isdigit() else 0) % 8 * PORTS_PER_WORKER
    for _ in range(PORTS_PER_WORKER):
        port = first + next(_ports) % PORTS_PER_WORKER
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port in {first}..{first + PORTS_PER_WORKER}")


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def wait_http(url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:  # not any answer: a 404 is someone else's server
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in {timeout_s} s")


class Processes:
    """Processes a test starts, each in a process group of its own; every one carries a marker in its environment
    (and so do its children), so that `stop_all` finds and ends those that left their group: honcho starts each
    Procfile line in a session of its own, and a dramatiq master killed outright leaves its worker processes
    running. A stray that outlives its test keeps consuming the xdist worker's Redis database, and takes the next
    test's messages (a maintenance worker took test_operators' inbox scans, to a database dropped since)."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir, self.marker = workdir, f"{MARKER}={secrets.token_hex(8)}"
        path = f"{BIN}:{os.environ['PATH']}"
        self.env = {**os.environ, **env, "PATH": path, MARKER: self.marker.split("=", 1)[1]}
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def start(self, name: str, command: str) -> subprocess.Popen[bytes]:
        with self.log(name).open("ab") as out:  # the child keeps its own descriptor
            process = subprocess.Popen(
                ["sh", "-c", command],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running[name] = process
        return process

    def run(self, name: str, command: str, timeout_s: float = 60) -> None:
        process = self.start(name, command)
        assert process.wait(timeout=timeout_s) == 0, self.log(name).read_text()[-3000:]

    def start_procfile(self, *names: str) -> None:
        lines = procfile()
        for name in names:
            self.start(name, lines[name])

    def emulator(self, port: int) -> str:
        self.start("emulator", f"{shlex.quote(sys.executable)} -m emulator serve --port {port}")
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/oauth2/v1/certs")
        return url

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        os.killpg(self.running[name].pid, sig)
        self.running[name].wait(timeout=30)

    def stop_all(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.running.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self._end_strays(max(1.0, deadline - time.monotonic()))

    def strays(self) -> list[int]:
        """The processes that carry this instance's marker and are still running."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:  # gone meanwhile, or not ours to read
                continue
            if self.marker.encode() in environ:
                found.append(int(entry.name))
        return found

    def _end_strays(self, grace_s: float) -> None:
        """What still runs of the processes this instance started, once their group leaders are gone: given
        `grace_s` to finish exiting (a dramatiq master waits for its workers), then killed."""
        deadline = time.monotonic() + grace_s
        while (strays := self.strays()) and time.monotonic() < deadline:
            time.sleep(0.05)
        if strays:
            print(
                f"processes.stop_all: killing {len(strays)} processes still running after their grace", file=sys.stderr
            )
        for pid in strays:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while self.strays() and time.monotonic() < deadline:
            time.sleep(0.05)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.workdir.glob("*.log")))


def deployment_env(emulator_url: str, web_port: int, database_url: str, redis_url: str) -> dict[str, str]:
    """What an operator sets: the addresses, the web client, a token key, and every Google URL on the emulator.
    Every clock is darkroom's default."""
    from emulator.world import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
    from workers.store.vault import new_key

    return {
        "PORT": str(web_port),
        "DARKROOM_DATABASE_URL": database_url,
        "DARKROOM_REDIS_URL": redis_url,
        "DARKROOM_GOOGLE_CLIENT_ID": DEMO_CLIENT_ID,
        "DARKROOM_GOOGLE_CLIENT_SECRET": DEMO_CLIENT_SECRET,
        "DARKROOM_GOOGLE_TOKEN_URI": f"{emulator_url}/token",
        "DARKROOM_GOOGLE_REVOKE_URI": f"{emulator_url}/revoke",
        "DARKROOM_GOOGLE_CERTS_URI": f"{emulator_url}/oauth2/v1/certs",
        "DARKROOM_PHOTOS_LIBRARY_URI": f"{emulator_url}/library",
        "DARKROOM_PHOTOS_PICKER_URI": f"{emulator_url}/picker",
        "DARKROOM_GOOGLE_API_URI": emulator_url,
        "DARKROOM_RISC_JWKS_URI": f"{emulator_url}/oauth2/v3/certs",
        "DARKROOM_RISC_API_URI": f"{emulator_url}/risc",
        "DARKROOM_GOOGLE_AUTH_URI": f"{emulator_url}/o/oauth2/v2/auth",
        "DARKROOM_TOKEN_KEYS": new_key(),
    }


def stack_env(emulator_url: str, web_port: int, database_url: str, redis_url: str) -> dict[str, str]:
    """A deployment for the e2e tests: one photos process, and the waits between tries shortened."""
    return {
        **deployment_env(emulator_url, web_port, database_url, redis_url),
        "DARKROOM_RETRY_MIN_BACKOFF_MS": "100",  # what tests shorten: the wait between tries, not their number
        "DARKROOM_RETRY_MAX_BACKOFF_MS": "1000",
        "DARKROOM_PHOTOS_PROCESSES": "1",
        "DARKROOM_EXCHANGE_THREADS": "2",
        "dramatiq_queue_prefetch": "1",
        "DARKROOM_EXCHANGE_METRICS_PORT": str(free_port()),
        "DARKROOM_PHOTOS_METRICS_PORT": str(free_port()),
        "DARKROOM_MAINTENANCE_METRICS_PORT": str(free_port()),
        "TMPDIR": tempfile.mkdtemp(prefix="darkroom-e2e-"),
    }


class Stack(Processes):
    """The emulator, the release step, then whichever Procfile types a test asks for."""

    def __init__(self, workdir: Path, database_url: str, redis_url: str, **extra_env: str) -> None:
        self.emulator_port, self.web_port = free_port(), free_port()
        self.emulator_url = f"http://127.0.0.1:{self.emulator_port}"
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        super().__init__(workdir, {**stack_env(self.emulator_url, self.web_port, database_url, redis_url), **extra_env})

    def submit(self, code: str, source: str = "picker") -> str:
        """Post a code as the app does; the submission's status URL."""
        response = requests.post(
            f"{self.web_url}/v1/auth-codes", json={"code": code, "source": source}, headers={"X-Requested-With": "e2e"}
        )
        assert response.status_code == 202, response.text
        return self.web_url + response.json()["status_url"]

    def up(self, *names: str) -> None:
        self.emulator(self.emulator_port)
        self.run("release", "darkroom migrate")
        self.start_procfile(*names)
        if "web" in names:
            wait_http(f"{self.web_url}/healthz")


PROCESS_TYPES = ("web", "exchange", "photos", "maintenance")
DARKROOM = [sys.executable, "-c", "from workers.cli import main; main()"]


@contextlib.contextmanager
def running(workdir: Path, redis_url: str, database_url: str | None = None, **env: str) -> Iterator[tuple[Stack, Any]]:
    """A whole stack up (emulator, release, every long-running Procfile type) and the emulator's admin client."""
    from emulator.client import AdminClient

    stack = Stack(workdir, database_url or f"sqlite:///{workdir / 'darkroom.db'}", redis_url, **env)
    try:
        stack.up(*PROCESS_TYPES)
        admin = AdminClient(stack.emulator_url)
        admin.set_lifetimes(poll_interval_s=0.5)  # the shortest darkroom accepts: no test waits on Google's clock
        yield stack, admin
        admin.close()
    finally:
        stack.stop_all()


def wait_for(url: str, wanted: str, timeout_s: float = 90, poll_s: float = 0.1) -> dict[str, Any]:
    """Poll a submission's status every `poll_s` until it is `wanted` (or failed)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = requests.get(url, timeout=5).json()
        if status["status"] in (wanted, "failed"):
            return status
        time.sleep(poll_s)
    raise AssertionError(f"still {status} after {timeout_s} s")


def cli(*args: str, env: dict[str, str], cwd: Path = ROOT, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    """The darkroom command as its own process, with exactly this environment."""
    return subprocess.run([*DARKROOM, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s)


def env_of(settings: Any, **overrides: str) -> dict[str, str]:
    """The environment a process needs to see these settings."""
    out = {}
    for name, value in settings.model_dump().items():
        if value is not None:
            secret = getattr(value, "get_secret_value", None)
            out[f"DARKROOM_{name.upper()}"] = secret() if secret else str(value)
    return {**os.environ, **out, **overrides}
