"""The Photos Library API as it stands since 31 March 2025, under /library/v1: an app sees only what it created.

albums create/list/get, raw uploads, mediaItems:batchCreate (200 with per-item statuses), :search and get.
"""

from __future__ import annotations

import io
import secrets
import time
import unicodedata
from dataclasses import dataclass
from typing import Any

from PIL import Image
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from emulator import content
from emulator.http import ApiError, endpoint, json_body, origin, page, page_size, paged
from emulator.world import APPCREATED, APPENDONLY, AccessToken, Google, Media, new_id, rfc3339

WRITE = (APPENDONLY,)
READ = (APPCREATED,)
MAX_BATCH = 50
FAILED = {"code": 3, "message": "Failed: There was an error while trying to create this media item."}


@dataclass
class Album:
    id: str
    sub: str
    client_id: str
    title: str

    def as_json(self, count: int) -> dict[str, Any]:
        url = f"https://photos.google.com/lr/album/{self.id}"
        return {
            "id": self.id,
            "title": self.title,
            "productUrl": url,
            "isWriteable": True,
            "mediaItemsCount": str(count),
        }


@dataclass
class Upload:
    sub: str
    client_id: str
    data: bytes
    mime_type: str
    expires_at: float
    used: bool = False


def app_album(
    google: Google, sub: str, title: str, photos: list[tuple[str, bytes, int, int]], taken: str | None = None
) -> Album:
    """An album the app created and filled (the inbox), with (filename, JPEG bytes, width, height) photos taken
    at `taken` (RFC 3339; now by default): the camera's time, not when they reached the album."""
    with google.lock:
        client_id = next(iter(google.clients))
        album = next((a for a in google.albums.values() if a.sub == sub and a.title == title), None)
        if album is None:
            album = Album(new_id(), sub, client_id, title)
            google.albums[album.id] = album
        for filename, data, width, height in photos:
            item = Media(new_id(), sub, filename, "image/jpeg", data, width, height, taken or rfc3339(time.time()))
            item.album_id, item.client_id = album.id, client_id
            google.media[item.id] = item
        return album


def delete_album(google: Google, album_id: str) -> None:
    """The user deletes an album in Google Photos: its items stay in the library, the album answers 404."""
    with google.lock:
        google.albums.pop(album_id)
        google.deleted_albums.add(album_id)
        for item in google.media.values():
            if item.album_id == album_id:
                item.album_id = None


def _own_album(google: Google, album_id: str, token: AccessToken) -> Album:
    if album_id in google.deleted_albums:
        raise ApiError(404, "Requested entity was not found.", "NOT_FOUND")
    album = google.albums.get(album_id)
    if album is None or album.sub != token.sub or album.client_id != token.client_id:
        raise ApiError(400, "Invalid album ID. The album must be created by this app.")
    return album


def _items_in(google: Google, album: Album) -> list[Media]:
    return [m for m in google.media.values() if m.album_id == album.id]


def item_json(google: Google, item: Media, base: str) -> dict[str, Any]:
    return {
        "id": item.id,
        "description": item.description,
        "productUrl": f"https://photos.google.com/lr/photo/{item.id}",
        "baseUrl": content.base_url(google, item, base, APPCREATED),
        "mimeType": item.mime_type,
        "mediaMetadata": {
            "creationTime": item.create_time,
            "width": str(item.width),
            "height": str(item.height),
            **({"video": {"status": "READY"}} if item.type == "VIDEO" else {"photo": {}}),
        },
        "filename": item.filename,
    }


@endpoint("library.albums.create", scopes=WRITE)
async def create_album(request: Request, google: Google, token: AccessToken | None) -> Response:
    assert token is not None
    title = (await json_body(request)).get("album", {}).get("title")
    if not isinstance(title, str) or not title or len(title) > 500:
        raise ApiError(400, "Album title must be between 1 and 500 characters.")
    with google.lock:
        album = Album(new_id(), token.sub, token.client_id, title)
        google.albums[album.id] = album
        return JSONResponse(album.as_json(0))


@endpoint("library.albums.list", scopes=READ)
async def list_albums(request: Request, google: Google, token: AccessToken | None) -> Response:
    assert token is not None
    params = request.query_params
    with google.lock:
        mine = [a for a in google.albums.values() if a.sub == token.sub and a.client_id == token.client_id]
        albums, following = page(mine, params.get("pageToken"), page_size(params.get("pageSize"), 20, 50))
        return paged("albums", [a.as_json(len(_items_in(google, a))) for a in albums], following)


@endpoint("library.albums.get", scopes=READ)
async def get_album(request: Request, google: Google, token: AccessToken | None) -> Response:
    assert token is not None
    with google.lock:
        album = _own_album(google, request.path_params["album_id"], token)
        return JSONResponse(album.as_json(len(_items_in(google, album))))


