"""What a photo waits on PostgreSQL for, counted on the wire: a proxy in front of the test database counts each
time darkroom speaks after the server answered (tests/support/latency.py). With the data a network away, each
of these is a photo's time (issue #26: 1 ms each way cost a 640x480 photo a third of its rate)."""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Iterator

import sqlalchemy

from tests.support.latency import Proxy, running
from tests.workers.store.conftest import LATER
from workers.store import albums, grants, hotpath, items, submissions
from workers.store.db import Database
from workers.store.grants import Access
from workers.store.items import Source
from workers.store.models import Submission
from workers.store.states import AlbumPurpose
from workers.store.vault import Vault, new_key


@contextlib.contextmanager
def counted(postgres_url: str) -> Iterator[tuple[Database, Vault, Proxy, str, list[str]]]:
    """A migrated database behind a counting proxy, with a submission of user 42's and its three photos, held:
    the database, a vault, the proxy, the submission's id and the items' ids."""
    url = sqlalchemy.engine.make_url(postgres_url)
    with running((url.host or "127.0.0.1", url.port or 5432)) as (port, proxy):
        db = Database(url.set(port=port).render_as_string(hide_password=False))
        db.migrate()
        vault = Vault([base64.urlsafe_b64decode(new_key())])
        submission_id, _ = submissions.record(db, vault, "4/0Acode-round-trips", "picker")
        found = [Source(f"m{i}", f"http://x/{i}", f"{i}.jpg", "image/jpeg") for i in range(3)]
        try:
            yield db, vault, proxy, submission_id, items.add(db, submission_id, "42", "picker", "auto-v1", found)
        finally:
            db.dispose()


def _first_photo_released(db: Database, vault: Vault) -> None:
    """User 42's first photo released, the user's grant stored and read once (a pooled connection, as a
    worker has one)."""
    items.release(db, "42", 1)
    grants.save_exchange(
        db, vault, sub="42", claims={}, scopes=("s",), state="active", access=Access("ya29.x", LATER),
        refresh_token="1//0refresh",
    )  # fmt: skip
    hotpath.grant(db, "42")


def test_a_photo_waits_on_postgresql_three_times(postgres_url):
    """begin_attempt and the grant read in one round trip; record_upload in two (BEGIN, the upload and what waits
    for the batch; the next photo's release, COMMIT and the read after it). They took 2 and 6."""
    with counted(postgres_url) as (db, vault, proxy, _, (first, second, _)):
        _first_photo_released(db, vault)

        before = proxy.round_trips
        item, grant = hotpath.begin_attempt(db, first)
        assert proxy.round_trips - before == 1
        assert item is not None and item.attempts == 1 and grant is not None and grant.sub == "42"

        before = proxy.round_trips
        waiting = hotpath.record_upload(db, vault, item, "upload-token", 1000, 1400, release=1)
        assert proxy.round_trips - before == 2
        assert waiting.uploaded == 1 and waiting.coming and waiting.released == (second,)
        stored = items.get(db, first)
        assert stored is not None and stored.state == "uploaded" and items.get(db, second).state == "queued"


def test_a_status_read_waits_on_postgresql_once(postgres_url):
    """The app reads a submission's status every few tens of milliseconds while a person waits: the submission,
    its item counts and its user's album in one round trip (three before), the same facts as in a session."""
    with counted(postgres_url) as (db, _, proxy, submission_id, _):
        submissions.update_fields(db, submission_id, sub="42")
        albums.save(db, "42", AlbumPurpose.TARGET, "Enhanced", "album-1", "https://photos/album-1")
        submissions.snapshot(db, submission_id)  # a pooled connection, as the web process has one

        before = proxy.round_trips
        for _ in range(5):
            facts = submissions.snapshot(db, submission_id)
        # At most one each (the proxy may see a pipelined read's first bytes before the last read's answer: 0)
        assert proxy.round_trips - before <= 5
        with db.session() as s:
            row = s.get(Submission, submission_id)
            assert row is not None and facts == submissions._snapshot(s, row)  # noqa: SLF001 - the outbox's facts
        assert facts is not None and facts["items"] == {"held": 3} and facts["album"]["id"] == "album-1"
        assert submissions.snapshot(db, "0" * 32) is None


def test_a_batch_of_ten_waits_on_postgresql_a_round_trip_a_statement(postgres_url):
    """A batchCreate's store calls (workers/photos/batches.py: the uncertain ones, the wait, the uploaded ones,
    marked creating, marked done, the wait again, and whether the submission is complete): a statement each,
    committed on its own, and the ten items marked done in one statement (one UPDATE each before)."""
    with counted(postgres_url) as (db, _, proxy, submission_id, _):
        found = [Source(f"b{i}", f"http://x/b{i}", f"b{i}.jpg", "image/jpeg") for i in range(10)]
        ids = items.add(db, submission_id, "42", "picker", "auto-v1", found)
        for item_id in ids:
            items.set_state(db, item_id, "uploaded", uploaded_at=LATER)
        items.batch_wait(db, "42")  # a pooled connection, as a worker has one

        before = proxy.round_trips
        assert items.in_state(db, "42", "creating") == []
        assert items.batch_wait(db, "42").uploaded == 10
        batch = [item.id for item in items.in_state(db, "42", "uploaded", 49)]
        items.mark_creating(db, batch)
        items.mark_done_many(db, {item_id: f"media-{item_id}" for item_id in batch})
        assert items.batch_wait(db, "42").uploaded == 0
        assert items.unfinished(db, submission_id) == 3  # the three held photos of `counted`
        assert proxy.round_trips - before <= 7, proxy.round_trips - before
        for item_id in ids:
            item = items.get(db, item_id)
            assert item is not None and (item.state, item.output_media_id) == ("done", f"media-{item_id}")
            assert item.upload_secret is None and item.base_url is None


def test_the_flush_psycopg_sends_after_a_pipeline_sync_is_not_counted(postgres_url, monkeypatch):
    """Leaving a pipeline, psycopg sends a Sync, then a Flush; on a busy machine (CI) the Flush may leave after
    the server's answer to the Sync, and the proxy counted it as a round trip the photo waited on (3 for
    record_upload's 2). Nothing answers a Flush: here it leaves 50 ms late, and begin_attempt is still one."""
    from psycopg import _pipeline_base

    fetch = _pipeline_base.BasePipeline._fetch_gen  # noqa: SLF001 - what sends the Flush

    def flushed_late(self, *, flush):
        if flush:
            time.sleep(0.05)
        return (yield from fetch(self, flush=flush))

    with counted(postgres_url) as (db, vault, proxy, _, (first, _, _)):
        _first_photo_released(db, vault)
        monkeypatch.setattr(_pipeline_base.BasePipeline, "_fetch_gen", flushed_late)
        before = proxy.round_trips
        item, _ = hotpath.begin_attempt(db, first)
        time.sleep(0.1)  # the proxy has read everything sent
        assert item is not None and proxy.round_trips - before == 1
