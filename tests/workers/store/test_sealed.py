"""Every secret column is in the vault's registry, so rotation and every reader find it."""

from __future__ import annotations

from pydantic import SecretStr

from tests.support.stub import picked
from workers.context import Context
from workers.photos import upload
from workers.store import items
from workers.store.models import Base
from workers.store.rotation import rotate
from workers.store.sealed import SECRET_COLUMNS
from workers.store.vault import new_key


def test_every_secret_column_is_registered():
    columns = {(t.name, c.name) for t in Base.metadata.tables.values() for c in t.columns if c.name.endswith("_secret")}
    assert columns == {(s.model.__tablename__, s.column) for s in SECRET_COLUMNS}


def test_rotation_reseals_upload_tokens_so_the_old_key_can_go(uc, admin):
    _, [item_id] = picked(uc, admin, photos=1)
    upload.process_item(uc.ctx, item_id)
    token = items.upload_token_of(uc.ctx.vault, items.get(uc.ctx.db, item_id))
    old, new = uc.ctx.settings.token_keys.get_secret_value(), new_key()
    both = Context(uc.ctx.settings.model_copy(update={"token_keys": SecretStr(f"{new},{old}")}))
    rotate(both.db, both.vault)
    only_new = Context(uc.ctx.settings.model_copy(update={"token_keys": SecretStr(new)}))
    assert items.upload_token_of(only_new.vault, items.get(uc.ctx.db, item_id)) == token
