"""Settings: every contract name read from the environment, client secrets from Google's JSON, keys checked."""

from __future__ import annotations

import json

import pytest

from settings import ConfigurationError, Settings
from workers.store.vault import new_key

CONTRACT = {
    "DARKROOM_DATABASE_URL": ("database_url", "postgresql://db/x"),
    "DARKROOM_REDIS_URL": ("redis_url", "redis://r:6379/0"),
    "DARKROOM_GOOGLE_REDIRECT_URI": ("google_redirect_uri", "https://app.example.com/cb"),
    "DARKROOM_GOOGLE_TOKEN_URI": ("google_token_uri", "http://127.0.0.1:1/token"),
    "DARKROOM_GOOGLE_REVOKE_URI": ("google_revoke_uri", "http://127.0.0.1:1/revoke"),
    "DARKROOM_GOOGLE_CERTS_URI": ("google_certs_uri", "http://127.0.0.1:1/certs"),
    "DARKROOM_PHOTOS_LIBRARY_URI": ("photos_library_uri", "http://127.0.0.1:1/library"),
    "DARKROOM_PHOTOS_PICKER_URI": ("photos_picker_uri", "http://127.0.0.1:1/picker"),
    "DARKROOM_TARGET_ALBUM_TITLE": ("target_album_title", "Better"),
    "DARKROOM_INBOX_ALBUM_TITLE": ("inbox_album_title", "To do"),
}


def test_defaults_point_at_google_and_the_embedded_mode(monkeypatch):
    for name in [*CONTRACT, "REDIS_URL", "DARKROOM_TOKEN_KEYS"]:
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.redis_url is None and settings.database_url == "sqlite:///./darkroom.db"
    assert settings.google_token_uri == "https://oauth2.googleapis.com/token"
    assert settings.google_certs_uri == "https://www.googleapis.com/oauth2/v1/certs"
    assert settings.photos_library_uri == "https://photoslibrary.googleapis.com"
    assert settings.google_redirect_uri == ""


def test_every_contract_name_is_read_from_the_environment(monkeypatch):
    for name, (_, value) in CONTRACT.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    for _, (field, value) in CONTRACT.items():
        assert getattr(settings, field) == value


def test_plain_redis_url_is_accepted(monkeypatch):
    monkeypatch.delenv("DARKROOM_REDIS_URL", raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://paas:6379/1")
    assert Settings(_env_file=None).redis_url == "redis://paas:6379/1"


def test_client_credentials_from_the_downloaded_client_secret_json(tmp_path, monkeypatch):
    path = tmp_path / "client_secret_123.apps.googleusercontent.com.json"
    path.write_text(json.dumps({"web": {"client_id": "123.apps", "client_secret": "s3cret", "token_uri": "x"}}))
    monkeypatch.setenv("DARKROOM_GOOGLE_CLIENT_SECRETS_FILE", str(path))
    monkeypatch.delenv("DARKROOM_GOOGLE_CLIENT_ID", raising=False)
    assert Settings(_env_file=None).client_credentials() == ("123.apps", "s3cret")


def test_id_and_secret_settings_win_over_the_file(tmp_path):
    settings = Settings(
        _env_file=None,
        google_client_id="a",
        google_client_secret="b",
        google_client_secrets_file=tmp_path / "missing.json",
    )
    assert settings.client_credentials() == ("a", "b")


def test_no_client_credentials_says_how_to_fix_it():
    with pytest.raises(ConfigurationError, match="DARKROOM_GOOGLE_CLIENT_SECRETS_FILE"):
        Settings(_env_file=None, google_client_id=None, google_client_secrets_file=None).client_credentials()


def test_token_keys_are_checked():
    assert len(Settings(_env_file=None, token_keys=f"{new_key()},{new_key()}").token_key_bytes()) == 2
    with pytest.raises(ConfigurationError, match="darkroom keys new"):
        Settings(_env_file=None, token_keys=None).token_key_bytes()
    with pytest.raises(ConfigurationError, match="32 bytes"):
        Settings(_env_file=None, token_keys="c2hvcnQ=").token_key_bytes()


def test_secrets_do_not_show_in_repr():
    settings = Settings(_env_file=None, google_client_secret="s3cret-value", token_keys=new_key())
    assert "s3cret-value" not in repr(settings) and "s3cret-value" not in str(settings.model_dump())
