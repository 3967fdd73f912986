"""What the console reads of the store, on SQLite and PostgreSQL: the day's funnel of codes, and the hours."""

from __future__ import annotations

from tests.workers.store.conftest import LATER
from workers.store import activity, items, submissions
from workers.store.items import Source
from workers.store.models import utcnow
from workers.store.states import SourceKind


def test_the_days_codes_as_a_funnel_and_by_the_hour(store):
    db, vault = store
    posted = [submissions.record(db, vault, f"4/0Acode-{n}", "picker")[0] for n in range(3)]
    submissions.update_fields(db, posted[0], sub="42")
    submissions.update_fields(db, posted[1], sub="43")
    items.add(db, posted[0], "42", "picker", "auto-v1", [Source("m1", "http://x/1", "1.jpg", "image/jpeg")])
    reprocessing = submissions.open_internal(db, "42", SourceKind.INBOX, None)  # darkroom's own: not a code
    items.add(db, reprocessing, "42", "inbox", "auto-v1", [Source("m2", "http://x/2", "2.jpg", "image/jpeg")])
    assert activity.funnel(db, utcnow()) == {"codes": 3, "exchanged": 2, "picked": 1}
    assert activity.funnel(db, LATER) == {"codes": 0, "exchanged": 0, "picked": 0}
    hours = activity.hourly(db, utcnow()).values()
    assert sum(hour.get("codes", 0) for hour in hours) == 3  # the codes apps posted, not darkroom's own
