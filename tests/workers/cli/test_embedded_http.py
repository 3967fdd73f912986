"""The embedded default's web server answers at once: its listening socket was made without naming TCP, so
asyncio did not set TCP_NODELAY on the connections it accepted, and every answer's second segment waited for
the client's delayed ACK (40 ms on Linux). Each status read of `darkroom serve` took 48 ms (issue #27)."""

from __future__ import annotations

import statistics
import time

import requests

from tests.support.embedded import running


def test_darkroom_serve_answers_without_waiting_for_a_delayed_ack(settings):
    with running(settings) as app, requests.Session() as session:
        session.get(f"{app.url}/healthz")
        took = []
        for _ in range(20):
            started = time.perf_counter()
            assert session.get(f"{app.url}/v1/submissions/{'0' * 32}").status_code == 404
            took.append(time.perf_counter() - started)
    assert statistics.median(took) < 0.02, took  # 0.048 s each before
