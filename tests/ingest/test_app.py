"""The ingest endpoint: header check, outbox before enqueue, one submission per code, problem bodies."""

from __future__ import annotations

import concurrent.futures
import ipaddress
import json
import os
import re
import stat
import time
from pathlib import Path

import pytest
import redis
import sqlalchemy
from starlette.testclient import TestClient

from ingest.app import create_app
from ingest.clientip import client_ip
from settings import ConfigurationError, Settings
from workers.queue import broker
from workers.store.db import Database
from workers.store.vault import new_key

CODE = "4/0AVGzR1A-test-code_0123456789abcdefghijklmnopqrstuvwxyz"
HEADERS = {"X-Requested-With": "com.example.app"}
WEB_CLIENT = {"google_client_id": "1234-web.apps.googleusercontent.com", "google_client_secret": "GOCSPX-test"}


def client_for(tmp_path: Path, migrate: bool = True, peer: tuple[str, int] | None = None, **overrides) -> TestClient:
    """The app on its own SQLite file and broker (the stub unless `redis_url` is given), as a test client."""
    settings = Settings(
        _env_file=None,
        **{"database_url": f"sqlite:///{tmp_path / 'ingest.db'}", "redis_url": None, "token_keys": new_key()}
        | WEB_CLIENT
        | overrides,
    )
    stub = broker.setup(settings)
    if migrate:
        Database(settings.database_url).migrate()
    client = TestClient(create_app(settings), **({"client": peer} if peer else {}))
    client.stub = stub  # type: ignore[attr-defined]
    client.db_url = settings.database_url  # type: ignore[attr-defined]
    return client


@pytest.fixture
def app(tmp_path: Path):
    # One event loop for the whole test, as a server has: a client without `with` runs each request on a loop of
    # its own and closes it after the answer, which would cancel the batch's enqueue that follows the answer.
    with client_for(tmp_path) as client:
        yield client


def queued(client, expect: int = 0) -> list[dict]:
    """The exchange queue, once it holds `expect` messages: a batch's messages go out right after its answers."""
    deadline = time.monotonic() + 5
    while len(client.stub.queues["exchange"].queue) < expect and time.monotonic() < deadline:
        time.sleep(0.01)
    return [json.loads(m) for m in list(client.stub.queues["exchange"].queue)]


def rows(client) -> list[dict]:
    with sqlalchemy.create_engine(client.db_url).connect() as c:
        return [dict(r._asdict()) for r in c.execute(sqlalchemy.text("SELECT * FROM submissions"))]


def test_missing_x_requested_with_is_403_and_nothing_is_enqueued(app):
    response = app.post("/v1/auth-codes", json={"code": CODE})
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 403
    assert queued(app) == [] and rows(app) == []


def test_accepted_code_is_recorded_encrypted_then_enqueued_by_id(app):
    response = app.post("/v1/auth-codes", json={"code": CODE, "source": "picker"}, headers=HEADERS)
    assert response.status_code == 202
    body = response.json()
    assert body["status_url"] == f"/v1/submissions/{body['submission_id']}"
    [row] = rows(app)
    assert row["id"] == body["submission_id"] and row["status"] == "queued"
    assert CODE not in json.dumps(row, default=str)
    [message] = queued(app, expect=1)
    assert message["actor_name"] == "exchange_code" and message["args"] == [body["submission_id"]]
    assert CODE not in json.dumps(message)


def test_same_code_twice_is_the_same_submission_and_one_message(app):
    first = app.post("/v1/auth-codes", json={"code": CODE}, headers=HEADERS).json()
    second = app.post("/v1/auth-codes", json={"code": CODE}, headers=HEADERS).json()
    assert first["submission_id"] == second["submission_id"]
    assert len(queued(app, expect=1)) == 1 and len(rows(app)) == 1


def test_status_of_a_new_submission(app):
    submission_id = app.post("/v1/auth-codes", json={"code": CODE}, headers=HEADERS).json()["submission_id"]
    status = app.get(f"/v1/submissions/{submission_id}").json()
    assert status["status"] == "queued" and status["error"] is None and status["picker_uri"] is None
    assert status["counts"] == {"total": 0, "done": 0, "failed": 0, "skipped": 0, "waiting": 0}


