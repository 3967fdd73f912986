"""Acting as a stored user on any Google API: an authorized service, refresh handled through the vault."""

from __future__ import annotations

from typing import Any

from workers.context import Context
from workers.google import apis
from workers.grants import tokens


def service_for(ctx: Context, sub: str, api: str, version: str) -> Any:
    """A google-api-python-client service acting as `sub`. One per thread: httplib2 is not thread-safe."""
    return apis.service(ctx.settings, tokens.credentials_for(ctx, sub), api, version)


def call(ctx: Context, sub: str, api: str, version: str, method: str, params: dict[str, str]) -> dict[str, Any]:
    return apis.call(service_for(ctx, sub, api, version), method, params)
