"""`darkroom demo`: the whole flow offline. It plays both the app and Google (the emulator), narrates each
step, and writes demo-output/contact-sheet.png with each photo before and after.

The only place darkroom imports the emulator.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from settings import Settings
from workers.store.states import SourceKind, SubmissionStatus
from workers.store.vault import new_key

if TYPE_CHECKING:
    from emulator.client import AdminClient

PHOTOS = 12
DEMO_DEVICE = "demo-device-fcm-registration-token:" + "x" * 40  # what the app's FCM SDK would hand it


def demo_settings(emulator_url: str, database_url: str) -> Settings:
    """Settings with every Google URL at the emulator (tests build theirs from these too)."""
    from emulator.world import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

    return Settings(
        database_url=database_url,
        redis_url=None,
        google_client_id=DEMO_CLIENT_ID,
        google_client_secret=SecretStr(DEMO_CLIENT_SECRET),
        google_token_uri=f"{emulator_url}/token",
        google_revoke_uri=f"{emulator_url}/revoke",
        google_certs_uri=f"{emulator_url}/oauth2/v1/certs",
        photos_library_uri=f"{emulator_url}/library",
        photos_picker_uri=f"{emulator_url}/picker",
        google_api_uri=emulator_url,
        risc_jwks_uri=f"{emulator_url}/oauth2/v3/certs",
        risc_api_uri=f"{emulator_url}/risc",
        google_auth_uri=f"{emulator_url}/o/oauth2/v2/auth",
        token_keys=SecretStr(new_key()),
        log_format="text",
    )


def _say(step: str) -> None:
    print(f"[demo] {step}", flush=True)


def _http(method: str, url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", "X-Requested-With": "darkroom-demo"}
    with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method, headers=headers)) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def _wait_for(url: str, wanted: tuple[str, ...], timeout_s: float) -> dict[str, Any]:
    deadline, last = time.monotonic() + timeout_s, ""
    while time.monotonic() < deadline:
        status = _http("GET", url)
        line = f"status={status['status']} counts={status['counts']}"
        if line != last:
            _say(f"  {line}")
            last = line
        if status["status"] in wanted or status["status"] == SubmissionStatus.FAILED:
            return status
        time.sleep(0.2)
    raise TimeoutError(f"the submission did not reach {wanted} in {timeout_s:.0f} s")


def run(out_dir: Path = Path("demo-output"), photos: int = PHOTOS, size: tuple[int, int] = (2000, 1500)) -> int:
    from emulator import server as emulator_server
    from emulator.client import AdminClient
    from workers.cli.embedded import Embedded
    from workers.cli.receiver import SECRET, receiving

    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    emulator = emulator_server.start()
    google = AdminClient(emulator.url)
    _say(f"Google emulator up at {emulator.url}")
    account = out_dir / "firebase-service-account.json"
    account.write_text(json.dumps(google.service_account()))
    with receiving() as backend:
        told = {"webhook_url": backend.url, "webhook_secrets": SecretStr(SECRET), "notify_min_backoff_s": 0.2}
        told |= {"fcm_service_account_file": account, "fcm_uri": f"{emulator.url}/fcm"}
        settings = demo_settings(emulator.url, f"sqlite:///{out_dir / 'darkroom.db'}").model_copy(update=told)
        app = Embedded(settings, port=0)
        try:
            base = app.start()
            _say(f"darkroom (web + workers, embedded broker, SQLite) at {base}")
            _say(f"the app's backend listens for webhooks at {backend.url}")
            played = _play(base, google, out_dir, photos, size)
            return played or _heard(backend, google)
        finally:
            app.stop()
            emulator.stop()


def _play(base: str, google: AdminClient, out_dir: Path, photos: int, size: tuple[int, int]) -> int:
    user = google.add_user(photos=photos, width=size[0], height=size[1], name="Ada Lovelace")
    _say(f"a user with {photos} dull {size[0]}x{size[1]} phone photos (EXIF orientations 1-8, ICC) signs in")
    code = google.mint_code(user["sub"])
    _say("the app posts its one-time serverAuthCode to darkroom, then goes offline")
    body = {"code": code, "source": SourceKind.PICKER, "push_token": DEMO_DEVICE}
    accepted = _http("POST", f"{base}/v1/auth-codes", body)
    status_url = base + accepted["status_url"]
    _say(f"202 accepted: submission {accepted['submission_id']}")
    status = _wait_for(status_url, (SubmissionStatus.AWAITING_PICK,), 60)
    if status["status"] == SubmissionStatus.FAILED:
        _say(f"FAILED: {status['error']}")
        return 1
    _say(f"darkroom exchanged the code and opened a Picker session: {status['picker_uri']}")
    google.pick(sub=user["sub"])
    _say("the user picks all their photos in Google Photos' picker")
    status = _wait_for(status_url, (SubmissionStatus.DONE,), 300)
    return _report(google, user, status, out_dir)


def _heard(backend: Any, google: AdminClient, timeout_s: float = 10) -> int:
    """What the app heard back: the webhooks its backend verified, and the push its phone would show."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and (len(backend.events()) < 2 or not google.push_messages()):
        time.sleep(0.1)
    for event in sorted(backend.events(), key=lambda e: e["timestamp"]):
        data = event["data"]
        _say(f"webhook verified (standardwebhooks): {event['type']} status={data['status']} counts={data['counts']}")
    for push in google.push_messages():
        _say(f"push to the phone (FCM): {push['notification']['title']!r} data={push['data']}")
    heard = len(backend.events()) >= 2 and bool(google.push_messages())
    _say("the app was told" if heard else "INCOMPLETE: the app was not told")
    return 0 if heard else 1


def _report(google: AdminClient, user: dict[str, Any], status: dict[str, Any], out_dir: Path) -> int:
    from pipelines.contact_sheet import contact_sheet

    albums = [a for a in google.state()["albums"] if a["sub"] == user["sub"]]
    outputs = [item for album in albums for item in album["items"]]
    _say(f"Google Photos now holds {len(outputs)} enhanced photos in album(s) {[a['title'] for a in albums]}")
    names = next(u["filenames"] for u in google.state()["users"] if u["sub"] == user["sub"])
    originals = {name.rsplit(".", 1)[0]: media_id for media_id, name in names.items()}
    pairs = []
    for item in sorted(outputs, key=lambda i: i["filename"]):
        original = originals[item["filename"].rsplit("-darkroom-", 1)[0]]
        pairs.append((item["filename"], google.media_bytes(original), google.media_bytes(item["id"])))
    sheet = out_dir / "contact-sheet.png"
    sheet.write_bytes(contact_sheet(pairs))
    _say(f"wrote {sheet} ({len(pairs)} before/after pairs)")
    ok = status["status"] == SubmissionStatus.DONE and len(outputs) == len(user["media"])
    _say("done" if ok else f"INCOMPLETE: {status}")
    return 0 if ok else 1


def demo(args: argparse.Namespace, settings: Settings) -> int:
    """The demo plays Google too: it runs on settings of its own, pointed at the emulator, whatever is set."""
    return run(Path(args.out))


def register(sub: Any) -> None:
    command = sub.add_parser("demo", help="the whole flow offline, with a contact sheet")
    command.add_argument("--out", default="demo-output")
    command.set_defaults(run=demo)
