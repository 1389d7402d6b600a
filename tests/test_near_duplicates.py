"""Near-duplicate search over the LSH bands kept in ingest's SQLite file (ingest/dedup.py,
ingest/state.py): copies are found across restarts, only within the window of each other, the
earliest copy wins, and signatures stored before the band table existed are indexed at start-up."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from ingest import dedup
from ingest.state import IngestState

WIRE = (
    "Chengdu will host a trade fair for electric vehicle makers next spring, the city government said on "
    "Tuesday, as local officials try to attract foreign buyers to the western Chinese city. BYD, Changan and "
    "Xiaomi are expected to show new models, and organisers expect more than two hundred exhibitors from "
    "thirty countries, up from last year's event, which drew mostly domestic visitors and suppliers."
)
OTHER = (
    "Floods closed several roads in Wuhan after days of heavy rain, and the port said container traffic on "
    "the Yangtze would resume once the water level falls, while farmers counted losses in the surrounding "
    "countryside and insurers prepared for a rise in claims from small businesses along the river banks."
)
T0 = datetime(2026, 11, 20, 8, tzinfo=UTC)
WINDOW = timedelta(days=30)


def store(state: IngestState, index: dedup.NearDuplicateIndex, article_id: str, text: str, published: datetime):
    sig = dedup.signature(text)
    state.mark_seen([(f"https://x.example/{article_id}", article_id, "s", published, *index.stored(sig), T0)])


def test_copies_are_found_after_a_restart_and_the_earliest_wins(tmp_path):
    state = IngestState(tmp_path / "ingest.sqlite")
    index = dedup.NearDuplicateIndex(0.7, state, WINDOW)
    store(state, index, "late", WIRE + " Reuters.", T0 + timedelta(hours=3))
    store(state, index, "first", WIRE, T0)
    store(state, index, "other", OTHER, T0)
    state.close()

    state = IngestState(tmp_path / "ingest.sqlite")  # a new process: nothing held in memory
    index = dedup.NearDuplicateIndex(0.7, state, WINDOW)
    copy = dedup.signature(WIRE.replace("next spring", "next April"))
    hit = index.find(copy, T0 + timedelta(days=1))
    assert hit is not None and hit[0] == "first" and 0.7 <= hit[1] < 1.0
    assert index.find(dedup.signature(OTHER + " (AP)"), T0)[0] == "other"
    fresh = "Xiaomi opened its first store in Budapest " + "with long queues outside on the first day " * 6
    assert index.find(dedup.signature(fresh), T0) is None


def test_only_copies_published_within_the_window_of_each_other_count(tmp_path):
    """A backfill of last year's news links last year's copies, and not this year's story."""
    state = IngestState(tmp_path / "ingest.sqlite")
    index = dedup.NearDuplicateIndex(0.7, state, WINDOW)
    store(state, index, "old", WIRE, T0 - timedelta(days=365))
    assert index.find(dedup.signature(WIRE), T0) is None
    assert index.find(dedup.signature(WIRE), T0 - timedelta(days=360))[0] == "old"


def test_signatures_stored_before_the_band_table_are_indexed_at_start_up(tmp_path):
    path = tmp_path / "ingest.sqlite"
    state = IngestState(path)
    state.mark_seen([("https://x.example/a", "a", "s", T0, dedup.to_bytes(dedup.signature(WIRE)), [], T0)])
    state.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM minhash_bands").fetchone()[0] == 0
    state = IngestState(path)
    index = dedup.NearDuplicateIndex(0.7, state, WINDOW)
    assert index.find(dedup.signature(WIRE), T0)[0] == "a"
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM minhash_bands").fetchone()[0] == index.bands
    assert state.add_missing_bands(lambda raw: []) == 0  # once only
