"""The token vault's rules, end to end against the emulator, on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from collections.abc import Iterator

import pytest
import requests
import sqlalchemy

from emulator.world import DRIVE_APPDATA
from settings import Settings
from tests.support.embedded import Darkroom, running, settings_for
from tests.support.google import redeem
from tests.support.processes import cli, env_of
from workers.context import Context, get_context
from workers.store import grants, submissions
from workers.store.vault import new_key


@pytest.fixture
def vault_settings(emulator, database_url) -> Settings:
    return settings_for(emulator.url, database_url)


@pytest.fixture
def app(vault_settings) -> Iterator[Darkroom]:
    with running(vault_settings) as darkroom:
        yield darkroom


def darkroom_cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return cli(*args, env=env_of(settings, **env), timeout_s=60)


def signed_in(app: Darkroom, admin, **code_args) -> dict:
    user = admin.add_user(photos=0)
    status = app.wait(app.submit(admin.mint_code(user["sub"], **code_args)), "awaiting_pick")
    assert status["status"] == "awaiting_pick"
    return user


def dump(settings: Settings) -> str:
    engine = sqlalchemy.create_engine(settings.database_url)
    with engine.connect() as connection:
        tables = sqlalchemy.inspect(connection).get_table_names()
        text = "\n".join(
            repr(tuple(r)) for t in tables for r in connection.execute(sqlalchemy.text(f"SELECT * FROM {t}"))
        )
    engine.dispose()
    return text


def test_database_holds_no_plaintext_token(app, admin, vault_settings):
    user = admin.add_user(photos=1, width=160, height=120)
    submission_id = app.submit(admin.mint_code(user["sub"]))
    app.wait(submission_id, "awaiting_pick")
    admin.pick(sub=user["sub"])
    app.wait(submission_id, "done")
    issued = admin.tokens()
    text = dump(vault_settings)
    assert user["email"] in text  # the dump does read the grants
    for secret in issued["codes"] + issued["access_tokens"] + issued["refresh_tokens"] + issued["upload_tokens"]:
        assert secret not in text


@pytest.mark.slow
def test_rotation_reencrypts_everything_then_old_keys_can_go(app, admin, vault_settings):
    user = signed_in(app, admin)
    pending_code = "4/0Apending-" + "x" * 40  # a queued submission still holds its code
    submissions.record(get_context().db, get_context().vault, pending_code, "picker")
    old_key = vault_settings.token_keys.get_secret_value()
    new = new_key()
    result = darkroom_cli(vault_settings, "keys", "rotate", DARKROOM_TOKEN_KEYS=f"{new},{old_key}")
    assert result.returncode == 0, result.stderr
    assert "re-encrypted 3 secrets" in result.stdout  # the refresh and access tokens, and the pending code
    only_new = Context(vault_settings.model_copy(update={"token_keys": vault_settings.token_keys.__class__(new)}))
    assert grants.refresh_token_of(only_new.db, only_new.vault, user["sub"]) in admin.tokens()["refresh_tokens"]
    assert submissions.record(only_new.db, only_new.vault, pending_code, "picker")[1] is False  # found again
    only_new.db.dispose()


@pytest.mark.slow
def test_cli_revoke_revokes_at_google_and_forgets_the_user(app, admin, vault_settings):
    user = signed_in(app, admin)
    result = darkroom_cli(vault_settings, "revoke", "--user", user["sub"])
    assert result.returncode == 0, result.stderr
    assert admin.counts()["oauth.revoke"] == 1 and [g["revoked"] for g in admin.state()["grants"]] == [True]
    grant = grants.get(get_context().db, user["sub"])
    assert grant.state == "deleted" and grant.refresh_secret is None and grant.email is None and grant.name is None
    assert user["email"] not in dump(vault_settings)
    again = darkroom_cli(vault_settings, "revoke", "--user", "no-such-user")
    assert again.returncode == 1 and "no grant is stored" in again.stderr


def test_app_disconnects_its_user_with_the_id_token(app, admin, emulator):
    user = signed_in(app, admin)
    id_token = redeem(emulator.url, admin.mint_code(user["sub"])).json()["id_token"]
    headers = {"X-Requested-With": "app"}
    assert requests.delete(f"{app.url}/v1/me", headers=headers).status_code == 401
    forged = id_token[:-8] + ("A" * 8 if not id_token.endswith("A" * 8) else "B" * 8)
    assert (
        requests.delete(f"{app.url}/v1/me", headers={**headers, "Authorization": f"Bearer {forged}"}).status_code == 401
    )
    answer = requests.delete(f"{app.url}/v1/me", headers={**headers, "Authorization": f"Bearer {id_token}"})
    assert answer.status_code == 202
    app.app.join()
    assert grants.get(get_context().db, user["sub"]).state == "deleted"
    assert admin.counts()["oauth.revoke"] == 1


@pytest.mark.parametrize(
    "event,state",
    [
        ("tokens-revoked", "revoked"),
        ("sessions-revoked", "revoked"),
        ("account-disabled", "revoked"),
        ("token-revoked", "revoked"),
    ],
)
def test_security_events_are_verified_applied_and_deduplicated(app, admin, event, state):
    user = signed_in(app, admin)
    token = admin.security_event(user["sub"], event, jti="event-1")
    headers = {"Content-Type": "application/secevent+jwt"}
    assert requests.post(f"{app.url}/v1/risc", data=token, headers=headers).status_code == 202
    assert requests.post(f"{app.url}/v1/risc", data=token, headers=headers).status_code == 202  # redelivery
    app.app.join()
    grant = grants.get(get_context().db, user["sub"])
    assert grant.state == state and grant.refresh_secret is None
    assert admin.counts().get("oauth.revoke", 0) == 0  # Google told us; nothing to revoke there
    with get_context().db.session() as s:
        assert s.execute(sqlalchemy.text("SELECT count(*) FROM security_events")).scalar() == 1


def _refused_events(app) -> float:
    """What /metrics counts of the security events /v1/risc refused (DarkroomSecurityEventsRefused reads it)."""
    found = re.search(
        r'darkroom_security_events_total\{outcome="refused"\} ([0-9.e+]+)', requests.get(f"{app.url}/metrics").text
    )
    return float(found.group(1)) if found else 0.0


def test_security_events_that_do_not_verify_get_400(app, admin):
    user = signed_in(app, admin)
    refused_before = _refused_events(app)
    headers = {"Content-Type": "application/secevent+jwt"}
    foreign = admin.security_event(user["sub"], "sessions-revoked", audience="someone-else.apps.googleusercontent.com")
    answer = requests.post(f"{app.url}/v1/risc", data=foreign, headers=headers)
    assert answer.status_code == 400 and answer.json()["err"] == "invalid_audience"
    good = admin.security_event(user["sub"], "sessions-revoked")
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["events"] = {
        "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked": {
            "subject": {"subject_type": "iss-sub", "iss": "https://accounts.google.com/", "sub": "someone-else"}
        }
    }
    tampered = ".".join([header, base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("="), signature])
    assert requests.post(f"{app.url}/v1/risc", data=tampered, headers=headers).status_code == 400
    assert requests.post(f"{app.url}/v1/risc", data="not.a.jwt", headers=headers).status_code == 400
    assert requests.post(f"{app.url}/v1/risc", data=good, headers={"Content-Type": "text/plain"}).status_code == 400
    assert grants.get(get_context().db, user["sub"]).state == "active"
    assert _refused_events(app) - refused_before >= 4


def test_transient_refresh_failure_is_waited_out(vault_settings, admin):
    """The photo waits out the user's refresh cool-down (1 s here, 30 s shipped) and then ends done."""
    with running(vault_settings.model_copy(update={"refresh_cooldown_s": 1.0})) as app:
        user = admin.add_user(photos=1, width=160, height=120)
        submission_id = app.submit(admin.mint_code(user["sub"]))
        app.wait(submission_id, "awaiting_pick")
        admin.expire_access_tokens(user["sub"])
        admin.inject_fault("oauth.token.refresh_token", status=503, count=1)
        admin.pick(sub=user["sub"])
        assert app.wait(submission_id, "done")["status"] == "done"
        statuses = [r["status"] for r in admin.requests() if r["endpoint"] == "oauth.token.refresh_token"]
        assert statuses == [503, 200]
        assert grants.get(get_context().db, user["sub"]).state == "active"


