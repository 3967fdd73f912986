"""The actor table is the one place actor names, queues and budgets are defined: everything else agrees."""

from __future__ import annotations

import dramatiq
import pytest

from settings import Settings
from workers.cli import dead
from workers.errors import BadRequest, Unavailable
from workers.queue import broker, messages, table


@pytest.fixture
def declared(settings: Settings) -> dict[str, dramatiq.Actor]:
    current = broker.setup(settings.model_copy(update={"retries": {"code": 7}, "retry_min_backoff_ms": 123}))
    import workers.actors  # declares them (or moves them to this broker)

    for actor in workers.actors.ACTORS.values():  # declared on a broker a test set up and let go since
        if actor.broker is not current:
            actor.broker = current
            current.declare_actor(actor)
    return dict(current.actors)


def test_every_actor_in_the_table_is_declared_on_its_queue_and_no_other(declared):
    assert set(declared) == set(table.ACTORS)
    for name, actor in declared.items():
        assert actor.queue_name == table.spec(name).queue == messages.message(name, "x").queue_name


def test_budgets_come_from_the_settings_the_broker_was_set_up_with(declared):
    options = declared["exchange_code"].options
    assert options["min_backoff"] == 123 and options["max_age"] > 0
    retry = options["retry_when"]
    assert retry(6, Unavailable("down")) and not retry(7, Unavailable("down"))
    assert not retry(0, BadRequest("ours")) and retry(0, KeyError("a bug")) and not retry(1, KeyError("a bug"))


def test_give_up_handlers_match_what_the_table_says_a_message_is_about(declared):
    for name, actor in declared.items():
        subject = table.spec(name).subject
        assert ("on_give_up" in actor.options) == (subject in (table.Subject.SUBMISSION, table.Subject.ITEM)), name


def test_dead_letter_queues_are_the_tables():
    assert set(dead.QUEUES) == {q.value for q in table.Queue}  # type: ignore[attr-defined] # the CLI's own == {s.queue for s in table.ACTORS.values()}
