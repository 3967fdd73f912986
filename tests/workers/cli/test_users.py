"""`darkroom users list | show SUB`: what an operator may read of a user, and never a token."""

from __future__ import annotations

import json

import pytest

from tests.support.processes import cli, env_of
from workers.context import get_context
from workers.store import grants


@pytest.mark.slow
def test_users_list_and_show_give_state_scopes_last_refresh_and_counts_never_a_token(darkroom, admin, settings):
    user = admin.add_user(photos=1, width=64, height=48)
    submission_id = darkroom.submit(admin.mint_code(user["sub"]))
    darkroom.wait(submission_id, "awaiting_pick")
    admin.expire_access_tokens(user["sub"])  # so a refresh happens and is recorded
    admin.pick(sub=user["sub"])
    assert darkroom.wait(submission_id, "done")["status"] == "done"

    listed = cli("users", "list", "--json", env=env_of(settings))
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["sub"] == user["sub"] and row["state"] == "active" and row["last_refresh_at"]
    shown = cli("users", "show", user["sub"], "--json", env=env_of(settings))
    found = json.loads(shown.stdout)
    assert {"sub", "state", "scopes", "last_refresh_at", "counts"} <= set(found)
    assert found["counts"] == {"total": 1, "done": 1} and len(found["scopes"]) >= 3
    text = (
        cli("users", "list", env=env_of(settings)).stdout
        + cli("users", "show", user["sub"], env=env_of(settings)).stdout
    )
    issued = admin.tokens()
    assert all(t not in text + listed.stdout + shown.stdout for t in issued["access_tokens"] + issued["refresh_tokens"])
    assert grants.get(get_context().db, user["sub"]) is not None


def test_users_show_of_an_unknown_user_fails_with_one_line(darkroom, settings):
    result = cli("users", "show", "nobody", env=env_of(settings))
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "no grant" in result.stderr


def test_operator_commands_work_past_the_bind_parameter_limit(settings, database_url):
    """70,000 active users: past PostgreSQL's 65,535 bind parameters, which `reprocess --all --failed` and
    `--stale-recipe` spent one per user on; `users list` reads a page at a time."""
    import sqlalchemy

    from workers.store.db import Database

    settings = settings.model_copy(update={"database_url": database_url})
    db = Database(settings.database_url)
    db.migrate()
    subs = [f"user-{n:06d}" for n in range(70_000)]
    at = {"created_at": sqlalchemy.func.now(), "updated_at": sqlalchemy.func.now()}
    with db.engine.begin() as c:
        meta = sqlalchemy.MetaData()
        grant_rows = [{"sub": sub, "state": "active", "scopes": "a b", "created_at": None} for sub in subs]
        c.execute(sqlalchemy.Table("grants", meta, autoload_with=c).insert().values(**at), grant_rows)
        c.execute(
            sqlalchemy.Table("submissions", meta, autoload_with=c).insert().values(**at),
            [{"id": "s" * 32, "code_hash": "redeemed:s", "source": "inbox", "status": "failed", "sub": subs[7]}],
        )
        item = {"submission_id": "s" * 32, "source": "inbox", "recipe": "old-v0", "attempts": 1}
        c.execute(
            sqlalchemy.Table("items", meta, autoload_with=c).insert().values(**at),
            [
                {**item, "id": "a" * 32, "sub": subs[7], "source_media_id": "m1", "state": "failed"},
                {**item, "id": "b" * 32, "sub": subs[69_999], "source_media_id": "m2", "state": "done"},
            ],
        )
    db.dispose()
    env = env_of(settings)
    failed = cli("reprocess", "--all", "--source", "inbox", "--failed", "--dry-run", env=env)
    assert failed.returncode == 0 and "1 failed items to send" in failed.stderr, failed.stderr
    stale = cli("reprocess", "--all", "--stale-recipe", "--dry-run", env=env)
    assert stale.returncode == 0 and "1 inbox scans to send" in stale.stderr, stale.stderr
    everyone = cli("users", "list", env=env)
    assert everyone.returncode == 0 and everyone.stdout.endswith("70000 users\n")
    page = cli("users", "list", "--limit", "2", "--after", subs[1000], "--json", env=env)
    assert [u["sub"] for u in json.loads(page.stdout)] == subs[1001:1003]
    text = cli("users", "list", "--limit", "2", "--after", subs[1000], env=env).stdout
    assert text.endswith(f"2 users; the next page: --after {subs[1002]}\n")
