"""An authorized google-api-python-client service for any API, for acting as a user (`darkroom call`).

Photos APIs use darkroom's own discovery documents; every other API the ones the library bundles.
"""

from __future__ import annotations

import json
from typing import Any

import google_auth_httplib2
import httplib2
from googleapiclient.discovery import build, build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import UnknownApiNameOrVersion

from settings import Settings
from workers import metrics
from workers.errors import BadRequest
from workers.google.photos import UserCredentials, document
from workers.google.responses import translated

_OWN = {"photoslibrary": "photos_library_uri", "photospicker": "photos_picker_uri"}


def service(settings: Settings, credentials: UserCredentials, api: str, version: str) -> Any:
    http = google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(timeout=int(settings.http_timeout_s)))
    if api in _OWN:
        base = getattr(settings, _OWN[api]).rstrip("/") + "/"
        return build_from_document(document(api), http=http, client_options={"api_endpoint": base})
    static = get_static_doc(api, version)
    if static is None:
        raise BadRequest(f"no discovery document for {api} {version}")
    options = None
    if settings.google_api_uri:
        options = {"api_endpoint": settings.google_api_uri.rstrip("/") + "/" + json.loads(static)["servicePath"]}
    try:
        return build(api, version, http=http, static_discovery=True, client_options=options)
    except UnknownApiNameOrVersion as exc:
        raise BadRequest(f"unknown API {api} {version}") from exc


def call(resource: Any, method: str, params: dict[str, str]) -> dict[str, Any]:
    """Run `files.get` with `fileId=...` on a service; errors translated once, here."""
    *path, name = method.split(".")
    try:
        for part in path:
            resource = getattr(resource, part)()
        request = getattr(resource, name)(**params)
    except (AttributeError, TypeError) as exc:
        raise BadRequest(f"{method}: {exc}") from None
    with translated(method):
        answer: dict[str, Any] = request.execute() or {}
    metrics.google_call(method, 200)
    return answer
