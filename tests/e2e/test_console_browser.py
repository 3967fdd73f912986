"""The console in a real browser (Playwright driving Debian's Chromium): sign in through the emulator's Google,
open every page, reprocess a user with writes on, and see the same write refused with them off; any console
error in the browser fails the test."""

from __future__ import annotations

import pytest

from tests.support.browser import OPERATOR, chromium, console_with_a_day, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_an_operator_signs_in_walks_every_page_and_reprocesses_a_user(tmp_path):
    with console_with_a_day(tmp_path, write=True) as (app, _, made), chromium() as page:
        sign_in(page, app.url)
        assert page.get_by_role("heading", name="The last 24 hours").is_visible()
        assert page.locator("svg.chart").count() == 2
        sub, submission_id = made["users"][0]["sub"], made["submissions"][0]

        page.get_by_role("link", name="Users").click()
        page.get_by_label("sub or email").fill(made["users"][1]["email"])
        page.get_by_role("button", name="Search").click()
        assert page.get_by_role("link", name=made["users"][1]["sub"]).is_visible()

        page.goto(f"{app.url}/console/users/{sub}")
        page.get_by_role("link", name=submission_id).click()
        assert page.get_by_role("heading", name=f"Submission {submission_id}").is_visible()
        assert page.locator("table").nth(1).locator("tr").count() == 1 + 3  # the header and three photos

        page.goto(f"{app.url}/console/users/{sub}")
        page.get_by_role("button", name="Read the inbox again").click()
        assert page.get_by_role("heading", name="Done").is_visible()
        page.get_by_role("link", name="What operators did").click()
        assert page.get_by_role("cell", name=OPERATOR).first.is_visible()

        page.get_by_role("link", name="Failures").click()
        page.get_by_role("button", name="Sign out").click()
        assert page.get_by_role("heading", name="Signed out").is_visible()
        page.goto(f"{app.url}/console/")
        assert page.get_by_role("button", name=OPERATOR).is_visible()  # at Google's sign-in again
        assert page.errors == []


def test_with_writes_off_the_buttons_are_off_and_a_forced_write_is_refused(tmp_path):
    with console_with_a_day(tmp_path) as (app, _, made), chromium() as page:
        sign_in(page, app.url)
        page.goto(f"{app.url}/console/users/{made['users'][0]['sub']}")
        assert page.get_by_text("read-only").is_visible()
        button = page.get_by_role("button", name="Read the inbox again")
        assert button.is_disabled()
        button.evaluate("b => b.disabled = false")  # as a hand-made request would
        button.click()
        assert page.get_by_role("heading", name="Read-only").is_visible()
        assert page.errors == ["Failed to load resource: the server responded with a status of 403 (Forbidden)"]