@endpoint("library.uploads", scopes=WRITE)
async def upload(request: Request, google: Google, token: AccessToken | None) -> Response:
    assert token is not None
    if request.headers.get("x-goog-upload-protocol") != "raw":
        raise ApiError(400, "X-Goog-Upload-Protocol must be raw.")
    mime = request.headers.get("x-goog-upload-content-type")
    if not mime:
        raise ApiError(400, "X-Goog-Upload-Content-Type is required.")
    if request.headers.get("content-type") != "application/octet-stream":
        raise ApiError(400, "Content-Type must be application/octet-stream.")
    data = await request.body()
    if not data:
        raise ApiError(400, "The upload is empty.")
    with google.lock:
        value = "CAIS" + secrets.token_urlsafe(90)
        expires = time.time() + google.lifetimes.upload_token_s
        google.uploads[value] = Upload(token.sub, token.client_id, data, mime, expires)
    return PlainTextResponse(value)


@endpoint("library.mediaItems.batchCreate", scopes=WRITE)
async def batch_create(request: Request, google: Google, token: AccessToken | None) -> Response:
    assert token is not None
    body = await json_body(request)
    new_items = body.get("newMediaItems")
    if not isinstance(new_items, list) or not new_items:
        raise ApiError(400, "newMediaItems must not be empty.")
    if len(new_items) > MAX_BATCH:
        raise ApiError(400, "Request must have less than 50 items.")
    with google.lock:
        album = _own_album(google, body["albumId"], token) if body.get("albumId") else None
        results = [_create_one(google, token, album, spec, origin(request)) for spec in new_items]
    return JSONResponse({"newMediaItemResults": results})


def _create_one(google: Google, token: AccessToken, album: Album | None, spec: Any, base: str) -> dict[str, Any]:
    simple = spec.get("simpleMediaItem", {}) if isinstance(spec, dict) else {}
    value = simple.get("uploadToken", "")
    pending = google.uploads.get(value)
    description = spec.get("description", "") if isinstance(spec, dict) else ""
    valid = pending is not None and not pending.used and pending.expires_at > time.time()
    filename = simple.get("fileName") or "upload.jpg"
    if not valid or pending.sub != token.sub or len(description) >= 1000 or not _good_name(filename):  # type: ignore[union-attr]
        return {"uploadToken": value, "status": FAILED}
    assert pending is not None
    pending.used = True
    width, height = _dimensions(pending.data)
    item = Media(new_id(), token.sub, filename, pending.mime_type, pending.data, width, height, rfc3339(time.time()))
    item.description, item.album_id, item.client_id = description, album.id if album else None, token.client_id
    google.media[item.id] = item
    return {"uploadToken": value, "status": {"message": "Success"}, "mediaItem": item_json(google, item, base)}


def _good_name(filename: Any) -> bool:
    """`fileName` "shouldn't be more than 255 characters"; a control character (CR/LF, say) or a lone surrogate is
    no name a user can read. Joiners and variation selectors, which emoji are made of, are fine."""
    if not isinstance(filename, str) or not 0 < len(filename) <= 255:
        return False
    return not any(unicodedata.category(c) in ("Cc", "Cs") for c in filename)


def _dimensions(data: bytes) -> tuple[int, int]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:  # noqa: BLE001 - an upload that is no image still becomes an item at Google
        return 0, 0


@endpoint("library.mediaItems.search", scopes=READ)
async def search(request: Request, google: Google, token: AccessToken | None) -> Response:
    assert token is not None
    body = await json_body(request)
    with google.lock:
        if body.get("albumId"):
            found = _items_in(google, _own_album(google, body["albumId"], token))
        else:
            found = [m for m in google.media.values() if m.sub == token.sub and m.client_id == token.client_id]
        items, following = page(found, body.get("pageToken"), page_size(body.get("pageSize"), 25, 100))
        return paged("mediaItems", [item_json(google, m, origin(request)) for m in items], following)


@endpoint("library.mediaItems.get", scopes=READ)
async def get_item(request: Request, google: Google, token: AccessToken | None) -> Response:
    assert token is not None
    with google.lock:
        item = google.media.get(request.path_params["item_id"])
        if item is None or item.sub != token.sub or item.client_id != token.client_id:
            raise ApiError(404, "Requested entity was not found.")
        return JSONResponse(item_json(google, item, origin(request)))


routes = [
    Route("/library/v1/albums", create_album, methods=["POST"]),
    Route("/library/v1/albums", list_albums, methods=["GET"]),
    Route("/library/v1/albums/{album_id}", get_album, methods=["GET"]),
    Route("/library/v1/uploads", upload, methods=["POST"]),
    Route("/library/v1/mediaItems:batchCreate", batch_create, methods=["POST"]),
    Route("/library/v1/mediaItems:search", search, methods=["POST"]),
    Route("/library/v1/mediaItems/{item_id}", get_item, methods=["GET"]),
]