@pytest.mark.parametrize("submission_id", ["0" * 32, "not-an-id", "A" * 32, "../../etc/passwd"])
def test_unknown_or_malformed_submission_is_404_problem(app, submission_id):
    response = app.get(f"/v1/submissions/{submission_id}")
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "kwargs,status",
    [
        ({"content": b"not json", "headers": {"Content-Type": "application/json"}}, 422),
        ({"content": b"code=abc", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 415),
        ({"content": b"{" + b" " * 2_000_000 + b"}", "headers": {"Content-Type": "application/json"}}, 413),
        ({"json": {"code": 12345678901}}, 422),
        ({"json": {"code": ""}}, 422),
        ({"json": {"code": "x" * 1000}}, 422),
        ({"json": {"code": "x" * 5000}}, 413),
        ({"json": {"code": "4/0A\u202e\U0001f600junk-unicode"}}, 422),
        ({"json": {"code": CODE, "source": "camera-roll"}}, 422),
        ({"json": {"code": CODE, "extra": 1}}, 422),
        ({"json": [CODE]}, 422),
        ({"content": b"null", "headers": {"Content-Type": "application/json"}}, 422),
        ({"content": b"", "headers": {"Content-Type": "application/json"}}, 422),
    ],
)
def test_bad_input_gets_a_problem_body_and_enqueues_nothing(app, kwargs, status):
    kwargs = dict(kwargs)
    headers = {**HEADERS, **kwargs.pop("headers", {})}
    response = app.post("/v1/auth-codes", headers=headers, **kwargs)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status
    assert queued(app) == [] and rows(app) == []


def test_wrong_method_is_405_problem(app):
    response = app.get("/v1/auth-codes")
    assert response.status_code == 405 and response.headers["content-type"] == "application/problem+json"


def test_health_and_readiness(app):
    assert app.get("/healthz").json() == {"status": "ok"}
    assert app.get("/readyz").json() == {"ready": True, "database": True, "broker": True}


def test_a_database_that_cannot_take_the_code_is_503_and_nothing_is_enqueued(tmp_path):
    client = client_for(tmp_path, migrate=False)
    response = client.post("/v1/auth-codes", json={"code": CODE}, headers=HEADERS)
    assert response.status_code == 503 and response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1" and CODE not in response.text
    assert queued(client) == []


def test_concurrent_posts_each_get_their_own_submission(app):
    codes = [f"{CODE}-{n}" for n in range(24)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda code: app.post("/v1/auth-codes", json={"code": code}, headers=HEADERS), codes))
    assert [a.status_code for a in answers] == [202] * 24
    ids = [a.json()["submission_id"] for a in answers]
    assert len(set(ids)) == 24 and {r["id"] for r in rows(app)} == set(ids)
    assert sorted(m["args"][0] for m in queued(app, expect=24)) == sorted(ids)


def test_startup_without_token_keys_is_refused(tmp_path):
    from settings import ConfigurationError

    with pytest.raises(ConfigurationError, match="darkroom keys new"):
        create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", token_keys=None))


def limited_app(tmp_path: Path, redis_url: str | None = None, **overrides) -> TestClient:
    return client_for(tmp_path, peer=("10.1.2.3", 40000), redis_url=redis_url, rate_limit_per_minute=5, **overrides)


def post(client: TestClient, n: int, **headers: str):
    return client.post("/v1/auth-codes", json={"code": f"4/0Acode-{n:06d}-xxxxxxxx"}, headers={**HEADERS, **headers})


@pytest.mark.parametrize("where", ["in process", "redis"])
def test_each_client_address_gets_a_bounded_number_of_codes_a_minute(tmp_path, request, where):
    redis_url = request.getfixturevalue("redis_url") if where == "redis" else None
    client = limited_app(tmp_path, redis_url)
    answers = [post(client, n).status_code for n in range(8)]
    assert answers[:5] == [202] * 5
    if answers[5] == 202:  # the minute turned over mid-test: the next five are the new window's
        answers = [*answers[5:], post(client, 9).status_code]
    refused = post(client, 99)
    assert refused.status_code == 429 and refused.headers["content-type"] == "application/problem+json"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    other = TestClient(client.app, client=("10.9.9.9", 40000))
    assert post(other, 100).status_code == 202  # another client is not affected


