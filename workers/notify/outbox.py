"""The notify use case: deliver one outbox row on its channel (what the `deliver_notification` actor runs)."""

from __future__ import annotations

from workers.context import Context
from workers.notify import delivery, push, webhooks
from workers.store.states import Channel

SENDERS: dict[str, delivery.Send] = {Channel.WEBHOOK: webhooks.send, Channel.PUSH: push.send}


def deliver_notification(ctx: Context, notification_id: str) -> None:
    delivery.deliver(ctx, notification_id, SENDERS)
