"""darkroom's public HTTP surface: POST /v1/auth-codes, GET /v1/submissions/{id}, DELETE /v1/me, POST /v1/risc,
health, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import logging
import re
import time
from collections.abc import AsyncIterator

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ingest import console
from ingest.batching import Batcher
from ingest.clientip import allowed, client_ip, trusted_networks
from ingest.headers import HEADERS as SECURITY_HEADERS
from ingest.headers import SecurityHeaders
from ingest.openapi import DOCUMENT
from ingest.payloads import AuthCode, problem
from settings import Settings, get_settings
from workers import logs, metrics
from workers.errors import BadSecurityToken, PermanentError, TransientError
from workers.intake import Context, Platform, SourceKind, codes, limits, process, queries, security

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4096
MAX_EVENT_BYTES = 16_384
_SUBMISSION_ID = re.compile(r"^[0-9a-f]{32}$")


async def post_auth_code(request: Request) -> Response:
    # Google's backend sample refuses requests without this header: a browser cannot add it cross-site.
    if not request.headers.get("x-requested-with"):
        return problem(403, "Forbidden", "the X-Requested-With header is required")
    if _media_type(request) != "application/json":
        return problem(415, "Unsupported Media Type", "send the code as application/json")
    body = await _bounded_body(request)
    if body is None:
        return problem(413, "Payload Too Large", f"the body must be at most {MAX_BODY_BYTES} bytes")
    try:
        payload = AuthCode.model_validate_json(body)
    except ValidationError as exc:
        errors = [{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()]
        return problem(422, "Unprocessable Content", "the body does not match the schema", errors=errors)
    client = _client(request)
    post = codes.Post(client, payload.code, SourceKind(payload.source), Platform(payload.platform), payload.push_token)
    submission_id = await request.app.state.batcher.submit(post)
    if submission_id is None:
        detail = "too many codes from this client; try again in a minute"
        return _retry_later(429, "Too Many Requests", detail, 60 - int(time.time()) % 60)
    body_out = {"submission_id": submission_id, "status_url": f"/v1/submissions/{submission_id}"}
    return JSONResponse(body_out, status_code=202)


def _client(request: Request) -> str:
    """Who the rate limits count: the peer, or what a trusted proxy says the client is (ingest.clientip)."""
    peer = request.client.host if request.client else None
    return client_ip(peer, request.headers.get("x-forwarded-for"), request.app.state.trusted_proxies)


def _media_type(request: Request) -> str:
    """RFC 9110 §8.3.1: the type and subtype are case-insensitive, parameters are not the type."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _retry_later(status: int, title: str, detail: str, after_s: int) -> Response:
    response = problem(status, title, detail)
    response.headers["Retry-After"] = str(after_s)
    return response


class SlowBody(Exception):
    """The client did not send its (small) body within Settings.body_timeout_s: its connection is not held."""


async def _bounded_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The body, or None past `limit` bytes: checked on the declared length, then while reading, within
    Settings.body_timeout_s (a client that trickles its body must not hold a connection)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    body = b""
    try:
        async with asyncio.timeout(request.app.state.body_timeout_s):
            while True:  # the ASGI messages themselves: no async generator per request on the hot path
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                body += bytes(message.get("body", b""))
                if len(body) > limit:
                    return None
                if not message.get("more_body", False):
                    return body
    except TimeoutError:
        raise SlowBody() from None


async def _slow_body(request: Request, exc: Exception) -> Response:
    return problem(408, "Request Timeout", f"the body must arrive within {request.app.state.body_timeout_s:g} s")


async def _disconnected(request: Request, exc: Exception) -> Response:
    """The client went away mid-body: nothing to answer and nothing to log (a traceback each was 3 KB)."""
    return Response(status_code=400)


async def get_submission(request: Request) -> Response:
    submission_id = request.path_params["submission_id"]
    view = None
    if _SUBMISSION_ID.match(submission_id):
        view = await run_in_threadpool(queries.status, request.app.state.context, submission_id)
    if view is None:
        return problem(404, "Not Found", "no such submission")
    return JSONResponse(view, headers={"Cache-Control": "no-store"})


async def delete_me(request: Request) -> Response:
    """The app disconnects its signed-in user, proving who it is with the Google ID token it holds."""
    if not request.headers.get("x-requested-with"):
        return problem(403, "Forbidden", "the X-Requested-With header is required")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthenticated("send the user's Google ID token as a Bearer token")
    limiter = limits.of(request.app.state.context)
    if not await run_in_threadpool(limiter.allow, f"me:{_client(request)}"):  # Redis: not on the event loop
        return _retry_later(429, "Too Many Requests", "too many requests from this client", 60 - int(time.time()) % 60)
    # On a pool of its own: a slow certs fetch must not take the threads every other route runs on.
    loop, verify = asyncio.get_running_loop(), security.revoke_signed_in_user
    try:
        await loop.run_in_executor(request.app.state.verifying, verify, request.app.state.context, token.strip())
    except PermanentError:
        return _unauthenticated("the ID token did not verify")
    return JSONResponse({"status": "revoking"}, status_code=202)


def _unauthenticated(detail: str) -> Response:
    response = problem(401, "Unauthorized", detail)
    response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


