"""The fault matrix (docs/faults.md): each fault injected into a whole deployment at the settings darkroom ships,
while a user's pick is under way, and judged the same way: every picked photo in the album exactly once, every
webhook event delivered (deduplicated by webhook-id), one push per outcome, the submission final; and how long
after the fault's end the work moved again.

    python -m tests.faults.matrix --runs 3 --out docs/faults.md     (make faults)

The tests in tests/faults/test_matrix.py run each fault once, inside make test.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import signal
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from emulator.client import AdminClient
from tests.support.cluster import Cluster
from tests.support.receiver import SECRET, Receiver, receiving

MARKER = re.compile(r"-darkroom-([a-z2-7]{10})\.jpg$")
FINAL = ("done", "failed")
PUSH_TOKEN = "fault-matrix-device"
MOVED = ("done", "uploaded", "creating", "failed", "skipped")  # a photo past its upload counts as work that moved


def moved(status: dict[str, Any]) -> int:
    return sum(status.get("counts", {}).get(state, 0) for state in MOVED)


BOUND_S = 60.0  # each fault is over within this of its end


@dataclass
class Run:
    """One user's pick through one fault."""

    cluster: Cluster
    admin: AdminClient
    receiver: Receiver
    photos: int
    user: dict[str, Any] = field(default_factory=dict)
    url: str = ""
    fault_start: float | None = None
    fault_end: float | None = None
    samples: list[tuple[float, str, int]] = field(default_factory=list)  # (when, status, photos moved)
    probes: list[str] = field(default_factory=list)  # what the web answered during the fault
    _stop: threading.Event = field(default_factory=threading.Event)

    def status(self) -> dict[str, Any]:
        return dict(requests.get(self.url, timeout=5).json())

    def submit(self) -> None:
        self.user = self.admin.add_user(photos=self.photos, width=640, height=480)
        code = self.admin.mint_code(self.user["sub"])
        response = requests.post(
            f"{self.cluster.web_url}/v1/auth-codes",
            json={"code": code, "source": "picker", "platform": "android", "push_token": PUSH_TOKEN + self.user["sub"]},
            headers={"X-Requested-With": "faults"},
            timeout=10,
        )
        assert response.status_code == 202, response.text
        self.url = self.cluster.web_url + response.json()["status_url"]
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            with contextlib.suppress(Exception):
                status = self.status()
                self.samples.append((time.monotonic(), status["status"], moved(status)))

    def wait(self, check: Callable[[dict[str, Any]], bool], timeout_s: float, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException, ValueError):
                status = self.status()
                if check(status):
                    return status
            time.sleep(0.2)
        raise AssertionError(f"{what}: not within {timeout_s} s; last {self.samples[-1:]}")

    def pick(self) -> None:
        self.wait(lambda s: s["status"] in ("awaiting_pick", *FINAL), 60, "awaiting_pick")
        self.admin.pick(sub=self.user["sub"])

    def moved_at_least(self, n: int, timeout_s: float = 90) -> None:
        self.wait(lambda s: moved(s) >= n or s["status"] in FINAL, timeout_s, f"{n} photos past their upload")

    def under_way(self) -> None:
        """The fault must meet work in flight, or it proves nothing."""
        status = self.status()
        assert status["status"] == "processing" and moved(status) < len(self.user["media"]), status

    def began(self) -> None:
        self.fault_start = time.monotonic()

    def ended(self) -> None:
        self.fault_end = time.monotonic()

    def probe_web(self) -> None:
        """What an app meets while the fault lasts: a post of a code (503 with a problem body, or 202), the
        health and readiness checks. Nothing else (a 500, a dropped connection) is acceptable."""
        seen = []
        try:
            post = requests.post(
                f"{self.cluster.web_url}/v1/auth-codes",
                json={"code": "4/fault-probe-" + str(time.monotonic_ns()), "source": "picker"},
                headers={"X-Requested-With": "faults"},
                timeout=30,
            )
            kind = post.headers.get("content-type", "")
            seen.append(f"post {post.status_code}{' problem' if 'problem+json' in kind else ''}")
            seen.append(f"healthz {requests.get(self.cluster.web_url + '/healthz', timeout=30).status_code}")
            seen.append(f"readyz {requests.get(self.cluster.web_url + '/readyz', timeout=30).status_code}")
        except requests.RequestException as exc:
            seen.append(f"no answer: {type(exc).__name__}")
        self.probes.append(", ".join(seen))

    def finish(self, timeout_s: float = 240) -> Verdict:
        status = self.wait(lambda s: s["status"] in FINAL, timeout_s, "final")
        self._stop.set()
        self.samples.append((time.monotonic(), status["status"], moved(status)))
        albums = [a for a in self.admin.state()["albums"] if a["sub"] == self.user["sub"]]
        markers = [m.group(1) for a in albums for i in a["items"] if (m := MARKER.search(i["filename"]))]
        expected = len(self.user["media"]) if status["status"] == "done" else 0
        time.sleep(3)  # a straggler's webhook or push would arrive now
        mine = [e for e in self.receiver.events() if e.get("data", {}).get("submission_id") == status["submission_id"]]
        pushes = [m for m in self.admin.push_messages() if m.get("token") == PUSH_TOKEN + self.user["sub"]]
        return Verdict(
            status=status["status"],
            error=(status.get("error") or {}).get("code"),
            photos=len(self.user["media"]),
            in_album=len(markers),
            lost=max(0, expected - len(set(markers))),
            duplicated=len(markers) - len(set(markers)),
            events=sorted(e["type"] for e in mine),
            pushes=len(pushes),
            recovery_s=self.recovery_s(),
            fault_s=round(self.fault_end - self.fault_start, 1) if self.fault_end and self.fault_start else None,
            final_after_start_s=self.final_after(self.fault_start),
            probes=self.probes,
        )

    def final_after(self, when: float | None) -> float | None:
        for at, status, _ in self.samples:
            if when is not None and at > when and status in FINAL:
                return round(at - when, 1)
        return None

    def recovery_s(self) -> float | None:
        """From the fault's end until the submission was final: every photo in the album, or its reason. An
        upper bound of the recovery (it includes the work left), and the one a user feels."""
        if self.fault_end is None:
            return None
        for at, status, _ in self.samples:
            if at > self.fault_end and status in FINAL:
                return round(at - self.fault_end, 1)
        return None


