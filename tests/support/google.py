"""The emulator as an app or a user reaches it: redeem a code, sign a user in, call the Photos APIs with a token."""

from __future__ import annotations

import requests

from emulator.client import AdminClient
from emulator.world import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET


def redeem(url: str, code: str, **overrides: str) -> requests.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "redirect_uri": "",
    }
    form.update(overrides)
    return requests.post(f"{url}/token", data=form, timeout=10)


class Api:
    """A user's bearer token against the emulator."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.headers = url, {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, **kw) -> requests.Response:
        url = path if path.startswith("http") else self.url + path
        return requests.request(method, url, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def upload(self, data: bytes, **headers: str) -> requests.Response:
        sent = {
            "Content-Type": "application/octet-stream",
            "X-Goog-Upload-Protocol": "raw",
            "X-Goog-Upload-Content-Type": "image/jpeg",
            **headers,
        }
        return self.call("POST", "/library/v1/uploads", data=data, headers=sent)


def sign_in(url: str, admin: AdminClient, photos: int = 0, **code_args) -> tuple[dict, Api]:
    user = admin.add_user(photos=photos, width=64, height=48)
    form = {
        "grant_type": "authorization_code",
        "code": admin.mint_code(user["sub"], **code_args),
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "redirect_uri": "",
    }
    return user, Api(url, requests.post(f"{url}/token", data=form).json()["access_token"])
