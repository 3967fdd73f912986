"""A TCP proxy that adds latency each way and counts round trips: a data host a network away.

    python -m tests.support.latency --listen 20100 --upstream 127.0.0.1:6379 --delay-ms 1 --stats stats.json

Every chunk read on one side is written to the other `delay_ms` later, in order. A round trip is counted each
time the client speaks after the server did (or first): a pipelined burst is one, as on the wire. A burst of
PostgreSQL Flush messages alone is not one: the server sends nothing back for it, and psycopg sends one just
after a pipeline's Sync (psycopg/_pipeline_base.py, _exit_gen), which a busy machine may delay past the
server's answer. The counts are written to `--stats` every 0.2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

# A Flush message: its type and its length (postgresql.org/docs/15/protocol-message-formats.html)
PG_FLUSH = b"H\x00\x00\x00\x04"


class Proxy:
    def __init__(self, upstream: tuple[str, int], delay_s: float, trace: Path | None = None) -> None:
        self.upstream, self.delay_s = upstream, delay_s
        self.trace = trace.open("a") if trace else None  # the start of each round trip's first burst
        self.round_trips = 0
        self.connections = 0

    async def handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            return
        turn = {"client": False}  # whether the client has spoken since the server last did

        def from_client(data: bytes) -> None:
            if not turn["client"] and data.replace(PG_FLUSH, b""):
                self.round_trips += 1
                turn["client"] = True
                if self.trace is not None:
                    self.trace.write(repr(data[:160]) + "\n")
                    self.trace.flush()

        def from_server(data: bytes) -> None:
            turn["client"] = False

        try:
            await asyncio.gather(
                self._pipe(client_reader, server_writer, from_client),
                self._pipe(server_reader, client_writer, from_server),
                return_exceptions=True,
            )
        except asyncio.CancelledError:
            pass  # the proxy stopping: ended, not failed (asyncio would print the cancel as an unretrieved error)
        finally:  # stopped (a test's proxy) or done: neither socket is left open
            client_writer.close()
            server_writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: object) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
            writer.close()

        sender = asyncio.create_task(deliver())
        try:
            while data := await reader.read(65536):
                seen(data)  # type: ignore[operator]
                queue.put_nowait((time.monotonic() + self.delay_s, data))
        finally:
            queue.put_nowait((0.0, b""))
            await asyncio.gather(sender, return_exceptions=True)


@contextlib.contextmanager
def running(upstream: tuple[str, int], delay_s: float = 0.0) -> Iterator[tuple[int, Proxy]]:
    """The proxy on a thread of its own, for a test: its port, and itself (`round_trips`)."""
    proxy, ready, ports = Proxy(upstream, delay_s), threading.Event(), []
    stopping: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def serve_until_stopped() -> None:
        stop = asyncio.Event()
        server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
        ports.append(server.sockets[0].getsockname()[1])
        stopping.append((asyncio.get_running_loop(), stop))
        ready.set()
        await stop.wait()
        server.close()
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await asyncio.sleep(0.01)  # the transports closed above let go of their sockets

    thread = threading.Thread(target=asyncio.run, args=(serve_until_stopped(),), daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the proxy did not start")
    try:
        yield ports[0], proxy
    finally:
        loop, stop = stopping[0]
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


async def serve(port: int, upstream: tuple[str, int], delay_s: float, stats: Path, trace: Path | None) -> None:
    proxy = Proxy(upstream, delay_s, trace)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", port)
    async with server:
        while True:
            written = stats.with_suffix(".new")  # then renamed: a reader never sees it half written
            written.write_text(json.dumps({"round_trips": proxy.round_trips, "connections": proxy.connections}))
            written.replace(stats)
            await asyncio.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--stats", type=Path, required=True)
    parser.add_argument("--trace", type=Path, help="append the start of each round trip here (to see what they are)")
    args = parser.parse_args()
    host, port = args.upstream.rsplit(":", 1)
    asyncio.run(serve(args.listen, (host, int(port)), args.delay_ms / 1000, args.stats, args.trace))


if __name__ == "__main__":
    main()
