"""A dramatiq worker process that exits without finishing hands back what it holds (middleware.HandBack), against
real Redis and the dramatiq CLI. A platform's SIGTERM to a process group reaches each worker process twice (its
own, and its master's), and dramatiq exits at the second at once: its running and prefetched messages stayed in
its acknowledgement set until the heartbeat timeout (15 s), the seconds a rolling deploy cost (docs/faults.md)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time

import dramatiq
import redis

from settings import Settings
from tests.support.processes import BIN, ROOT
from tests.workers.queue.test_batched_redis import broker_for
from workers.store.vault import new_key


def test_a_worker_process_sigtermed_twice_hands_back_its_messages_at_once(unflushed_redis_url):
    redis_url = unflushed_redis_url
    queue, marker = f"handback-{secrets.token_hex(4)}", f"handback-started-{secrets.token_hex(4)}"
    client = redis.Redis.from_url(redis_url)
    env = {**os.environ, "DARKROOM_REDIS_URL": redis_url, "HANDBACK_QUEUE": queue}
    command = [str(BIN / "dramatiq"), "tests.support.handback_actors", "--processes", "1", "--threads", "1"]
    worker = subprocess.Popen(
        [*command, "--queues", queue],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with broker_for(Settings(_env_file=None, redis_url=redis_url, token_keys=new_key())) as sender:
            sender.declare_queue(queue)
            for _ in range(2):  # one runs, one waits in the worker's memory
                sender.enqueue(
                    dramatiq.Message(queue_name=queue, actor_name="slow", args=(marker,), kwargs={}, options={})
                )
        deadline = time.monotonic() + 30
        while client.get(marker) is None:
            assert time.monotonic() < deadline, "the worker never started the message"
            time.sleep(0.05)
        # As a platform's SIGTERM reaches a worker process: its own, then its master's (two at the same instant
        # would coalesce into one, and dramatiq would finish the running message first).
        os.killpg(worker.pid, signal.SIGTERM)
        time.sleep(0.5)
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
        held = [key for key in client.keys(f"dramatiq:__acks__.*.{queue}") if client.scard(key)]
        assert held == [] and client.llen(f"dramatiq:{queue}") == 2
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        client.delete(f"dramatiq:{queue}", f"dramatiq:{queue}.msgs", marker)
