"""Each worker thread keeps its connections to Google and its built services across photos and users: a new
connection (a TLS handshake at Google) and a service built from a discovery document per photo were most of
darkroom's own CPU per photo."""

from __future__ import annotations

import pytest

from tests.support.stub import picked
from workers.photos import batches, upload


def test_one_thread_acting_for_two_users_reuses_its_connections(uc, admin):
    users = []
    for _ in range(2):
        done, item_ids = picked(uc, admin, photos=2)
        users.append(done.sub)
        for item_id in item_ids:
            upload.process_item(uc.ctx, item_id)
    uc.stub.flush_all()
    for sub in users:
        batches.create_items(uc.ctx, sub)
    log = admin.requests()
    media = {r["peer"] for r in log if r["endpoint"] in ("content.download", "library.uploads")}
    calls = {r["peer"] for r in log if r["endpoint"].startswith("library.") and r["endpoint"] != "library.uploads"}
    assert sum(r["endpoint"] == "library.uploads" for r in log) == 4
    assert len(media) == 1, f"8 downloads and uploads of 2 users took {len(media)} connections"
    assert len(calls) == 1, f"the JSON calls of 2 users took {len(calls)} connections"


@pytest.mark.slow
def test_a_connection_the_server_dropped_while_idle_is_not_reused_for_a_post(uc, admin):
    """uvicorn (the emulator) drops a keep-alive connection after 5 s idle, as servers do: a batchCreate sent
    on it would fail with a broken pipe, its outcome unknown."""
    import time

    subs = []
    for _ in range(2):
        done, [item_id] = picked(uc, admin, photos=1)
        upload.process_item(uc.ctx, item_id)
        subs.append(done.sub)
    uc.stub.flush_all()
    batches.create_items(uc.ctx, subs[0])
    time.sleep(6)
    batches.create_items(uc.ctx, subs[1])  # raised Unavailable (BrokenPipeError) on the stale connection
    assert [len(album["items"]) for album in admin.state()["albums"]] == [1, 1]
