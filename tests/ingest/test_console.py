"""The operator's console over HTTP, as a browser drives it, against embedded darkroom and the emulator playing
Google's sign-in: who may sign in, what a forged or expired cookie and a POST without its CSRF token get, the
read-only switch, and that no page or cookie holds a secret the emulator issued."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from html.parser import HTMLParser
from typing import Any

import pytest
import requests

from tests.support.embedded import running
from workers.context import get_context
from workers.store import activity, grants

OPERATOR = "ops@example.com"


class Forms(HTMLParser):
    """The forms of a page: their action and their fields, and the text of their buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "form":
            self.forms.append({"action": named.get("action"), "fields": {}, "button": ""})
        elif tag == "input" and self.forms and named.get("name"):
            self.forms[-1]["fields"][named["name"]] = named.get("value") or ""

    def handle_data(self, data: str) -> None:
        if self.forms and data.strip():
            self.forms[-1]["button"] += data.strip()


def forms_of(html: str) -> list[dict[str, Any]]:
    parser = Forms()
    parser.feed(html)
    return parser.forms


def sign_in(app: Any, emulator_url: str, email: str = OPERATOR) -> requests.Session:
    """A browser's sign-in: the console sends it to Google, the operator picks their account, Google sends it
    back with a code, the console sets its session."""
    browser = requests.Session()
    first = browser.get(f"{app.url}/console/", allow_redirects=False)
    assert first.status_code == 302 and first.headers["location"] == "/console/login"
    to_google = browser.get(f"{app.url}/console/login", allow_redirects=False)
    assert to_google.headers["location"].startswith(f"{emulator_url}/o/oauth2/v2/auth?")
    chooser = browser.get(to_google.headers["location"])
    [account] = [f for f in forms_of(chooser.text) if f["button"] == email]
    back = browser.post(f"{emulator_url}{account['action']}", data=account["fields"], allow_redirects=False)
    assert back.headers["location"].startswith(f"{app.url}/console/callback?code=")
    signed = browser.get(back.headers["location"], allow_redirects=False)
    browser.last_status = signed.status_code  # type: ignore[attr-defined]
    return browser


@pytest.fixture
def console(settings, admin, emulator):
    def start(write: bool = False) -> Any:
        admin.add_user(email=OPERATOR, photos=0)
        changed = settings.model_copy(
            update={"console_emails": f"{OPERATOR}, other@example.com", "console_write": write}
        )
        return running(changed)

    return start


def test_an_operator_signs_in_and_every_page_answers_and_holds_no_secret(console, admin, emulator):
    with console() as app:
        admin.register_redirect_uri(f"{app.url}/console/callback")
        user = admin.add_user(photos=2, width=160, height=120)
        submission_id = app.submit(admin.mint_code(user["sub"]))
        app.wait(submission_id, "awaiting_pick")
        admin.pick(sub=user["sub"])
        assert app.wait(submission_id, "done")["status"] == "done"

        browser = sign_in(app, emulator.url)
        assert browser.last_status == 200  # type: ignore[attr-defined]
        cookie = next(c for c in browser.cookies if c.name == "darkroom_console")
        assert cookie.has_nonstandard_attr("HttpOnly") and cookie.path == "/console/"
        pages = {
            "/console/": "The last 24 hours",
            "/console/users": user["sub"],
            f"/console/users?q={user['email'][:5]}": user["sub"],
            f"/console/users/{user['sub']}": submission_id,
            f"/console/submissions/{submission_id}": "done",
            "/console/failures": "The last 24 hours, by reason",
        }
        seen = ""
        for path, expected in pages.items():
            answer = browser.get(f"{app.url}{path}", allow_redirects=False)
            assert answer.status_code == 200 and expected in answer.text, path
            assert "default-src 'none'" in answer.headers["content-security-policy"]
            seen += answer.text
        today = browser.get(f"{app.url}/console/").text
        for card in ("<b>1</b><span>codes in</span>", "<b>1</b><span>exchanged</span>", "<b>1</b><span>picked</span>"):
            assert card in today
        seen += json.dumps([c.value for c in browser.cookies])
        issued = admin.tokens()
        secrets = [t for kind in ("codes", "access_tokens", "refresh_tokens", "upload_tokens") for t in issued[kind]]
        assert secrets and not [s for s in secrets if s in seen]
        assert "googleusercontent" not in seen and "/media/" not in seen  # no base URL