@dataclass
class Verdict:
    status: str
    error: str | None
    photos: int
    in_album: int
    lost: int
    duplicated: int
    events: list[str]
    pushes: int
    recovery_s: float | None
    probes: list[str]
    fault_s: float | None = None  # how long the fault lasted (a kill and restart: the restart's seconds)
    final_after_start_s: float | None = None  # from the fault's start until the submission was final

    def problems(self, outcome: str = "done") -> list[str]:
        found = []
        if self.status != outcome:
            found.append(f"ended {self.status} ({self.error}), not {outcome}")
        if self.lost or self.duplicated:
            found.append(f"{self.lost} lost, {self.duplicated} duplicated")
        wanted = ["submission.awaiting_pick", f"submission.{outcome}"] if outcome == "done" else ["submission.failed"]
        if self.events != wanted:
            found.append(f"events {self.events}, not {wanted}")
        # One push per outcome (workers/notify/push.py), but none for a code never redeemed: the device token came
        # with a post nobody has proven to be the user's (docs/security.md).
        pushes = 0 if self.error == "code_rejected" else 1
        if self.pushes != pushes:
            found.append(f"{self.pushes} pushes, not {pushes}")
        if self.recovery_s is None or self.recovery_s > BOUND_S:
            found.append(f"recovery {self.recovery_s} s")
        for probe in self.probes:
            if "no answer" in probe or " 500" in probe or ("post 503" in probe and "problem" not in probe):
                found.append(f"during the fault: {probe}")
        return found


# --- the faults ---------------------------------------------------------------------------------------------------


def slow_uploads(run: Run, delay_s: float = 0.6) -> None:
    run.admin.inject_fault("library.uploads", delay_s=delay_s, count=1000)


