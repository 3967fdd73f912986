"""The tables. Secrets live only in `*_secret` columns, as vault ciphertext bound to their row."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def rfc3339(at: datetime | None) -> str | None:
    """A naive-UTC column's time as the API shows times."""
    return at.isoformat(timespec="seconds") + "Z" if at else None


class Base(DeclarativeBase):
    pass


class Submission(Base):
    """One posted code: the outbox row the exchange works from, and what the status API reads."""

    __tablename__ = "submissions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_secret: Mapped[str | None] = mapped_column(Text)
    push_secret: Mapped[str | None] = mapped_column(Text)  # vault ciphertext of the device's FCM registration token
    source: Mapped[str] = mapped_column(String(16))
    platform: Mapped[str] = mapped_column(String(16), default="ios", server_default="ios")  # which redirect_uri
    status: Mapped[str] = mapped_column(String(16), index=True)
    sub: Mapped[str | None] = mapped_column(String(255), index=True)
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_detail: Mapped[str | None] = mapped_column(Text)
    missing_scopes: Mapped[str | None] = mapped_column(Text)
    picker_session_id: Mapped[str | None] = mapped_column(String(255))
    picker_uri: Mapped[str | None] = mapped_column(Text)
    picker_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    since: Mapped[datetime | None] = mapped_column(DateTime)  # reprocess runs: only source items from then on
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Grant(Base):
    """A user's grant, keyed by the ID token's `sub`."""

    __tablename__ = "grants"
    sub: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str] = mapped_column(String(24), index=True)
    scopes: Mapped[str] = mapped_column(Text, default="")
    refresh_secret: Mapped[str | None] = mapped_column(Text)
    # Keyed hashes that find this grant from what a RISC token-revoked event names: the refresh token's
    # SHA-512-twice digest, or its first 16 characters (docs/google.md#risc). Never the token itself.
    refresh_lookup: Mapped[str | None] = mapped_column(String(64), index=True)
    refresh_prefix_lookup: Mapped[str | None] = mapped_column(String(64), index=True)
    access_secret: Mapped[str | None] = mapped_column(Text)
    access_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_refresh_at: Mapped[datetime | None] = mapped_column(DateTime)  # the last access token refresh at Google
    # When the refresh token was last used or issued (Google ends one unused for six months: the keep-alive),
    # and the end Google announced for it (refresh_token_expires_in: time-based access), if it did.
    refresh_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    email: Mapped[str | None] = mapped_column(String(320))
    email_verified: Mapped[bool | None] = mapped_column(Boolean)
    name: Mapped[str | None] = mapped_column(String(255))
    given_name: Mapped[str | None] = mapped_column(String(255))
    family_name: Mapped[str | None] = mapped_column(String(255))
    picture: Mapped[str | None] = mapped_column(Text)
    locale: Mapped[str | None] = mapped_column(String(35))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Album(Base):
    """An app-created album of a user's (the target, or the inbox), created once and its id kept."""

    __tablename__ = "albums"
    __table_args__ = (UniqueConstraint("sub", "purpose"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sub: Mapped[str] = mapped_column(String(255))
    purpose: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(500))
    album_id: Mapped[str] = mapped_column(String(255))
    url: Mapped[str | None] = mapped_column(Text, nullable=True)  # Google's productUrl, for the app to open
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Item(Base):
    """One source item at one recipe version: the ledger row every photo step checks and records."""

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("sub", "source_media_id", "recipe"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # None once retention deleted the submission that found it: the inbox ledger row outlives it
    submission_id: Mapped[str | None] = mapped_column(ForeignKey("submissions.id"), index=True)
    sub: Mapped[str] = mapped_column(String(255), index=True)
    source: Mapped[str] = mapped_column(String(16))
    source_media_id: Mapped[str] = mapped_column(String(255))
    recipe: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), index=True)
    base_url: Mapped[str | None] = mapped_column(Text)
    filename: Mapped[str | None] = mapped_column(String(255))
    mime_type: Mapped[str | None] = mapped_column(String(64))
    upload_secret: Mapped[str | None] = mapped_column(Text)  # vault ciphertext of Google's upload token
    uploaded_at: Mapped[datetime | None] = mapped_column(DateTime)
    output_media_id: Mapped[str | None] = mapped_column(String(255))
    input_bytes: Mapped[int | None] = mapped_column(Integer)
    output_bytes: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_detail: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Notification(Base):
    """One event for the app, on one channel: an outbox row written in the transaction of the change it reports,
    delivered at least once. Its id is the Standard Webhooks `webhook-id`, the same on every retry."""

    __tablename__ = "notifications"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    event_type: Mapped[str] = mapped_column(String(40))
    submission_id: Mapped[str | None] = mapped_column(String(32), index=True)
    sub: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[str] = mapped_column(Text)  # the JSON body: ids, states and counts, never a secret
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)


class SecurityEvent(Base):
    """A Cross-Account Protection event Google pushed, kept by its jti so a redelivery is applied once."""

    __tablename__ = "security_events"
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    event_type: Mapped[str] = mapped_column(Text)  # every event the token carried, short names, space-separated
    sub: Mapped[str | None] = mapped_column(String(255), index=True)
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(DateTime)
    state: Mapped[str | None] = mapped_column(String(255), index=True)  # a verification's (darkroom risc verify)


class GrantHealth(Base):
    """What Google said to the calls made for a user in one hour: token refreshes and API calls, the ones that
    succeeded and the ones that failed, and the last failure (its kind and Google's answer, never a token).
    The last 24 hours of them are a grant's health (workers/grants/health.py); retention drops older hours."""

    __tablename__ = "grant_health"
    __table_args__ = (Index("ix_grant_health_hour", "hour"),)
    sub: Mapped[str] = mapped_column(String(255), primary_key=True)
    hour: Mapped[datetime] = mapped_column(DateTime, primary_key=True)
    refresh_ok: Mapped[int] = mapped_column(Integer, default=0)
    refresh_failed: Mapped[int] = mapped_column(Integer, default=0)
    calls_ok: Mapped[int] = mapped_column(Integer, default=0)
    calls_failed: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)


class ConsoleAction(Base):
    """A write an operator made in the console (/console/): who, what, on what, and how it ended."""

    __tablename__ = "console_actions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    email: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(Text)
