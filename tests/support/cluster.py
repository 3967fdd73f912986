"""A deployment across machines, for fault tests: darkroom's own Redis and PostgreSQL that a test may stop,
restart and cut off (never the machine's shared ones on 6379 and 5432), hosts as Linux network namespaces
whose link to the data can be cut (packets dropped, nothing refused: a partition), and every Procfile process
type at the settings darkroom ships.

    with Cluster(workdir, database="postgres", photos_hosts=2) as cluster:
        cluster.redis.stop(); ...; cluster.redis.start()
        cluster.cut("photos-1"); ...; cluster.heal("photos-1")
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from tests.support.processes import PROCESS_TYPES, Processes, deployment_env, free_port, procfile, wait_http

PG_BIN = Path("/usr/lib/postgresql/15/bin")
_hosts = itertools.count(1)


def _wait(check: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.1)
    raise AssertionError(f"{what} not within {timeout_s} s")


class OwnRedis:
    """A redis-server of the test's own: `aof` keeps every write on disk (appendfsync everysec), else nothing is
    kept and a restart comes back empty."""

    def __init__(self, workdir: Path, *, aof: bool = False) -> None:
        self.dir, self.aof, self.port = workdir / "redis", aof, free_port()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, host: str = "127.0.0.1") -> str:
        return f"redis://{host}:{self.port}/0"

    def start(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "everysec"] if self.aof else ["--appendonly", "no"]
        with (self.dir / "redis.log").open("ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [
                    *("redis-server", "--port", str(self.port), "--bind", "0.0.0.0", "--protected-mode", "no"),
                    *("--save", "", "--dir", str(self.dir), *persistence),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait(self.ping, 10, "redis-server up")

    def ping(self) -> bool:
        import redis

        client = redis.Redis(port=self.port, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def stop(self, sig: int = signal.SIGKILL) -> None:
        """Stopped as a crash stops it (SIGKILL): what it had not written is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)
        self.process = None


class OwnPostgres:
    """A PostgreSQL 15 cluster of the test's own (initdb as the postgres user), listening on every address so
    that hosts in namespaces reach it, trusting them."""

    def __init__(self, workdir: Path) -> None:
        # The data directory must be the postgres user's, under a path it can walk (not pytest's 0700 tmp).
        self.root = Path(tempfile.mkdtemp(prefix="darkroom-pg-"))
        self.data, self.port = self.root / "data", free_port()
        os.chmod(self.root, 0o755)
        shutil.chown(self.root, "postgres", "postgres")
        self._as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-N"])
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {self.port}\nlisten_addresses = '*'\nunix_socket_directories = '{self.root}'\n")
            conf.write("max_connections = 200\nfsync = off\n")  # a clean shutdown still writes everything
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write("host all all 10.0.0.0/8 trust\n")

    def _as_postgres(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", *argv], capture_output=True, check=check, timeout=120, cwd=self.root
        )

    def url(self, host: str = "127.0.0.1", database: str = "darkroom") -> str:
        return f"postgresql+psycopg://postgres@{host}:{self.port}/{database}"

    def ctl(self, *args: str) -> None:
        log = str(self.root / "postgres.log")
        self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", log, "-w", "-t", "60", *args])

    def start(self) -> None:
        self.ctl("start")

    def create_database(self, name: str = "darkroom") -> None:
        self._as_postgres([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), name])

    def restart(self) -> None:
        self.ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._as_postgres(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "stop", "-m", "immediate", "-w", "-t", "60"], check=False
        )

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


class Host:
    """A machine: a network namespace with two links to the root namespace, one to the data (Redis and
    PostgreSQL) and one to everything else (Google, the web). `cut` drops the data link's packets."""

    def __init__(self, name: str, services: str) -> None:
        n = next(_hosts) + (os.getpid() % 50) * 4
        self.name, self.netns = name, f"dr{os.getpid()}-{n}"
        self.data_link, self.other_link = f"drd{os.getpid() % 10000}x{n}", f"dro{os.getpid() % 10000}x{n}"
        self.data_gateway, self.other_gateway = f"10.{77 + n // 250}.{n % 250}.1", f"10.{90 + n // 250}.{n % 250}.1"
        _ip("netns", "add", self.netns)
        _ip("-n", self.netns, "link", "set", "lo", "up")
        for link, gateway in ((self.data_link, self.data_gateway), (self.other_link, self.other_gateway)):
            inside, prefix = f"{link}i", gateway.rsplit(".", 1)[0]
            _ip("link", "add", link, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", self.netns)
            _ip("addr", "add", f"{gateway}/30", "dev", link)
            _ip("link", "set", link, "up")
            _ip("-n", self.netns, "addr", "add", f"{prefix}.2/30", "dev", inside)
            _ip("-n", self.netns, "link", "set", inside, "up")
        _ip("-n", self.netns, "route", "add", f"{services}/32", "via", self.other_gateway)

    def wrap(self, command: str) -> str:
        return f"ip netns exec {self.netns} sh -c {shlex.quote(command)}"

    def cut(self) -> None:
        _ip("link", "set", self.data_link, "down")

    def heal(self) -> None:
        _ip("link", "set", self.data_link, "up")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("netns", "delete", self.netns)  # the veth pairs go with it
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "delete", self.data_link)
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "delete", self.other_link)


