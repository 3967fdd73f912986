"""Hostile clients at a running server (security review rows 2 and 9, and the Content-Type of row 12)."""

from __future__ import annotations

import logging
import socket
import time

import requests

from tests.support.embedded import HEADERS, running

CODE = "4/0AVGzR1A-hostile-client-code_0123456789"


def test_darkroom_serve_believes_no_x_forwarded_for_from_an_untrusted_peer(settings):
    with running(settings.model_copy(update={"rate_limit_per_minute": 2})) as app:
        answers = [
            requests.post(
                f"{app.url}/v1/auth-codes",
                json={"code": f"{CODE}-{n}"},
                headers={**HEADERS, "X-Forwarded-For": f"198.51.100.{n}"},  # a new "client" each time
            ).status_code
            for n in range(3)
        ]
    assert answers == [202, 202, 429]  # all three are the loopback peer's, whatever the header says


def test_a_client_that_goes_away_mid_body_leaves_no_traceback(settings, caplog, capfd):
    with running(settings) as app, caplog.at_level(logging.INFO):
        host, port = app.url.removeprefix("http://").split(":")
        for _ in range(5):
            with socket.create_connection((host, int(port))) as sock:
                sock.sendall(
                    b"POST /v1/auth-codes HTTP/1.1\r\nHost: x\r\nX-Requested-With: t\r\n"
                    b'Content-Type: application/json\r\nContent-Length: 400\r\n\r\n{"code": '
                )
        time.sleep(0.3)
        assert requests.get(f"{app.url}/healthz").status_code == 200
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "Traceback" not in capfd.readouterr().err  # nor on a handler of uvicorn's own


def test_a_body_that_trickles_in_gets_408_and_the_connection_back(settings):
    with running(settings.model_copy(update={"body_timeout_s": 0.5})) as app:
        host, port = app.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(
                b"POST /v1/auth-codes HTTP/1.1\r\nHost: x\r\nX-Requested-With: t\r\n"
                b'Content-Type: application/json\r\nContent-Length: 60\r\n\r\n{"co'
            )
            started = time.monotonic()
            answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 3
        assert b"application/problem+json" in answer


def test_the_content_type_is_matched_without_regard_to_case(settings):
    with running(settings) as app:
        answer = requests.post(
            f"{app.url}/v1/auth-codes",
            data=f'{{"code": "{CODE}"}}',
            headers={**HEADERS, "Content-Type": "Application/JSON; charset=UTF-8"},
        )
    assert answer.status_code == 202
