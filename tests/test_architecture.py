"""The dependency rules of STYLE.md, checked on the source: who may import what."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOOGLE_AND_HTTP = ("google", "googleapiclient", "google_auth_httplib2", "httplib2", "requests", "httpx", "urllib3")


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("path", modules("pipelines"), ids=str)
def test_pipelines_import_only_stdlib_and_pillow(path):
    allowed = {"PIL", "pipelines", "pi_heif", "__future__"} | set(sys.stdlib_module_names)
    assert {top(m) for m in imports(path)} <= allowed


@pytest.mark.parametrize("path", modules("emulator"), ids=str)
def test_emulator_imports_nothing_of_the_app(path):
    assert not {top(m) for m in imports(path)} & {"workers", "ingest", "pipelines", "settings"}


@pytest.mark.parametrize(
    "path",
    # Webhook delivery to the app's own URL is HTTP that is not Google's (STYLE.md): notify/webhooks.py alone.
    [p for p in modules("workers") if "google" not in p.parts and p.name not in ("demo.py", "webhooks.py")]
    + modules("ingest"),
    ids=str,
)
def test_only_workers_google_talks_http_or_imports_google_libraries(path):
    assert not {top(m) for m in imports(path)} & set(GOOGLE_AND_HTTP)


@pytest.mark.parametrize("path", [p for p in modules("workers") if "store" not in p.parts] + modules("ingest"), ids=str)
def test_only_workers_store_imports_sqlalchemy(path):
    assert not {top(m) for m in imports(path)} & {"sqlalchemy", "alembic"}


def test_only_the_demo_imports_the_emulator():
    users = [p for p in modules("workers") + modules("ingest") if "emulator" in {top(m) for m in imports(p)}]
    assert [p.name for p in users] == ["demo.py"]


def test_the_web_process_loads_neither_pillow_nor_google_nor_the_actors():
    probe = (
        "import sys, ingest.app; bad = [m for m in ('PIL', 'googleapiclient', 'google.auth', 'workers.actors',"
        " 'pipelines') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _imported_rooms(path: Path) -> set[str]:
    """The workers rooms (and other top-level packages) a module imports, as `workers.<room>` or the package."""
    out = set()
    for name in imports(path):
        parts = name.split(".")
        out.add(".".join(parts[:2]) if parts[0] == "workers" and len(parts) > 1 else parts[0])
    return out


# What each room of workers/ must not import (DESIGN.md §5, STYLE.md "Dependency direction").
FORBIDDEN = {
    "intake": {"workers.actors", "workers.grants", "workers.photos", "workers.operations", "workers.cli", "PIL"},
    "queue": {"workers.actors", "workers.grants", "workers.photos", "workers.operations", "workers.store"},
    "store": {"workers.actors", "workers.grants", "workers.photos", "workers.queue", "workers.google", "dramatiq"},
    "google": {"workers.actors", "workers.grants", "workers.photos", "workers.store", "workers.queue", "dramatiq"},
    "grants": {"workers.actors", "workers.photos", "workers.operations", "workers.cli", "PIL", "pipelines"},
    "photos": {"workers.actors", "workers.operations", "workers.cli", "dramatiq", "redis"},
    "operations": {"workers.actors", "workers.cli", "dramatiq", "PIL", "pipelines"},
    "notify": {"workers.actors", "workers.grants", "workers.photos", "workers.operations", "workers.cli", "PIL"},
}


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_each_room_imports_only_what_lies_below_it(room):
    found = {str(p.relative_to(ROOT)): _imported_rooms(p) & FORBIDDEN[room] for p in modules(f"workers/{room}")}
    assert {path: bad for path, bad in found.items() if bad} == {}


def test_only_the_queue_room_knows_dramatiqs_redis_keys_and_makes_redis_clients():
    outside = [p for p in modules("workers") + modules("ingest") if "queue" not in p.parts]
    assert [str(p) for p in outside if '"dramatiq:' in p.read_text() or "redis.Redis" in p.read_text()] == []
    users = [p.relative_to(ROOT) for p in outside if {"dramatiq", "redis"} & {top(m) for m in imports(p)}]
    assert sorted(map(str, users)) == ["workers/actors.py"]


@pytest.mark.parametrize(
    "path", [p for p in modules("workers") + modules("ingest") if p.name != "__init__.py"], ids=str
)
def test_each_module_opens_with_what_it_owns(path):
    docstring = ast.get_docstring(ast.parse(path.read_text()))
    assert docstring and len(docstring) > 40, "each module opens with one to three lines: what it owns"


def test_importing_pipelines_changes_nothing_in_the_process():
    """Pillow's allocator and glibc's malloc are set by pipelines.tune_process, which processes that enhance call
    as they start (the photos worker, darkroom serve and enhance), never by an import."""
    probe = (
        "from PIL import _imaging as core; before = (core.get_block_size(), core.get_blocks_max());"
        "import pipelines, workers.photos.upload; assert (core.get_block_size(), core.get_blocks_max()) == before;"
        "pipelines.tune_process(); assert (core.get_block_size(), core.get_blocks_max()) != before"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PILLOW_", "MALLOC_"))}
    run = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-800:]


def test_each_actor_runs_the_use_case_of_its_own_name():
    """A grep for an actor's name finds its use case (workers/actors.py's USE_CASES), and the other way round."""
    tree = ast.parse((ROOT / "workers" / "actors.py").read_text())
    [table] = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "USE_CASES"
    ]
    assert isinstance(table, ast.Dict)
    pairs = {}
    for key, value in zip(table.keys, table.values, strict=True):
        assert isinstance(key, ast.Constant) and isinstance(value, ast.Tuple)
        pairs[str(key.value)] = ast.unparse(value.elts[0]).rsplit(".", 1)[-1]
    assert {name: fn for name, fn in pairs.items() if fn.lstrip("_") != name and "_" + name not in fn} == {}


def test_ingest_reaches_workers_only_through_intake():
    """And the floor every room stands on: the error tree, logs and metrics."""
    allowed = {"workers.intake", "workers.errors", "workers.logs", "workers.metrics"}
    found: dict[str, set[str]] = {}
    for path in modules("ingest"):
        for node in ast.walk(ast.parse(path.read_text())):
            named = []
            if isinstance(node, ast.ImportFrom) and node.module == "workers":
                named = [f"workers.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("workers."):
                named = [".".join(node.module.split(".")[:2])]
            elif isinstance(node, ast.Import):
                named = [".".join(a.name.split(".")[:2]) for a in node.names if a.name.startswith("workers")]
            found.setdefault(str(path.relative_to(ROOT)), set()).update(set(named) - allowed)
    assert {path: rooms for path, rooms in found.items() if rooms} == {}


def _room(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = relative.parts
    return ".".join(parts[:2]) if parts[0] == "workers" and len(parts) > 1 else parts[0]


def test_no_two_rooms_import_each_other_even_by_a_longer_way():
    rooms: dict[str, set[str]] = {}
    for path in modules("workers") + modules("ingest") + modules("pipelines") + [ROOT / "settings.py"]:
        if path.name == "__init__.py" and path.parent.name == "workers":
            continue
        own = _room(path)
        rooms.setdefault(own, set()).update(r for r in _imported_rooms(path) if r != own and r != "workers")
    app = set(rooms)

    def reachable(start: str) -> set[str]:
        seen, todo = set(), [r for r in rooms[start] if r in app]
        while todo:
            room = todo.pop()
            if room not in seen:
                seen.add(room)
                todo += [r for r in rooms.get(room, ()) if r in app]
        return seen

    assert sorted(room for room in app if room in reachable(room)) == []


@pytest.mark.parametrize(
    "path", [p for p in modules("workers/store") if "migrations" not in p.parts and p.name != "db.py"], ids=str
)
def test_each_store_module_speaks_one_dialect(path):
    """Sessions, or Core (the ledger), or the driver itself (hotpath.py alone): never two in one module."""
    text = path.read_text()
    spoken = {name for name, sign in DIALECTS.items() if sign in text}
    assert len(spoken) <= 1, spoken
    assert ("driver" in spoken) == (path.name == "hotpath.py") or not spoken


DIALECTS = {"session": "db.session()", "core": "db.connection()", "driver": "raw_connection()"}
