"""Waiting for something a server or a worker will do: poll until it is so, or fail saying what was awaited."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def wait_until(check: Callable[[], object], timeout_s: float = 20, what: str = "done", every_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every_s)
    raise AssertionError(f"not {what} within {timeout_s} s")


def in_threads(work: Callable[[], object], threads: int) -> None:
    """Run `work` on that many threads at once, and wait for them all."""
    started = [threading.Thread(target=work) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
