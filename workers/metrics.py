"""Prometheus metrics: what darkroom did, for web and workers.

Metric objects are made on first use, not at import: in dramatiq worker processes the Prometheus
middleware switches prometheus_client to multiprocess mode at process boot, and only metrics made after
that reach its exposition server (one per process type, port `dramatiq_prom_port`, any path).
"""

from __future__ import annotations

import os
import threading
from typing import Any

_made: dict[str, Any] = {}
_lock = threading.Lock()


def _metrics() -> dict[str, Any]:
    # Made once under a lock: two threads registering the same series would raise (a 500 on first requests).
    if not _made:
        with _lock:
            if not _made:
                _made.update(_make())
    return _made


def _make() -> dict[str, Any]:
    import prometheus_client as prom

    return {
        "received": prom.Counter("darkroom_codes_received_total", "Codes posted by apps (new submissions)."),
        "codes": prom.Counter("darkroom_codes_exchanged_total", "Codes exchanged for a grant."),
        "photos": prom.Counter("darkroom_photos_processed_total", "Photos finished, by outcome.", ["outcome"]),
        "google": prom.Counter(
            "darkroom_google_requests_total", "Calls to Google, by endpoint and HTTP status.", ["endpoint", "status"]
        ),
        "refreshes": prom.Counter("darkroom_token_refreshes_total", "Access token refreshes at Google."),
        "enhanced": prom.Counter("darkroom_photos_enhanced_total", "Photos run through the recipe (any outcome)."),
        "enhance_cpu": prom.Counter(
            "darkroom_enhance_cpu_seconds_total", "CPU time of the enhancing threads in the recipe (decode to encode)."
        ),
        "actor_cpu": prom.Counter(
            "darkroom_actor_cpu_seconds_total",
            "CPU time of the worker threads in each actor's messages (the enhancement included), by actor.",
            ["actor"],
        ),
        "misconfigured": prom.Counter(
            "darkroom_google_configuration_errors_total",
            "Token endpoint answers that blame darkroom's configuration (RFC 6749 §5.2), by endpoint and error.",
            ["endpoint", "error"],
        ),
        "bytes": prom.Counter("darkroom_bytes_total", "Photo bytes moved, by direction.", ["direction"]),
        "security_events": prom.Counter(
            "darkroom_security_events_total",
            "Cross-Account Protection tokens pushed to /v1/risc, by outcome (accepted, refused).",
            ["outcome"],
        ),
        "notifications": prom.Counter(
            "darkroom_notifications_total",
            "Webhook and push deliveries, by channel and outcome (delivered, retrying, dead, dropped).",
            ["channel", "outcome"],
        ),
        "notification_latency": prom.Histogram(
            "darkroom_notification_delivery_seconds",
            "From the event (the state change) to its delivery, by channel.",
            ["channel"],
            buckets=(0.5, 1, 2, 5, 15, 60, 300, 1800, 3600, 21600, 86400),
        ),
        "latency": prom.Histogram(
            "darkroom_code_to_album_seconds",
            "From a posted code to all its photos done.",
            buckets=(5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600),
        ),
    }


def code_received(count: int) -> None:
    _metrics()["received"].inc(count)


def code_exchanged() -> None:
    _metrics()["codes"].inc()


def photo_finished(outcome: str) -> None:
    _metrics()["photos"].labels(outcome).inc()


def google_call(endpoint: str, status: int | str) -> None:
    _metrics()["google"].labels(endpoint, str(status)).inc()


def misconfigured(endpoint: str, error: str) -> None:
    _metrics()["misconfigured"].labels(endpoint, error).inc()


def notification(channel: str, outcome: str, latency_s: float | None = None) -> None:
    _metrics()["notifications"].labels(channel, outcome).inc()
    if latency_s is not None:
        _metrics()["notification_latency"].labels(channel).observe(latency_s)


def refreshed() -> None:
    _metrics()["refreshes"].inc()


