"""The darkroom command, run as a real process."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageOps

from emulator import photos
from tests.support.processes import DARKROOM, ROOT, Processes, cli, free_port, wait_http
from workers.store.vault import new_key


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return cli(*args, env={**os.environ, **(env or {})}, cwd=cwd or ROOT, timeout_s=120)


def test_keys_new_prints_a_32_byte_urlsafe_key():
    result = run("keys", "new")
    assert result.returncode == 0
    assert len(base64.urlsafe_b64decode(result.stdout.strip())) == 32


def test_enhance_a_file_and_a_directory(tmp_path):
    (tmp_path / "in").mkdir()
    for n in range(2):
        (tmp_path / "in" / f"p{n}.jpg").write_bytes(photos.jpeg(200, 150, seed=n, orientation=6))
    (tmp_path / "in" / "notes.txt").write_text("not a photo")
    single = run("enhance", str(tmp_path / "in" / "p0.jpg"), str(tmp_path / "one.jpg"))
    assert single.returncode == 0
    with Image.open(tmp_path / "one.jpg") as result:  # stored as the camera did, shown upright by its tag
        assert result.size == (150, 200) and ImageOps.exif_transpose(result).size == (200, 150)
    many = run("enhance", str(tmp_path / "in"), str(tmp_path / "out"))
    assert many.returncode == 0 and "[2/2]" in many.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.jpg", "p1.jpg"]


def test_enhance_fails_with_a_one_line_reason(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    result = run("enhance", str(tmp_path / "bad.jpg"), str(tmp_path / "out.jpg"))
    assert result.returncode == 1 and "not a readable photo" in result.stderr
    missing = run("enhance", str(tmp_path / "nothing"), str(tmp_path / "out.jpg"))
    assert missing.returncode == 1 and missing.stderr.strip().count("\n") == 0 and "does not exist" in missing.stderr


def test_serve_refuses_to_start_without_token_keys(tmp_path):
    result = run(
        "serve", env={"DARKROOM_TOKEN_KEYS": "", "DARKROOM_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}, cwd=tmp_path
    )
    assert result.returncode == 1 and "darkroom keys new" in result.stderr


def test_serve_runs_web_and_workers_in_one_process(tmp_path):
    port = free_port()
    env = {
        "DARKROOM_TOKEN_KEYS": new_key(),
        "DARKROOM_GOOGLE_CLIENT_ID": "1234-web.apps.googleusercontent.com",  # serve refuses to start without one
        "DARKROOM_GOOGLE_CLIENT_SECRET": "GOCSPX-test",
        "DARKROOM_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db",
        "DARKROOM_REDIS_URL": "",
        "REDIS_URL": "",
        "PORT": str(port),
    }
    processes = Processes(tmp_path, env)
    try:
        processes.start("serve", " ".join(DARKROOM[:2]) + ' "from workers.cli import main; main()" serve')
        wait_http(f"http://127.0.0.1:{port}/healthz")
        import requests

        ready = requests.get(f"http://127.0.0.1:{port}/readyz").json()
        assert ready == {"ready": True, "database": True, "broker": True}
    finally:
        processes.stop_all()


def test_migrate_brings_the_schema_up(tmp_path):
    url = f"sqlite:///{tmp_path}/m.db"
    assert run("migrate", env={"DARKROOM_DATABASE_URL": url}).returncode == 0
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    with engine.connect() as connection:
        tables = set(sqlalchemy.inspect(connection).get_table_names())
    engine.dispose()
    assert {"submissions", "grants", "items", "albums", "alembic_version"} <= tables


def test_png_input_is_fine(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGBA", (64, 48), (10, 20, 30, 128)).save(buffer, "PNG")
    (tmp_path / "a.png").write_bytes(buffer.getvalue())
    assert run("enhance", str(tmp_path / "a.png"), str(tmp_path / "a.jpg")).returncode == 0


def test_sweep_resends_stuck_work_through_redis(tmp_path, redis_url):
    import redis

    from settings import Settings
    from workers.store import submissions
    from workers.store.db import Database
    from workers.store.vault import Vault

    url, key = f"sqlite:///{tmp_path}/sweep.db", new_key()
    db = Database(url)
    db.migrate()
    vault = Vault(Settings(_env_file=None, token_keys=key).token_key_bytes())
    stuck, _ = submissions.record(db, vault, "4/0Aa-code-the-broker-lost-0123456789", "picker")
    db.dispose()
    env = {
        "DARKROOM_DATABASE_URL": url,
        "DARKROOM_TOKEN_KEYS": key,
        "DARKROOM_REDIS_URL": redis_url,
        "DARKROOM_STALE_AFTER_S": "0",
    }
    result = run("sweep", env=env)
    assert result.returncode == 0, result.stderr
    assert "1 exchange_code" in result.stdout
    client = redis.Redis.from_url(redis_url)
    [message] = [json.loads(m) for m in client.hvals("dramatiq:exchange.msgs")]
    client.close()
    assert message["actor_name"] == "exchange_code" and message["args"] == [stuck]
    without_redis = run("sweep", env={**env, "DARKROOM_REDIS_URL": "", "REDIS_URL": ""})
    assert without_redis.returncode == 1 and "DARKROOM_REDIS_URL" in without_redis.stderr


def test_a_worker_refuses_to_start_without_the_google_client(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARKROOM_GOOGLE_CLIENT")}
    env |= {"DARKROOM_TOKEN_KEYS": new_key(), "DARKROOM_DATABASE_URL": f"sqlite:///{tmp_path}/w.db"}
    result = subprocess.run(
        [sys.executable, "-c", "import workers.actors"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0 and "no Google client credentials" in result.stderr


def test_enhance_never_writes_into_its_input_over_a_source_or_through_a_link(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    (source / "a.jpg").write_bytes(photos.jpeg(64, 48, seed=1))
    inside = run("enhance", str(source), str(source / "out"))
    assert inside.returncode == 1 and "inside" in inside.stderr and not (source / "out").exists()
    over = run("enhance", str(source / "a.jpg"), str(source / "a.jpg"))
    assert over.returncode == 1 and "source itself" in over.stderr
    target = tmp_path / "out"
    target.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (target / "a.jpg").symlink_to(victim)  # planted where the output would go
    linked = run("enhance", str(source), str(target))
    assert linked.returncode == 1 and victim.read_text() == "keep me"


def test_enhance_reports_name_collisions_and_carries_on_past_a_bad_file(tmp_path):
    source, target = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    (source / "x.jpg").write_bytes(photos.jpeg(64, 48, seed=2))
    (source / "x.png").write_bytes(photos.jpeg(64, 48, seed=3))  # would make x.jpg too
    (source / "a_bad.jpg").write_bytes(b"not a photo")
    (source / "z.jpg").write_bytes(photos.jpeg(64, 48, seed=4))
    result = run("enhance", str(source), str(target))
    assert result.returncode == 1
    assert sorted(p.name for p in target.iterdir()) == ["x.jpg", "z.jpg"]  # z came after the bad one
    assert "x.png: skipped (x.jpg is written from another file)" in result.stderr
    assert "2 enhanced, 1 unreadable, 1 name collisions" in result.stderr


def test_enhance_refuses_hostile_photos_one_by_one_and_says_why(tmp_path):
    """A photo with no scan (it would come out as the photo before it), a HEIC that crashed pi-heif, one too large,
    and a name that would retitle the terminal: each is reported on its own line, printed safely."""
    from tests.support import hostile

    source, target = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    (source / "a.jpg").write_bytes(photos.jpeg(64, 48, seed=1))
    (source / "b.jpg").write_bytes(hostile.jpeg_without_scan(64, 48))
    (source / "c.heic").write_bytes(hostile.heic_with_item_type())
    (source / "d.jpg").write_bytes(hostile.jpeg_claiming(10_100, 10_000))
    (source / "e\x1b]0;owned\x07.jpg").write_bytes(photos.jpeg(64, 48, seed=2))
    result = run("enhance", str(source), str(target))
    assert result.returncode == 1, result.stderr[-500:]  # not 139: the process lived
    assert sorted(p.name for p in target.iterdir()) == ["a.jpg", "e\x1b]0;owned\x07.jpg"]
    assert "b.jpg: skipped (not a readable photo" in result.stderr
    assert "c.heic: skipped (not a readable photo" in result.stderr
    assert "d.jpg: too large (" in result.stderr
    assert "\x1b" not in result.stdout + result.stderr and "\\x1b]0;owned\\x07.jpg" in result.stdout
    assert "2 enhanced, 1 too large, 2 unreadable, 0 name collisions" in result.stderr
