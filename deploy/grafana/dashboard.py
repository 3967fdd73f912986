"""Writes deploy/grafana/darkroom.json, darkroom's Grafana dashboard, from the rows below:

    python deploy/grafana/dashboard.py

Import the JSON in Grafana (Dashboards, New, Import) and pick your Prometheus as its data source. Its panels read
the metrics of the scrape jobs in deploy/prometheus/scrape.yml. tests/test_monitoring.py checks that the JSON is
what this writes and that every metric it reads is one darkroom serves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("darkroom.json")
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}

# (row title, [(panel title, unit, [(PromQL, legend)])])
ROWS: list[tuple[str, list[tuple[str, str, list[tuple[str, str]]]]]] = [
    (
        "The flow",
        [
            (
                "Codes and photos per minute",
                "short",
                [
                    ("sum(rate(darkroom_codes_received_total[5m])) * 60", "codes in"),
                    ("sum(rate(darkroom_codes_exchanged_total[5m])) * 60", "codes exchanged"),
                    ("sum by (outcome) (rate(darkroom_photos_processed_total[5m])) * 60", "photos {{outcome}}"),
                ],
            ),
            (
                "Code to album",
                "s",
                [
                    (
                        "histogram_quantile(0.5, sum by (le) (rate(darkroom_code_to_album_seconds_bucket[15m])))",
                        "p50",
                    ),
                    (
                        "histogram_quantile(0.95, sum by (le) (rate(darkroom_code_to_album_seconds_bucket[15m])))",
                        "p95",
                    ),
                ],
            ),
            (
                "Queues",
                "short",
                [("sum by (queue, state) (darkroom_queue_messages)", "{{queue}} {{state}}")],
            ),
            (
                "Oldest ready message",
                "s",
                [("max by (queue) (darkroom_queue_oldest_ready_seconds)", "{{queue}}")],
            ),
        ],
    ),
    (
        "Google",
        [
            (
                "Calls per second by endpoint and status",
                "reqps",
                [("sum by (endpoint, status) (rate(darkroom_google_requests_total[5m]))", "{{endpoint}} {{status}}")],
            ),
            (
                "Today's quota",
                "short",
                [
                    ("max by (api) (darkroom_google_quota_used)", "{{api}} used"),
                    ("max by (api) (darkroom_google_quota_budget)", "{{api}} budget"),
                ],
            ),
            (
                "Quota paused",
                "bool_yes_no",
                [("max by (api) (darkroom_google_quota_paused)", "{{api}}")],
            ),
            (
                "Token refreshes and configuration errors per minute",
                "short",
                [
                    ("sum(rate(darkroom_token_refreshes_total[5m])) * 60", "refreshes"),
                    ("sum by (error) (rate(darkroom_google_configuration_errors_total[5m])) * 60", "{{error}}"),
                ],
            ),
        ],
    ),
    (
        "The app hears back",
        [
            (
                "Webhooks and pushes per minute by outcome",
                "short",
                [
                    (
                        "sum by (channel, outcome) (rate(darkroom_notifications_total[5m])) * 60",
                        "{{channel}} {{outcome}}",
                    )
                ],
            ),
            (
                "Event to delivery, p95",
                "s",
                [
                    (
                        "histogram_quantile(0.95, sum by (le, channel) "
                        "(rate(darkroom_notification_delivery_seconds_bucket[15m])))",
                        "{{channel}}",
                    )
                ],
            ),
        ],
    ),
    (
        "Grants",
        [
            ("Grants by state", "short", [("max by (state) (darkroom_grants)", "{{state}}")]),
            ("The day's users by grant health", "short", [("max by (health) (darkroom_grants_health)", "{{health}}")]),
            (
                "Security events per hour",
                "short",
                [("sum by (outcome) (increase(darkroom_security_events_total[1h]))", "{{outcome}}")],
            ),
        ],
    ),
    (
        "Workers",
        [
            ("Processes up", "short", [('sum by (job) (up{job=~"darkroom-.*"})', "{{job}}")]),
            (
                "CPU seconds per second by actor",
                "short",
                [("sum by (actor) (rate(darkroom_actor_cpu_seconds_total[5m]))", "{{actor}}")],
            ),
            (
                "Messages per second by actor",
                "short",
                [("sum by (actor_name) (rate(dramatiq_messages_total[5m]))", "{{actor_name}}")],
            ),
            (
                "Photo bytes per second",
                "Bps",
                [("sum by (direction) (rate(darkroom_bytes_total[5m]))", "{{direction}}")],
            ),
        ],
    ),
]


def dashboard() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y = 0
    for row, charts in ROWS:
        panels.append({"type": "row", "title": row, "collapsed": False, "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}})
        y += 1
        for i, (title, unit, queries) in enumerate(charts):
            panels.append(
                {
                    "type": "timeseries",
                    "title": title,
                    "datasource": DATASOURCE,
                    "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                    "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": y + 8 * (i // 2)},
                    "targets": [
                        {"refId": chr(ord("A") + n), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
                        for n, (expr, legend) in enumerate(queries)
                    ],
                }
            )
        y += 8 * ((len(charts) + 1) // 2)
    for number, panel in enumerate(panels, 1):
        panel["id"] = number
    return {
        "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource", "pluginId": "prometheus"}],
        "title": "darkroom",
        "uid": "darkroom",
        "tags": ["darkroom"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-24h", "to": "now"},
        "panels": panels,
    }


def text() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


if __name__ == "__main__":
    OUT.write_text(text())
    print(f"wrote {OUT}")
