"""Firebase Cloud Messaging HTTP v1 (docs/google.md#fcm): `messages:send` authorized by a Firebase service
account through google-auth (the JWT-bearer grant at the account's token_uri). Credentials are made once per
process per file and refreshed by google-auth under a lock; errors are translated by responses.translated."""

from __future__ import annotations

import functools
import json
import threading
from pathlib import Path
from typing import Any

from google.auth.transport.requests import AuthorizedSession
from google.oauth2 import service_account

from settings import Settings
from workers import metrics
from workers.errors import ConfigurationError, MediaGone, Misconfigured
from workers.google.responses import check, translated

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
_lock = threading.Lock()


@functools.cache
def _account(path: Path) -> tuple[str, AuthorizedSession]:
    try:
        info = json.loads(path.read_text())
        credentials = service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])  # type: ignore[no-untyped-call]
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigurationError(f"cannot read the Firebase service account {path}: {type(exc).__name__}") from exc
    return str(info["project_id"]), AuthorizedSession(credentials)  # type: ignore[no-untyped-call]


def _error_code(body: bytes) -> str | None:
    """FCM's own errorCode, from the FcmError detail of Google's error body (docs/google.md#fcm)."""
    try:
        details = json.loads(body)["error"].get("details", [])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    codes = [d.get("errorCode") for d in details if isinstance(d, dict) and d.get("errorCode")]
    return str(codes[0]) if codes else None


def send(settings: Settings, token: str, data: dict[str, str], title: str, body: str) -> None:
    """One message to one device; MediaGone when FCM says the token is UNREGISTERED (404)."""
    assert settings.fcm_service_account_file is not None
    project, session = _account(settings.fcm_service_account_file)
    url = f"{settings.fcm_uri.rstrip('/')}/v1/projects/{project}/messages:send"
    message: dict[str, Any] = {"token": token, "notification": {"title": title, "body": body}, "data": data}
    with _lock, translated("fcm.messages.send"):  # google-auth's refresh of one credentials object is not thread-safe
        answer = session.post(url, json={"message": message}, timeout=settings.http_timeout_s)
    if answer.status_code == 404:  # the device's token is gone, or the project is not what darkroom was told
        metrics.google_call("fcm.messages.send", 404)
        if _error_code(answer.content) == "UNREGISTERED":
            raise MediaGone("fcm.messages.send: UNREGISTERED")
        raise Misconfigured("fcm.messages.send: 404: check the Firebase service account's project_id")
    check("fcm.messages.send", answer.status_code, answer.headers, answer.content)
