"""The embedded default: web and workers in one process, on the in-process broker unless Redis is set."""

from __future__ import annotations

import logging
import socket
import threading
import time

import dramatiq
import uvicorn

from settings import Settings
from workers import broker
from workers.context import Context, set_context

log = logging.getLogger(__name__)


class Embedded:
    def __init__(self, settings: Settings, host: str = "127.0.0.1", port: int = 8000, threads: int = 4) -> None:
        self.settings, self.host, self.port, self.threads = settings, host, port, threads
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._worker: dramatiq.Worker | None = None
        self._thread: threading.Thread | None = None
        self.context: Context | None = None

    def _prepare(self) -> socket.socket:
        context = self.context = Context(self.settings)
        context.vault  # noqa: B018 - refuse to start without token keys
        context.db.migrate()
        set_context(context)
        current = broker.setup(self.settings)
        import workers.actors  # noqa: F401 - declares the actors on the broker just set up

        broker.periodic.interval_s = self.settings.sweep_interval_s
        from ingest.app import create_app

        self._worker = dramatiq.Worker(current, worker_threads=self.threads)
        self._worker.start()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.url = f"http://{self.host}:{sock.getsockname()[1]}"
        config = uvicorn.Config(create_app(context=context), log_level="warning", lifespan="off", access_log=False)
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

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._worker is not None:
            self._worker.stop(timeout=10_000)
            self._worker = None
        if self.context is not None:
            self.context.db.dispose()
