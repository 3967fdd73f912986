"""A real browser for the console: Playwright for Python driving Debian's Chromium (`apt-get install chromium`;
no browser download), and a darkroom with a console and a day's work to show, against the emulator.

    python -m tests.support.browser docs/console     # make screenshots: the console's pages as PNGs
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
OPERATOR = "ops@example.com"


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium page that records every console error and uncaught exception in `page.errors`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page: Any = browser.new_page(viewport={"width": 1100, "height": 900})
            errors: list[str] = []

            def on_console(message: Any) -> None:
                if message.type == "error":
                    errors.append(message.text)

            def on_error(error: Any) -> None:
                errors.append(str(error))

            page.on("console", on_console)
            page.on("pageerror", on_error)
            page.errors = errors
            yield page
        finally:
            browser.close()


def sign_in(page: Any, app_url: str, email: str = OPERATOR) -> None:
    """As an operator does: open the console, pick the account at Google, land on the console."""
    page.goto(f"{app_url}/console/")
    page.get_by_role("button", name=email).click()
    page.wait_for_url(f"{app_url}/console/")


@contextlib.contextmanager
def console_with_a_day(workdir: Path, write: bool = False) -> Iterator[tuple[Any, Any, dict[str, Any]]]:
    """Embedded darkroom with its console, the emulator, and three users' picks done: the app, the emulator's
    admin client, and what was made (`users`, `submissions`)."""
    from emulator import server
    from emulator.client import AdminClient
    from tests.support.embedded import running, settings_for
    from workers.google.certs import CERTS

    emulator = server.start()
    CERTS.clear()  # this Google's keys, not an earlier one's at the same address
    try:
        admin = AdminClient(emulator.url)
        settings = settings_for(emulator.url, f"sqlite:///{workdir / 'darkroom.db'}")
        settings = settings.model_copy(update={"console_emails": OPERATOR, "console_write": write})
        admin.add_user(email=OPERATOR)
        with running(settings) as app:
            admin.register_redirect_uri(f"{app.url}/console/callback")
            admin.set_lifetimes(poll_interval_s=0.5)
            made: dict[str, Any] = {"users": [], "submissions": []}
            for photos in (3, 1, 2):
                user = admin.add_user(photos=photos, width=320, height=240)
                submission_id = app.submit(admin.mint_code(user["sub"]))
                app.wait(submission_id, "awaiting_pick")
                admin.pick(sub=user["sub"])
                app.wait(submission_id, "done", timeout_s=60)
                made["users"].append(user)
                made["submissions"].append(submission_id)
            yield app, admin, made
        admin.close()
    finally:
        emulator.stop()


def screenshots(out: Path) -> list[Path]:
    """The console's pages as PNGs in `out`, for the README."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with (
        tempfile.TemporaryDirectory() as workdir,
        console_with_a_day(Path(workdir)) as (app, _, made),
        chromium() as page,
    ):
        sign_in(page, app.url)
        sub, submission_id = made["users"][0]["sub"], made["submissions"][0]
        for name, path in (
            ("today", "/console/"),
            ("user", f"/console/users/{sub}"),
            ("submission", f"/console/submissions/{submission_id}"),
        ):
            page.goto(f"{app.url}{path}")
            target = out / f"{name}.png"
            page.screenshot(path=str(target), full_page=True)
            written.append(target)
    return written


if __name__ == "__main__":
    for path in screenshots(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/console")):
        print(f"wrote {path}")