def enhanced(cpu_s: float) -> None:
    _metrics()["enhanced"].inc()
    _metrics()["enhance_cpu"].inc(cpu_s)


def actor_ran(actor: str, cpu_s: float) -> None:
    _metrics()["actor_cpu"].labels(actor).inc(cpu_s)


def moved_bytes(direction: str, count: int) -> None:
    _metrics()["bytes"].labels(direction).inc(count)


def code_to_album(seconds: float) -> None:
    _metrics()["latency"].observe(seconds)


def quota_gauges(uses: list[Any]) -> bytes:
    """Google's quota as gauges, read from the governor's shared state at scrape time (so they are the
    project's, whichever process is scraped): use today, the budget, and whether the API is paused."""
    lines = [
        "# HELP darkroom_google_quota_used Google API requests counted today (Pacific), project-wide.",
        "# TYPE darkroom_google_quota_used gauge",
        *(f'darkroom_google_quota_used{{api="{u.api}"}} {u.used}' for u in uses),
        "# HELP darkroom_google_quota_budget The day's request budget, where the API has one.",
        "# TYPE darkroom_google_quota_budget gauge",
        *(f'darkroom_google_quota_budget{{api="{u.api}"}} {u.budget}' for u in uses if u.budget is not None),
        "# HELP darkroom_google_quota_paused 1 while the API waits for its quota (spent for the day, or slowed).",
        "# TYPE darkroom_google_quota_paused gauge",
        *(f'darkroom_google_quota_paused{{api="{u.api}"}} {int(bool(u.paused_until or u.slowed_until))}' for u in uses),
    ]
    return ("\n".join(lines) + "\n").encode()


def grant_gauges(by_state: dict[str, int], by_health: dict[str, int]) -> bytes:
    """Grants by state, and by the health of their last 24 hours, read from the store at scrape time: the
    project's, whichever process is scraped. No label names a user."""
    lines = [
        "# HELP darkroom_grants Grants darkroom holds, by state.",
        "# TYPE darkroom_grants gauge",
        *(f'darkroom_grants{{state="{state}"}} {n}' for state, n in sorted(by_state.items())),
        "# HELP darkroom_grants_health Users asked for in the last 24 h, by their grant's health.",
        "# TYPE darkroom_grants_health gauge",
        *(f'darkroom_grants_health{{health="{state}"}} {n}' for state, n in by_health.items()),
    ]
    return ("\n".join(lines) + "\n").encode()


def queue_gauges(depths: dict[str, dict[str, int]], oldest_s: dict[str, float]) -> bytes:
    """Each queue's messages by state, and the age of its oldest ready message (Redis, read at scrape time)."""
    lines = [
        "# HELP darkroom_queue_messages Messages in each queue, by state (ready, delayed, in_flight, dead).",
        "# TYPE darkroom_queue_messages gauge",
        *(
            f'darkroom_queue_messages{{queue="{queue}",state="{state}"}} {n}'
            for queue, states in sorted(depths.items())
            for state, n in sorted(states.items())
        ),
        "# HELP darkroom_queue_oldest_ready_seconds How long the oldest ready message of each queue has waited.",
        "# TYPE darkroom_queue_oldest_ready_seconds gauge",
        *(f'darkroom_queue_oldest_ready_seconds{{queue="{queue}"}} {s:.3f}' for queue, s in sorted(oldest_s.items())),
    ]
    return ("\n".join(lines) + "\n").encode()


def security_event(outcome: str) -> None:
    _metrics()["security_events"].labels(outcome).inc()


def exposition() -> tuple[bytes, str]:
    """This process's metrics (or, in multiprocess mode, every process's) in the text format."""
    import prometheus_client as prom
    from prometheus_client import multiprocess

    _metrics()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = prom.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return prom.generate_latest(registry), prom.CONTENT_TYPE_LATEST
    return prom.generate_latest(), prom.CONTENT_TYPE_LATEST
