"""The console on the Procfile's web process (uvicorn, its access log on): an operator's sign-in leaves Google's
code in no log line, though the callback carries it in its query."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
import requests

from emulator.client import AdminClient
from tests.ingest.test_console import forms_of
from tests.support.processes import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def test_the_callbacks_code_reaches_no_log(tmp_path, redis_url, postgres_url):
    stack = Stack(tmp_path, postgres_url, redis_url, DARKROOM_CONSOLE_EMAILS="ops@example.com")
    try:
        stack.up("web")
        admin = AdminClient(stack.emulator_url)
        admin.add_user(email="ops@example.com")
        admin.register_redirect_uri(f"{stack.web_url}/console/callback")
        browser = requests.Session()
        to_google = browser.get(f"{stack.web_url}/console/login", allow_redirects=False).headers["location"]
        [account] = forms_of(browser.get(to_google).text)
        back = browser.post(f"{stack.emulator_url}{account['action']}", data=account["fields"], allow_redirects=False)
        code = back.headers["location"].split("code=", 1)[1].split("&", 1)[0]
        assert browser.get(back.headers["location"], allow_redirects=False).status_code == 200
        assert browser.get(f"{stack.web_url}/console/", allow_redirects=False).status_code == 200
        stack.stop_all()
        logged = stack.log("web").read_text()
        assert "GET /console/callback HTTP/1.1" in logged  # the access log is on, the query left out
        assert code not in logged and unquote(code) not in logged
        admin.close()
    finally:
        stack.stop_all()
