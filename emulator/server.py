"""Run the emulator on a loopback port: in a background thread (tests, the demo) or in the foreground."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import uvicorn

from emulator.app import create_app
from emulator.world import Google


@dataclass
class Running:
    google: Google
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start(google: Google | None = None, host: str = "127.0.0.1", port: int = 0) -> Running:
    google = google or Google()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(create_app(google), log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="emulator")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the emulator did not start")
        time.sleep(0.01)
    return Running(google, f"http://{host}:{sock.getsockname()[1]}", server, thread)


def serve_forever(google: Google, host: str, port: int) -> None:
    uvicorn.run(create_app(google), host=host, port=port, log_level="info", lifespan="off")
