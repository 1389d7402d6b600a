"""The embedded store (DuckDB) and the trend queries: idempotent writes, the sink stage on the
bus, and trend / rank / stories answers on records with known numbers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import records

from sinks.duckdb.queries import DuckDBBackend
from sinks.duckdb.store import DuckDBStore
from sinks.query import Queries
from sinks.stage import GROUP, sink_stage
from sinoscope.core.bus.embedded import EmbeddedBus
from sinoscope.core.schemas import Enriched, article_id_for

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def enriched(
    n: int, mentions: list[tuple[str, float]], days_ago: float, outlet="Outlet A", country="GB", duplicate_of=None
) -> Enriched:
    url = f"https://s.example.com/{n}"
    return records.enriched(
        article_id_for(url),
        NOW - timedelta(days=days_ago),
        mentions,
        url=url,
        title=f"Story {n}",
        outlet=outlet,
        country=country,
        duplicate_of=duplicate_of,
        fetched=NOW,
        neutral_band=0.15,
    )


class Store:
    """A writer for the test's records and, after they are written, a read-only query connection."""

    def __init__(self, path):
        self.path, self.writer, self._reader = path, DuckDBStore(path), None

    def write(self, batch):
        self.writer.write(batch)

    def counts(self):
        return self.writer.counts()

    @property
    def conn(self):
        if self._reader is None:
            self._reader = DuckDBStore(self.path, read_only=True)
        return self._reader.conn

    def close(self):
        if self._reader:
            self._reader.close()


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "store.duckdb")
    yield s
    s.close()


def test_writes_are_idempotent_and_re_enrichment_replaces_mentions(store):
    batch = [enriched(1, [("city:chengdu", 0.5), ("brand:byd", -0.5)], 1), enriched(2, [("city:chengdu", 0.1)], 2)]
    store.write(batch)
    store.write(batch)  # a replay
    assert store.counts() == {"articles": 2, "mentions": 3}
    store.write([enriched(1, [("city:chengdu", 0.9)], 1)])  # the same article, enriched again
    assert store.counts() == {"articles": 2, "mentions": 2}


def test_sink_stage_commits_after_the_store_and_dead_letters_garbage(settings, tmp_path):
    store = DuckDBStore(tmp_path / "stage.duckdb")
    bus = EmbeddedBus(settings.path("bus.sqlite"))
    for e in [enriched(i, [("city:wuhan", 0.2)], i) for i in range(5)]:
        bus.publish(settings.bus.topics.enriched, e.article.id, e.to_json())
    bus.publish(settings.bus.topics.enriched, "bad", b"{not json")
    bus.flush()
    stats = sink_stage(bus, settings, store).run(until_idle=True, poll_timeout_s=0.1)
    assert (stats.records, stats.dead_lettered) == (6, 1)
    assert store.counts() == {"articles": 5, "mentions": 5}
    assert sum(bus.group_lag(GROUP, settings.bus.topics.enriched).values()) == 0
    dead = [json.loads(r.value) for r in bus.read(settings.bus.topics.dead_letter)]
    assert dead[0]["stage"] == "sink" and "undecodable enriched record" in dead[0]["reason"]
    bus.close()


def test_a_failing_store_commits_nothing(settings, tmp_path):
    class Down:
        def write(self, batch):
            raise RuntimeError("store is down")

    bus = EmbeddedBus(settings.path("bus.sqlite"))
    e = enriched(1, [("city:wuhan", 0.2)], 1)
    bus.publish(settings.bus.topics.enriched, e.article.id, e.to_json())
    bus.flush()
    with pytest.raises(RuntimeError):
        sink_stage(bus, settings, Down()).run(until_idle=True, poll_timeout_s=0.1)
    assert sum(bus.group_lag(GROUP, settings.bus.topics.enriched).values()) == 1
    bus.close()