def mid_pick(run: Run, delay_s: float = 0.6) -> None:
    """The user's pick under way, uploads slowed: the fault will meet work in flight."""
    slow_uploads(run, delay_s)
    run.pick()
    run.moved_at_least(2)
    run.under_way()


def outage(run: Run, stop: Callable[[], None], start: Callable[[], None], seconds: float) -> None:
    """`stop` for `seconds`, what the web answers halfway through, then `start`."""
    run.began()
    stop()
    time.sleep(seconds / 2)
    run.probe_web()
    time.sleep(seconds / 2)
    start()
    run.ended()


def until_arrived(run: Run, endpoint: str, timeout_s: float = 60) -> None:
    """The injected fault on `endpoint` was met: the request is at Google now (its delay running)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not [f for f in run.admin.faults() if f["endpoint"] == endpoint and f["count"] > 0]:
            return
        time.sleep(0.05)
    raise AssertionError(f"no request reached {endpoint}")


def kill_photos_mid_upload(run: Run) -> None:
    mid_pick(run)
    run.began()
    for name in run.cluster.photos:  # every photos process, mid-upload: what held a turn is dead
        run.cluster.kill_type(name)
    run.cluster.start_types(*run.cluster.photos)  # the platform restarts them at once
    run.ended()


def kill_photos_mid_batch_create(run: Run) -> None:
    run.admin.inject_fault("library.mediaItems.batchCreate", delay_s=4, count=1)
    run.pick()
    until_arrived(run, "library.mediaItems.batchCreate")
    run.began()
    for name in run.cluster.photos:
        run.cluster.kill_type(name)
    run.cluster.start_types(*run.cluster.photos)
    run.ended()


def kill_exchange_at_token_endpoint(run: Run) -> None:
    until_arrived(run, "oauth.token.authorization_code")
    run.began()
    run.cluster.kill_type("exchange")
    run.cluster.start_types("exchange")
    run.ended()
    status = run.wait(lambda s: s["status"] in ("awaiting_pick", *FINAL), 90, "awaiting_pick or final")
    if status["status"] == "awaiting_pick":  # the answer reached darkroom before the kill
        run.admin.pick(sub=run.user["sub"])


def kill_maintenance_polling_picker(run: Run) -> None:
    run.wait(lambda s: s["status"] == "awaiting_pick", 60, "awaiting_pick")
    run.admin.inject_fault("picker.sessions.get", delay_s=4, count=1)
    until_arrived(run, "picker.sessions.get")
    run.began()
    run.cluster.kill_type("maintenance")
    run.cluster.start_types("maintenance")
    run.ended()
    run.admin.pick(sub=run.user["sub"])


def kill_maintenance_mid_webhook(run: Run) -> None:
    run.receiver.delay_s = 4.0
    run.wait(lambda s: s["status"] == "awaiting_pick", 60, "awaiting_pick")
    deadline = time.monotonic() + 30
    while not run.receiver.seen and time.monotonic() < deadline:
        time.sleep(0.05)
    run.began()
    run.cluster.kill_type("maintenance")  # the notify lane lives there
    run.receiver.delay_s = 0.0
    run.cluster.start_types("maintenance")
    run.ended()
    run.admin.pick(sub=run.user["sub"])


def redis_down(run: Run, seconds: float = 10) -> None:
    mid_pick(run)
    outage(run, run.cluster.redis.stop, run.cluster.redis.start, seconds)


def redis_down_awaiting_pick(run: Run, seconds: float = 10) -> None:
    """While the user is in the Picker: the chain of polls lives in Redis alone, as a delayed message."""
    run.wait(lambda s: s["status"] == "awaiting_pick", 60, "awaiting_pick")
    time.sleep(2)  # the next poll is waiting in the delay queue
    outage(run, run.cluster.redis.stop, run.cluster.redis.start, seconds)
    run.admin.pick(sub=run.user["sub"])


def postgres_restart(run: Run) -> None:
    mid_pick(run)
    assert run.cluster.postgres is not None
    run.began()
    run.cluster.postgres.restart()
    run.ended()


def postgres_down(run: Run, seconds: float = 30) -> None:
    mid_pick(run)
    assert run.cluster.postgres is not None
    outage(run, run.cluster.postgres.stop, run.cluster.postgres.start, seconds)


def partition_photos_host(run: Run, seconds: float = 60) -> None:
    mid_pick(run)
    run.began()
    run.cluster.cut(run.cluster.photos[0])
    time.sleep(seconds)
    run.cluster.heal(run.cluster.photos[0])
    run.ended()


def rolling_deploy(run: Run) -> None:
    mid_pick(run, 4.0)  # 24 photos on 4 threads at 4 s an upload: the pick lasts as long as the deploy
    run.began()
    for name in ("web", "exchange", "maintenance", *run.cluster.photos):
        # SIGTERM to the process group, as a platform sends it to every process of a dyno (dramatiq's workers
        # then get two and abandon what they hold: reference/dramatiq.md), wait for the exit, start it again,
        # and give it the seconds a deploy's health check takes before the next type.
        run.cluster.restart_type(name)
        if name == "web":
            from tests.support.processes import wait_http

            wait_http(f"{run.cluster.web_url}/healthz")
        time.sleep(5)
    run.ended()


@dataclass
class Fault:
    name: str
    what: str
    inject: Callable[[Run], None]
    photos: int = 6
    before: Callable[[AdminClient], None] | None = None  # a fault set up before the code is posted
    database: str = "postgres"
    aof: bool = False
    outcome: str = "done"  # what the submission must end as
    outcomes: tuple[str, ...] = ()  # or any of these (a code whose answer was lost may not be redeemed again)
    cluster_env: dict[str, str] = field(default_factory=dict)


FAULTS = {
    f.name: f
    for f in [
        Fault(
            "kill-photos-upload",
            "kill -9 of both photos processes mid-upload, restarted at once",
            kill_photos_mid_upload,
        ),
        Fault(
            "kill-photos-upload-sqlite",
            "the same on SQLite (both photos processes on the database's machine)",
            kill_photos_mid_upload,
            database="sqlite",
        ),
        Fault(
            "kill-photos-batchcreate",
            "kill -9 of both photos processes while batchCreate is at Google",
            kill_photos_mid_batch_create,
        ),
        Fault(
            "kill-exchange-token",
            "kill -9 of exchange while the code is at Google's token endpoint",
            kill_exchange_at_token_endpoint,
            before=lambda admin: admin.inject_fault("oauth.token.authorization_code", delay_s=4, count=1),
            outcomes=("done", "failed"),
        ),
        Fault(
            "kill-maintenance-picker",
            "kill -9 of maintenance while it polls the Picker session",
            kill_maintenance_polling_picker,
        ),
        Fault(
            "kill-maintenance-webhook",
            "kill -9 of maintenance (the notify lane) mid-webhook delivery",
            kill_maintenance_mid_webhook,
        ),
        Fault(
            "redis-lost",
            "Redis killed without persistence mid-pick (24 photos: turns handed on meanwhile), back empty after 10 s",
            redis_down,
            photos=24,
        ),
        Fault(
            "redis-lost-picker",
            "Redis killed without persistence while the user is in the Picker, back empty after 10 s",
            redis_down_awaiting_pick,
        ),
        Fault(
            "redis-aof",
            "Redis killed with AOF (everysec) mid-pick (24 photos), back after 10 s",
            redis_down,
            aof=True,
            photos=24,
        ),
        Fault("postgres-restart", "PostgreSQL restarted (pg_ctl restart -m fast)", postgres_restart),
        Fault("postgres-down", "PostgreSQL down for 30 s (stop -m immediate, then start)", postgres_down),
        Fault(
            "partition-photos",
            "one photos host cut off from Redis and PostgreSQL for 60 s, then healed",
            partition_photos_host,
            photos=12,
        ),
        Fault(
            "rolling-deploy",
            "SIGTERM each process type in turn, wait for its exit, start it again, during a 24-photo pick",
            rolling_deploy,
            photos=24,
        ),
    ]
}


@contextlib.contextmanager
def deployment(fault: Fault, workdir: Path) -> Iterator[tuple[Cluster, AdminClient, Receiver]]:
    with receiving() as receiver:
        env = {"DARKROOM_WEBHOOK_URL": receiver.url, "DARKROOM_WEBHOOK_SECRETS": SECRET, **fault.cluster_env}
        with Cluster(workdir, database=fault.database, aof=fault.aof, **env) as cluster:
            admin = AdminClient(cluster.emulator_url)
            admin.set_lifetimes(poll_interval_s=1)
            try:
                yield cluster, admin, receiver
            finally:
                admin.close()


def run_fault(fault: Fault, workdir: Path) -> Verdict:
    with deployment(fault, workdir) as (cluster, admin, receiver):
        run = Run(cluster, admin, receiver, fault.photos)
        if fault.before is not None:
            fault.before(admin)
        run.submit()
        fault.inject(run)
        return run.finish()


def judge(fault: Fault, verdict: Verdict) -> list[str]:
    outcomes = fault.outcomes or (fault.outcome,)
    outcome = verdict.status if verdict.status in outcomes else fault.outcome
    problems = verdict.problems(outcome)
    if verdict.status == "failed" and verdict.error != "code_rejected":
        problems.append(f"failed with {verdict.error}, not code_rejected")
    return problems


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # through every cluster's __exit__: no process, namespace or data directory left


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupted)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=list(FAULTS))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows, started = [], time.monotonic()
    for name in args.only:
        fault, verdicts = FAULTS[name], []
        for i in range(args.runs):
            print(f"[{time.monotonic() - started:6.0f} s] {name}: run {i + 1} of {args.runs}", flush=True)
            try:
                with tempfile.TemporaryDirectory(prefix=f"faults-{name}-") as workdir:
                    verdict = run_fault(fault, Path(workdir))
                problems = judge(fault, verdict)
            except AssertionError as exc:  # never final, or the fault met no work in flight: a row that says so
                verdict = Verdict("not final", None, fault.photos, 0, 0, 0, [], 0, None, [])
                problems = [str(exc).splitlines()[0][:200]]
            print(f"         {verdict}\n         {problems or 'OK'}", flush=True)
            verdicts.append((verdict, problems))
        rows.append((fault, verdicts))
    took = time.monotonic() - started
    table = render(rows, args.runs, took)
    print(table)
    if args.out:
        write(args.out, table)


def render(rows: list[tuple[Fault, list[tuple[Verdict, list[str]]]]], runs: int, took_s: float) -> str:
    lines = [
        "| fault | runs | photos | lost | duplicated | fault lasted (s) | final after its end, median / worst (s) "
        "| final after its start, worst (s) | ended | web during the fault | judged |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for fault, verdicts in rows:
        rec = [v.recovery_s for v, _ in verdicts if v.recovery_s is not None]
        median = f"{statistics.median(rec):.1f} / {max(rec):.1f}" if rec else "never"
        lasted = [v.fault_s for v, _ in verdicts if v.fault_s is not None]
        lasted_text = f"{statistics.median(lasted):.1f}" if lasted else "?"
        after = [v.final_after_start_s for v, _ in verdicts if v.final_after_start_s is not None]
        after_text = f"{max(after):.1f}" if after else "never"
        ended = ", ".join(sorted({f"{v.status}" + (f" ({v.error})" if v.error else "") for v, _ in verdicts}))
        probes = "; ".join(sorted({p for v, _ in verdicts for p in v.probes})) or "—"
        problems = [p for _, ps in verdicts for p in ps]
        lines.append(
            f"| {fault.what} | {len(verdicts)} | {sum(v.photos for v, _ in verdicts)} "
            f"| {sum(v.lost for v, _ in verdicts)} | {sum(v.duplicated for v, _ in verdicts)} | {lasted_text} "
            f"| {median} | {after_text} | {ended} "
            f"| {probes} | {'ok' if not problems else '; '.join(problems)} |"
        )
    lines.append(f"\n{runs} run(s) of each fault, {took_s / 60:.0f} min in all.")
    return "\n".join(lines)


BEGIN, END = "<!-- matrix:begin -->", "<!-- matrix:end -->"


def write(path: Path, table: str) -> None:
    text = path.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")


if __name__ == "__main__":
    main()
