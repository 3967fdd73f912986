"""What the operator's console (ingest/console.py) reads and does: an operator's Google sign-in, each page's
facts, and the writes, which are the CLI's own use cases, each recorded with who made it.

Nothing here returns a code, token, push token or base URL (workers/store/activity.py reads none)."""

from __future__ import annotations

import logging
from typing import Any

from workers.context import Context
from workers.errors import CodeRejected, UsageError
from workers.intake import queries
from workers.queue import broker, deadletters, messages
from workers.queue.table import QUEUES
from workers.store import activity, grants, health, notifications, reports, submissions
from workers.store.models import utcnow
from workers.store.states import SourceKind

log = logging.getLogger(__name__)

ACTIONS = ("replay", "purge", "reprocess", "revoke")


def sign_in(ctx: Context, code: str, redirect_uri: str, nonce: str) -> str:
    """The operator's email, from Google's answer to the console's sign-in: the code exchanged at the token
    endpoint, the ID token verified (signature, audience, expiry, issuer), its nonce the one this sign-in sent,
    the email verified by Google and one of DARKROOM_CONSOLE_EMAILS. CodeRejected otherwise."""
    from workers.google import oauth

    answer = oauth.exchange_code(ctx.settings, code, redirect_uri)
    if not answer.id_token:
        raise CodeRejected("Google sent no ID token: the sign-in must ask for openid email")
    claims = oauth.verify_id_token(ctx.settings, answer.id_token)
    if claims.get("nonce") != nonce:
        raise CodeRejected("the ID token is not this sign-in's (its nonce differs)")
    email = str(claims.get("email") or "").lower()
    if claims.get("email_verified") is not True or not email:
        raise CodeRejected("Google has not verified this account's email")
    if email not in ctx.settings.console_email_list():
        raise CodeRejected(f"{email} may not use this console (DARKROOM_CONSOLE_EMAILS)")
    return email


def today(ctx: Context) -> dict[str, Any]:
    now = utcnow()
    queues = queries.queue_state(ctx)
    return {
        "hours": activity.hourly(ctx.db, now),
        "funnel": activity.funnel(ctx.db, now),
        "counts": reports.counts(ctx.db, now),
        "queues": queues[0] if queues else None,
        "oldest": queues[1] if queues else None,
        "quota": [use.as_json() for use in ctx.quota.report()],
        "notifications": notifications.counts(ctx.db),
        "health": health.counts(ctx.db, now),
    }


def users(ctx: Context, text: str) -> list[dict[str, Any]]:
    found = activity.find_users(ctx.db, text.strip())
    sick = health.of(ctx.db, [u["sub"] for u in found], utcnow())
    return [{**u, "health": sick.get(u["sub"], health.Tally()).state} for u in found]


def user(ctx: Context, sub: str) -> dict[str, Any] | None:
    found = reports.user(ctx.db, sub)
    if found is None:
        return None
    return {**found, "submissions": activity.submissions_of(ctx.db, sub)}


def submission(ctx: Context, submission_id: str) -> dict[str, Any] | None:
    status = queries.view(ctx.db, submission_id)
    if status is None:
        return None
    row = submissions.get(ctx.db, submission_id)
    return {**status, "sub": row.sub if row else None, "photos": activity.photos_of(ctx.db, submission_id)}


def failures(ctx: Context) -> dict[str, Any]:
    letters: list[dict[str, Any]] = []
    if (client := broker.redis_client()) is not None:
        letters = [letter.summary() for letter in deadletters.find(client)][:100]
    return {
        "reasons": activity.failures_by_reason(ctx.db, utcnow()),
        "dead_letters": letters,
        "actions": activity.recent_actions(ctx.db),
    }


def act(ctx: Context, email: str, action: str, target: str) -> str:
    """One write, as the CLI does it, recorded with who made it; what it did, in words."""
    if action not in ACTIONS:
        raise UsageError(f"no such action: {action}")
    try:
        outcome = _ACT[action](ctx, target)
    except UsageError as exc:
        outcome = f"refused: {exc}"
    activity.record_action(ctx.db, email, action, target, outcome)
    log.info("console %s %s by %s: %s", action, target, email, outcome)
    return outcome


def _dead_letters(queue: str) -> tuple[Any, list[Any]]:
    """The broker's Redis connections and the dead letters of `queue` there."""
    if queue not in QUEUES:
        raise UsageError(f"no such queue: {queue}")
    client = broker.redis_client()
    if client is None:
        raise UsageError("the embedded broker keeps no dead letters")
    return client, deadletters.find(client, queue=queue)


def _replay(ctx: Context, queue: str) -> str:
    client, letters = _dead_letters(queue)
    for letter in letters:
        deadletters.replay(client, broker.current(), letter)
    return f"sent {len(letters)} dead letters of {queue} again"


def _purge(ctx: Context, queue: str) -> str:
    client, letters = _dead_letters(queue)
    for letter in letters:
        deadletters.remove(client, letter)
    return f"deleted {len(letters)} dead letters of {queue}"


def _reprocess(ctx: Context, sub: str) -> str:
    """As `darkroom reprocess --user SUB`: the user's inbox read again (new photos, older recipes)."""
    if grants.get(ctx.db, sub) is None:
        raise UsageError(f"no grant is stored for user {sub}")
    submission_id = submissions.open_internal(ctx.db, sub, SourceKind.INBOX, None)
    messages.scan_inbox(submission_id)
    return f"reading the inbox again in submission {submission_id}"


def _revoke(ctx: Context, sub: str) -> str:
    """As `darkroom revoke --user SUB`: revoked at Google, then tokens and personal data deleted (by a worker)."""
    if grants.get(ctx.db, sub) is None:
        raise UsageError(f"no grant is stored for user {sub}")
    messages.revoke_user(sub)
    return f"revoking user {sub} (a worker revokes at Google, then deletes the tokens and personal data)"


_ACT = {"replay": _replay, "purge": _purge, "reprocess": _reprocess, "revoke": _revoke}
