"""Media bytes behind base URLs: `{baseUrl}=d` (original) and `{baseUrl}=wW-hH` (fitted), with a Bearer token.

A base URL expires after `lifetimes.base_url_s` and answers 403 then, as Google's do.
"""

from __future__ import annotations

import io
import re
import secrets
import time
from dataclasses import dataclass

from PIL import Image
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator.http import ApiError, endpoint
from emulator.world import APPCREATED, PICKER_SCOPE, AccessToken, Google, Media

_SIZE = re.compile(r"^w(\d+)-h(\d+)(-c)?$")


@dataclass
class BaseUrl:
    media_id: str
    scope: str
    expires_at: float


def base_url(google: Google, item: Media, base: str, scope: str) -> str:
    key = secrets.token_urlsafe(32)
    google.base_urls[key] = BaseUrl(item.id, scope, time.time() + google.lifetimes.base_url_s)
    return f"{base}/content/{key}"


@endpoint("content.download", scopes=(PICKER_SCOPE, APPCREATED))
async def download(request: Request, google: Google, token: AccessToken | None) -> Response:
    assert token is not None
    key, _, param = request.path_params["rest"].partition("=")
    with google.lock:
        url = google.base_urls.get(key)
        if url is None:
            raise ApiError(404, "Not found.")
        item = google.media[url.media_id]
        if url.expires_at < time.time() or url.scope not in token.scopes or item.sub != token.sub:
            raise ApiError(403, "Forbidden.")
    if param == "dv" and item.type == "VIDEO":
        return Response(item.data, media_type=item.mime_type)
    if param == "d" and item.type == "VIDEO":  # =d of a video is a still frame, not the video
        return Response(await run_in_threadpool(_still), media_type="image/jpeg")
    if param == "d":
        return Response(item.data, media_type=item.mime_type)
    size = _SIZE.match(param)
    if size is None:
        raise ApiError(400, "A base URL needs a parameter: =d or =wW-hH.")
    fitted = await run_in_threadpool(_fit, item.data, int(size.group(1)), int(size.group(2)))
    return Response(fitted, media_type="image/jpeg")


def _still() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 36), (20, 20, 20)).save(out, "JPEG")
    return out.getvalue()


def _fit(data: bytes, width: int, height: int) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((max(width, 1), max(height, 1)))
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=85)
        return out.getvalue()


routes = [Route("/content/{rest:path}", download, methods=["GET"])]
