"""The query back-end over the embedded DuckDB store: the primitive aggregations of
``sinks.query.Backend`` as SQL over the ``mentions`` and ``articles`` tables. Validation, the
shared filters' choice and the JSON shapes live in ``sinks/query.py``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from ..query import SPLITS, Backend
from .store import DuckDBStore


def _dup(dups: bool, alias: str = "") -> str:
    return "" if dups else f" AND {alias}duplicate_of IS NULL"


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _article_filters(r, article: str) -> tuple[list[str], list]:
    """SQL conditions (over alias ``x``) for a search request's article filters: outlet, country,
    language, dates, and articles mentioning the entities (or type), with the tone range toward them
    (the article-level tone, to the hundredth, as the search's tone keywords)."""
    where, params = [], []
    for col, values in (("outlet", r.outlets), ("country", r.countries), ("language", r.languages)):
        if values:
            where.append(f"x.{col} IN (SELECT unnest(?::VARCHAR[]))")
            params.append(list(values))
    if r.since:
        where.append("x.published >= ?")
        params.append(r.since)
    if r.until:
        where.append("x.published <= ?")
        params.append(r.until)
    cond, cparams = [], []
    if r.entity_ids:
        cond.append("entity_id IN (SELECT unnest(?::VARCHAR[]))")
        cparams.append(list(r.entity_ids))
    if r.entity_type:
        cond.append("entity_type = ?")
        cparams.append(r.entity_type)
    if r.tone:
        cond.append("floor(entity_score * 100 + 0.5) BETWEEN ceil(round(? * 100, 6)) AND floor(round(? * 100, 6))")
        cparams += list(r.tone)
    if cond:
        where.append(f"{article} IN (SELECT article_id FROM mentions WHERE {' AND '.join(cond)})")
        params += cparams
    return where, params


class DuckDBBackend(Backend):
    def __init__(self, conn, store: DuckDBStore | None = None) -> None:
        self.conn, self.store = conn, store

    @classmethod
    def open(cls, path: Path) -> DuckDBBackend:
        """Read-only over the store file (a writer may hold it between batches)."""
        store = DuckDBStore(path, read_only=True)
        return cls(store.conn, store)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()

    def search(self, request):
        return self.store.search.search(request)

    def search_ids(self, request):
        return self.store.search.matching_ids(request)

    def export_batches(self, kind, request, article_ids):
        """Rows of the articles the request's filters (and ``article_ids``, a text query's matches)
        let through, oldest first, straight from DuckDB as Arrow batches; mentions of the
        requested entities (or type) only."""
        where, params = _article_filters(request, "x.article_id" if kind == "mentions" else "x.id")
        cur = self.conn.cursor()  # its own connection: the export streams while other queries may run
        if article_ids is not None:
            cur.register("export_ids", pa.table({"id": pa.array(article_ids, pa.string())}))
            where.append(f"{'x.article_id' if kind == 'mentions' else 'x.id'} IN (SELECT id FROM export_ids)")
        if kind == "mentions":
            if request.entity_ids:
                where.append("x.entity_id IN (SELECT unnest(?::VARCHAR[]))")
                params.append(list(request.entity_ids))
            if request.entity_type:
                where.append("x.entity_type = ?")
                params.append(request.entity_type)
            sql = (
                "SELECT x.id AS mention_id, x.article_id, x.entity_id, x.entity_type, x.name, x.text, x.sentence, "
                "x.sense, x.score, x.label, x.entity_score, x.entity_label, x.published, x.outlet, x.country, "
                "x.language, x.duplicate_of, a.url, a.title FROM mentions x LEFT JOIN articles a ON a.id = x.article_id"
            )
        else:
            sql = (
                "SELECT x.id AS article_id, x.url, x.title, x.summary, x.outlet, x.country, x.language, x.source, "
                "x.published, x.fetched, x.duplicate_of, x.sentiment_score, x.sentiment_label, "
                "CAST(x.mentions AS BIGINT) AS mentions, (SELECT string_agg(DISTINCT entity_id, ';' ORDER BY entity_id) "
                "FROM mentions m WHERE m.article_id = x.id) AS entity_ids FROM articles x"
            )
        query = f"{sql}{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY x.published, x.id"
        try:
            yield from cur.sql(query, params=params).to_arrow_reader(20_000)  # streamed, batch by batch
        finally:
            cur.close()

    def trend_buckets(self, entity_id, since, until, interval, dups):
        # buckets of local wall-clock time in the interval's zone (a validated IANA name)
        if interval.step is not None:  # fixed: seconds from the interval's origin (validated numbers)
            origin = interval.origin.replace(tzinfo=None).isoformat(sep=" ")
            bucket = f"time_bucket(INTERVAL '{int(interval.step.total_seconds())} seconds', t, TIMESTAMP '{origin}')"
        else:
            bucket = f"date_trunc('{interval.unit}', t)"  # week (ISO, Monday), month, quarter, year
        rows = self.conn.execute(
            f"SELECT {bucket} AS b, count(*), avg(entity_score), count(*) FILTER (WHERE entity_label = 'positive'), "
            f"count(*) FILTER (WHERE entity_label = 'negative') FROM (SELECT *, published AT TIME ZONE ? AS t "
            f"FROM mentions WHERE entity_id = ? AND published >= ? AND published <= ?{_dup(dups)}) GROUP BY b ORDER BY b",
            [interval.tz, entity_id, since, until],
        ).fetchall()
        return [(b.replace(tzinfo=interval.zone), n, s, p, q) for b, n, s, p, q in rows]

    def entity_figures(self, entity_type, since, until, mid, dups, exclude_senses, rollup):
        pairs = sorted((rollup or {}).items())
        return self.conn.execute(
            f"SELECT coalesce(r.grp, entity_id) AS g, count(*), count(DISTINCT outlet), count(DISTINCT country), "
            f"avg(entity_score), "
            f"coalesce(avg(CASE WHEN entity_label = 'positive' THEN 1 WHEN entity_label IS NOT NULL THEN 0 END), 0), "
            f"coalesce(avg(CASE WHEN entity_label = 'negative' THEN 1 WHEN entity_label IS NOT NULL THEN 0 END), 0), "
            f"count(*) FILTER (WHERE published >= ?), count(*) FILTER (WHERE published < ?) "
            f"FROM mentions LEFT JOIN (SELECT unnest(?::VARCHAR[]) AS child, unnest(?::VARCHAR[]) AS grp) r "
            f"ON r.child = entity_id WHERE entity_type = ? AND published >= ? AND published <= ?"
            f"{_dup(dups)} AND (sense IS NULL OR sense NOT IN (SELECT unnest(?::VARCHAR[]))) GROUP BY g",
            [mid, mid, [c for c, _ in pairs], [g for _, g in pairs], entity_type, since, until, list(exclude_senses)],
        ).fetchall()

    def story_rows(self, entity_id, since, until, negative, limit, dups, label):
        rows = self.conn.execute(
            f"SELECT a.id, a.url, a.title, a.outlet, a.published, m.entity_score, m.sentence, "
            f"coalesce(a.duplicate_of, a.id) FROM mentions m JOIN articles a ON a.id = m.article_id "
            f"WHERE m.entity_id = ? AND m.entity_label = ? AND m.published >= ? AND m.published <= ?"
            f"{_dup(dups, 'm.')} ORDER BY m.entity_score {'ASC' if negative else 'DESC'}, a.published DESC LIMIT ?",
            [entity_id, label, since, until, limit],
        ).fetchall()
        return [
            {"article_id": i, "url": u, "title": t, "outlet": o, "published": _utc(p), "sentiment": s, "sentence": sent,
             "story": story}
            for i, u, t, o, p, s, sent, story in rows
        ]  # fmt: skip

    def mention_counts(self, entity_ids, since, dups):
        return dict(
            self.conn.execute(
                f"SELECT entity_id, count(*) FROM mentions WHERE entity_id IN (SELECT unnest(?)) AND published >= ?"
                f"{_dup(dups)} GROUP BY entity_id",
                [entity_ids, since],
            ).fetchall()
        )

    def article_days(self, since, until):
        rows = self.conn.execute(
            "SELECT DISTINCT date_trunc('day', published AT TIME ZONE 'UTC') AS d FROM articles "
            "WHERE published >= ? AND published <= ? ORDER BY d",
            [since, until],
        ).fetchall()
        return [_utc(d) for (d,) in rows]

    def related_counts(self, entity_id, since, limit, dups):
        return self.conn.execute(
            f"SELECT o.entity_id, count(DISTINCT o.article_id) AS n FROM mentions m JOIN mentions o "
            f"ON o.article_id = m.article_id AND o.entity_id <> m.entity_id WHERE m.entity_id = ? AND m.published >= ?"
            f"{_dup(dups, 'm.')} GROUP BY o.entity_id ORDER BY n DESC, o.entity_id LIMIT ?",
            [entity_id, since, limit],
        ).fetchall()

    def split_figures(self, entity_id, since, by, dups):
        assert by in SPLITS  # a column name: validated by the query layer
        return self.conn.execute(
            f"SELECT {by}, count(*), avg(entity_score) FROM mentions WHERE entity_id = ? AND published >= ?"
            f"{_dup(dups)} GROUP BY {by} ORDER BY count(*) DESC, {by}",
            [entity_id, since],
        ).fetchall()

    def coverage_rows(self, since, by, dups):
        assert by in SPLITS
        return self.conn.execute(
            f"SELECT {by}, count(*), sum(mentions) FROM articles WHERE mentions > 0 AND published >= ?"
            f"{_dup(dups)} GROUP BY {by} ORDER BY count(*) DESC, {by}",
            [since],
        ).fetchall()

    def texts(self, since, limit):
        return [
            (t, o)
            for t, o in self.conn.execute(
                "SELECT t, outlet FROM (SELECT title AS t, outlet, published FROM articles WHERE published >= ? "
                "AND duplicate_of IS NULL UNION ALL SELECT summary, outlet, published FROM articles WHERE published >= ? "
                "AND duplicate_of IS NULL UNION ALL SELECT DISTINCT sentence, outlet, published FROM mentions "
                "WHERE published >= ? AND duplicate_of IS NULL) WHERE t IS NOT NULL AND t <> '' ORDER BY published DESC "
                "LIMIT ?",
                [since, since, since, limit],
            ).fetchall()
        ]

    def fetched_counts(self, since):
        return self.conn.execute(
            "SELECT count(*), coalesce(sum(mentions), 0) FROM articles WHERE fetched >= ?", [since]
        ).fetchone()

    def totals(self, since, dups):
        a = self.conn.execute(
            f"SELECT count(*), count(*) FILTER (WHERE mentions > 0), count(DISTINCT source), count(DISTINCT outlet), "
            f"count(DISTINCT country), count(DISTINCT language), min(published), max(published), "
            f"count(*) FILTER (WHERE via = 'backfill') FROM articles WHERE published >= ?{_dup(dups)}",
            [since],
        ).fetchone()
        n_dups = self.conn.execute(
            "SELECT count(*) FROM articles WHERE published >= ? AND duplicate_of IS NOT NULL", [since]
        ).fetchone()[0]
        m = self.conn.execute(
            f"SELECT count(*), count(DISTINCT entity_id) FROM mentions WHERE published >= ?{_dup(dups)}", [since]
        ).fetchone()
        outlets = [
            r[0]
            for r in self.conn.execute(
                f"SELECT DISTINCT outlet FROM articles WHERE published >= ?{_dup(dups)} ORDER BY 1", [since]
            ).fetchall()
        ]
        iso = lambda d: _utc(d).isoformat() if d else None  # noqa: E731
        return {
            "articles": a[0],
            "articles_with_mentions": a[1],
            "sources": a[2],
            "outlets": a[3],
            "countries": a[4],
            "languages": a[5],
            "backfilled": a[8],
            "first_published": iso(a[6]),
            "last_published": iso(a[7]),
            "duplicates": n_dups,
            "duplicates_excluded": not dups,
            "mentions": m[0],
            "entities": m[1],
            "outlet_names": outlets,
        }
