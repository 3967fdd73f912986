"""The control surface: faults, lifetimes, revocation, the request log, and the generated photos."""

from __future__ import annotations

import io
import time

import requests
from PIL import Image, ImageChops, ImageOps, ImageStat

from emulator import photos
from tests.support.google import sign_in


def test_fault_hits_the_next_n_matching_requests_then_clears(emulator, admin):
    _, api = sign_in(emulator.url, admin)
    admin.inject_fault("library.albums.*", status=429, count=2, retry_after_s=31)
    first = api.call("GET", "/library/v1/albums")
    assert first.status_code == 429 and first.headers["Retry-After"] == "31"
    assert first.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert api.call("POST", "/library/v1/albums", json={"album": {"title": "x"}}).status_code == 429
    assert api.call("GET", "/library/v1/albums").status_code == 200


def test_fault_for_a_while_hits_every_matching_request_until_it_is_over(emulator, admin):
    _, api = sign_in(emulator.url, admin)
    admin.inject_fault("library.albums.list", status=500, for_s=1.0)
    assert [api.call("GET", "/library/v1/albums").status_code for _ in range(5)] == [500] * 5
    time.sleep(1.0)
    assert api.call("GET", "/library/v1/albums").status_code == 200


def test_fault_on_the_token_endpoint_uses_oauth_shape(emulator, admin):
    admin.inject_fault("oauth.token.*", status=503)
    user = admin.add_user()
    form = {"grant_type": "authorization_code", "code": admin.mint_code(user["sub"])}
    response = requests.post(f"{emulator.url}/token", data=form)
    assert response.status_code == 503 and response.json()["error"] == "internal_failure"


def test_delay_fault_slows_the_answer(emulator, admin):
    _, api = sign_in(emulator.url, admin)
    admin.inject_fault("library.albums.list", delay_s=0.5)
    started = time.monotonic()
    assert api.call("GET", "/library/v1/albums").status_code == 200
    assert time.monotonic() - started >= 0.5


def test_request_log_counts_per_endpoint_with_status(emulator, admin):
    _, api = sign_in(emulator.url, admin)
    api.call("GET", "/library/v1/albums")
    requests.get(f"{emulator.url}/library/v1/albums")
    assert admin.counts()["library.albums.list"] == 2
    statuses = [r["status"] for r in admin.requests() if r["endpoint"] == "library.albums.list"]
    assert statuses == [200, 401]


def test_admin_revoke_kills_access_and_refresh(emulator, admin):
    user, api = sign_in(emulator.url, admin)
    assert admin.revoke(user["sub"]) == 1
    assert api.call("GET", "/library/v1/albums").status_code == 401


def test_expire_access_tokens_gives_401_before_expiry(emulator, admin):
    user, api = sign_in(emulator.url, admin)
    assert admin.expire_access_tokens(user["sub"]) == 1
    assert api.call("GET", "/library/v1/albums").status_code == 401


def test_tokens_listing_exposes_what_was_issued(emulator, admin):
    _user, api = sign_in(emulator.url, admin)
    issued = admin.tokens()
    assert api.headers["Authorization"].split()[1] in issued["access_tokens"]
    assert len(issued["refresh_tokens"]) == 1 and len(issued["codes"]) == 1


def test_generated_photos_carry_exif_icc_and_every_orientation():
    for orientation in range(1, 9):
        data = photos.jpeg(120, 80, seed=orientation, orientation=orientation)
        image = Image.open(io.BytesIO(data))
        exif = image.getexif()
        assert exif[0x0112] == orientation and exif[0x010F] and exif[0x0110]
        assert image.info["icc_profile"]
        stored = (80, 120) if orientation >= 5 else (120, 80)
        assert image.size == stored
        assert ImageOps.exif_transpose(image).size == (120, 80)


def test_generated_photos_are_upright_after_transpose():
    """Every orientation shows the same scene as orientation 1 once EXIF is applied."""
    for orientation in range(1, 9):
        upright = ImageOps.exif_transpose(Image.open(io.BytesIO(photos.jpeg(80, 60, orientation=orientation))))
        reference = Image.open(io.BytesIO(photos.jpeg(80, 60, orientation=1)))
        diff = ImageStat.Stat(ImageChops.difference(upright.convert("L"), reference.convert("L"))).mean[0]
        assert diff < 6, f"orientation {orientation} is not upright (mean diff {diff:.1f})"
        flipped = ImageStat.Stat(ImageChops.difference(upright.convert("L"), reference.transpose(1).convert("L")))
        assert flipped.mean[0] > diff  # the check can tell upside down from upright


def test_photos_up_to_24_megapixels():
    data = photos.jpeg(6000, 4000, seed=1)
    assert Image.open(io.BytesIO(data)).size == (6000, 4000)


def test_heic_photos_when_the_heif_encoder_is_installed():
    data = photos.heic(320, 240, seed=1)
    assert data[4:12] == b"ftypheic"
    import pi_heif  # the decode-only plugin darkroom itself uses

    pi_heif.register_heif_opener()
    image = Image.open(io.BytesIO(data))
    assert image.size == (320, 240) and image.getexif()[0x0110] == "iPhone 15 Pro" and image.info["icc_profile"]
