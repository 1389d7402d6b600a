"""Trend queries over the stored mentions: volume and tone per entity over time, the city
overseas-influence ranking, and the stories behind them. Each returns the documented JSON
shape (fields may be added, never removed).

The influence index (0-100) follows published city-influence reports in combining presence,
breadth, tone and momentum, each scaled to [0, 1] across the cities ranked:
    index = 100 * (0.35 * presence + 0.25 * breadth + 0.25 * tone + 0.15 * growth)
    presence = log(1 + mentions) / log(1 + max mentions)
    breadth  = (outlets / max outlets + countries / max countries) / 2
    tone     = (mean sentiment + 1) / 2
    growth   = (mentions in the second half of the period - first half) / (both halves), mapped to [0, 1]
Syndicated copies (``duplicate_of`` set) are excluded unless asked for, so one wire story on ten
outlets counts once. Tone figures (``sentiment_mean``, positive/negative counts and shares, story
order) are the article-level tone toward each entity, one per (article, entity) (``sinoscope.tone``);
``mentions`` counts mentions.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

INTERVALS = {"1h": "hour", "hour": "hour", "1d": "day", "day": "day", "1w": "week", "week": "week"}


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """'30d', '12h', '8w' or an ISO date -> the start of the period (UTC)."""
    now = now or datetime.now(timezone.utc)
    v = value.strip().lower()
    units = {"h": "hours", "d": "days", "w": "weeks"}
    if v[:-1].isdigit() and v[-1] in units:
        return now - timedelta(**{units[v[-1]]: int(v[:-1])})
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _dup(include_duplicates: bool) -> str:
    return "" if include_duplicates else " AND duplicate_of IS NULL"


def trend(conn, entity_id: str, name: str, since: datetime, interval: str = "1d",
          include_duplicates: bool = False) -> dict:
    unit = INTERVALS.get(interval)
    if unit is None:
        raise ValueError(f"interval {interval!r}: use 1h, 1d or 1w")
    rows = conn.execute(
        f"SELECT date_trunc('{unit}', published AT TIME ZONE 'UTC') AS b, count(*), avg(entity_score), "
        f"count(*) FILTER (WHERE entity_label = 'positive'), count(*) FILTER (WHERE entity_label = 'negative') "
        f"FROM mentions WHERE entity_id = ? AND published >= ?{_dup(include_duplicates)} GROUP BY b ORDER BY b",
        [entity_id, since]).fetchall()
    return {"entity_id": entity_id, "name": name, "interval": interval, "since": since.isoformat(),
            "include_duplicates": include_duplicates,
            "buckets": [{"start": b.replace(tzinfo=timezone.utc).isoformat(), "mentions": n,
                         "sentiment_mean": round(s, 4) if s is not None else None, "positive": p, "negative": q}
                        for b, n, s, p, q in rows]}


def rank(conn, names: dict[str, str], since: datetime, entity_type: str = "city", now: datetime | None = None,
         include_duplicates: bool = False, limit: int | None = None, rollup: dict[str, str] | None = None) -> dict:
    """``rollup`` (entity id -> the group it counts for, e.g. brand:wechat -> brand:tencent) ranks
    the groups: a WeChat mention counts for Tencent, outlets and countries counted once per group."""
    now = now or datetime.now(timezone.utc)
    mid = since + (now - since) / 2
    pairs = sorted((rollup or {}).items())
    rows = conn.execute(
        f"SELECT coalesce(r.grp, entity_id) AS g, count(*), count(DISTINCT outlet), count(DISTINCT country), "
        f"avg(entity_score), coalesce(avg(CASE WHEN entity_label = 'positive' THEN 1 WHEN entity_label IS NOT NULL THEN 0 END), 0), "
        f"coalesce(avg(CASE WHEN entity_label = 'negative' THEN 1 WHEN entity_label IS NOT NULL THEN 0 END), 0), "
        f"count(*) FILTER (WHERE published >= ?), count(*) FILTER (WHERE published < ?) "
        f"FROM mentions LEFT JOIN (SELECT unnest(?::VARCHAR[]) AS child, unnest(?::VARCHAR[]) AS grp) r "
        f"ON r.child = entity_id WHERE entity_type = ? AND published >= ? AND published <= ?"
        f"{_dup(include_duplicates)} AND (sense IS NULL OR sense <> 'government') GROUP BY g",
        [mid, mid, [c for c, _ in pairs], [g for _, g in pairs], entity_type, since, now]).fetchall()
    return rank_rows(rows, names, since, entity_type, include_duplicates, limit, rollup is not None)


def rank_rows(rows, names: dict[str, str], since: datetime, entity_type: str, include_duplicates: bool,
              limit: int | None, rollup: bool = False) -> dict:
    """The index from per-entity figures (entity, mentions, outlets, countries, mean, share
    positive, share negative, mentions in the second half, in the first): shared by both stores."""
    head = {"type": entity_type, "since": since.isoformat(), "include_duplicates": include_duplicates,
            **({"rollup": True} if rollup else {})}
    if not rows:
        return {**head, "rows": []}
    max_m = max(r[1] for r in rows)
    max_o = max(r[2] for r in rows)
    max_c = max(r[3] for r in rows)
    out = []
    for eid, n, outlets, countries, mean, pos, neg, recent, earlier in rows:
        presence = math.log1p(n) / math.log1p(max_m)
        breadth = (outlets / max_o + countries / max_c) / 2
        tone = ((mean if mean is not None else 0.0) + 1) / 2
        growth = (recent - earlier) / (recent + earlier) if recent + earlier else 0.0
        index = 100 * (0.35 * presence + 0.25 * breadth + 0.25 * tone + 0.15 * (growth + 1) / 2)
        out.append({"entity_id": eid, "name": names.get(eid, eid), "mentions": n, "outlets": outlets,
                    "countries": countries, "sentiment_mean": round(mean, 4) if mean is not None else None,
                    "share_positive": round(pos, 4), "share_negative": round(neg, 4),
                    "growth": round(growth, 4), "index": round(index, 2)})
    out.sort(key=lambda r: (-r["index"], r["entity_id"]))
    return {**head, "rows": out[:limit] if limit else out}


def stories(conn, entity_id: str, since: datetime | None = None, negative: bool = False, limit: int = 10,
            include_duplicates: bool = False, until: datetime | None = None) -> dict:
    order = "ASC" if negative else "DESC"
    rows = conn.execute(
        f"SELECT a.id, a.url, a.title, a.outlet, a.published, m.entity_score, m.sentence "
        f"FROM mentions m JOIN articles a ON a.id = m.article_id "
        f"WHERE m.entity_id = ? AND m.entity_score IS NOT NULL AND m.published >= ? AND m.published <= ?"
        f"{'' if include_duplicates else ' AND m.duplicate_of IS NULL'} "
        f"ORDER BY m.entity_score {order}, a.published DESC LIMIT ?",
        [entity_id, since or datetime(1970, 1, 1, tzinfo=timezone.utc),
         until or datetime(9999, 1, 1, tzinfo=timezone.utc), limit]).fetchall()
    return {"entity_id": entity_id, "negative": negative,
            "stories": [{"article_id": i, "url": u, "title": t, "outlet": o,
                         "published": p.astimezone(timezone.utc).isoformat(), "sentiment": round(s, 4),
                         "sentence": sent} for i, u, t, o, p, s, sent in rows]}


def share_of_voice(conn, entities: dict[str, str], since: datetime, include_duplicates: bool = False) -> dict:
    """Each entity's share of all mentions of the given entities (e.g. a set of brands)."""
    counts = dict(conn.execute(
        f"SELECT entity_id, count(*) FROM mentions WHERE entity_id IN (SELECT unnest(?)) AND published >= ?"
        f"{_dup(include_duplicates)} GROUP BY entity_id", [list(entities), since]).fetchall())
    return voice_rows(counts, entities, since)


