"""Picker and Library calls for one user, in one thread.

JSON methods go through google-api-python-client services built from darkroom's own discovery documents
(the library ships none for these APIs) with the base URL from settings; media bytes go through urllib3
(what requests is built on, without the per-request work of a session: hooks, cookies, environment lookups,
a sixth of darkroom's own CPU per photo), with the user's token put on each request by google-auth.
httplib2 is not thread-safe, so a Photos object never crosses threads, and each thread keeps its own
connections and built services across users and photos (_Transport): building a service and opening a
connection per photo was most of darkroom's own CPU per photo. The user's credentials travel with each
request, never in a service or a pool.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import os
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import certifi
import google.auth.credentials
import google_auth_httplib2
import httplib2
import urllib3
from google.auth.credentials import TokenState
from googleapiclient.discovery import build_from_document

from settings import Settings
from workers import metrics
from workers.errors import BadRequest, MediaGone, UnusableImage
from workers.google.responses import check, translated

_DISCOVERY = Path(__file__).parent / "discovery"
MAX_BATCH = 49  # batchCreate takes 50; one below it leaves room for Google's off-by-one wording
Refresher = Callable[[], tuple[str, datetime.datetime]]
# Where Google serves media bytes (Picker and Library base URLs: lh3.googleusercontent.com and its kin).
_MEDIA_HOST_SUFFIXES = (".googleusercontent.com",)
IDLE_CONNECTION_S = 4.0  # below common keep-alive timeouts (uvicorn 5 s; Google's are longer)
_CA_BUNDLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")  # requests' names for a CA bundle of one's own


class _Transport:
    """One thread's connections and services, kept for its life and shared by every user it acts for; closed
    when the thread ends (its thread-local reference is the only one)."""

    def __init__(self) -> None:
        self.pool = _pool()
        self.https: dict[int, httplib2.Http] = {}
        self.used: dict[int, float] = {}
        self.services: dict[tuple[str, str, int], Any] = {}

    def __del__(self) -> None:
        self.pool.clear()
        for http in self.https.values():
            http.close()

    def http(self, timeout_s: int) -> httplib2.Http:
        """The thread's connection for JSON calls. One idle for a while is closed first: servers drop idle
        connections (uvicorn after 5 s), and httplib2, unlike urllib3, does not check before reusing one, so a
        POST would fail with a broken pipe (a batchCreate of unknown outcome)."""
        now = time.monotonic()
        http = self.https.get(timeout_s)
        if http is None:
            http = self.https[timeout_s] = httplib2.Http(timeout=timeout_s)
        elif now - self.used.get(timeout_s, now) > IDLE_CONNECTION_S:
            http.close()
        self.used[timeout_s] = now
        return http

    def service(self, name: str, base: str, timeout_s: int) -> Any:
        key = (name, base, timeout_s)
        if key not in self.services:
            options = {"api_endpoint": base.rstrip("/") + "/"}
            self.services[key] = build_from_document(document(name), http=self.http(timeout_s), client_options=options)
        return self.services[key]


_local = threading.local()


def _thread_transport() -> _Transport:
    """This thread's transport, made when the thread first calls Google (not at import: it opens a pool)."""
    if not hasattr(_local, "transport"):
        _local.transport = _Transport()
    return _local.transport  # type: ignore[no-any-return]


def _pool() -> urllib3.PoolManager:
    """One connection per host for one thread, verified against certifi's roots as requests does, through the
    HTTPS proxy the environment names, if any (requests' conventions, read once)."""
    ca_certs = next(filter(None, map(os.environ.get, _CA_BUNDLES)), None) or certifi.where()
    proxy = urllib.request.getproxies().get("https")
    if proxy and not urllib.request.proxy_bypass("photoslibrary.googleapis.com"):
        return urllib3.ProxyManager(proxy, maxsize=1, retries=False, ca_certs=ca_certs)
    return urllib3.PoolManager(maxsize=1, retries=False, ca_certs=ca_certs)


