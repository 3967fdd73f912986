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