def test_a_new_refresh_token_replaces_the_stored_one(app, admin):
    admin.set_lifetimes(rotate_refresh_tokens=True)
    user = admin.add_user(photos=1, width=160, height=120)
    submission_id = app.submit(admin.mint_code(user["sub"]))
    app.wait(submission_id, "awaiting_pick")
    first = grants.refresh_token_of(get_context().db, get_context().vault, user["sub"])
    admin.expire_access_tokens(user["sub"])
    admin.pick(sub=user["sub"])
    assert app.wait(submission_id, "done")["status"] == "done"
    stored = grants.refresh_token_of(get_context().db, get_context().vault, user["sub"])
    assert stored != first and stored in admin.tokens()["refresh_tokens"]


@pytest.mark.slow
def test_call_acts_as_the_user_on_any_api(app, admin, vault_settings):
    user = signed_in(
        app,
        admin,
        scopes=[
            "openid",
            "email",
            "profile",
            DRIVE_APPDATA,
            "https://www.googleapis.com/auth/photospicker.mediaitems.readonly",
            "https://www.googleapis.com/auth/photoslibrary.appendonly",
            "https://www.googleapis.com/auth/photoslibrary.readonly.appcreateddata",
        ],
    )
    result = darkroom_cli(vault_settings, "call", "--user", user["sub"], "drive", "v3", "files.get", "fileId=appfolder")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["name"] == "appDataFolder"
    missing = darkroom_cli(vault_settings, "call", "--user", user["sub"], "drive", "v3", "files.get", "fileId=nope")
    assert missing.returncode == 1 and "404" in missing.stderr