def test_trend_buckets_with_and_without_syndicated_copies(store):
    first = enriched(1, [("city:chengdu", 0.6)], 3)
    store.write(
        [
            first,
            enriched(2, [("city:chengdu", -0.2), ("city:chengdu", 0.0)], 3),
            enriched(3, [("city:chengdu", 0.4)], 1),
            enriched(4, [("city:chengdu", 0.6)], 1, duplicate_of=first.article.id),
            enriched(5, [("city:chengdu", 0.9)], 60),
        ]
    )  # outside the period
    q = Queries(DuckDBBackend(store.conn))
    out = q.trend("city:chengdu", "Chengdu", NOW - timedelta(days=30), "1d", until=NOW)
    # every day of the period, zero-filled (no data is null tone, not neutral); mentions count
    # mentions; tone is each article's tone toward the entity (article 2: its two mentions
    # together, mean -0.1), one per (article, entity)
    days = [(b["start"][:10], b["mentions"], b["sentiment_mean"]) for b in out["buckets"]]
    assert len(days) == 31 and days[0] == ("2026-10-21", 0, None) and days[-1][0] == "2026-11-20"
    assert [d for d in days if d[1]] == [
        ("2026-11-17", 3, round((0.6 + (-0.2 + 0.0) / 2) / 2, 4)),
        ("2026-11-19", 1, 0.4),
    ]
    with_dups = q.trend("city:chengdu", "Chengdu", NOW - timedelta(days=30), "1w", True, until=NOW)
    assert sum(b["mentions"] for b in with_dups["buckets"]) == 5
    assert all(datetime.fromisoformat(b["start"]).weekday() == 0 for b in with_dups["buckets"])  # Mondays
    for bad in ("1x", "5y", "0d", "1 day"):
        with pytest.raises(ValueError):
            q.trend("city:chengdu", "Chengdu", NOW, bad)
    with pytest.raises(ValueError, match="buckets"):
        q.trend("city:chengdu", "Chengdu", NOW - timedelta(days=3650), "1h", until=NOW)


@pytest.mark.parametrize(
    "interval, starts",
    [
        ("6h", ["2026-11-17T00", "2026-11-17T06", "2026-11-17T12"]),
        ("3d", ["2026-11-15T00"]),  # 3-day steps from the epoch: 20,407 days to 2026-11-15
        ("1M", ["2026-11-01T00"]),
        ("1q", ["2026-10-01T00"]),
        ("1y", ["2026-01-01T00"]),
        ("day", ["2026-11-17T00"]),
    ],
)
def test_trend_intervals_of_any_size_and_calendar_ones(store, interval, starts):
    store.write([enriched(1, [("city:chengdu", 0.5)], 3.3), enriched(2, [("city:chengdu", -0.5)], 3.05)])
    since, until = NOW - timedelta(days=3, hours=12), NOW - timedelta(days=3)
    out = Queries(DuckDBBackend(store.conn)).trend("city:chengdu", "Chengdu", since, interval, until=until)
    assert [b["start"][:13] for b in out["buckets"]] == starts
    assert sum(b["mentions"] for b in out["buckets"]) == 2
    if interval == "6h":  # 04:48 and 10:48: one in each of the first two buckets, none in the third
        assert [b["mentions"] for b in out["buckets"]] == [1, 1, 0]


def test_rank_combines_presence_breadth_tone_and_growth(store):
    store.write(
        [
            enriched(i, [("city:chengdu", 0.5)], 1 + i % 2, outlet=f"O{i}", country=["GB", "US", "FR"][i % 3])
            for i in range(6)
        ]
        + [enriched(10 + i, [("city:wuhan", -0.5)], 20, outlet="O1", country="GB") for i in range(3)]
        + [enriched(20, [("city:beijing", 0.0)], 1, outlet="O1")]
        + [enriched(21, [("brand:byd", 0.9)], 1)]
    )
    out = Queries(DuckDBBackend(store.conn)).rank(
        {"city:chengdu": "Chengdu"}, NOW - timedelta(days=30), "city", now=NOW
    )
    rows = {r["entity_id"]: r for r in out["rows"]}
    assert [r["entity_id"] for r in out["rows"]] == ["city:chengdu", "city:beijing", "city:wuhan"]
    c = rows["city:chengdu"]
    assert (c["name"], c["mentions"], c["outlets"], c["countries"], c["sentiment_mean"]) == ("Chengdu", 6, 6, 3, 0.5)
    assert c["index"] == pytest.approx(100 * (0.35 + 0.25 + 0.25 * 0.75 + 0.15 * 1.0), abs=0.01)
    w = rows["city:wuhan"]
    assert w["growth"] == -1.0 and w["share_negative"] == 1.0
    assert "brand:byd" not in rows


def test_stories_most_positive_and_most_negative(store):
    store.write(
        [
            enriched(1, [("brand:byd", 0.9)], 1),
            enriched(2, [("brand:byd", -0.8)], 2),
            enriched(3, [("brand:byd", 0.1), ("brand:byd", -0.3)], 3),
            enriched(4, [("brand:byd", -0.8)], 2.5),  # quotes story 2's sentence: the same story
            enriched(5, [("city:wuhan", 0.05)], 1),  # only neutral coverage
        ]
    )
    q = Queries(DuckDBBackend(store.conn))
    pos = q.stories("brand:byd", limit=2)["stories"]
    neg = q.stories("brand:byd", negative=True)["stories"]
    # only stories labelled so (story 3 is negative on balance), one per repeated sentence
    assert [s["title"] for s in pos] == ["Story 1"]
    assert [s["title"] for s in neg] == ["Story 2", "Story 3"]
    assert set(neg[0]) >= {"article_id", "url", "title", "outlet", "published", "sentiment"}
    assert q.stories("city:wuhan", negative=True)["stories"] == q.stories("city:wuhan")["stories"] == []