def test_an_account_outside_the_list_is_refused(console, admin, emulator):
    with console() as app:
        admin.register_redirect_uri(f"{app.url}/console/callback")
        admin.add_user(email="intruder@example.com")
        browser = sign_in(app, emulator.url, email="intruder@example.com")
        assert browser.last_status == 403  # type: ignore[attr-defined]
        assert not [c for c in browser.cookies if c.name == "darkroom_console"]
        assert browser.get(f"{app.url}/console/", allow_redirects=False).status_code == 302


def test_a_forged_or_expired_session_and_a_post_without_its_csrf_token_are_refused(console, admin, emulator):
    with console() as app:
        admin.register_redirect_uri(f"{app.url}/console/callback")
        browser = sign_in(app, emulator.url)
        real = browser.cookies.get("darkroom_console")
        payload, _ = real.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        key = hmac.new(
            get_context().settings.token_key_bytes()[0], b"darkroom console session", hashlib.sha256
        ).digest()

        def signed(body: dict[str, Any]) -> str:
            data = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
            mac = base64.urlsafe_b64encode(hmac.new(key, data.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
            return f"{data}.{mac}"

        forged = base64.urlsafe_b64encode(json.dumps({**claims, "e": "other@example.com"}).encode()).decode()
        for value in (f"{forged.rstrip('=')}.{real.split('.')[1]}", signed({**claims, "x": int(time.time()) - 1})):
            stranger = requests.Session()
            stranger.cookies.set("darkroom_console", value, path="/console/")
            assert stranger.get(f"{app.url}/console/", allow_redirects=False).status_code == 302
        assert browser.get(f"{app.url}/console/", allow_redirects=False).status_code == 200  # the real one works

        page = browser.get(f"{app.url}/console/failures").text
        [logout] = [f for f in forms_of(page) if f["action"] == "/console/logout"]
        without = browser.post(f"{app.url}/console/actions", data={"action": "purge", "target": "photos"})
        assert without.status_code == 403 and "CSRF" in without.text
        token = logout["fields"]["csrf"]
        read_only = browser.post(
            f"{app.url}/console/actions", data={"action": "purge", "target": "photos", "csrf": token}
        )
        assert read_only.status_code == 403 and "read-only" in read_only.text
        assert activity.recent_actions(get_context().db) == []


def test_with_writes_on_an_operator_revokes_a_user_and_it_is_recorded(console, admin, emulator):
    with console(write=True) as app:
        admin.register_redirect_uri(f"{app.url}/console/callback")
        user = admin.add_user(photos=0)
        app.wait(app.submit(admin.mint_code(user["sub"])), "awaiting_pick")
        browser = sign_in(app, emulator.url)
        page = browser.get(f"{app.url}/console/users/{user['sub']}").text
        [revoke] = [f for f in forms_of(page) if f["fields"].get("action") == "revoke"]
        done = browser.post(f"{app.url}{revoke['action']}", data=revoke["fields"])
        assert done.status_code == 200 and "revoking user" in done.text
        [action] = activity.recent_actions(get_context().db)
        assert (action["email"], action["action"], action["target"]) == (OPERATOR, "revoke", user["sub"])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and grants.get(get_context().db, user["sub"]).state != "deleted":
            time.sleep(0.1)
        assert grants.get(get_context().db, user["sub"]).state == "deleted"  # a worker revoked and deleted
        listed = browser.get(f"{app.url}/console/failures").text
        assert re.search(rf"{re.escape(OPERATOR)}</td><td>revoke</td><td>{user['sub']}", listed)


def test_a_file_name_that_looks_like_markup_shows_as_text(console, admin, emulator):
    """A user's photos keep the names the user gave them: one that starts like the console's own links must not
    become a link (or a form) in the operator's page."""
    hostile = '<a href="https://evil.example/">IMG_1.jpg</a>'
    with console() as app:
        admin.register_redirect_uri(f"{app.url}/console/callback")
        user = admin.add_user(photos=1, width=160, height=120, names=[hostile])
        submission_id = app.submit(admin.mint_code(user["sub"]))
        app.wait(submission_id, "awaiting_pick")
        admin.pick(sub=user["sub"])
        assert app.wait(submission_id, "done")["status"] == "done"
        page = sign_in(app, emulator.url).get(f"{app.url}/console/submissions/{submission_id}").text
        assert "evil.example" in page and hostile not in page
        assert "&lt;a href=&quot;https://evil.example/&quot;&gt;IMG_1.jpg&lt;/a&gt;" in page
