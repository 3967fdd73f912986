"""darkroom's settings: the only module that reads the environment (prefix DARKROOM_, and .env).

Entry points call get_settings() once; everything below receives a Settings or the values it needs.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import json
import urllib.parse
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from workers.errors import ConfigurationError

__all__ = ["SOURCE_SCOPES", "ConfigurationError", "Settings", "get_settings"]

# The scopes each photo source needs: the Picker reads what the user picked, appendonly creates the
# target album and uploads, appcreateddata lists what darkroom created (the inbox, and reconciling).
SOURCE_SCOPES: dict[str, tuple[str, ...]] = {
    "picker": (
        "https://www.googleapis.com/auth/photospicker.mediaitems.readonly",
        "https://www.googleapis.com/auth/photoslibrary.appendonly",
        "https://www.googleapis.com/auth/photoslibrary.readonly.appcreateddata",
    ),
    "inbox": (
        "https://www.googleapis.com/auth/photoslibrary.appendonly",
        "https://www.googleapis.com/auth/photoslibrary.readonly.appcreateddata",
    ),
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DARKROOM_", env_file=".env", extra="ignore", frozen=True)

    database_url: str = "sqlite:///./darkroom.db"
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("DARKROOM_REDIS_URL", "REDIS_URL"))
    # Where `darkroom serve` listens unless --port says: the platform's $PORT, as the Procfile's web uses.
    port: int = Field(default=8000, validation_alias=AliasChoices("PORT", "DARKROOM_PORT"))

    google_client_secrets_file: Path | None = None
    google_client_id: str | None = None
    google_client_secret: SecretStr | None = None
    google_redirect_uri: str = ""
    google_token_uri: str = "https://oauth2.googleapis.com/token"
    google_revoke_uri: str = "https://oauth2.googleapis.com/revoke"
    google_certs_uri: str = "https://www.googleapis.com/oauth2/v1/certs"
    google_auth_uri: str = "https://accounts.google.com/o/oauth2/v2/auth"  # where operators sign in to the console
    photos_library_uri: str = "https://photoslibrary.googleapis.com"
    photos_picker_uri: str = "https://photospicker.googleapis.com"
    # Root for `darkroom call` (any API from google-api-python-client's bundled discovery documents);
    # unset means each API's own root, e.g. https://www.googleapis.com/ for Drive.
    google_api_uri: str | None = None
    # Cross-Account Protection (RISC): Google's issuer and keys, and the client ids events may be for.
    risc_issuer: str = "https://accounts.google.com/"
    risc_jwks_uri: str = "https://www.googleapis.com/oauth2/v3/certs"
    # Comma-separated: every client id of the project (web, iOS, Android), since an event may be addressed to
    # any of them; unset means the web client id only.
    risc_audiences: str | None = None
    risc_clock_skew_s: int = 300  # how far ahead of our clock a security event's iat may be
    # Web sign-in (Google Identity Services, code model, popup) redeems with this redirect_uri.
    google_web_redirect_uri: str = "postmessage"

    token_keys: SecretStr | None = None
    target_album_title: str = "Enhanced by darkroom"
    inbox_album_title: str = "darkroom inbox"

    # Ingest: codes per client address per minute, and the proxies whose X-Forwarded-For is believed
    # (comma-separated addresses or networks; empty means the peer address is the client).
    rate_limit_per_minute: int = 30
    trusted_proxies: str = ""
    cors_origins: str = ""  # comma-separated; empty keeps CORS off (native apps do not need it)
    # The operator's console at /console/ (README: The console): off unless some Google accounts may sign in to
    # it (comma-separated emails, verified by Google); read-only unless console_write.
    console_emails: str | None = None
    console_write: bool = False
    body_timeout_s: float = 10.0  # a post's body must arrive within this: slow bodies do not hold connections
    # Who may read GET /metrics on the API port: loopback and private networks (a platform's scraper), by
    # default; the Internet gets 404. Comma-separated addresses or networks.
    metrics_allow: str = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"
    http_timeout_s: float = 30.0
    # The largest original darkroom downloads: a 100 MP JPEG is about 50 MB; the download streams and stops here.
    max_download_bytes: int = 150 * 1024 * 1024
    id_token_clock_skew_s: int = 10
    access_token_margin_s: int = 300
    # A user's token refresh that fails for any reason but invalid_grant cools down that user's refreshes, for
    # every process: refresh_cooldown_s, doubling with each failure in a row up to refresh_cooldown_max_s. Work
    # that needs the token waits meanwhile, failing nothing (one broken configuration made 60,000 refreshes a
    # day at a token vault without one: ../shared/reference/operations.md §4).
    refresh_cooldown_s: float = Field(default=30.0, gt=0.0)
    refresh_cooldown_max_s: float = Field(default=900.0, gt=0.0)
    # Google ends a refresh token unused for six months: the maintenance worker refreshes a grant idle for this
    # many days (0: never), spread over the day, a few at each sweep (README: Grants over the years).
    grant_keepalive_days: int = Field(default=30, ge=0, le=150)
    exchange_max_age_ms: int = 10 * 60 * 1000
    recipe: str = "auto-v1"
    # Delivery: Google asks for at least 30 s after a 429; the sweeper re-enqueues what has not moved for
    # stale_after_s, and an item delivered max_deliveries times without finishing is given up on.
    rate_limit_min_delay_s: float = 30.0
    # Retry budgets (workers.queue.table: a code expires fast, photos and maintenance ride out outages): how often
    # a transient failure is retried, overridden by budget name (JSON, e.g. {"photos": 10}), and the backoff
    # between tries, capped per queue there.
    retries: dict[str, int] = Field(default_factory=dict)
    retry_min_backoff_ms: int = 2000
    retry_max_backoff_ms: int = 10 * 60 * 1000
    sweep_interval_s: float = 60.0
    # Retention (workers/store/retention.py): finished submissions, their items' personal data, delivered
    # notifications, applied security events and deleted users' tombstones are let go after this many days, in
    # batches of prune_batch rows, at most prune_batches_per_sweep batches after each sweep.
    retention_days: float = Field(default=30.0, gt=0.0)
    prune_batch: int = Field(default=500, ge=1)
    prune_batches_per_sweep: int = Field(default=20, ge=1)
    stale_after_s: float = 300.0
    # Recovery by design, the sweeper staying the last net (docs/faults.md): a worker process that has not been
    # heard from for broker_heartbeat_timeout_s is dead, and every redelivery_interval_s each worker process
    # hands a dead one's messages back to the queue (dramatiq's maintenance, run on a clock, not by chance).
    # A message that meets darkroom's own database or Redis out of reach comes back every outage_retry_s (up to
    # twice that), spending none of its budget; when an outage is over, the maintenance process sends again
    # whatever did not move during it (checked every watch_interval_s).
    broker_heartbeat_timeout_s: float = Field(default=15.0, ge=5.0)
    redelivery_interval_s: float = Field(default=5.0, gt=0.0)
    outage_retry_s: float = Field(default=5.0, gt=0.0)
    watch_interval_s: float = Field(default=2.0, gt=0.0)
    # darkroom's own services across a network: a Redis or PostgreSQL that stops answering (a partition, not a
    # refusal) is given up on after this many seconds, not waited on forever.
    data_timeout_s: float = Field(default=10.0, gt=0.0)
    max_deliveries: int = 5
    # A redeemed code's keyed hash finds its submission again for this long (an app that posts the same code
    # twice gets the same answer); then the sweeper replaces it, so the code is no key to anything.
    repost_window_s: float = 3600.0
    # Fair share (workers.photos.turns): the most photos of one user queued or in work at once; the rest of a
    # pick waits its turn in the ledger. About the photos threads of one machine (processes x threads) and up:
    # more lets a lone user use more workers, less lets a newcomer's first photo start sooner.
    photos_user_window: int = Field(default=8, ge=1)
    # How long a batch asked for waits for the uploads finishing alongside to join it (none after a user's last).
    create_batch_delay_ms: int = 1500
    # The longest an upload waits for its batchCreate to fill up while more of the user's photos are on their
    # way: checked as each upload finishes, and by the sweeper when none finishes for a while.
    batch_wait_s: float = 20.0
    # Google's quota, project-wide (docs/google.md#quotas): the Library API's requests per Pacific day, uploads and
    # batchCreate included; while a day's quota is spent, one probe call this often, in case it was raised.
    library_daily_quota: int = 10_000
    # The last part of that budget is kept for users who have made at most library_light_user_calls calls today
    # (200: about 96 photos), so that a few users' large picks cannot spend everyone's day.
    library_newcomer_reserve: float = Field(default=0.2, ge=0.0, lt=1.0)
    library_light_user_calls: int = Field(default=200, ge=0)
    quota_probe_interval_s: float = 900.0
    # Telling the app (README: How the app hears back): Standard Webhooks to its backend, FCM pushes to its
    # devices. Every secret in webhook_secrets signs every delivery, so the app can rotate without a gap.
    webhook_url: str | None = None
    webhook_secrets: SecretStr | None = None
    # The most one delivery may take, from connecting to the answer's status (a slow receiver cannot hold a
    # thread longer); darkroom reads no more of the answer than its status line and headers.
    webhook_timeout_s: float = 10.0
    # Threads that deliver webhooks and pushes, beside the maintenance worker's own (the Procfile's maintenance
    # process and `darkroom serve`): a slow receiver holds these, never those that poll the Picker.
    notify_threads: int = Field(default=4, ge=1)
    # A delivery that failed is tried again after min_backoff, doubling up to max_backoff, for retry_window;
    # then it is a dead letter (`darkroom dead`). A day and more: an app's backend may be down a while.
    notify_min_backoff_s: float = 5.0
    notify_max_backoff_s: float = 3600.0
    notify_retry_window_s: float = 26 * 3600.0
    fcm_service_account_file: Path | None = None
    fcm_uri: str = "https://fcm.googleapis.com"
    # Registering the RISC receiver (`darkroom risc ...`): a service account with the RISC Configuration Admin role
    # in the project of the web client, and the RISC management API's origin.
    risc_service_account_file: Path | None = None
    risc_api_uri: str = "https://risc.googleapis.com"
    log_level: str = "INFO"
    log_format: str = "json"  # or "text" for people reading a terminal

    def client_credentials(self) -> tuple[str, str]:
        """The web client's id and secret, from the id/secret settings or the client_secret.json file."""
        if self.google_client_id and self.google_client_secret:
            return self.google_client_id, self.google_client_secret.get_secret_value()
        if self.google_client_secrets_file:
            return _read_client_secrets(self.google_client_secrets_file)
        raise ConfigurationError(
            "no Google client credentials: set DARKROOM_GOOGLE_CLIENT_SECRETS_FILE to the downloaded "
            "client_secret_*.json, or DARKROOM_GOOGLE_CLIENT_ID and DARKROOM_GOOGLE_CLIENT_SECRET"
        )

    def console_email_list(self) -> frozenset[str]:
        return frozenset(e.strip().lower() for e in (self.console_emails or "").split(",") if e.strip())

    def risc_audience_list(self) -> list[str]:
        if self.risc_audiences:
            return [a.strip() for a in self.risc_audiences.split(",") if a.strip()]
        return [self.client_credentials()[0]]

    def webhook_target(self) -> str | None:
        """The webhook URL, once it and its secrets are fit to use: HTTPS (plain HTTP only to this machine, for a
        backend beside darkroom), and each secret as Standard Webhooks makes them."""
        if not self.webhook_url:
            return None
        url = urllib.parse.urlsplit(self.webhook_url)
        if url.scheme != "https" and not (url.scheme == "http" and _is_loopback(url.hostname or "")):
            raise ConfigurationError("DARKROOM_WEBHOOK_URL must be https:// (http:// only to this machine)")
        self.webhook_secret_list()
        return self.webhook_url

    def webhook_secret_list(self) -> list[str]:
        """The `whsec_...` secrets, each of which signs every delivery; none without a webhook URL."""
        if not self.webhook_url:
            return []
        text = self.webhook_secrets.get_secret_value() if self.webhook_secrets else ""
        found = [s.strip() for s in text.split(",") if s.strip()]
        if not found:
            raise ConfigurationError("DARKROOM_WEBHOOK_URL is set: set DARKROOM_WEBHOOK_SECRETS to whsec_... secrets")
        for secret in found:
            _check_webhook_secret(secret)
        return found

    def token_key_bytes(self) -> list[bytes]:
        """The token keys, first one encrypting; refuses to go on without one."""
        if self.token_keys is None or not self.token_keys.get_secret_value().strip():
            raise ConfigurationError(
                "DARKROOM_TOKEN_KEYS is not set: run `darkroom keys new` and set its output as DARKROOM_TOKEN_KEYS"
            )
        return [_decode_key(part) for part in self.token_keys.get_secret_value().split(",") if part.strip()]