def test_share_of_voice_and_breakdowns(store):
    store.write(
        [
            enriched(1, [("brand:byd", 0.5), ("brand:byd", 0.3)], 1, outlet="BBC", country="GB"),
            enriched(2, [("brand:byd", -0.5), ("brand:geely", 0.2)], 2, outlet="NYT", country="US"),
            enriched(3, [("brand:chery", 0.1)], 2, outlet="BBC", country="GB"),
            enriched(4, [("brand:byd", 0.9)], 90, outlet="BBC", country="GB"),
        ]
    )  # outside the period
    since = NOW - timedelta(days=30)
    sov = Queries(DuckDBBackend(store.conn)).share_of_voice(
        {"brand:byd": "BYD", "brand:geely": "Geely", "brand:chery": "Chery", "brand:nio": "NIO"}, since
    )
    assert sov["total"] == 5
    assert [(r["entity_id"], r["mentions"], r["share"]) for r in sov["entities"]] == [
        ("brand:byd", 3, 0.6),
        ("brand:chery", 1, 0.2),
        ("brand:geely", 1, 0.2),
        ("brand:nio", 0, 0.0),
    ]
    by_outlet = Queries(DuckDBBackend(store.conn)).breakdown("brand:byd", since, "outlet")["rows"]
    assert by_outlet == [
        {"key": "BBC", "mentions": 2, "sentiment_mean": 0.4},
        {"key": "NYT", "mentions": 1, "sentiment_mean": -0.5},
    ]
    assert [r["key"] for r in Queries(DuckDBBackend(store.conn)).breakdown("brand:byd", since, "country")["rows"]] == [
        "GB",
        "US",
    ]
    with pytest.raises(ValueError):
        Queries(DuckDBBackend(store.conn)).breakdown("brand:byd", since, "planet")


def test_rank_rollup_counts_sub_brands_for_their_parent(store):
    """A WeChat mention counts for WeChat, and with the rollup for Tencent (outlets once per group)."""
    from nlp.entities.catalogue import load_catalogue

    catalogue = load_catalogue()
    store.write(
        [
            enriched(1, [("brand:wechat", 0.5)], 1, outlet="O1"),
            enriched(2, [("brand:tencent", -0.5)], 1, outlet="O1"),
            enriched(3, [("brand:wechat", 0.5)], 2, outlet="O2"),
            enriched(4, [("brand:byd", 0.2)], 2, outlet="O3"),
        ]
    )
    since = NOW - timedelta(days=30)
    plain = {
        r["entity_id"]: r["mentions"]
        for r in Queries(DuckDBBackend(store.conn)).rank({}, since, "brand", now=NOW)["rows"]
    }
    assert plain == {"brand:wechat": 2, "brand:tencent": 1, "brand:byd": 1}
    rolled = Queries(DuckDBBackend(store.conn)).rank(
        {"brand:tencent": "Tencent"}, since, "brand", now=NOW, rollup=catalogue.rollup("brand")
    )
    rows = {r["entity_id"]: r for r in rolled["rows"]}
    assert rolled["rollup"] is True and set(rows) == {"brand:tencent", "brand:byd"}
    t = rows["brand:tencent"]
    assert (t["name"], t["mentions"], t["outlets"], t["sentiment_mean"]) == (
        "Tencent",
        3,
        2,
        pytest.approx(0.1667, abs=1e-3),
    )


def test_the_articles_tone_toward_each_entity_is_stored_once_per_article_and_entity(store, tmp_path):
    from sinoscope.core.schemas import EntityTone, Sentiment

    # the stage's own article-level tone wins over the mentions combined; a government-sense
    # mention (left out of rank) does not carry it
    e = enriched(1, [("city:beijing", -0.6), ("city:beijing", 0.5), ("city:beijing", 0.4), ("city:chengdu", -0.5)], 1)
    e.mentions[0].sense = "government"
    e.entities = [
        EntityTone(
            entity_id="city:beijing",
            name="Beijing",
            type="city",
            mentions=3,
            sentiment=Sentiment(score=0.1, label="neutral", confidence=0.7),
        )
    ]
    store.write([e])
    rows = store.conn.execute("SELECT id, entity_id, entity_score, entity_label FROM mentions ORDER BY id").fetchall()
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("city:beijing", None, None),
        ("city:beijing", 0.1, "neutral"),
        ("city:beijing", None, None),
        ("city:chengdu", -0.5, "negative"),
    ]
    out = Queries(DuckDBBackend(store.conn)).rank({}, NOW - timedelta(days=30), "city", now=NOW)
    beijing = next(r for r in out["rows"] if r["entity_id"] == "city:beijing")
    assert (beijing["mentions"], beijing["sentiment_mean"], beijing["share_positive"]) == (2, 0.1, 0.0)
    stories = Queries(DuckDBBackend(store.conn)).stories("city:chengdu", negative=True)["stories"]
    assert [s["sentiment"] for s in stories] == [-0.5]


