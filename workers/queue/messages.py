"""The one enqueue API: producers send by actor name and never import the actors (nor Pillow, nor Google).

Messages carry ids only: no code, token or image ever sits in the broker. Queues come from the actor table.
"""

from __future__ import annotations

import dramatiq

from workers.queue import batched, broker, table
from workers.queue.connection import translated


def send(actor_name: str, *ids: str, delay_ms: int | None = None) -> None:
    with translated(f"enqueue {actor_name}"):
        broker.current().enqueue(message(actor_name, *ids), delay=delay_ms)


def message(actor_name: str, *ids: str) -> dramatiq.Message[None]:
    queue = table.spec(actor_name).queue
    return dramatiq.Message(queue_name=queue, actor_name=actor_name, args=ids, kwargs={}, options={})


def exchange_code(submission_id: str) -> None:
    send("exchange_code", submission_id)


def open_picker(submission_id: str) -> None:
    send("open_picker", submission_id)


def poll_picker(submission_id: str, delay_ms: int) -> None:
    send("poll_picker", submission_id, delay_ms=delay_ms)


def process_item(item_id: str) -> None:
    send("process_item", item_id)


def process_items(item_ids: list[str]) -> None:
    """One message per item, all in one Redis round trip (a pick fans out to hundreds)."""
    if not item_ids:
        return
    batched.enqueue_many([message("process_item", item_id) for item_id in item_ids])


def scan_inbox(submission_id: str) -> None:
    send("scan_inbox", submission_id)


def revoke_user(sub: str) -> None:
    send("revoke_user", sub)


def apply_security_event(jti: str) -> None:
    send("apply_security_event", jti)


def deliver_notification(notification_id: str, delay_ms: int | None = None) -> None:
    send("deliver_notification", notification_id, delay_ms=delay_ms)


def create_items(sub: str, delay_ms: int | None = None) -> None:
    """Ask for a batchCreate of the user's uploaded items; the delay lets a batch gather."""
    send("create_items", sub, delay_ms=delay_ms)
