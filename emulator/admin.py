"""The control surface over HTTP, under /_admin/: users and codes, picking, revoking, lifetimes, faults, state.

Every route calls the same Python API the demo and tests can use in process.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulator import fcm, library, photos, picker, risc
from emulator.http import ApiError, api_error, json_body
from emulator.world import Google


def _google(request: Request) -> Google:
    return request.app.state.google


async def add_user(request: Request) -> Response:
    body = await json_body(request)
    google = _google(request)
    user = google.add_user(sub=body.get("sub"), email=body.get("email"), name=body.get("name", "Demo User"))
    size = int(body.get("width", 1600)), int(body.get("height", 1200))
    made = await run_in_threadpool(
        photos.add_photos,
        google,
        user.sub,
        int(body.get("photos", 0)),
        *size,
        int(body.get("seed", 0)),
        body.get("kind", "jpeg"),
    )
    for item, name in zip(made, body.get("names") or [], strict=False):  # what users really call their photos
        item.filename = name
    made += [photos.add_video(google, user.sub, n) for n in range(int(body.get("videos", 0)))]
    return JSONResponse({"sub": user.sub, "email": user.email, "media": [m.id for m in made]})


async def fill_album(request: Request) -> Response:
    """The app fills an app-created album (the inbox) for a user."""
    body = await json_body(request)
    size, seed = (int(body.get("width", 320)), int(body.get("height", 240))), int(body.get("seed", 0))

    def make() -> library.Album:
        made = [
            (f"INBOX_{seed + n:04d}.jpg", photos.jpeg(*size, seed=seed + n), *size)
            for n in range(int(body.get("photos", 0)))
        ]
        return library.app_album(_google(request), body["sub"], body["title"], made, body.get("taken"))

    album = await run_in_threadpool(make)
    return JSONResponse({"album_id": album.id})


async def mint_code(request: Request) -> Response:
    body = await json_body(request)
    known = ("scopes", "granted", "client_id", "redirect_uri", "prompt", "azp", "refresh_token_expires_in")
    try:
        code = _google(request).mint_code(body["sub"], **{k: body[k] for k in known if k in body})
    except KeyError:
        return api_error(404, "Unknown user.")
    return JSONResponse({"code": code})


async def pick(request: Request) -> Response:
    body = await json_body(request)
    try:
        session_id = picker.pick(_google(request), body.get("session_id"), body.get("sub"), body.get("media"))
    except ApiError as exc:
        return api_error(exc.code, exc.message)
    return JSONResponse({"session_id": session_id})


async def revoke(request: Request) -> Response:
    body = await json_body(request)
    return JSONResponse({"revoked": _google(request).revoke_user(body["sub"])})


async def expire_tokens(request: Request) -> Response:
    body = await json_body(request)
    return JSONResponse({"expired": _google(request).expire_access_tokens(body["sub"])})


async def fcm_service_account(request: Request) -> Response:
    body = await json_body(request)
    google, base = _google(request), str(request.base_url).rstrip("/")
    return JSONResponse(fcm.mint_service_account(google, base, body.get("project_id", "darkroom-demo")))


async def risc_service_account(request: Request) -> Response:
    """A service account for the RISC management API; {"admin": false}: without its Configuration Admin role."""
    body = await json_body(request)
    google, base = _google(request), str(request.base_url).rstrip("/")
    made = risc.mint_service_account(
        google, base, body.get("project_id", "darkroom-demo"), bool(body.get("admin", True))
    )
    return JSONResponse(made)


async def risc_stream(request: Request) -> Response:
    """The RISC stream as Google holds it, and every verification pushed to the receiver (url, state, status)."""
    current = risc.stream(_google(request))
    return JSONResponse({"config": current.config, "status": current.status, "delivered": current.delivered})


async def fcm_unregister(request: Request) -> Response:
    fcm.messaging(_google(request)).unregistered.add((await json_body(request))["token"])
    return JSONResponse({})


async def fcm_messages(request: Request) -> Response:
    return JSONResponse({"messages": fcm.messaging(_google(request)).sent})


async def delete_album(request: Request) -> Response:
    library.delete_album(_google(request), request.path_params["album_id"])
    return JSONResponse({})


async def security_event(request: Request) -> Response:
    body = await json_body(request)
    known = {k: body[k] for k in ("jti", "audience", "iat_offset_s", "token_alg", "subject") if k in body}
    return JSONResponse({"token": _google(request).security_event(body["sub"], body["event"], **known)})


async def lifetimes(request: Request) -> Response:
    google = _google(request)
    if request.method == "POST":
        google.lifetimes = dataclasses.replace(google.lifetimes, **await json_body(request))
    return JSONResponse(dataclasses.asdict(google.lifetimes))


async def clock(request: Request) -> Response:
    """Google's clock: GET how far it was moved, POST {"advance_s": N} to move it N seconds ahead (months pass
    for codes, tokens and grants; what signs with a time, ID tokens and security events, keeps the real one)."""
    google = _google(request)
    if request.method == "POST":
        body = await json_body(request)
        with google.lock:
            google.clock_offset_s += float(body.get("advance_s", 0))
    return JSONResponse({"offset_s": google.clock_offset_s, "now": google.now()})


async def redirect_uris(request: Request) -> Response:
    """Register a redirect URI for the web client (as in the Cloud console): {"uri": ..., "client_id"?: ...}."""
    google, body = _google(request), await json_body(request)
    client_id = body.get("client_id") or next(iter(google.clients))
    with google.lock:
        google.redirect_uris.setdefault(client_id, set()).add(str(body["uri"]))
        return JSONResponse({"client_id": client_id, "redirect_uris": sorted(google.redirect_uris[client_id])})


async def quota(request: Request) -> Response:
    """The Library API's project quota: GET it, POST limits (daily_limit, minute_limit), or {"new_day": true}."""
    google = _google(request)
    if request.method == "POST":
        body = await json_body(request)
        with google.lock:
            if body.pop("new_day", False):
                google.quota.new_day()
            for name in ("daily_limit", "minute_limit"):
                if name in body:
                    setattr(google.quota, name, int(body.pop(name)))
    return JSONResponse(google.quota.as_json())