def test_a_store_from_an_older_release_gains_the_tone_columns(tmp_path):
    import duckdb

    path = tmp_path / "old.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute(
        "CREATE TABLE mentions (id VARCHAR PRIMARY KEY, article_id VARCHAR, entity_id VARCHAR, "
        "entity_type VARCHAR, name VARCHAR, text VARCHAR, field VARCHAR, sentence VARCHAR, sense VARCHAR, "
        "score DOUBLE, label VARCHAR, confidence DOUBLE, published TIMESTAMPTZ, outlet VARCHAR, "
        "country VARCHAR, language VARCHAR, duplicate_of VARCHAR)"
    )
    conn.execute("INSERT INTO mentions (id, entity_id, score, published) VALUES ('m1', 'city:wuhan', -0.5, now())")
    conn.close()
    reader = DuckDBStore(path, read_only=True)  # a query before any writer has run
    try:
        out = Queries(DuckDBBackend(reader.conn)).trend("city:wuhan", "Wuhan", NOW - timedelta(days=3650), "1w")
        assert [(b["mentions"], b["sentiment_mean"]) for b in out["buckets"] if b["mentions"]] == [(1, None)]
    finally:
        reader.close()


def test_trend_buckets_in_a_stated_time_zone(tmp_path):
    """17:00 UTC on 1 March is 01:00 on 2 March in Shanghai: the same mention falls in another day;
    Berlin's months start at local midnight, with the offset of the day (DST from the end of March)."""
    store = DuckDBStore(tmp_path / "s.duckdb")
    late = datetime(2026, 3, 1, 17, tzinfo=UTC)
    store.write(
        [
            records.enriched("tz1", late, [("city:chengdu", 0.5)]),
            records.enriched("tz2", late + timedelta(days=40), [("city:chengdu", -0.5)]),
        ]
    )
    q = Queries(DuckDBBackend(store.conn))
    day = timedelta(days=1)
    utc = q.trend("city:chengdu", "Chengdu", late - day, "1d", until=late + day)
    shanghai = q.trend("city:chengdu", "Chengdu", late - day, "1d", until=late + day, tz="Asia/Shanghai")
    assert [(b["start"], b["mentions"]) for b in utc["buckets"] if b["mentions"]] == [("2026-03-01T00:00:00+00:00", 1)]
    assert [(b["start"], b["mentions"]) for b in shanghai["buckets"] if b["mentions"]] == [
        ("2026-03-02T00:00:00+08:00", 1)
    ]
    assert shanghai["time_zone"] == "Asia/Shanghai"
    berlin = q.trend(
        "city:chengdu",
        "Chengdu",
        datetime(2026, 2, 10, tzinfo=UTC),
        "1M",
        until=datetime(2026, 5, 2, tzinfo=UTC),
        tz="Europe/Berlin",
    )
    assert [(b["start"], b["mentions"]) for b in berlin["buckets"]] == [
        ("2026-02-01T00:00:00+01:00", 0),
        ("2026-03-01T00:00:00+01:00", 1),
        ("2026-04-01T00:00:00+02:00", 1),
        ("2026-05-01T00:00:00+02:00", 0),
    ]
    with pytest.raises(ValueError, match="IANA"):
        q.trend("city:chengdu", "Chengdu", late, "1d", tz="Mars/Olympus")


def test_related_entities_are_those_named_in_the_same_articles(tmp_path):
    store = DuckDBStore(tmp_path / "s.duckdb")
    t = NOW - timedelta(days=2)
    store.write(
        [
            records.enriched("r1", t, [("brand:byd", 0.1), ("city:chengdu", 0.2), ("city:chengdu", 0.1)]),
            records.enriched("r2", t, [("brand:byd", 0.1), ("city:chengdu", 0.2), ("city:wuhan", 0.0)]),
            records.enriched("r3", t, [("brand:byd", 0.1), ("city:hangzhou", 0.2)], duplicate_of="r2"),
            records.enriched("r4", t, [("city:wuhan", 0.1)]),
        ]
    )
    q = Queries(DuckDBBackend(store.conn))
    rel = q.related("brand:byd", records.NAMES, NOW - timedelta(days=7))
    assert rel["rows"] == [
        {"entity_id": "city:chengdu", "name": "Chengdu", "articles": 2},
        {"entity_id": "city:wuhan", "name": "Wuhan", "articles": 1},
    ]  # a syndicated copy counts once: its original
    assert [r["entity_id"] for r in q.related("brand:byd", {}, NOW - timedelta(days=7), include_duplicates=True)["rows"]] == [
        "city:chengdu", "city:hangzhou", "city:wuhan"
    ]  # fmt: skip
