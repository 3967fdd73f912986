"""The monitoring darkroom ships as files: Prometheus alerts that promtool checks and unit-tests (each fires when it
should and not otherwise), each with a runbook in docs/operations.md; a Grafana dashboard written by its script;
and every metric they read one that darkroom serves."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import require
from workers import metrics

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "darkroom.json"
# dramatiq's own (its Prometheus middleware on each worker's dramatiq_prom_port), and Prometheus's `up`
DRAMATIQ = {
    "dramatiq_messages_total",
    "dramatiq_message_errors_total",
    "dramatiq_message_retries_total",
    "dramatiq_message_rejects_total",
    "dramatiq_messages_inprogress",
    "dramatiq_delayed_messages_inprogress",
    "dramatiq_message_duration_milliseconds",
}


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        require("promtool", "install Debian's prometheus package (.ci/run does)")
    assert found is not None
    return found


def _alerts() -> list[dict]:
    return [
        rule for group in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"] for rule in group["rules"]
    ]


def test_promtool_checks_the_rules_and_every_alerts_unit_tests_pass():
    promtool = _promtool()
    checked = subprocess.run([promtool, "check", "rules", "alerts.yml"], cwd=PROMETHEUS, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [promtool, "test", "rules", "alerts_test.yml"], cwd=PROMETHEUS, capture_output=True, text=True
    )
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr
    config = subprocess.run([promtool, "check", "config", "scrape.yml"], cwd=PROMETHEUS, capture_output=True, text=True)
    assert config.returncode == 0, config.stdout + config.stderr


def test_every_alert_has_a_unit_test_that_fires_and_one_that_does_not_and_a_runbook():
    tests = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
    cases = [case for test in tests for case in test["alert_rule_test"]]
    headings = {
        _anchor(line[3:]) for line in (ROOT / "docs" / "operations.md").read_text().splitlines() if line[:3] == "## "
    }
    for alert in _alerts():
        name = alert["alert"]
        assert any(c["alertname"] == name and c["exp_alerts"] for c in cases), f"{name}: no test that it fires"
        assert any(c["alertname"] == name and not c["exp_alerts"] for c in cases), (
            f"{name}: no test that it stays quiet"
        )
        runbook = alert["annotations"]["runbook_url"]
        assert runbook == f"docs/operations.md#{_anchor(name)}" and _anchor(name) in headings, name


def test_the_dashboard_is_what_its_script_writes():
    written = subprocess.run(
        [sys.executable, "-c", "import dashboard; print(dashboard.text(), end='')"],
        cwd=DASHBOARD.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert DASHBOARD.read_text() == written, "run: python deploy/grafana/dashboard.py"
    panels = json.loads(written)["panels"]
    assert all(t["expr"] for p in panels if p["type"] == "timeseries" for t in p["targets"])


def test_every_metric_the_alerts_and_the_dashboard_read_is_one_darkroom_serves():
    served = _served() | DRAMATIQ
    exprs = [rule["expr"] for rule in _alerts()]
    exprs += [t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p.get("targets", [])]
    named = {name for expr in exprs for name in re.findall(r"\b((?:darkroom|dramatiq)_[a-z0-9_]+)", expr)}
    assert named and named <= served, sorted(named - served)


@pytest.mark.parametrize("name", ["darkroom_queue_oldest_ready_seconds", "darkroom_grants_health"])
def test_what_the_alerts_need_is_served(name):
    assert name in _served()


def _served() -> set[str]:
    """Every series name darkroom's processes expose: its counters and histograms (with their suffixes) and the
    gauges the web process computes at scrape time."""
    import prometheus_client as prom

    from workers.queue.governor import Use

    text = prom.generate_latest(prom.REGISTRY).decode() if metrics._metrics() else ""  # noqa: SLF001 - made once
    text += metrics.quota_gauges([Use("library", "2026-12-07", 1, 2, None, None)]).decode()
    text += metrics.grant_gauges({"active": 1}, {"healthy": 1}).decode()
    text += metrics.queue_gauges({"photos": {"ready": 1}}, {"photos": 1.0}).decode()
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind == "counter":
                names.add(name if name.endswith("_total") else name + "_total")
            if kind == "histogram":
                names.update(f"{name}_{suffix}" for suffix in ("bucket", "sum", "count"))
    return names


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")