def voice_rows(counts: dict[str, int], entities: dict[str, str], since: datetime) -> dict:
    """Shares from mention counts per entity (entities with none count as 0): shared by both stores."""
    total = sum(counts.values())
    out = [{"entity_id": e, "name": name, "mentions": counts.get(e, 0),
            "share": round(counts.get(e, 0) / total, 4) if total else 0.0} for e, name in entities.items()]
    out.sort(key=lambda r: (-r["mentions"], r["entity_id"]))
    return {"since": since.isoformat(), "total": total, "entities": out}


SPLITS = ("outlet", "country", "language")


def check_split(by: str, what: str) -> None:
    """Breakdowns and coverage split by an outlet's name, country or language, nothing else
    (the name becomes a column / field in the query)."""
    if by not in SPLITS:
        raise ValueError(f"{what} by {by!r}: use outlet, country or language")


def breakdown(conn, entity_id: str, since: datetime, by: str = "outlet", include_duplicates: bool = False) -> dict:
    """Mentions and mean sentiment of one entity per outlet, country or language."""
    check_split(by, "breakdown")
    rows = conn.execute(
        f"SELECT {by}, count(*), avg(entity_score) FROM mentions WHERE entity_id = ? AND published >= ?"
        f"{_dup(include_duplicates)} GROUP BY {by} ORDER BY count(*) DESC, {by}", [entity_id, since]).fetchall()
    return {"entity_id": entity_id, "by": by, "rows": [
        {"key": k, "mentions": n, "sentiment_mean": round(s, 4) if s is not None else None} for k, n, s in rows]}


