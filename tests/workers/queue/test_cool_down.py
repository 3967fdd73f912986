"""A cool-down in Redis is one for every process: each failure in a row doubles it up to its longest, any
process sees what is left of it, and a success ends it and the count."""

from __future__ import annotations

import time

from workers.queue.locks import Locks


def test_a_cool_down_doubles_to_its_longest_is_shared_across_processes_and_a_success_ends_it(redis_url):
    one, other = Locks(redis_url), Locks(redis_url)  # two processes' views of the same Redis
    other.warm("refresh:42")
    assert other.cooling("refresh:42") == 0
    assert [one.cool_down("refresh:42", 0.1, 0.3) for _ in range(4)] == [0.1, 0.2, 0.3, 0.3]
    assert 0.25 < other.cooling("refresh:42") <= 0.3
    assert one.cooling("refresh:43") == 0  # another user's
    time.sleep(0.35)
    assert other.cooling("refresh:42") == 0  # over, but the failures in a row are remembered
    assert other.cool_down("refresh:42", 0.1, 10) == 1.6
    one.warm("refresh:42")
    assert other.cooling("refresh:42") == 0 and other.cool_down("refresh:42", 0.1, 10) == 0.1
