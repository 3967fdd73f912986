"""The exchange use case: a submission's code becomes a verified, stored grant, then work for its source."""

from __future__ import annotations

import logging

from settings import SOURCE_SCOPES
from workers import metrics
from workers.context import Context
from workers.errors import CodeRejected, GrantRevoked, ScopeMissing
from workers.google import oauth
from workers.grants import tokens
from workers.queue import messages
from workers.store import grants, submissions
from workers.store.models import Submission
from workers.store.states import GrantState, Platform, SourceKind, SubmissionStatus

log = logging.getLogger(__name__)
_EXCHANGEABLE = (SubmissionStatus.QUEUED, SubmissionStatus.EXCHANGING)


def exchange_code(ctx: Context, submission_id: str) -> None:
    """Redeem, verify, check scopes, store, enqueue. A redelivered message finds the code gone and stops.

    One at a time per submission: a second copy of the message (sent again after an outage, or redelivered while
    the first still runs) would redeem the single-use code again, and Google's invalid_grant would fail a
    submission whose first exchange went through. The second waits for the first and finds the code gone; a
    first that died frees the submission when its lease runs out (workers.queue.locks)."""
    with ctx.locks.hold(f"exchange:{submission_id}"):
        _exchange(ctx, submission_id)


def _exchange(ctx: Context, submission_id: str) -> None:
    if not submissions.move(ctx.db, submission_id, _EXCHANGEABLE, SubmissionStatus.EXCHANGING):
        return
    row = submissions.get(ctx.db, submission_id)  # read once: the user waits for the Picker link
    code = submissions.code_in(ctx.vault, row)
    if row is None or code is None:
        return
    try:
        answer = oauth.exchange_code(ctx.settings, code, _redirect_uri(ctx, row))
    except CodeRejected:
        submissions.update_fields(ctx.db, submission_id, code_secret=None)  # single-use: it is dead now
        raise
    submissions.update_fields(ctx.db, submission_id, code_secret=None)
    if not answer.id_token:
        raise CodeRejected("no ID token came back: request the openid, email and profile scopes")
    claims = oauth.verify_id_token(ctx.settings, answer.id_token)
    source = SourceKind(row.source)
    _store(ctx, submission_id, claims, answer, source)
    if source == SourceKind.PICKER:
        messages.open_picker(submission_id)
    else:
        messages.scan_inbox(submission_id)
    metrics.code_exchanged()
    log.info("code exchanged", extra={"submission_id": submission_id, "sub": claims["sub"]})


def _redirect_uri(ctx: Context, row: Submission) -> str:
    """What the code must be redeemed with: `postmessage` for a web popup sign-in, the empty string (or what an
    operator set) for iOS and Android (docs/google.md#code-exchange)."""
    if row.platform == Platform.WEB:
        return ctx.settings.google_web_redirect_uri
    return ctx.settings.google_redirect_uri


def _store(
    ctx: Context, submission_id: str, claims: dict[str, object], answer: oauth.TokenResponse, source: SourceKind
) -> None:
    sub = str(claims["sub"])
    missing = [s for s in SOURCE_SCOPES[source] if s not in answer.scopes]
    state = GrantState.INSUFFICIENT_SCOPE if missing else GrantState.ACTIVE
    has_refresh = grants.save_exchange(
        ctx.db,
        ctx.vault,
        sub=sub,
        claims=claims,
        scopes=answer.scopes,
        state=state,
        access=tokens.usable(answer, ctx.settings.access_token_margin_s),
        refresh_token=answer.refresh_token,
        refresh_expires_at=answer.refresh_expires_at,
    )
    submissions.update_fields(ctx.db, submission_id, sub=sub)
    if missing:
        raise ScopeMissing(missing)
    if not has_refresh:
        grants.set_state(ctx.db, sub, GrantState.REVOKED, drop_tokens=True)
        raise GrantRevoked("Google sent no refresh token and none is stored: sign in again with prompt=consent")