def within_one_window() -> None:
    """The limits count in fixed one-minute windows: a test that counts to the limit must not straddle two."""
    if time.time() % 60 > 50:
        time.sleep(60.5 - time.time() % 60)


def test_forwarded_for_counts_only_behind_a_trusted_proxy(tmp_path):
    within_one_window()
    client = limited_app(tmp_path, trusted_proxies="10.1.2.0/24")
    for n in range(5):
        assert post(client, n, **{"X-Forwarded-For": "203.0.113.7"}).status_code == 202
    assert post(client, 5, **{"X-Forwarded-For": "203.0.113.7"}).status_code == 429
    # a client behind the proxy cannot dodge the limit by forging the header: the proxy appends the real one
    assert post(client, 6, **{"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}).status_code == 429
    assert post(client, 7, **{"X-Forwarded-For": "203.0.113.8"}).status_code == 202
    (tmp_path / "u").mkdir()
    untrusted = limited_app(tmp_path / "u", trusted_proxies="")  # peer not trusted: the header is ignored
    for n in range(5):
        post(untrusted, n, **{"X-Forwarded-For": f"198.51.100.{n}"})
    assert post(untrusted, 5, **{"X-Forwarded-For": "198.51.100.77"}).status_code == 429


def test_security_headers_and_no_cors_by_default(app):
    response = app.post("/v1/auth-codes", json={"code": CODE}, headers={**HEADERS, "Origin": "https://evil.example"})
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY" and response.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "access-control-allow-origin" not in response.headers
    preflight = app.options(
        "/v1/auth-codes", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    for path in ("/healthz", "/openapi.json", "/v1/submissions/" + "0" * 32, "/nope"):
        assert app.get(path).headers["x-content-type-options"] == "nosniff"


def test_cors_only_for_configured_origins(tmp_path):
    client = limited_app(tmp_path, cors_origins="https://app.example.com")
    allowed = client.options(
        "/v1/auth-codes", headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"}
    )
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    other = client.options(
        "/v1/auth-codes", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in other.headers


def test_openapi_document_is_served(app):
    document = app.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1") and "/v1/auth-codes" in document["paths"]


# --- the smaller findings of the security review (issue 14, row 12) -------------------------------------------


def test_metrics_answer_only_to_the_networks_allowed(tmp_path):
    local = client_for(tmp_path, peer=("127.0.0.1", 5000))
    assert local.get("/metrics").status_code == 200
    outside = client_for(tmp_path, peer=("203.0.113.9", 5000))
    assert outside.get("/metrics").status_code == 404


def test_a_500_carries_the_security_headers_and_a_problem_body(tmp_path):
    client = client_for(tmp_path)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug of ours")

    client.app.state.batcher.submit = broken  # type: ignore[attr-defined] # a route that fails as a bug would
    answer = TestClient(client.app, raise_server_exceptions=False).post(
        "/v1/auth-codes", json={"code": CODE}, headers=HEADERS
    )
    assert answer.status_code == 500 and answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["x-content-type-options"] == "nosniff" and answer.headers["cache-control"] == "no-store"


def test_the_web_app_refuses_to_start_without_the_google_client(tmp_path):
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'x.db'}", token_keys=new_key())
    with pytest.raises(ConfigurationError, match="no Google client credentials"):
        create_app(settings)


def test_readiness_is_false_until_the_schema_is_migrated(tmp_path):
    client = client_for(tmp_path, migrate=False)
    assert client.get("/readyz").status_code == 503
    Database(client.db_url).migrate()  # type: ignore[attr-defined]
    assert client.get("/readyz").status_code == 200


def test_the_sqlite_file_is_readable_by_its_owner_only(tmp_path):
    client = client_for(tmp_path)
    assert client.post("/v1/auth-codes", json={"code": CODE}, headers=HEADERS).status_code == 202
    path = tmp_path / "ingest.db"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


@pytest.mark.parametrize(
    "forwarded,client",
    [
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),  # one subscriber's /64 is one client
        ("[2001:db8:1:2:bbbb::9]:443", "2001:db8:1:2::/64"),
        ("203.0.113.7:4711", "203.0.113.7"),  # a port makes no new client
        ("::ffff:203.0.113.7", "203.0.113.7"),
    ],
)
def test_the_rate_limit_counts_clients_not_ports_nor_ipv6_addresses(forwarded, client):
    assert client_ip("10.0.0.2", forwarded, [ipaddress.ip_network("10.0.0.0/8")]) == client


def test_the_rate_limit_keys_in_redis_are_keyed_hashes(tmp_path, redis_url):
    import hashlib

    import redis

    client = client_for(tmp_path, redis_url=redis_url, peer=("198.51.100.23", 1))
    assert client.post("/v1/auth-codes", json={"code": CODE}, headers=HEADERS).status_code == 202
    keys = [k.decode() for k in redis.Redis.from_url(redis_url).keys("darkroom:rate:*")]
    unkeyed = hashlib.sha256(b"198.51.100.23").hexdigest()[:24]
    assert keys and not any(unkeyed in k for k in keys)


def test_metrics_show_each_queues_messages_and_how_long_the_oldest_has_waited(tmp_path, redis_url):
    """What the DarkroomOldestMessageTooOld alert reads: a code posted while no exchange worker runs waits."""
    client = client_for(tmp_path, redis_url=redis_url, peer=("127.0.0.1", 1))
    assert client.post("/v1/auth-codes", json={"code": CODE}, headers=HEADERS).status_code == 202
    time.sleep(1.2)
    scraped = client.get("/metrics").text
    assert 'darkroom_queue_messages{queue="exchange",state="ready"} 1' in scraped
    assert 'darkroom_queue_messages{queue="photos",state="ready"} 0' in scraped
    waited = re.search(r'darkroom_queue_oldest_ready_seconds\{queue="exchange"\} ([0-9.]+)', scraped)
    assert waited is not None and 1.2 <= float(waited.group(1)) < 10
    assert 'darkroom_queue_oldest_ready_seconds{queue="photos"} 0.000' in scraped


@pytest.mark.parametrize("key", [bytes(32), bytes([7]) * 32, bytes(range(8)) * 4])
def test_a_token_key_that_is_not_random_is_refused(key):
    import base64

    settings = Settings(_env_file=None, token_keys=base64.urlsafe_b64encode(key).decode(), **WEB_CLIENT)
    with pytest.raises(ConfigurationError, match="not random"):
        settings.token_key_bytes()


def test_the_first_post_after_startup_opens_no_connection(postgres_url, redis_url):
    """A deploy's first users waited for the web process to connect to the database and Redis (and load its
    scripts) on their posts: 35 ms in process, 120 ms for a new web process of the Procfile. They are opened at
    startup now, and the first post opens none (counted by proxies in front of both)."""
    from tests.support.latency import running

    database, queue = sqlalchemy.engine.make_url(postgres_url), redis.Redis.from_url(redis_url)
    where = queue.connection_pool.connection_kwargs
    with (
        running((database.host or "127.0.0.1", database.port or 5432)) as (db_port, db_proxy),
        running((where["host"], where["port"])) as (redis_port, redis_proxy),
    ):
        settings = Settings(
            _env_file=None,
            database_url=database.set(port=db_port).render_as_string(hide_password=False),
            redis_url=f"redis://127.0.0.1:{redis_port}/{where.get('db', 0)}",
            token_keys=new_key(),
            **WEB_CLIENT,
        )
        Database(settings.database_url).migrate()
        broker.setup(settings)
        with TestClient(create_app(settings)) as client:
            opened = db_proxy.connections, redis_proxy.connections
            assert post(client, 1).status_code == 202
            assert (db_proxy.connections, redis_proxy.connections) == opened


def test_a_database_that_does_not_answer_does_not_hold_the_web_process_start(tmp_path):
    """The connections opened at startup (Intake.warm) must not keep /healthz from answering: a database that
    accepts and then says nothing held the start for its connect timeout (10 s at the shipped settings)."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        settings = Settings(
            _env_file=None,
            database_url=f"postgresql+psycopg://postgres@127.0.0.1:{silent.getsockname()[1]}/darkroom",
            redis_url=None,
            token_keys=new_key(),
            **WEB_CLIENT,
        )
        broker.setup(settings)
        started = time.monotonic()
        with TestClient(create_app(settings)) as client:
            up_after_s = time.monotonic() - started
            assert client.get("/healthz").status_code == 200
            silent.close()  # the connection still waiting is reset: the warm-up ends and the app stops at once
    assert up_after_s < 5, up_after_s
