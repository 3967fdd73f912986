"""The embedded default that `darkroom serve` and the demo run: web and workers in one process, on the
in-process broker unless Redis is set."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import uvicorn

from settings import Settings
from workers.context import Context, set_context
from workers.queue import broker

log = logging.getLogger(__name__)


class Embedded:
    def __init__(
        self,
        settings: Settings,
        host: str = "127.0.0.1",
        port: int = 8000,
        threads: int = 4,
        worker_timeout_ms: int = 1000,
    ) -> None:
        """`worker_timeout_ms` is how long a worker thread waits for a message before it looks for a stop: it
        bounds `stop()` (tests pass a short one)."""
        self.settings, self.host, self.port, self.threads = settings, host, port, threads
        self.worker_timeout_ms = worker_timeout_ms
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._worker: Any = None
        self._thread: threading.Thread | None = None
        self.context: Context | None = None

    def _prepare(self) -> socket.socket:
        context = self.context = Context(self.settings)
        context.vault  # noqa: B018 - refuse to start without token keys
        context.db.migrate()
        set_context(context)
        import pipelines

        pipelines.tune_process()  # this process enhances photos too
        broker.setup(self.settings)
        import workers.actors  # noqa: F401 - declares the actors on the broker just set up
        from ingest.app import create_app

        self._worker = broker.worker(self.threads, self.worker_timeout_ms)
        self._worker.start()
        # TCP named: asyncio sets TCP_NODELAY only on such sockets, else each answer waits for a delayed ACK
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.url = f"http://{self.host}:{sock.getsockname()[1]}"
        # One proxy policy for every server (ingest.clientip): uvicorn's own X-Forwarded-For handling would let any
        # loopback peer choose its address. log_config=None: uvicorn's records reach darkroom's JSON handlers.
        config = uvicorn.Config(
            create_app(context=context),
            log_level="warning",
            lifespan="off",
            access_log=False,
            proxy_headers=False,
            log_config=None,
        )
        self._server = uvicorn.Server(config)
        return sock

    def start(self) -> str:
        """Start in background threads; returns the base URL once it answers."""
        sock = self._prepare()
        assert self._server is not None
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the web server did not start")
            time.sleep(0.02)
        return self.url

    def run(self) -> None:
        """Serve in the foreground until interrupted."""
        sock = self._prepare()
        assert self._server is not None
        log.info("darkroom serving on %s (web and workers in one process)", self.url)
        try:
            self._server.run(sockets=[sock])
        finally:
            self.stop()

    def join(self) -> None:
        """Wait until the workers have done every message sent so far, notifications apart (their lane)."""
        if self._worker is not None:
            self._worker.join()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._worker is not None:
            self._worker.stop(timeout=10_000 + self.worker_timeout_ms)
            self._worker = None
        if self.context is not None:
            self.context.health.flush(last=True)  # the grant health of the last seconds
            self.context.db.dispose()
