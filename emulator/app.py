"""The emulator's ASGI app: one origin with Google's own paths under it, and /_admin/ for control."""

from __future__ import annotations

from starlette.applications import Starlette

from emulator import admin, content, drive, fcm, library, oauth, picker, risc
from emulator.world import Google


def create_app(google: Google | None = None) -> Starlette:
    app = Starlette(
        routes=[
            *oauth.routes,
            *picker.routes,
            *library.routes,
            *content.routes,
            *drive.routes,
            *fcm.routes,
            *risc.routes,
            *admin.routes,
        ]
    )
    app.state.google = google or Google()
    return app
