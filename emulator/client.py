"""A client for the emulator's /_admin/ surface, used by tests, the demo and load runs."""

from __future__ import annotations

from typing import Any

import requests


class AdminClient:
    def __init__(self, url: str, timeout_s: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.http = requests.Session()

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, f"{self.url}/_admin/{path}", json=body, timeout=self.timeout_s)
        response.raise_for_status()
        return response.json() if response.headers.get("content-type", "").startswith("application/json") else None

    def faults(self) -> list[dict[str, Any]]:
        """The faults injected and not yet used up (`count` is what is left of each; one injected `for_s`
        seconds answers every request until `until`, epoch seconds)."""
        return list(self._call("GET", "faults")["faults"])

    def add_user(self, photos: int = 0, **fields: Any) -> dict[str, Any]:
        return self._call("POST", "users", {"photos": photos, **fields})

    def fill_album(self, sub: str, title: str, photos: int, **fields: Any) -> str:
        return self._call("POST", "albums", {"sub": sub, "title": title, "photos": photos, **fields})["album_id"]

    def mint_code(self, sub: str, **fields: Any) -> str:
        return self._call("POST", "codes", {"sub": sub, **fields})["code"]

    def pick(self, *, session_id: str | None = None, sub: str | None = None, media: list[str] | None = None) -> str:
        return self._call("POST", "pick", {"session_id": session_id, "sub": sub, "media": media})["session_id"]

    def revoke(self, sub: str) -> int:
        return self._call("POST", "revoke", {"sub": sub})["revoked"]

    def register_redirect_uri(self, uri: str) -> list[str]:
        """Register `uri` for the web client, as in the Cloud console (the console's sign-in needs it)."""
        return list(self._call("POST", "redirect-uris", {"uri": uri})["redirect_uris"])

    def advance_clock(self, seconds: float) -> float:
        """Move Google's clock `seconds` ahead (codes, tokens and grants age); how far it is moved in all."""
        return float(self._call("POST", "clock", {"advance_s": seconds})["offset_s"])

    def risc_service_account(self, admin: bool = True) -> dict[str, Any]:
        """A service-account JSON for the RISC management API (DARKROOM_RISC_SERVICE_ACCOUNT_FILE); `admin`:
        whether it holds the RISC Configuration Admin role."""
        return self._call("POST", "risc/service-account", {"admin": admin})

    def risc_stream(self) -> dict[str, Any]:
        """The receiver Google has registered (`config`), its `status`, and the verifications it `delivered`."""
        return self._call("GET", "risc/stream")

    def expire_access_tokens(self, sub: str) -> int:
        return self._call("POST", "expire-tokens", {"sub": sub})["expired"]

    def security_event(self, sub: str, event: str | list[str], **fields: Any) -> str:
        return self._call("POST", "risc", {"sub": sub, "event": event, **fields})["token"]

    def service_account(self, project_id: str = "darkroom-demo") -> dict[str, Any]:
        """A Firebase service-account JSON whose token_uri is this emulator (for DARKROOM_FCM_SERVICE_ACCOUNT_FILE)."""
        return self._call("POST", "fcm/service-account", {"project_id": project_id})

    def unregister_push_token(self, token: str) -> None:
        self._call("POST", "fcm/unregister", {"token": token})

    def push_messages(self) -> list[dict[str, Any]]:
        return self._call("GET", "fcm/messages")["messages"]

    def delete_album(self, album_id: str) -> None:
        self._call("DELETE", f"albums/{album_id}")

    def quota(self, **limits: int) -> dict[str, Any]:
        """The Library quota; with `daily_limit` or `minute_limit`, set first."""
        return self._call("POST", "quota", limits) if limits else self._call("GET", "quota")

    def new_day(self) -> dict[str, Any]:
        """Start a new quota day (Google's midnight Pacific time)."""
        return self._call("POST", "quota", {"new_day": True})

    def set_lifetimes(self, **seconds: float) -> dict[str, float]:
        return self._call("POST", "lifetimes", seconds)

    def inject_fault(self, endpoint: str, *, status: int | None = None, count: int = 1, **kw: Any) -> None:
        self._call("POST", "faults", {"endpoint": endpoint, "status": status, "count": count, **kw})

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def state(self) -> dict[str, Any]:
        return self._call("GET", "state")

    def counts(self) -> dict[str, int]:
        return self._call("GET", "requests")["counts"]

    def requests(self) -> list[dict[str, Any]]:
        return self._call("GET", "requests")["requests"]

    def tokens(self) -> dict[str, list[str]]:
        return self._call("GET", "tokens")

    def media_bytes(self, media_id: str) -> bytes:
        response = self.http.get(f"{self.url}/_admin/media/{media_id}", timeout=self.timeout_s)
        response.raise_for_status()
        return response.content
