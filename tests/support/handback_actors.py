"""A dramatiq worker module for tests/workers/queue/test_handback.py: darkroom's broker on DARKROOM_REDIS_URL,
with its middleware, and one slow actor on the queue HANDBACK_QUEUE names.

    dramatiq tests.support.handback_actors --processes 1 --threads 1 --queues $HANDBACK_QUEUE
"""

from __future__ import annotations

import os
import time

import dramatiq

from settings import Settings
from workers.queue import broker
from workers.store.vault import new_key

running = broker.setup(Settings(_env_file=None, redis_url=os.environ["DARKROOM_REDIS_URL"], token_keys=new_key()))
QUEUE = os.environ["HANDBACK_QUEUE"]
running.declare_queue(QUEUE)


@dramatiq.actor(queue_name=QUEUE, broker=running)
def slow(marker: str) -> None:
    running.client.set(marker, "started")  # type: ignore[attr-defined]
    time.sleep(60)