@dataclass(frozen=True)
class NewItem:
    upload_token: str
    filename: str
    description: str = ""  # only text a user wrote (docs/google.md#photos-library): darkroom writes none


@dataclass(frozen=True)
class Created:
    upload_token: str
    media_id: str | None
    error: str | None


class UserCredentials(google.auth.credentials.Credentials):
    """A user's access token whose expiry and refresh are darkroom's decisions alone: usable until
    `usable_until` (naive UTC), then renewed through `renew` (the vault's single-flight refresh), as after
    a 401. google-auth's own Credentials treat a token as expired 3 min 45 s early and refuse one that lives
    less (docs/google.md#access-tokens): Google may send any `expires_in`, down to a few seconds."""

    def __init__(self, token: str, usable_until: datetime.datetime, renew: Refresher) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.token, self._usable_until, self._renew = token, usable_until, renew

    @property
    def expired(self) -> bool:
        return datetime.datetime.now(datetime.UTC).replace(tzinfo=None) >= self._usable_until

    @property
    def token_state(self) -> TokenState:
        return TokenState.INVALID if self.expired else TokenState.FRESH

    def refresh(self, request: object) -> None:
        self.token, self._usable_until = self._renew()


def user_credentials(token: str, expires_at: datetime.datetime, refresh: Refresher) -> UserCredentials:
    """Credentials whose refresh goes through darkroom's vault (single-flight), never straight to Google."""
    return UserCredentials(token, expires_at, refresh)


@functools.cache
def document(name: str) -> str:
    """Our discovery document for `name`, read from disk once per process."""
    return (_DISCOVERY / f"{name}.v1.json").read_text()


def prepare_thread(settings: Settings) -> None:
    """Build this thread's services ahead of its first photo (a discovery document takes milliseconds)."""
    transport, timeout_s = _thread_transport(), int(settings.http_timeout_s)
    transport.service("photoslibrary", settings.photos_library_uri, timeout_s)
    transport.service("photospicker", settings.photos_picker_uri, timeout_s)


class Gate(Protocol):
    """Google's quota, project-wide (workers.queue.governor.Governor): told of each call before and after it."""

    def before(self, endpoint: str) -> bool: ...  # whether the call is the probe of a paused API

    def answered(self, endpoint: str, error: BaseException | None, probe: bool = False) -> None: ...


class _Open:
    def before(self, endpoint: str) -> bool:
        return False

    def answered(self, endpoint: str, error: BaseException | None, probe: bool = False) -> None:
        pass