async def faults(request: Request) -> Response:
    google = _google(request)
    if request.method == "DELETE":
        google.faults.clear()
    elif request.method == "POST":
        body = await json_body(request)
        google.inject_fault(body.pop("endpoint"), **body)
    return JSONResponse({"faults": [dataclasses.asdict(f) for f in google.faults]})


async def state(request: Request) -> Response:
    return JSONResponse(snapshot(_google(request)))


async def requests_log(request: Request) -> Response:
    google = _google(request)
    with google.lock:
        return JSONResponse({"requests": list(google.log), "counts": google.counts()})


async def tokens(request: Request) -> Response:
    """Every token issued, so leak tests can look for them where they must not be."""
    google = _google(request)
    with google.lock:
        return JSONResponse(
            {
                "codes": list(google.codes),
                "access_tokens": list(google.access_tokens),
                "refresh_tokens": list(google.grants),
                "upload_tokens": list(google.uploads),
            }
        )


def snapshot(google: Google) -> dict[str, Any]:
    with google.lock:
        albums = []
        for album in google.albums.values():
            items = [m for m in google.media.values() if m.album_id == album.id]
            albums.append(
                {
                    "id": album.id,
                    "sub": album.sub,
                    "title": album.title,
                    "items": [
                        {
                            "id": m.id,
                            "description": m.description,
                            "filename": m.filename,
                            "sha256": m.sha256,
                            "width": m.width,
                            "height": m.height,
                            "mime_type": m.mime_type,
                        }
                        for m in items
                    ],
                }
            )
        return {
            "users": [
                {
                    "sub": u.sub,
                    "email": u.email,
                    "media": list(u.media),
                    "filenames": {m: google.media[m].filename for m in u.media},
                }
                for u in google.users.values()
            ],
            "albums": albums,
            "grants": [{"sub": g.sub, "scopes": g.scopes, "revoked": g.revoked} for g in google.grants.values()],
            "picker_sessions": [{"id": s.id, "sub": s.sub, "picked": s.picked} for s in google.sessions.values()],
            "counts": google.counts(),
        }


async def media(request: Request) -> Response:
    google = _google(request)
    with google.lock:
        item = google.media.get(request.path_params["media_id"])
    if item is None:
        return api_error(404, "Unknown media item.")
    return Response(item.data, media_type=item.mime_type)


routes = [
    Route("/_admin/users", add_user, methods=["POST"]),
    Route("/_admin/codes", mint_code, methods=["POST"]),
    Route("/_admin/albums", fill_album, methods=["POST"]),
    Route("/_admin/pick", pick, methods=["POST"]),
    Route("/_admin/revoke", revoke, methods=["POST"]),
    Route("/_admin/expire-tokens", expire_tokens, methods=["POST"]),
    Route("/_admin/risc", security_event, methods=["POST"]),
    Route("/_admin/albums/{album_id}", delete_album, methods=["DELETE"]),
    Route("/_admin/fcm/service-account", fcm_service_account, methods=["POST"]),
    Route("/_admin/risc/service-account", risc_service_account, methods=["POST"]),
    Route("/_admin/risc/stream", risc_stream, methods=["GET"]),
    Route("/_admin/fcm/unregister", fcm_unregister, methods=["POST"]),
    Route("/_admin/fcm/messages", fcm_messages, methods=["GET"]),
    Route("/_admin/lifetimes", lifetimes, methods=["GET", "POST"]),
    Route("/_admin/faults", faults, methods=["GET", "POST", "DELETE"]),
    Route("/_admin/quota", quota, methods=["GET", "POST"]),
    Route("/_admin/clock", clock, methods=["GET", "POST"]),
    Route("/_admin/redirect-uris", redirect_uris, methods=["POST"]),
    Route("/_admin/state", state, methods=["GET"]),
    Route("/_admin/requests", requests_log, methods=["GET"]),
    Route("/_admin/tokens", tokens, methods=["GET"]),
    Route("/_admin/media/{media_id}", media, methods=["GET"]),
]
