"""The embedded store at scale: load 1 million synthetic mentions and time each trend query.

    .venv/bin/python bench/store_bench.py [--mentions 1000000] [--sqlite]

Mentions are spread over 300 entities (Zipf-like, as coverage is), 50 outlets in 20 countries
and 365 days. Prints the load rate and the latency (median of 5 runs) of trend (1d and 1w),
rank (cities, 90 days) and stories. --sqlite times the same load and trend query in SQLite for
the DuckDB-vs-SQLite choice.
"""

from __future__ import annotations

import argparse
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sinks.alerts import swings  # noqa: E402
from sinks.duckdb import alerts  # noqa: E402
from sinks.duckdb.queries import DuckDBBackend  # noqa: E402
from sinks.duckdb.store import DuckDBStore  # noqa: E402
from sinks.query import Queries  # noqa: E402

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def rows(n: int, rng: random.Random):
    entities = [f"city:c{i}" for i in range(200)] + [f"brand:b{i}" for i in range(100)]
    weights = [1 / (i + 1) for i in range(len(entities))]
    picks = rng.choices(range(len(entities)), weights, k=n)
    for k, e in enumerate(picks):
        art = f"a{k // 4}"
        score = max(-1.0, min(1.0, rng.gauss(0.05, 0.5)))
        label = "positive" if score > 0.15 else "negative" if score < -0.15 else "neutral"
        yield (
            f"{art}:text:{k}",
            art,
            entities[e],
            entities[e].split(":")[0],
            entities[e],
            "x",
            "text",
            "A sentence.",
            None,
            score,
            label,
            0.8,
            NOW - timedelta(minutes=rng.randrange(365 * 24 * 60)),
            f"Outlet {rng.randrange(50)}",
            f"C{rng.randrange(20)}",
            "en",
            None if rng.random() > 0.1 else "a0",
        )


def timed(fn, runs=5) -> float:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mentions", type=int, default=1_000_000)
    ap.add_argument("--sqlite", action="store_true")
    args = ap.parse_args()
    data = list(rows(args.mentions, random.Random(5)))
    tmp = Path(tempfile.mkdtemp())
    DuckDBStore(tmp / "store.duckdb")  # creates the file and tables
    import duckdb

    class _Bench:  # one long-lived connection for the bulk load and the timed queries
        conn = duckdb.connect(str(tmp / "store.duckdb"))

        @classmethod
        def close(cls):
            cls.conn.close()

    store = _Bench
    names = [
        "id",
        "article_id",
        "entity_id",
        "entity_type",
        "name",
        "text",
        "field",
        "sentence",
        "sense",
        "score",
        "label",
        "confidence",
        "published",
        "outlet",
        "country",
        "language",
        "duplicate_of",
    ]
    t = time.perf_counter()
    import csv

    with open(tmp / "m.csv", "w", newline="") as fh:  # bulk load: CSV written and COPYed, both timed
        w = csv.writer(fh)
        for r in data:
            w.writerow([("" if v is None else v.isoformat() if isinstance(v, datetime) else v) for v in r])
    store.conn.execute(f"COPY mentions ({', '.join(names)}) FROM '{tmp / 'm.csv'}' (HEADER false, NULLSTR '')")
    # the article-level tone on each row (rows stand for one mention per article and entity here)
    store.conn.execute("UPDATE mentions SET entity_score = score, entity_label = label, entity_confidence = confidence")
    load = args.mentions / (time.perf_counter() - t)
    store.conn.execute(  # the articles the mentions belong to (for the stories join)
        "INSERT INTO articles SELECT article_id, 'https://x/' || article_id, 'Title ' || article_id, '', any_value(outlet),"
        " any_value(country), 'en', 's', min(published), min(published), NULL, avg(score), NULL, NULL, count(*), NULL"
        " FROM mentions GROUP BY article_id"
    )
    since90, since30 = NOW - timedelta(days=90), NOW - timedelta(days=30)
    c = store.conn
    queries = Queries(DuckDBBackend(c))
    print(f"\nembedded store (DuckDB) with {args.mentions:,} mentions: loaded at {load:,.0f} mentions/s")
    for name, fn in [
        ("trend, top entity, 365 days by day", lambda: queries.trend("city:c0", "c0", NOW - timedelta(days=365), "1d")),
        ("trend, mid entity, 30 days by day", lambda: queries.trend("city:c50", "c50", since30, "1d")),
        (
            "trend, top entity, 365 days by week, with duplicates",
            lambda: queries.trend("city:c0", "c0", NOW - timedelta(days=365), "1w", True),
        ),
        ("rank, cities, 90 days", lambda: queries.rank({}, since90, "city", now=NOW)),
        ("stories, top entity, most negative", lambda: queries.stories("city:c0", since90, True)),
        (
            "share of voice, 10 entities, 90 days",
            lambda: queries.share_of_voice({f"city:c{i}": f"c{i}" for i in range(10)}, since90),
        ),
        ("breakdown by outlet, top entity, 90 days", lambda: queries.breakdown("city:c0", since90, "outlet")),
        (
            "breakdown by country, top entity, 365 days",
            lambda: queries.breakdown("city:c0", NOW - timedelta(days=365), "country"),
        ),
        ("swing figures, every entity (alerts: 48 h vs 28 days)", lambda: alerts.stats(c, NOW, swings.Thresholds())),
    ]:
        print(f"  {name:<58} {timed(fn):8.1f} ms")
    store.close()
    if args.sqlite:
        conn = sqlite3.connect(tmp / "s.sqlite")
        conn.execute("CREATE TABLE mentions (" + ", ".join(names) + ")")
        conn.execute("CREATE INDEX m_e ON mentions (entity_id, published)")
        t = time.perf_counter()
        conn.executemany(
            f"INSERT INTO mentions VALUES ({','.join('?' * 17)})",
            [r[:12] + (r[12].isoformat(),) + r[13:] for r in data],
        )
        conn.commit()
        sload = args.mentions / (time.perf_counter() - t)
        q = (
            "SELECT substr(published, 1, 10) d, count(*), avg(score) FROM mentions WHERE entity_id = ? "
            "AND published >= ? AND duplicate_of IS NULL GROUP BY d"
        )
        ms = timed(lambda: conn.execute(q, ["city:c0", (NOW - timedelta(days=365)).isoformat()]).fetchall())
        rq = (
            "SELECT entity_id, count(*), count(DISTINCT outlet), count(DISTINCT country), avg(score) FROM mentions "
            "WHERE entity_type = 'city' AND published >= ? GROUP BY entity_id"
        )
        rms = timed(lambda: conn.execute(rq, [since90.isoformat()]).fetchall())
        print(
            f"SQLite for comparison: loaded at {sload:,.0f} mentions/s; trend top entity 365 days {ms:.1f} ms; "
            f"rank cities 90 days {rms:.1f} ms"
        )
    print(f"peak memory (max RSS) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