class Photos:
    def __init__(self, settings: Settings, credentials: UserCredentials, gate: Gate | None = None) -> None:
        self._settings = settings
        self._credentials = credentials
        self._gate = gate or _Open()
        self._transport = _thread_transport()

    def __enter__(self) -> Photos:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing of the user's is kept: the connections stay with the thread for its next user."""

    def _service(self, name: str, base: str) -> Any:
        return self._transport.service(name, base, self._timeout)

    @property
    def _timeout(self) -> int:
        return int(self._settings.http_timeout_s)

    def _library(self) -> Any:
        return self._service("photoslibrary", self._settings.photos_library_uri)

    def _picker(self) -> Any:
        return self._service("photospicker", self._settings.photos_picker_uri)

    @contextlib.contextmanager
    def _gated(self, what: str) -> Iterator[None]:
        """The quota governor asked before the call (it may make it wait) and told what Google answered."""
        probe = self._gate.before(what)
        try:
            yield
        except BaseException as exc:
            self._gate.answered(what, exc, probe)
            raise
        self._gate.answered(what, None, probe)

    def _execute(self, what: str, request: Any) -> dict[str, Any]:
        with self._gated(what), translated(what):
            # The thread's connection, with this user's token on the request (refreshed once after a 401).
            http = google_auth_httplib2.AuthorizedHttp(self._credentials, http=self._transport.http(self._timeout))
            answer: dict[str, Any] = request.execute(http=http) or {}
        metrics.google_call(what, 200)
        return answer

    # --- Picker --------------------------------------------------------------------------------

    def create_picker_session(self) -> dict[str, Any]:
        return self._execute("picker.sessions.create", self._picker().sessions().create(body={}))

    def get_picker_session(self, session_id: str) -> dict[str, Any]:
        return self._execute("picker.sessions.get", self._picker().sessions().get(sessionId=session_id))

    def delete_picker_session(self, session_id: str) -> None:
        with contextlib.suppress(MediaGone):  # already gone is what we wanted
            self._execute("picker.sessions.delete", self._picker().sessions().delete(sessionId=session_id))

    def picked_items(self, session_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token = None
        while True:
            request = self._picker().mediaItems().list(sessionId=session_id, pageSize=100, pageToken=token)
            page = self._execute("picker.mediaItems.list", request)
            items.extend(page.get("mediaItems", []))
            token = page.get("nextPageToken")
            if not token:
                return items

    # --- Library -------------------------------------------------------------------------------

    def find_album(self, title: str) -> str | None:
        found = self.find_album_with_url(title)
        return found[0] if found else None

    def find_album_with_url(self, title: str) -> tuple[str, str | None] | None:
        """The first of the user's app-created albums with this title: its id and productUrl."""
        token = None
        while True:
            page = self._execute("library.albums.list", self._library().albums().list(pageSize=50, pageToken=token))
            for album in page.get("albums", []):
                if album.get("title") == title:
                    return str(album["id"]), album.get("productUrl")
            token = page.get("nextPageToken")
            if not token:
                return None

    def create_album(self, title: str) -> str:
        return self.create_album_with_url(title)[0]

    def create_album_with_url(self, title: str) -> tuple[str, str | None]:
        """A new app-created album: its id and the productUrl Google answers with (where the user opens it)."""
        created = self._execute(
            "library.albums.create", self._library().albums().create(body={"album": {"title": title}})
        )
        return str(created["id"]), created.get("productUrl")

    def batch_create(self, album_id: str, items: list[NewItem]) -> list[Created]:
        """Create items in an album. Google answers 200 even when items fail: every result is read."""
        assert 0 < len(items) <= MAX_BATCH
        body = {
            "albumId": album_id,
            "newMediaItems": [
                {
                    **({"description": i.description} if i.description else {}),
                    "simpleMediaItem": {"uploadToken": i.upload_token, "fileName": i.filename},
                }
                for i in items
            ],
        }
        answer = self._execute("library.mediaItems.batchCreate", self._library().mediaItems().batchCreate(body=body))
        by_token = {r.get("uploadToken"): r for r in answer.get("newMediaItemResults", [])}
        return [_created(i.upload_token, by_token.get(i.upload_token)) for i in items]

    def media_item(self, media_id: str) -> dict[str, Any]:
        return self._execute("library.mediaItems.get", self._library().mediaItems().get(mediaItemId=media_id))

    def album_items(self, album_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token = None
        while True:
            body = {"albumId": album_id, "pageSize": 100, "pageToken": token}
            page = self._execute("library.mediaItems.search", self._library().mediaItems().search(body=body))
            items.extend(page.get("mediaItems", []))
            token = page.get("nextPageToken")
            if not token:
                return items

    # --- bytes ---------------------------------------------------------------------------------

    def download(self, base_url: str) -> bytes:
        """The original bytes (`=d`), at most `max_download_bytes`, read as they stream in. A Bearer token is
        required for Picker base URLs, so it goes only to Google's media hosts over HTTPS, or to the origin of
        a configured Google URI (how the emulator is reached): a base URL elsewhere is refused unsent."""
        url = self._google_media(f"{base_url}=d")
        if url is None:
            raise BadRequest("content.download: the base URL is not on a Google media host over HTTPS")
        with self._gated("content.download"), translated("content.download"):
            response = self._authorized_request("GET", url, preload_content=False)
            try:
                if response.status == 403:
                    metrics.google_call("content.download", 403)
                    raise MediaGone("content.download: the base URL expired or was withdrawn")
                check("content.download", response.status, response.headers, b"")
                data = self._capped(response)
            except BaseException:
                response.close()  # unread: this connection is not reused
                raise
            finally:
                response.release_conn()
        metrics.moved_bytes("downloaded", len(data))
        return data

    def _authorized_request(
        self, method: str, url: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> urllib3.BaseHTTPResponse:
        """`method` on `url` on the thread's pool, with the user's token, refreshed once after a 401 (the first
        answer closed first, so a stream does not keep its connection checked out). No redirects: a token is
        never carried to wherever a redirect points."""
        for attempt in range(2):
            sent = dict(headers or {})
            self._credentials.before_request(None, method, url, sent)  # type: ignore[no-untyped-call]
            response = self._transport.pool.request(
                method, url, headers=sent, timeout=self._settings.http_timeout_s, redirect=False, **kwargs
            )
            if response.status != 401 or attempt:
                return response
            response.close()
            response.release_conn()
            self._credentials.refresh(None)
        raise AssertionError("unreachable")

    def _capped(self, response: urllib3.BaseHTTPResponse) -> bytes:
        cap = self._settings.max_download_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise UnusableImage(f"content.download: {declared} bytes is over the {cap} byte limit")
        chunks, size = [], 0
        for chunk in response.stream(1 << 16):
            size += len(chunk)
            if size > cap:
                raise UnusableImage(f"content.download: over the {cap} byte limit")
            chunks.append(chunk)
        return b"".join(chunks)

    def _google_media(self, url: str) -> str | None:
        """url as urllib3 will send it, when that is to a Google media host over HTTPS or a configured Google
        origin; else None. Parsed once, by the parser that sends it: the standard library's reads
        `https://evil.example\\@lh3.googleusercontent.com/` as Google's host, urllib3 as evil.example."""
        try:
            parsed = urllib3.util.parse_url(url)
        except urllib3.exceptions.LocationParseError:
            return None
        if parsed.auth is not None or not parsed.host:
            return None
        if parsed.scheme == "https" and parsed.host.lower().endswith(_MEDIA_HOST_SUFFIXES):
            return str(parsed.url)
        return str(parsed.url) if _origin(parsed) in self._google_origins else None

    @functools.cached_property
    def _google_origins(self) -> set[str]:
        s = self._settings
        uris = (s.photos_library_uri, s.photos_picker_uri, s.google_token_uri, s.google_certs_uri, s.fcm_uri)
        return {_origin(urllib3.util.parse_url(uri)) for uri in uris}

    def upload(self, data: bytes, mime_type: str) -> str:
        """The bytes, as Google's upload guide sends them; the name goes in batchCreate's JSON (a header is
        Latin-1 at best: a CJK or emoji name cannot travel in one)."""
        headers = {
            "Content-Type": "application/octet-stream",
            "X-Goog-Upload-Content-Type": mime_type,
            "X-Goog-Upload-Protocol": "raw",
        }
        url = self._settings.photos_library_uri.rstrip("/") + "/v1/uploads"
        with self._gated("library.uploads"):
            with translated("library.uploads"):
                response = self._authorized_request("POST", url, body=data, headers=headers)
            check("library.uploads", response.status, response.headers, response.data)
        metrics.moved_bytes("uploaded", len(data))
        return response.data.decode()


def _origin(parsed: urllib3.util.Url) -> str:
    port = parsed.port or {"https": 443, "http": 80}.get(parsed.scheme or "", 0)
    return f"{parsed.scheme}://{parsed.host}:{port}".lower()


def _created(upload_token: str, result: dict[str, Any] | None) -> Created:
    if result is None:
        return Created(upload_token, None, "no result for this item")
    status = result.get("status", {})
    if status.get("code", 0) == 0 and "mediaItem" in result:
        return Created(upload_token, str(result["mediaItem"]["id"]), None)
    return Created(upload_token, None, f"code {status.get('code')}: {status.get('message', '')}"[:200])
