"""What every emulated endpoint does around its handler: faults, bearer auth, scopes, the request log.

Errors use Google's shapes: `{"error": {"code", "message", "status"}}` for APIs, `{"error", "error_description"}`
for OAuth.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.world import AccessToken, Google

Handler = Callable[[Request, Google, AccessToken | None], Awaitable[Response]]

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class ApiError(Exception):
    def __init__(self, code: int, message: str, status: str | None = None, details: list[Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status or STATUS_NAMES.get(code, "UNKNOWN")
        self.details = details


def api_error(
    code: int,
    message: str,
    status: str | None = None,
    headers: dict[str, str] | None = None,
    details: list[Any] | None = None,
) -> Response:
    error: dict[str, Any] = {"code": code, "message": message, "status": status or STATUS_NAMES.get(code, "UNKNOWN")}
    if details:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=code, headers=headers)


def oauth_error(code: int, error: str, description: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=code, headers=headers)


async def run(name: str, request: Request, handler: Handler, scopes: tuple[str, ...] | None, oauth: bool) -> Response:
    google: Google = request.app.state.google
    started = time.perf_counter()
    if google.lifetimes.latency_s > 0:
        await asyncio.sleep(google.lifetimes.latency_s)
    response = await _fault_response(google, name, oauth)
    if response is None and name.startswith("library."):
        with google.lock:
            refused = google.quota.charge()
        if refused is not None:
            response = JSONResponse({"error": refused}, status_code=429)
    if response is None:
        response = await _authorized(request, google, handler, scopes)
    peer = f"{request.client.host}:{request.client.port}" if request.client else ""
    google.record(name, request.method, response.status_code, peer, took_s=time.perf_counter() - started)
    return response


def endpoint(name: str, *, scopes: tuple[str, ...] | None = None, oauth: bool = False) -> Callable[[Handler], Any]:
    """Wrap a handler as a Starlette endpoint named `name` in the request log and in fault patterns."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def route(request: Request) -> Response:
            return await run(name, request, handler, scopes, oauth)

        return route

    return wrap


async def _fault_response(google: Google, name: str, oauth: bool) -> Response | None:
    fault = google.take_fault(name)
    if fault is None:
        return None
    if fault.delay_s:
        await asyncio.sleep(fault.delay_s)
    if fault.status is None:
        return None
    headers = {"Retry-After": str(fault.retry_after_s)} if fault.retry_after_s is not None else None
    if oauth:
        # A 4xx from the token endpoint is most often invalid_grant (a dead code or grant); a test names another.
        error = fault.error or ("internal_failure" if fault.status >= 500 else "invalid_grant")
        return oauth_error(fault.status, error, "Injected fault", headers)
    return api_error(fault.status, "Injected fault", headers=headers)


async def _authorized(request: Request, google: Google, handler: Handler, scopes: tuple[str, ...] | None) -> Response:
    token = None
    if scopes is not None:
        token = google.authenticate(request.headers.get("authorization"))
        if token is None:
            message = "Request had invalid authentication credentials. Expected OAuth 2 access token."
            return api_error(401, message, headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})
        if not set(scopes) & set(token.scopes):
            return api_error(403, "Request had insufficient authentication scopes.")
    try:
        return await handler(request, google, token)
    except ApiError as exc:
        return api_error(exc.code, exc.message, exc.status, details=exc.details)


async def json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise ApiError(400, "Invalid JSON payload received.") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid JSON payload received. Expected an object.")
    return body


def page(items: list[Any], token: str | None, size: int) -> tuple[list[Any], str | None]:
    """One page of `items` and the opaque token of the next, as Google's list methods page."""
    try:
        start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
    except ValueError as exc:
        raise ApiError(400, "Invalid page token.") from exc
    end = start + size
    following = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], following


def paged(key: str, items: list[Any], following: str | None) -> JSONResponse:
    """A list answer as Google sends it: an empty list is left out, nextPageToken only when there is more."""
    body: dict[str, Any] = {key: items} if items else {}
    if following:
        body["nextPageToken"] = following
    return JSONResponse(body)


def page_size(value: Any, default: int, maximum: int) -> int:
    try:
        size = int(value) if value not in (None, "") else default
    except (TypeError, ValueError) as exc:
        raise ApiError(400, "Invalid page size.") from exc
    if size < 0:
        raise ApiError(400, "Invalid page size.")
    return min(size or default, maximum)


def origin(request: Request) -> str:
    return str(request.base_url).rstrip("/")
