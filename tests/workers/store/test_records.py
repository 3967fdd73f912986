"""Repository rules on SQLite and PostgreSQL: one submission per code, refresh tokens never lost, no plaintext."""

from __future__ import annotations

import base64
import datetime

from tests.support.waiting import in_threads
from tests.workers.store.conftest import LATER, dump
from workers.intake import queries
from workers.store import grants, items, submissions
from workers.store.grants import Access
from workers.store.items import Source
from workers.store.vault import Vault, new_key


def test_one_submission_per_code_and_the_code_is_encrypted(store):
    db, vault = store
    first, created = submissions.record(db, vault, "4/0Asecret-code", "picker")
    again, created_again = submissions.record(db, vault, "4/0Asecret-code", "picker")
    assert created and not created_again and first == again
    assert submissions.code_of(db, vault, first) == "4/0Asecret-code"
    assert "4/0Asecret-code" not in dump(db)


def test_missing_refresh_token_never_overwrites_the_stored_one(store):
    db, vault = store
    claims = {"email": "a@example.com", "name": "A B"}

    def save(access: str, refresh_token: str | None) -> bool:
        return grants.save_exchange(
            db, vault, sub="42", claims=claims, scopes=("s",), state="active", access=Access(access, LATER),
            refresh_token=refresh_token,
        )  # fmt: skip

    save("ya29.first", "1//0refresh")
    has_refresh = save("ya29.second", None)
    assert has_refresh and grants.refresh_token_of(db, vault, "42") == "1//0refresh"
    grants.store_refresh(db, vault, "42", Access("ya29.third", LATER), None, ())
    assert grants.refresh_token_of(db, vault, "42") == "1//0refresh"
    assert grants.access_of(db, vault, "42") == Access("ya29.third", LATER)
    text = dump(db)
    assert "1//0refresh" not in text and "ya29." not in text and "a@example.com" in text


def test_ledger_keeps_one_row_per_item_and_recipe(store):
    db, vault = store
    submission_id, _ = submissions.record(db, vault, "4/0Acode-one", "picker")
    found = [Source("m1", "http://x/1", "a.jpg", "image/jpeg"), Source("m2", "http://x/2", "b.jpg", "image/jpeg")]
    first = items.add(db, submission_id, "42", "picker", "auto-v1", found)
    items.set_state(db, first[0], "done")
    later, _ = submissions.record(db, vault, "4/0Acode-two", "picker")
    fresh = [Source("m1", "http://x/1b", "a.jpg", "image/jpeg"), Source("m2", "http://x/2b", "b2.jpg", "image/png")]
    again = items.add(db, later, "42", "picker", "auto-v1", fresh)
    assert len(first) == 2 and again == [first[1]]
    picked_again, done = items.get(db, first[1]), items.get(db, first[0])
    assert picked_again is not None and done is not None
    assert (picked_again.base_url, picked_again.filename, picked_again.mime_type) == (
        "http://x/2b",
        "b2.jpg",
        "image/png",
    )
    assert picked_again.submission_id == later and picked_again.state == "held"
    assert done.base_url == "http://x/1" and done.submission_id == submission_id  # a finished item keeps its row
    other_recipe = items.add(db, submission_id, "42", "picker", "auto-v2", found)
    assert len(other_recipe) == 2 and not set(other_recipe) & set(first)


def test_status_view_counts_items_and_reports_errors(store):
    db, vault = store
    submission_id, _ = submissions.record(db, vault, "4/0Acode-two", "picker")
    submissions.fail(db, submission_id, "insufficient_scope", "lacks picker", ["scope-a", "scope-b"])
    view = queries.view(db, submission_id)
    assert view is not None and view["status"] == "failed"
    assert view["error"] == {
        "code": "insufficient_scope",
        "detail": "lacks picker",
        "missing_scopes": ["scope-a", "scope-b"],
    }
    assert submissions.code_of(db, vault, submission_id) is None  # a failed submission drops its code


def test_record_many_keeps_order_and_finds_codes_already_there(store):
    db, vault = store
    old, _ = submissions.record(db, vault, "4/0Aalready-there", "picker")
    posts = [
        ("4/0Anew-one", "picker"),
        ("4/0Aalready-there", "inbox"),
        ("4/0Anew-two", "inbox"),
        ("4/0Anew-one", "picker"),
    ]
    results = submissions.record_many(db, vault, posts)
    (one, one_new), (there, there_new), (two, two_new), (one_again, one_again_new) = results
    assert one_new and two_new and not there_new and not one_again_new
    assert there == old and one_again == one and len({one, two, old}) == 3
    assert submissions.code_of(db, vault, two) == "4/0Anew-two" and submissions.get(db, two).source == "inbox"
    assert "4/0Anew" not in dump(db)
    assert submissions.record_many(db, vault, []) == []


def test_rows_written_on_the_fast_path_read_back_like_any_other(store):
    db, vault = store
    before = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(seconds=5)
    [(submission_id, _)] = submissions.record_many(db, vault, [("4/0Atimestamps", "picker")])
    row = submissions.get(db, submission_id)
    assert row.status == "queued" and row.sub is None and row.error_code is None
    assert before < row.created_at == row.updated_at < before + datetime.timedelta(seconds=60)
    # The sweeper compares timestamps in SQL: a fresh row is stale only against a later cutoff.
    assert submission_id not in [r.id for r in submissions.stale(db, before)]
    assert submission_id in [r.id for r in submissions.stale(db, LATER)]
    view = queries.view(db, submission_id)
    assert view is not None and view["created_at"].endswith("Z")


def test_record_many_during_a_key_rotation_finds_codes_stored_under_the_old_key(store):
    db, _ = store
    old, new = (base64.urlsafe_b64decode(new_key()) for _ in range(2))
    first, _ = submissions.record(db, Vault([old]), "4/0Abefore-rotation", "picker")
    rotating = Vault([new, old])
    results = submissions.record_many(db, rotating, [("4/0Abefore-rotation", "picker"), ("4/0Aafter", "picker")])
    assert results[0] == (first, False) and results[1][1] is True
    assert submissions.code_of(db, rotating, results[1][0]) == "4/0Aafter"


def test_held_items_are_released_oldest_first_each_exactly_once_under_concurrent_releases(store):
    """Many workers hand on turns at once (two photos processes on PostgreSQL): no item is released twice."""
    import threading

    db, vault = store
    submission_id, _ = submissions.record(db, vault, "4/0Acode-turns", "picker")
    found = [Source(f"m{i:03d}", f"http://x/{i}", f"{i}.jpg", "image/jpeg") for i in range(60)]
    added = items.add(db, submission_id, "42", "picker", "auto-v1", found)
    assert items.release(db, "42", 2) == added[:2] and items.in_flight(db, "42") == 2  # oldest first
    released: list[str] = []
    lock = threading.Lock()

    def hand_on() -> None:
        while got := items.release(db, "42", 1):
            with lock:
                released.extend(got)

    in_threads(hand_on, 6)
    assert sorted(released) == sorted(added[2:]) and len(released) == 58
    assert items.turns_due(db, window=100) == {}  # nothing held is left