async def post_security_event(request: Request) -> Response:
    """Cross-Account Protection push (RFC 8935): 202 when accepted (or already seen), 400 with `err` if not."""
    if _media_type(request) != "application/secevent+jwt":
        metrics.security_event("refused")
        return JSONResponse({"err": "invalid_request", "description": "expected application/secevent+jwt"}, 400)
    body = await _bounded_body(request, MAX_EVENT_BYTES)
    if not body:
        metrics.security_event("refused")
        return JSONResponse({"err": "invalid_request", "description": "empty or oversized body"}, 400)
    try:
        await run_in_threadpool(security.receive_security_event, request.app.state.context, body.decode("ascii"))
    except (BadSecurityToken, UnicodeDecodeError) as exc:
        metrics.security_event("refused")
        err = exc.err if isinstance(exc, BadSecurityToken) else "invalid_request"
        return JSONResponse({"err": err, "description": str(exc)[:200]}, 400)
    metrics.security_event("accepted")
    return Response(status_code=202)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    checks = await run_in_threadpool(queries.readiness, request.app.state.context)
    return JSONResponse({"ready": all(checks.values()), **checks}, status_code=200 if all(checks.values()) else 503)


async def openapi_document(request: Request) -> Response:
    return JSONResponse(DOCUMENT)


async def metrics_endpoint(request: Request) -> Response:
    """Only for DARKROOM_METRICS_ALLOW peers (a platform's scraper): the Internet learns nothing of the load."""
    if not allowed(request.client.host if request.client else None, request.app.state.metrics_allow):
        return problem(404, "Not Found", "no such resource")
    body, content_type = metrics.exposition()
    uses = await run_in_threadpool(queries.quota_use, request.app.state.context)
    by_state, by_health = await run_in_threadpool(queries.grant_counts, request.app.state.context)
    gauges = metrics.quota_gauges(uses) + metrics.grant_gauges(by_state, by_health)
    queues = await run_in_threadpool(queries.queue_state, request.app.state.context)
    if queues is not None:
        gauges += metrics.queue_gauges(*queues)
    return Response(body + gauges, media_type=content_type)


async def _internal(request: Request, exc: Exception) -> Response:
    """A bug of ours: a problem body with the security headers (Starlette answers 500 outside middleware)."""
    response = problem(500, "Internal Server Error", "darkroom could not answer; the log says why")
    response.headers.update({name.decode(): value.decode() for name, value in SECURITY_HEADERS})
    return response


async def _unavailable(request: Request, exc: Exception) -> Response:
    """Every route: what darkroom needs (the database, Redis, Google's keys) is out of reach for a moment.
    Nothing was recorded; the client sends the same request again."""
    return _retry_later(503, "Service Unavailable", "darkroom cannot take this request right now; send it again", 1)


async def _not_found(request: Request, exc: Exception) -> Response:
    return problem(404, "Not Found", "no such resource")


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    response = problem(405, "Method Not Allowed", f"{request.method} is not allowed here")
    allow = (getattr(exc, "headers", None) or {}).get("Allow")
    if allow:  # RFC 9110 15.5.6: a 405 names the methods that are allowed
        response.headers["Allow"] = allow
    return response


WARM_WAIT_S = 1.0  # the longest a start waits for its connections: a silent database must not hold /healthz


async def _warm(hot_path: codes.Intake) -> None:
    """Open the connections a deploy's first posts would open (Intake.warm), waiting for them at most
    WARM_WAIT_S; what is slower goes on opening after the start. The app starts whatever happens: /readyz says
    what is missing."""
    warming = asyncio.ensure_future(asyncio.to_thread(hot_path.warm))
    warming.add_done_callback(_report_warm_up)
    with contextlib.suppress(TimeoutError, TransientError):  # reported by the callback, once done
        await asyncio.wait_for(asyncio.shield(warming), WARM_WAIT_S)


def _report_warm_up(warming: asyncio.Future[None]) -> None:
    if not warming.cancelled() and warming.exception() is not None:
        log.warning("could not open the connections ahead of the first post: %s", warming.exception())


def create_app(settings: Settings | None = None, context: Context | None = None) -> Starlette:
    """The ASGI app; the embedded mode passes its context so web and workers share one database pool."""
    settings = context.settings if context else settings or get_settings()
    logs.configure(settings)
    context = process.start(settings, context)
    routes = [
        Route("/v1/auth-codes", post_auth_code, methods=["POST"]),
        Route("/v1/submissions/{submission_id}", get_submission, methods=["GET"]),
        Route("/v1/me", delete_me, methods=["DELETE"]),
        Route("/v1/risc", post_security_event, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/openapi.json", openapi_document, methods=["GET"]),
        *console.routes(settings),
    ]
    if settings.console_email_list():
        console.redact_access_log()
    middleware = [Middleware(SecurityHeaders)]
    if settings.cors_origins:  # off unless asked for: native apps send no Origin
        origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_methods=["GET", "POST", "DELETE"],
                allow_headers=["Content-Type", "X-Requested-With", "Authorization"],
            )
        )
    context.vault  # noqa: B018 - refuse to start without DARKROOM_TOKEN_KEYS
    settings.client_credentials()  # and without the web client: every code would fail later
    hot_path = codes.Intake(context)
    batcher = Batcher(hot_path.submit_many, idle=hot_path.flush)
    verifying = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="id-token")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Everything loaded so far lives as long as the process: keep it out of the garbage collector's full
        # passes, which otherwise walk it every few seconds under load and show up as p99 spikes.
        gc.freeze()
        await _warm(hot_path)
        yield
        batcher.close()
        verifying.shutdown(wait=False)

    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            404: _not_found,
            405: _method_not_allowed,
            TransientError: _unavailable,
            ClientDisconnect: _disconnected,
            SlowBody: _slow_body,
            500: _internal,
        },
        lifespan=lifespan,
    )
    app.state.trusted_proxies = trusted_networks(settings.trusted_proxies)
    app.state.body_timeout_s = settings.body_timeout_s
    app.state.metrics_allow = trusted_networks(settings.metrics_allow)
    app.state.context = context
    app.state.batcher = batcher
    app.state.verifying = verifying
    return app