def _read_client_secrets(path: Path) -> tuple[str, str]:
    try:
        data = json.loads(path.read_text())
        client = data.get("web") or data["installed"]
        return client["client_id"], client["client_secret"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"cannot read client id and secret from {path}: {exc.__class__.__name__}") from exc


def _check_webhook_secret(secret: str) -> None:
    """A Standard Webhooks secret: `whsec_` and the base64 of 24 to 64 random bytes (the specification's range)."""
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError("a DARKROOM_WEBHOOK_SECRETS entry is not whsec_ and base64") from exc
    if not 24 <= len(key) <= 64:
        raise ConfigurationError(
            f"a DARKROOM_WEBHOOK_SECRETS entry holds {len(key)} bytes: a secret is 24 to 64 random bytes"
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _decode_key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip())
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError("a DARKROOM_TOKEN_KEYS entry is not URL-safe base64") from exc
    if len(key) != 32:
        raise ConfigurationError("each DARKROOM_TOKEN_KEYS entry must be 32 bytes (run `darkroom keys new`)")
    if len(set(key)) < 16:  # 32 random bytes hold about 29 distinct values; all zeros or a pattern is no key
        raise ConfigurationError("a DARKROOM_TOKEN_KEYS entry is not random (run `darkroom keys new`)")
    return key


@functools.cache
def get_settings() -> Settings:
    return Settings()
