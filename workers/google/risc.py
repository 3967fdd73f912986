"""Google's RISC management API (developers.google.com/identity/protocols/risc; ../shared/reference/operations.md
§5): register darkroom's receiver for Cross-Account Protection events, read it back, enable or disable the
stream, and ask Google to push a verification event.

Every call is authorized by a JWT the service account signs itself (google-auth's JWT credentials: RS256 with
the key's id, `iss` = `sub` = the account's email, `aud` the management service, an hour long), as Google's
own sample does; no token grant is involved."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import google.auth.jwt
from google.auth.transport.requests import AuthorizedSession

from settings import Settings
from workers.errors import ConfigurationError, MediaGone, Misconfigured
from workers.google.responses import check, message_of, translated
from workers.google.security import EVENT_TYPES

AUDIENCE = "https://risc.googleapis.com/google.identity.risc.v1beta.RiscManagementService"
PUSH = "https://schemas.openid.net/secevent/risc/delivery-method/push"
EVENTS = sorted(EVENT_TYPES)  # every event type darkroom's receiver reads, verification too


@functools.cache
def _session(path: Path) -> AuthorizedSession:
    try:
        info = json.loads(path.read_text())
        credentials = google.auth.jwt.Credentials.from_service_account_info(info, audience=AUDIENCE)  # type: ignore[no-untyped-call]
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigurationError(f"cannot read the RISC service account {path}: {type(exc).__name__}") from exc
    return AuthorizedSession(credentials)  # type: ignore[no-untyped-call]


def _call(settings: Settings, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    if settings.risc_service_account_file is None:
        raise ConfigurationError("DARKROOM_RISC_SERVICE_ACCOUNT_FILE is not set: the RISC API needs a service account")
    what = f"risc.{path.replace(':', '.').replace('/', '.')}"
    url = f"{settings.risc_api_uri.rstrip('/')}/v1beta/{path}"
    with translated(what):
        session = _session(settings.risc_service_account_file)
        response = session.request(method, url, json=body, timeout=settings.http_timeout_s)  # type: ignore[no-untyped-call]
    if response.status_code in (401, 403):
        why = "its JWT was refused" if response.status_code == 401 else "it lacks the RISC Configuration Admin role"
        raise Misconfigured(f"{what}: Google refused the service account ({why}): {message_of(response.content)}")
    check(what, response.status_code, response.headers, response.content)
    return dict(response.json() or {}) if response.content else {}


def register(settings: Settings, url: str) -> dict[str, Any]:
    """Point the project's stream at `url`, asking for every event type darkroom handles."""
    config = {"delivery": {"delivery_method": PUSH, "url": url}, "events_requested": EVENTS}
    _call(settings, "POST", "stream:update", config)
    return config


def stream(settings: Settings) -> dict[str, Any] | None:
    """The stream as Google holds it (its receiver and the event types asked for), or None if none is."""
    try:
        return _call(settings, "GET", "stream")
    except MediaGone:  # 404: nothing registered
        return None


def status(settings: Settings) -> str:
    return str(_call(settings, "GET", "stream/status").get("status", "unknown"))


def set_status(settings: Settings, enabled: bool) -> str:
    """Enable or disable the stream. While disabled Google sends nothing and keeps nothing for later."""
    return str(
        _call(settings, "POST", "stream/status:update", {"status": "enabled" if enabled else "disabled"})["status"]
    )


def verify(settings: Settings, state: str) -> None:
    """Ask Google to push a verification event carrying `state` to the registered receiver."""
    _call(settings, "POST", "stream:verify", {"state": state})
