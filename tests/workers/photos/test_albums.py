"""The target album: one Library call for a new user; a create that was never recorded is looked for first."""

from __future__ import annotations

from tests.support.stub import exchanged
from workers.grants import tokens
from workers.photos import albums
from workers.store import albums as album_rows
from workers.store.states import AlbumPurpose


def test_a_new_users_album_costs_one_library_call(uc, admin):
    done = exchanged(uc, admin)
    with tokens.photos_for(uc.ctx, done.sub) as photos:
        album_id = albums.ensure_target_album(uc.ctx, photos, done.sub)
        assert albums.ensure_target_album(uc.ctx, photos, done.sub) == album_id
    counts = admin.counts()
    assert counts["library.albums.create"] == 1 and "library.albums.list" not in counts
    assert album_rows.of(uc.ctx.db, done.sub, AlbumPurpose.TARGET) == album_id


def test_an_album_created_by_a_worker_that_died_before_recording_it_is_found_not_made_twice(uc, admin):
    done = exchanged(uc, admin)
    title = uc.ctx.settings.target_album_title
    with tokens.photos_for(uc.ctx, done.sub) as photos:
        assert album_rows.begin(uc.ctx.db, done.sub, AlbumPurpose.TARGET, title)
        made = photos.create_album(title)  # Google made it; the worker died before albums.save
        assert albums.ensure_target_album(uc.ctx, photos, done.sub) == made
    assert admin.counts()["library.albums.create"] == 1 and admin.counts()["library.albums.list"] == 1
    assert len(admin.state()["albums"]) == 1
