"""Every state a row can be in, named once. StrEnums: the database keeps the plain strings."""

from __future__ import annotations

from enum import StrEnum


class SubmissionStatus(StrEnum):
    QUEUED = "queued"
    EXCHANGING = "exchanging"
    AWAITING_PICK = "awaiting_pick"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


class ItemState(StrEnum):
    r"""held -> queued -> downloaded -> uploaded (upload token kept, encrypted) -> creating -> done
    \-> failed (with a reason)"""

    HELD = "held"  # recorded, waiting its turn: no message yet (workers.photos.turns, the fair share)
    QUEUED = "queued"  # its process_item message is in the broker, or a worker has it
    DOWNLOADED = "downloaded"
    UPLOADED = "uploaded"
    CREATING = "creating"  # handed to batchCreate: the outcome is uncertain until recorded
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"  # never fetched, never uploaded: not a photo (a video in the pick)


class GrantState(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    INSUFFICIENT_SCOPE = "insufficient_scope"
    DELETED = "deleted"


class SourceKind(StrEnum):
    PICKER = "picker"
    INBOX = "inbox"


class Platform(StrEnum):
    """Where the app signed the user in: it decides the redirect_uri the code is redeemed with."""

    IOS = "ios"
    ANDROID = "android"
    WEB = "web"  # Google Identity Services code model, popup: redirect_uri=postmessage


class AlbumPurpose(StrEnum):
    TARGET = "target"
    INBOX = "inbox"


class Channel(StrEnum):
    WEBHOOK = "webhook"  # Standard Webhooks to DARKROOM_WEBHOOK_URL
    PUSH = "push"  # FCM HTTP v1 to the device that posted the code


class NotificationState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"  # retried for the whole window: a dead letter that `darkroom dead replay` sends again
    DROPPED = "dropped"  # FCM said the device token is unregistered: forgotten, never tried again


class EventType(StrEnum):
    AWAITING_PICK = "submission.awaiting_pick"
    DONE = "submission.done"
    FAILED = "submission.failed"
    GRANT_REVOKED = "grant.revoked"
    USER_DELETED = "user.deleted"


SUBMISSION_FINAL = (SubmissionStatus.DONE, SubmissionStatus.FAILED)
# Before the fan-out: the submission row itself carries the work (the sweeper resends it from there).
SUBMISSION_BEFORE_ITEMS = (SubmissionStatus.QUEUED, SubmissionStatus.EXCHANGING, SubmissionStatus.AWAITING_PICK)
SUBMISSION_OPEN = (*SUBMISSION_BEFORE_ITEMS, SubmissionStatus.PROCESSING)
ITEM_FINAL = (ItemState.DONE, ItemState.FAILED, ItemState.SKIPPED)
NOT_A_PHOTO = "not_a_photo"  # the reason a skipped item gives
ITEM_IN_FLIGHT = (ItemState.QUEUED, ItemState.DOWNLOADED)  # a message each: what a user's turn allows at once
ITEM_BEFORE_UPLOAD = (ItemState.HELD, *ITEM_IN_FLIGHT)
