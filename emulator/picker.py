"""The Photos Picker API: sessions (create, get, delete) and the picked mediaItems, under /picker/v1."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from emulator import content
from emulator.http import ApiError, endpoint, origin, page, page_size, paged
from emulator.world import PICKER_SCOPE, AccessToken, Google, Media, rfc3339

SCOPES = (PICKER_SCOPE,)


@dataclass
class Session:
    id: str
    sub: str
    client_id: str
    expire_at: float
    poll_until: float  # pollingConfig.timeoutIn runs out here: a client should stop polling then
    picked: list[str] | None = None

    def as_json(self, google: Google, base: str) -> dict[str, object]:
        remaining = max(0.0, min(self.expire_at, self.poll_until) - time.time())
        polling = {"pollInterval": f"{google.lifetimes.poll_interval_s:g}s", "timeoutIn": f"{remaining:.3f}s"}
        return {
            "id": self.id,
            "pickerUri": f"{base}/picker/pick/{self.id}",
            "pollingConfig": polling,
            "expireTime": rfc3339(self.expire_at),
            "mediaItemsSet": self.picked is not None,
        }


def pick(google: Google, session_id: str | None = None, sub: str | None = None, media: list[str] | None = None) -> str:
    """The user picks `media` (all their photos by default) in a session (their newest by default)."""
    with google.lock:
        if session_id is None:
            mine = [s for s in google.sessions.values() if s.sub == sub and s.picked is None]
            if not mine:
                raise ApiError(404, "No open picker session for this user.")
            session_id = mine[-1].id
        session = _session(google, session_id, None)
        session.picked = list(media if media is not None else google.users[session.sub].media)
        return session.id


def _session(google: Google, session_id: str, token: AccessToken | None) -> Session:
    session = google.sessions.get(session_id)
    if session is None or (token is not None and session.sub != token.sub) or session.expire_at < time.time():
        raise ApiError(404, "Requested entity was not found.")
    return session


@endpoint("picker.sessions.create", scopes=SCOPES)
async def create(request: Request, google: Google, token: AccessToken | None) -> Response:
    assert token is not None
    with google.lock:
        session_id = secrets.token_hex(16)
        now = time.time()
        expire_at, poll_until = now + google.lifetimes.picker_session_s, now + google.lifetimes.picker_timeout_s
        session = Session(session_id, token.sub, token.client_id, expire_at, poll_until)
        google.sessions[session_id] = session
        return JSONResponse(session.as_json(google, origin(request)))


@endpoint("picker.sessions.get", scopes=SCOPES)
async def get(request: Request, google: Google, token: AccessToken | None) -> Response:
    with google.lock:
        session = _session(google, request.path_params["session_id"], token)
        return JSONResponse(session.as_json(google, origin(request)))


@endpoint("picker.sessions.delete", scopes=SCOPES)
async def delete(request: Request, google: Google, token: AccessToken | None) -> Response:
    with google.lock:
        session = _session(google, request.path_params["session_id"], token)
        del google.sessions[session.id]
        return JSONResponse({})


@endpoint("picker.mediaItems.list", scopes=SCOPES)
async def list_media(request: Request, google: Google, token: AccessToken | None) -> Response:
    params = request.query_params
    if not params.get("sessionId"):
        raise ApiError(400, "sessionId is required.")
    with google.lock:
        session = _session(google, params["sessionId"], token)
        if session.picked is None:
            raise ApiError(400, "The user has not picked media items yet.", "FAILED_PRECONDITION")
        ids, following = page(session.picked, params.get("pageToken"), page_size(params.get("pageSize"), 25, 100))
        return paged("mediaItems", [_picked_json(google, google.media[i], origin(request)) for i in ids], following)


def _picked_json(google: Google, item: Media, base: str) -> dict[str, object]:
    return {
        "id": item.id,
        "createTime": item.create_time,
        "type": item.type,
        "mediaFile": {
            "baseUrl": content.base_url(google, item, base, PICKER_SCOPE),
            "mimeType": item.mime_type,
            "filename": item.filename,
            "mediaFileMetadata": {"width": item.width, "height": item.height},
        },
    }


async def picker_page(request: Request) -> Response:
    """What the user sees at pickerUri: a one-button stand-in for Google's picker."""
    google: Google = request.app.state.google
    session_id = request.path_params["session_id"]
    if request.method == "POST":
        pick(google, session_id)
        return HTMLResponse("<p>Picked. You can go back to the app.</p>")
    action = f"/picker/pick/{session_id}"
    return HTMLResponse(f'<form method="post" action="{action}"><button>Pick all my photos</button></form>')


routes = [
    Route("/picker/v1/sessions", create, methods=["POST"]),
    Route("/picker/v1/sessions/{session_id}", get, methods=["GET"]),
    Route("/picker/v1/sessions/{session_id}", delete, methods=["DELETE"]),
    Route("/picker/v1/mediaItems", list_media, methods=["GET"]),
    Route("/picker/pick/{session_id}", picker_page, methods=["GET", "POST"]),
]
