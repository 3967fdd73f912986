"""Webhook receivers that misbehave, on a loopback port: one that answers a byte at a time, one whose answer is
huge, one that redirects. Each reads the request whole, then does its one thing; `sent` counts the bytes it
managed to write before darkroom hung up."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import time
from collections.abc import Iterator

from workers.cli.receiver import serving


class Hostile:
    def __init__(self, mode: str, location: str = "", status: int = 307) -> None:
        self.mode, self.location, self.status = mode, location, status
        self.connections = 0
        self.sent: list[int] = []  # bytes written on each connection before it was cut
        self.held_s: list[float] = []  # how long each connection lasted
        self.url = ""

    def serve(self, sock: socket.socket) -> None:
        started, sent = time.monotonic(), 0
        try:
            _read_request(sock)
            if self.mode == "drip":
                for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n":
                    sock.sendall(bytes([byte]))
                    sent += 1
                    time.sleep(0.5)
            elif self.mode == "huge":
                size = 256 << 20
                sock.sendall(f"HTTP/1.1 200 OK\r\ncontent-length: {size}\r\n\r\n".encode())
                chunk = b"\x00" * (1 << 20)
                while sent < size:
                    sock.sendall(chunk)
                    sent += len(chunk)
            elif self.mode == "redirect":
                head = f"HTTP/1.1 {self.status} Moved\r\nlocation: {self.location}\r\ncontent-length: 0\r\n\r\n"
                sock.sendall(head.encode())
        except OSError:
            pass  # darkroom hung up: what this receiver is for
        finally:
            self.sent.append(sent)
            self.held_s.append(time.monotonic() - started)


def _read_request(sock: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        0,
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return
        body += chunk


@contextlib.contextmanager
def hostile(mode: str, **options: object) -> Iterator[Hostile]:
    receiver = Hostile(mode, **options)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            receiver.connections += 1
            receiver.serve(self.request)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with serving(server) as base:
        receiver.url = f"{base}/hooks"
        yield receiver