def shipped_env(emulator_url: str, web_port: int, database_url: str, redis_url: str, tmp: str) -> dict[str, str]:
    """What an operator sets, and nothing more: every clock is darkroom's default."""
    return {
        **deployment_env(emulator_url, web_port, database_url, redis_url),
        "DARKROOM_PHOTOS_PROCESSES": "1",  # one process per photos host: the cluster has several hosts
        "DARKROOM_EXCHANGE_METRICS_PORT": str(free_port()),
        "DARKROOM_MAINTENANCE_METRICS_PORT": str(free_port()),
        "TMPDIR": tmp,
    }


class Cluster(Processes):
    """The emulator (Google), own Redis and PostgreSQL (or SQLite), web, exchange and maintenance on one host,
    and `photos_hosts` photos processes, each on a host of its own (a namespace) when `netns`."""

    def __init__(
        self,
        workdir: Path,
        *,
        database: str = "postgres",
        photos_hosts: int = 2,
        aof: bool = False,
        netns: bool = True,
        data_delay_ms: float | None = None,
        **extra_env: str,
    ) -> None:
        """`data_delay_ms`: every process reaches Redis and PostgreSQL through a proxy that adds this much each
        way and counts round trips (tests/support/latency.py): a data host a network away."""
        self.redis = OwnRedis(workdir, aof=aof)
        self.postgres = OwnPostgres(workdir) if database == "postgres" else None
        self.sqlite = workdir / "darkroom.db"
        self.emulator_port, self.web_port = free_port(), free_port()
        # Google answers at one address from every host (a base URL is the same wherever it is fetched from): an
        # address of the root namespace that each host routes to over its other link.
        self.services = f"10.99.{os.getpid() % 250}.{next(_hosts) % 250 + 1}" if netns else "127.0.0.1"
        self.emulator_url, self.web_url = (
            f"http://{self.services}:{self.emulator_port}",
            f"http://127.0.0.1:{self.web_port}",
        )
        self.photos = [f"photos-{i}" for i in range(1, photos_hosts + 1)]
        self.data_delay_ms = data_delay_ms
        self.trace_dir: Path | None = None  # set it to see what each round trip to the data is
        self.proxied = {"redis": free_port(), "postgres": free_port()} if data_delay_ms is not None else {}
        self.hosts: dict[str, Host] = {}
        self.netns, self.extra_env, self.tmp = netns, extra_env, tempfile.mkdtemp(prefix="darkroom-faults-")
        super().__init__(workdir, {**self._env("127.0.0.1"), **extra_env})

    def database_url(self, host: str) -> str:
        if self.postgres is None:
            return f"sqlite:///{self.sqlite}"
        if "postgres" in self.proxied:
            return f"postgresql+psycopg://postgres@127.0.0.1:{self.proxied['postgres']}/darkroom"
        return self.postgres.url(host)

    def redis_url(self, host: str) -> str:
        return f"redis://127.0.0.1:{self.proxied['redis']}/0" if self.proxied else self.redis.url(host)

    def _env(self, data_host: str) -> dict[str, str]:
        return shipped_env(
            self.emulator_url, self.web_port, self.database_url(data_host), self.redis_url(data_host), self.tmp
        )

    def round_trips(self) -> dict[str, int]:
        """Round trips through each data proxy so far (a data_delay_ms cluster)."""
        counts = {}
        for name in self.proxied:
            stats = Path(self.tmp) / f"proxy-{name}.json"
            counts[name] = int(json.loads(stats.read_text())["round_trips"])
        return counts

    def _start_proxies(self) -> None:
        upstreams = {"redis": self.redis.port, "postgres": self.postgres.port if self.postgres else None}
        for name, port in self.proxied.items():
            stats = Path(self.tmp) / f"proxy-{name}.json"
            self.start(
                f"proxy-{name}",
                f"{shlex.quote(sys.executable)} -m tests.support.latency --listen {port} "
                f"--upstream 127.0.0.1:{upstreams[name]} --delay-ms {self.data_delay_ms} --stats {stats}"
                + (f" --trace {self.trace_dir / f'{name}.trace'}" if self.trace_dir else ""),
            )
            _wait(stats.exists, 10, f"the {name} proxy")

    def __enter__(self) -> Cluster:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self) -> None:
        if self.services != "127.0.0.1":
            _ip("addr", "add", f"{self.services}/32", "dev", "lo")
        self.redis.start()
        if self.postgres is not None:
            self.postgres.start()
            self.postgres.create_database()
        if self.proxied:
            self._start_proxies()
        self.start(
            "emulator", f"{shlex.quote(sys.executable)} -m emulator serve --host 0.0.0.0 --port {self.emulator_port}"
        )
        wait_http(f"{self.emulator_url}/oauth2/v1/certs")
        self._push_through_the_emulator()
        self.run("release", "darkroom migrate")
        self.start_types("web", "exchange", "maintenance", *self.photos)
        wait_http(f"{self.web_url}/healthz")

    def _push_through_the_emulator(self) -> None:
        """FCM on: a service account the emulator's FCM accepts, as a deployment downloads from Firebase."""
        from emulator.client import AdminClient

        account = Path(self.tmp) / "firebase-service-account.json"
        with contextlib.closing(AdminClient(self.emulator_url)) as admin:
            account.write_text(json.dumps(admin.service_account("darkroom-demo")))
        self.env["DARKROOM_FCM_SERVICE_ACCOUNT_FILE"] = str(account)
        self.env["DARKROOM_FCM_URI"] = f"{self.emulator_url}/fcm"

    def start_types(self, *names: str) -> None:
        lines = procfile()
        for name in names:
            if name in self.photos:
                self._start_photos(name, lines["photos"])
            else:
                self.start(name, lines[name])

    def _start_photos(self, name: str, line: str) -> None:
        env = {"DARKROOM_PHOTOS_METRICS_PORT": str(free_port())}
        if not self.netns or self.postgres is None:  # SQLite is a file: its processes share one host
            self.start(name, _exported(env) + line)
            return
        host = self.hosts.get(name) or self.hosts.setdefault(name, Host(name, self.services))
        env |= {**self._env(host.data_gateway), **self.extra_env}
        env |= {key: self.env[key] for key in ("DARKROOM_TOKEN_KEYS",)}  # one deployment, one key
        env |= {k: v for k, v in self.env.items() if k.startswith("DARKROOM_FCM")}
        env["TMPDIR"] = tempfile.mkdtemp(prefix=f"darkroom-{name}-")
        self.start(name, host.wrap(_exported(env) + line))

    def restart_type(self, name: str, sig: int = signal.SIGTERM, timeout_s: float = 120) -> None:
        """As a deploy does: `sig` to the process type, wait for it to exit, start it again."""
        process = self.running[name]
        os.killpg(process.pid, sig)
        process.wait(timeout=timeout_s)
        self.start_types(name)

    def kill_type(self, name: str) -> None:
        self.kill(name, signal.SIGKILL)

    def cut(self, name: str) -> None:
        self.hosts[name].cut()

    def heal(self, name: str) -> None:
        self.hosts[name].heal()

    def submit(self, code: str) -> str:
        response = requests.post(
            f"{self.web_url}/v1/auth-codes", json={"code": code, "source": "picker"}, headers={"X-Requested-With": "t"}
        )
        assert response.status_code == 202, response.text
        return str(self.web_url + response.json()["status_url"])

    def down(self) -> None:
        self.stop_all()
        for host in self.hosts.values():
            host.remove()
        self.redis.stop()
        if self.postgres is not None:
            self.postgres.remove()
        if self.services != "127.0.0.1":
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("addr", "del", f"{self.services}/32", "dev", "lo")
        shutil.rmtree(self.tmp, ignore_errors=True)


def _exported(env: dict[str, str]) -> str:
    return "".join(f"export {key}={shlex.quote(value)}; " for key, value in env.items())


__all__ = ["PROCESS_TYPES", "Cluster", "Host", "OwnPostgres", "OwnRedis"]
