"""The outbox on the Procfile's processes: a maintenance worker killed with SIGKILL and a Redis flushed while the
app's backend is down lose no event and duplicate none (the receiver dedupes by webhook-id)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from tests.support.processes import running, wait_for
from tests.support.receiver import SECRET, receiving
from tests.support.waiting import wait_until as until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def test_events_survive_a_kill_9_and_a_redis_flush_and_arrive_once_each(tmp_path: Path, redis_url: str, deployment):
    with receiving() as receiver:
        receiver.down = True  # the app's backend is down while it all happens
        env = {
            "DARKROOM_WEBHOOK_URL": receiver.url,
            "DARKROOM_WEBHOOK_SECRETS": SECRET,
            "DARKROOM_NOTIFY_MIN_BACKOFF_S": "0.2",
            "DARKROOM_NOTIFY_MAX_BACKOFF_S": "1",
            "DARKROOM_NOTIFY_RETRY_WINDOW_S": "600",
            "DARKROOM_SWEEP_INTERVAL_S": "1",
            "DARKROOM_STALE_AFTER_S": "3",
        }
        with running(tmp_path, redis_url, **deployment, **env) as (stack, admin):
            user = admin.add_user(photos=2, width=160, height=120)
            url = stack.submit(admin.mint_code(user["sub"]))
            assert wait_for(url, "awaiting_pick")["status"] == "awaiting_pick"
            admin.pick(sub=user["sub"])
            assert wait_for(url, "done")["status"] == "done"
            until(lambda: len({d["id"] for d in receiver.seen}) == 2, 30, "both events tried")
            stack.kill("maintenance")  # SIGKILL, mid-schedule
            redis.Redis.from_url(redis_url).flushdb()  # and every retry message with it
            stack.start_procfile("maintenance")
            receiver.down = False
            until(lambda: len(receiver.events()) == 2, 60, "delivered after the flush")
            time.sleep(3)  # a sweep or two more: nothing new may arrive
        assert receiver.types() == ["submission.awaiting_pick", "submission.done"]
        assert all(d["verified"] for d in receiver.seen)
        delivered = [d for d in receiver.seen if d["verified"] and d is not None]
        assert len({d["id"] for d in delivered}) == 2
