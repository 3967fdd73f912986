"""The CPU each actor's messages cost, counted by the worker threads themselves (darkroom_actor_cpu_seconds_total):
what bench/pipeline.py splits a photos process's CPU by, and what an operator reads to find the costly actor."""

from __future__ import annotations

import re
import time

import dramatiq
from dramatiq.brokers.stub import StubBroker

from workers import metrics
from workers.queue.middleware import ActorCPU


def counted(actor: str) -> float:
    text = metrics.exposition()[0].decode()
    found = re.search(rf'^darkroom_actor_cpu_seconds_total{{actor="{actor}"}} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_a_message_counts_the_cpu_its_thread_spent_not_the_time_it_waited():
    broker = StubBroker(middleware=[ActorCPU()])

    @dramatiq.actor(broker=broker, actor_name="cpu_test_burn")
    def burn() -> None:
        until = time.thread_time() + 0.05
        while time.thread_time() < until:
            pass

    @dramatiq.actor(broker=broker, actor_name="cpu_test_nap")
    def nap() -> None:
        time.sleep(0.2)

    @dramatiq.actor(broker=broker, actor_name="cpu_test_fail")
    def fail() -> None:
        until = time.thread_time() + 0.05
        while time.thread_time() < until:
            pass
        raise RuntimeError("counted all the same")

    before = {name: counted(name) for name in ("cpu_test_burn", "cpu_test_nap", "cpu_test_fail")}
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        for actor in (burn, nap, burn, fail):
            actor.send()
        broker.join(burn.queue_name, fail_fast=False)
        worker.join()
    finally:
        worker.stop()
    spent = {name: counted(name) - before[name] for name in before}
    assert 0.1 <= spent["cpu_test_burn"] < 0.2, spent
    assert spent["cpu_test_nap"] < 0.02, spent
    assert spent["cpu_test_fail"] >= 0.05, spent
