"""Registering darkroom's Cross-Account Protection receiver with Google's RISC management API, over HTTP
against the emulator (strict: a service-account JWT for the management audience, the Configuration Admin role):
register, read back, verify end to end through darkroom's /v1/risc, disable and enable."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.processes import cli, env_of

VERIFICATION = "https://schemas.openid.net/secevent/risc/event-type/verification"


def _account(tmp_path: Path, google, role: bool = True) -> str:
    path = tmp_path / "risc-service-account.json"
    path.write_text(json.dumps(google.risc_service_account(admin=role)))
    return str(path)


def test_register_verify_disable_and_enable_the_receiver(darkroom, admin, settings, tmp_path):
    env = env_of(settings, DARKROOM_RISC_SERVICE_ACCOUNT_FILE=_account(tmp_path, admin))
    receiver = f"{darkroom.url}/v1/risc"
    assert "no receiver is registered" in cli("risc", "status", env=env).stdout

    registered = cli("risc", "register", "--url", receiver, "--insecure", env=env)
    assert registered.returncode == 0, registered.stderr
    held = admin.risc_stream()
    assert held["config"]["delivery"] == {
        "delivery_method": "https://schemas.openid.net/secevent/risc/delivery-method/push", "url": receiver,
    }  # fmt: skip
    assert VERIFICATION in held["config"]["events_requested"] and len(held["config"]["events_requested"]) == 7
    shown = cli("risc", "status", env=env)
    assert f"receiver {receiver}  stream enabled" in shown.stdout and "verification" in shown.stdout

    verified = cli("risc", "verify", "--timeout", "20", env=env)
    assert (
        verified.returncode == 0 and "verified: the receiver recorded verification darkroom-verify-" in verified.stdout
    )
    assert [d["status"] for d in admin.risc_stream()["delivered"]] == [202]  # darkroom's receiver took it

    assert "stream disabled" in cli("risc", "disable", env=env).stdout
    refused = cli("risc", "verify", "--timeout", "2", env=env)
    assert refused.returncode == 1 and "the stream is disabled" in refused.stderr
    assert len(admin.risc_stream()["delivered"]) == 1  # Google sent nothing, and keeps nothing for later
    assert "stream enabled" in cli("risc", "enable", env=env).stdout
    assert cli("risc", "verify", "--timeout", "20", env=env).returncode == 0


def test_the_management_api_refuses_what_google_refuses(darkroom, admin, settings, tmp_path, emulator):
    import requests

    no_role = env_of(settings, DARKROOM_RISC_SERVICE_ACCOUNT_FILE=_account(tmp_path, admin, role=False))
    refused = cli("risc", "register", "--url", f"{darkroom.url}/v1/risc", "--insecure", env=no_role)
    assert refused.returncode == 1 and "lacks the RISC Configuration Admin role" in refused.stderr
    unset = cli("risc", "status", env=env_of(settings))
    assert unset.returncode == 1 and "DARKROOM_RISC_SERVICE_ACCOUNT_FILE is not set" in unset.stderr
    plain = cli("risc", "register", "--url", "http://example.com/v1/risc", env=no_role)
    assert plain.returncode == 1 and "https://" in plain.stderr
    for bearer in ("", "Bearer not.a.jwt", f"Bearer {_foreign_jwt()}"):
        answer = requests.get(f"{emulator.url}/risc/v1beta/stream", headers={"Authorization": bearer}, timeout=5)
        assert answer.status_code == 401 and answer.json()["error"]["status"] == "UNAUTHENTICATED"


def _foreign_jwt() -> str:
    """A JWT signed by a key Google does not know, for the right audience."""
    import time

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {"iss": "x@y.iam.gserviceaccount.com", "sub": "x@y.iam.gserviceaccount.com", "iat": now, "exp": now + 60}
    claims["aud"] = "https://risc.googleapis.com/google.identity.risc.v1beta.RiscManagementService"
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "unknown"})