def coverage(conn, since: datetime, by: str = "country", include_duplicates: bool = False) -> dict:
    """Articles that mention a tracked city or brand, split by outlet country or language."""
    check_split(by, "coverage")
    rows = conn.execute(
        f"SELECT {by}, count(*), sum(mentions) FROM articles WHERE mentions > 0 AND published >= ?"
        f"{_dup(include_duplicates)} GROUP BY {by} ORDER BY count(*) DESC, {by}", [since]).fetchall()
    return {"by": by, "rows": [{"key": k, "articles": n, "mentions": int(m or 0)} for k, n, m in rows]}


def texts(conn, since: datetime, limit: int = 20_000) -> list[tuple[str, str]]:
    """(text, outlet) of the period's stored titles, summaries and mention sentences, newest first:
    what ``nlp discover`` reads (the store keeps no full text). Syndicated copies count once."""
    return [(t, o) for t, o in conn.execute(
        "SELECT t, outlet FROM (SELECT title AS t, outlet, published FROM articles WHERE published >= ? "
        "AND duplicate_of IS NULL UNION ALL SELECT summary, outlet, published FROM articles WHERE published >= ? "
        "AND duplicate_of IS NULL UNION ALL SELECT DISTINCT sentence, outlet, published FROM mentions "
        "WHERE published >= ? AND duplicate_of IS NULL) WHERE t IS NOT NULL AND t <> '' ORDER BY published DESC LIMIT ?",
        [since, since, since, limit]).fetchall()]


def totals(conn, since: datetime, include_duplicates: bool = False) -> dict:
    """What a period's figures cover: articles, mentions, sources, outlets, duplicates."""
    a = conn.execute(
        f"SELECT count(*), count(*) FILTER (WHERE mentions > 0), count(DISTINCT source), count(DISTINCT outlet), "
        f"count(DISTINCT country), count(DISTINCT language), min(published), max(published) "
        f"FROM articles WHERE published >= ?{_dup(include_duplicates)}", [since]).fetchone()
    dups = conn.execute("SELECT count(*) FROM articles WHERE published >= ? AND duplicate_of IS NOT NULL",
                        [since]).fetchone()[0]
    m = conn.execute(f"SELECT count(*), count(DISTINCT entity_id) FROM mentions WHERE published >= ?"
                     f"{_dup(include_duplicates)}", [since]).fetchone()
    sources = [r[0] for r in conn.execute(
        f"SELECT DISTINCT outlet FROM articles WHERE published >= ?{_dup(include_duplicates)} ORDER BY 1",
        [since]).fetchall()]
    iso = lambda d: d.astimezone(timezone.utc).isoformat() if d else None  # noqa: E731
    return {"articles": a[0], "articles_with_mentions": a[1], "sources": a[2], "outlets": a[3], "countries": a[4],
            "languages": a[5], "first_published": iso(a[6]), "last_published": iso(a[7]),
            "duplicates": dups, "duplicates_excluded": not include_duplicates,
            "mentions": m[0], "entities": m[1], "outlet_names": sources}
