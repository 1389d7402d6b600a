"""The query layer: trend, rank, stories, share of voice, breakdown, coverage and totals, the same
on every store.

Written once here: the validation (intervals, splits), the shared filters (syndicated copies
left out unless asked for; the senses rank and swing figures leave out, ``EXCLUDED_SENSES``), the
influence index and the documented JSON shapes. A back-end (``sinks/duckdb/queries.py``,
``sinks/elastic/queries.py``) only answers the primitive aggregations of ``Backend``.

The influence index (0-100) follows published city-influence reports in combining presence,
breadth, tone and momentum, each scaled to [0, 1] across the entities ranked:
    index = 100 * (0.35 * presence + 0.25 * breadth + 0.25 * tone + 0.15 * growth)
    presence = log(1 + mentions) / log(1 + max mentions)
    breadth  = (outlets / max outlets + countries / max countries) / 2
    tone     = (mean article-level tone + 1) / 2
    growth   = (mentions in the second half of the period - first half) / (both halves), mapped to [0, 1]
Tone figures (``sentiment_mean``, positive/negative counts and shares, story order) are the
article-level tone toward each entity, one per (article, entity) (``sinoscope.core.tone``);
``mentions`` counts mentions.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sinoscope.core.settings import Settings

from .search.request import SearchHits, SearchRequest
from .search.syntax import Everything

ALIASES = {"hour": "1h", "day": "1d", "week": "1w", "month": "1M", "quarter": "1q", "year": "1y"}
MAX_BUCKETS = 20_000
WEEK_ORIGIN = datetime(1970, 1, 5, tzinfo=UTC)  # a Monday: weeks start on Mondays (ISO)
SPLITS = ("outlet", "country", "language")
# "Beijing said..." stands for the state, not the city: rank and swing figures leave such mentions out
EXCLUDED_SENSES = ("government",)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
END = datetime(9999, 1, 1, tzinfo=UTC)


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """'30d', '12h', '8w' or an ISO date -> the start of the period (UTC)."""
    now = now or datetime.now(UTC)
    v = value.strip().lower()
    units = {"h": "hours", "d": "days", "w": "weeks"}
    if v[:-1].isdigit() and v[-1] in units:
        return now - timedelta(**{units[v[-1]]: int(v[:-1])})
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Interval:
    """A trend's bucket size: fixed (``6h``, ``3d``, ``2w``: ``step``, aligned to ``origin``) or
    calendar (``1w`` Monday weeks, ``1M`` months, ``1q`` quarters, ``1y`` years: ``unit``), in the
    time zone ``tz`` (an IANA name; UTC by default): buckets start at its local midnights, month
    starts and hours, so a day in Shanghai is 16:00-16:00 UTC. Bucket arithmetic runs on local
    wall-clock time; the starts are returned as aware datetimes in that zone."""

    text: str
    step: timedelta | None = None
    origin: datetime = EPOCH
    unit: str | None = None  # week, month, quarter, year
    tz: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def floor(self, t: datetime) -> datetime:
        local = t.astimezone(self.zone).replace(tzinfo=None)
        if self.step is not None:
            origin = self.origin.replace(tzinfo=None)
            start = origin + ((local - origin) // self.step) * self.step
        elif self.unit == "week":
            week0 = WEEK_ORIGIN.replace(tzinfo=None)
            start = week0 + ((local - week0) // timedelta(weeks=1)) * timedelta(weeks=1)
        else:
            months = {"month": 1, "quarter": 3, "year": 12}[self.unit or "month"]
            start = datetime(local.year, (local.month - 1) // months * months + 1, 1)
        return start.replace(tzinfo=self.zone)

    def next(self, start: datetime) -> datetime:
        local = start.astimezone(self.zone).replace(tzinfo=None)
        if self.step is not None or self.unit == "week":
            return (local + (self.step or timedelta(weeks=1))).replace(tzinfo=self.zone)
        months = {"month": 1, "quarter": 3, "year": 12}[self.unit or "month"]
        m = local.month - 1 + months
        return local.replace(year=local.year + m // 12, month=m % 12 + 1).replace(tzinfo=self.zone)

    def starts(self, since: datetime, until: datetime) -> list[datetime]:
        """Every bucket start from the one holding ``since`` to the one holding ``until``."""
        out, t, end = [], self.floor(since), self.floor(until)
        while t <= end:
            out.append(t)
            if len(out) > MAX_BUCKETS:
                raise ValueError(f"interval {self.text!r} makes over {MAX_BUCKETS:,} buckets: choose a larger one")
            t = self.next(t)
        return out


def parse_interval(interval: str, tz: str = "UTC") -> Interval:
    """``Nh``, ``Nd``, ``Nw`` (fixed; ``1w`` is the calendar week), ``1M``, ``1q``, ``1y``, or
    hour/day/week/month/quarter/year; ``tz`` an IANA time zone name (Asia/Shanghai, Europe/Berlin)."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"time zone {tz!r}: use an IANA name such as UTC, Asia/Shanghai or Europe/Berlin") from exc
    text = ALIASES.get(interval, interval)
    m = re.fullmatch(r"([1-9]\d{0,4})([hdwMqy])", text.strip())
    if not m:
        raise ValueError(f"interval {interval!r}: use Nh, Nd, Nw (e.g. 6h, 3d, 2w) or 1M, 1q, 1y")
    n, unit = int(m.group(1)), m.group(2)
    if unit in "Mqy":
        if n != 1:
            raise ValueError(f"interval {interval!r}: calendar intervals are 1M, 1q or 1y")
        return Interval(text, unit={"M": "month", "q": "quarter", "y": "year"}[unit], tz=tz)
    if unit == "w":
        if n == 1:
            return Interval(text, unit="week", tz=tz)
        return Interval(text, step=timedelta(weeks=n), origin=WEEK_ORIGIN, tz=tz)
    return Interval(text, step=timedelta(hours=n) if unit == "h" else timedelta(days=n), tz=tz)


def check_split(by: str, what: str) -> None:
    """Breakdowns and coverage split by an outlet's name, country or language, nothing else
    (the name becomes a column / field in the back-end's query)."""
    if by not in SPLITS:
        raise ValueError(f"{what} by {by!r}: use outlet, country or language")


STORY_OVERFETCH = 4  # rows asked per story wanted: repeats of a cluster or sentence are dropped


def _sentence_key(sentence: str | None) -> str:
    return " ".join((sentence or "").casefold().split())


def _round(x: float | None) -> float | None:
    return round(x, 4) if x is not None else None


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


class Backend(ABC):
    """The primitive aggregations a store answers. ``dups``: count syndicated copies too."""

    @abstractmethod
    def trend_buckets(
        self, entity_id: str, since: datetime, until: datetime, interval: Interval, dups: bool
    ) -> list[tuple]:
        """(bucket start, mentions, mean tone, positive, negative) for each bucket with mentions
        (``interval.floor`` of its mentions' times), in order."""

    @abstractmethod
    def entity_figures(
        self,
        entity_type: str,
        since: datetime,
        until: datetime,
        mid: datetime,
        dups: bool,
        exclude_senses: tuple[str, ...],
        rollup: dict[str, str] | None,
    ) -> list[tuple]:
        """(entity or group, mentions, outlets, countries, mean tone, share positive, share negative,
        mentions from ``mid`` on, mentions before) per entity of the type (or per rollup group)."""

    @abstractmethod
    def story_rows(
        self, entity_id: str, since: datetime, until: datetime, negative: bool, limit: int, dups: bool, label: str
    ) -> list[dict]:
        """Articles whose tone toward the entity is ``label``, by that tone (most negative or most
        positive first, then newest): {article_id, url, title, outlet, published (datetime), sentiment,
        sentence, story (the syndicated cluster: the original's id)}."""

    @abstractmethod
    def mention_counts(self, entity_ids: list[str], since: datetime, dups: bool) -> dict[str, int]:
        """Mentions per entity."""

    @abstractmethod
    def split_figures(self, entity_id: str, since: datetime, by: str, dups: bool) -> list[tuple]:
        """(key, mentions, mean tone) per outlet/country/language, most mentions first, then key."""

    @abstractmethod
    def coverage_rows(self, since: datetime, by: str, dups: bool) -> list[tuple]:
        """(key, articles with mentions, mentions) per outlet/country/language, most articles first."""

    @abstractmethod
    def totals(self, since: datetime, dups: bool) -> dict:
        """What a period holds: the shape of ``Queries.totals``."""

    @abstractmethod
    def texts(self, since: datetime, limit: int) -> list[tuple[str, str]]:
        """(text, outlet) of the period's titles, summaries and mention sentences, newest first,
        syndicated copies once (what ``nlp discover`` reads)."""

    @abstractmethod
    def fetched_counts(self, since: datetime) -> tuple[int, int]:
        """(articles, mentions) fetched since ``since`` (what ``status`` shows)."""

    @abstractmethod
    def article_days(self, since: datetime, until: datetime) -> list[datetime]:
        """The UTC days (midnight) from ``since`` to ``until`` with at least one stored article, in order."""

    @abstractmethod
    def related_counts(self, entity_id: str, since: datetime, limit: int, dups: bool) -> list[tuple[str, int]]:
        """(entity, articles naming both) for the entities most often named with ``entity_id``,
        most articles first, then entity id."""

    @abstractmethod
    def search(self, request: SearchRequest) -> SearchHits:
        """Full-text search over stored articles (``sinks/search/``): the engine's ranking, best first."""

    @abstractmethod
    def search_ids(self, request: SearchRequest) -> list[str]:
        """The ids of every article the search matches."""

    @abstractmethod
    def export_batches(self, kind: str, request: SearchRequest, article_ids: list[str] | None) -> Iterator:
        """Arrow record batches of ``sinks.export.SCHEMAS[kind]`` (articles or mentions) for the articles
        the request's filters let through (and, when given, only ``article_ids``); mentions of the
        requested entities or type only."""

    def close(self) -> None:
        """Release connections."""


class Queries:
    """The documented queries over one back-end."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def close(self) -> None:
        self.backend.close()

    def trend(
        self,
        entity_id: str,
        name: str,
        since: datetime,
        interval: str = "1d",
        include_duplicates: bool = False,
        until: datetime | None = None,
        tz: str = "UTC",
    ) -> dict:
        """Every bucket from ``since`` to ``until`` (default now), zero-filled: a bucket without
        mentions has ``mentions`` 0 and ``sentiment_mean`` null (no data, not "neutral"); buckets
        in the time zone ``tz``, their starts written with its offset."""
        spec = parse_interval(interval, tz)
        until = until or datetime.now(UTC)
        found = {
            _iso(b): (n, s, p, q)
            for b, n, s, p, q in self.backend.trend_buckets(entity_id, since, until, spec, include_duplicates)
        }
        buckets = []
        for start in spec.starts(since, until):
            n, s, p, q = found.get(_iso(start), (0, None, 0, 0))
            buckets.append(
                {"start": start.isoformat(), "mentions": n, "sentiment_mean": _round(s), "positive": p, "negative": q}
            )
        return {
            "entity_id": entity_id,
            "name": name,
            "interval": interval,
            "time_zone": tz,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "include_duplicates": include_duplicates,
            "buckets": buckets,
        }

    def rank(
        self,
        names: dict[str, str],
        since: datetime,
        entity_type: str = "city",
        now: datetime | None = None,
        include_duplicates: bool = False,
        limit: int | None = None,
        rollup: dict[str, str] | None = None,
    ) -> dict:
        """``rollup`` (entity id -> the group it counts for, e.g. brand:wechat -> brand:tencent) ranks the
        groups: a WeChat mention counts for Tencent, outlets and countries counted once per group."""
        now = now or datetime.now(UTC)
        rows = self.backend.entity_figures(
            entity_type, since, now, since + (now - since) / 2, include_duplicates, EXCLUDED_SENSES, rollup
        )
        head = {
            "type": entity_type,
            "since": since.isoformat(),
            "include_duplicates": include_duplicates,
            **({"rollup": True} if rollup is not None else {}),
        }
        if not rows:
            return {**head, "rows": []}
        max_m, max_o, max_c = (max(r[i] for r in rows) or 1 for i in (1, 2, 3))
        out = []
        for eid, n, outlets, countries, mean, pos, neg, recent, earlier in rows:
            presence = math.log1p(n) / math.log1p(max_m)
            breadth = (outlets / max_o + countries / max_c) / 2
            tone = ((mean if mean is not None else 0.0) + 1) / 2
            growth = (recent - earlier) / (recent + earlier) if recent + earlier else 0.0
            index = 100 * (0.35 * presence + 0.25 * breadth + 0.25 * tone + 0.15 * (growth + 1) / 2)
            out.append(
                {
                    "entity_id": eid,
                    "name": names.get(eid, eid),
                    "mentions": n,
                    "outlets": outlets,
                    "countries": countries,
                    "sentiment_mean": _round(mean),
                    "share_positive": round(pos, 4),
                    "share_negative": round(neg, 4),
                    "growth": round(growth, 4),
                    "index": round(index, 2),
                }
            )
        out.sort(key=lambda r: (-r["index"], r["entity_id"]))
        return {**head, "rows": out[:limit] if limit else out}

    def stories(
        self,
        entity_id: str,
        since: datetime | None = None,
        negative: bool = False,
        limit: int = 10,
        include_duplicates: bool = False,
        until: datetime | None = None,
    ) -> dict:
        """The most negative (or positive) distinct stories: only articles whose tone toward the
        entity is labelled so (no neutral filler when nothing negative exists), one per syndicated
        cluster and per sentence quoted (five outlets running one wire sentence are one story)."""
        label = "negative" if negative else "positive"
        rows = self.backend.story_rows(
            entity_id, since or EPOCH, until or END, negative, limit * STORY_OVERFETCH, include_duplicates, label
        )
        seen, out = set(), []
        for r in rows:
            keys = {("story", r.pop("story", None) or r["article_id"]), ("sentence", _sentence_key(r.get("sentence")))}
            if keys & seen:
                continue
            seen |= {k for k in keys if k[1]}
            out.append({**r, "published": _iso(r["published"]), "sentiment": round(r["sentiment"], 4)})
            if len(out) == limit:
                break
        return {"entity_id": entity_id, "negative": negative, "stories": out}

    def share_of_voice(self, entities: dict[str, str], since: datetime, include_duplicates: bool = False) -> dict:
        """Each entity's share of all mentions of the given entities (e.g. a set of brands)."""
        counts = self.backend.mention_counts(list(entities), since, include_duplicates)
        total = sum(counts.values())
        out = [
            {
                "entity_id": e,
                "name": name,
                "mentions": counts.get(e, 0),
                "share": round(counts.get(e, 0) / total, 4) if total else 0.0,
            }
            for e, name in entities.items()
        ]
        out.sort(key=lambda r: (-r["mentions"], r["entity_id"]))
        return {"since": since.isoformat(), "total": total, "entities": out}

    def breakdown(self, entity_id: str, since: datetime, by: str = "outlet", include_duplicates: bool = False) -> dict:
        """Mentions and mean tone of one entity per outlet, country or language."""
        check_split(by, "breakdown")
        return {
            "entity_id": entity_id,
            "by": by,
            "rows": [
                {"key": k, "mentions": n, "sentiment_mean": _round(s)}
                for k, n, s in self.backend.split_figures(entity_id, since, by, include_duplicates)
            ],
        }

    def related(
        self, entity_id: str, names: dict[str, str], since: datetime, limit: int = 10, include_duplicates: bool = False
    ) -> dict:
        """The cities and brands most often named in the same articles as the entity."""
        rows = self.backend.related_counts(entity_id, since, limit, include_duplicates)
        return {
            "entity_id": entity_id,
            "rows": [{"entity_id": e, "name": names.get(e, e), "articles": n} for e, n in rows],
        }

    def gaps(self, since: datetime, until: datetime | None = None) -> list[dict]:
        """Runs of UTC days with no stored article at all ({start, end, days}): a feed outage or a
        period before ingest began, which figures would otherwise read as silence."""
        until = until or datetime.now(UTC)
        day = parse_interval("1d")
        have = {_iso(d) for d in self.backend.article_days(since, until)}
        out: list[dict] = []
        for start in day.starts(since, until):
            if _iso(start) in have:
                continue
            if out and out[-1]["end"] == _iso(start - timedelta(days=1)):
                out[-1]["end"], out[-1]["days"] = _iso(start), out[-1]["days"] + 1
            else:
                out.append({"start": _iso(start), "end": _iso(start), "days": 1})
        return out

    def coverage(self, since: datetime, by: str = "country", include_duplicates: bool = False) -> dict:
        """Articles that mention a tracked city or brand, split by outlet country or language."""
        check_split(by, "coverage")
        return {
            "by": by,
            "rows": [
                {"key": k, "articles": n, "mentions": int(m or 0)}
                for k, n, m in self.backend.coverage_rows(since, by, include_duplicates)
            ],
        }

    def totals(self, since: datetime, include_duplicates: bool = False) -> dict:
        """What a period's figures cover: articles, mentions, sources, outlets, duplicates."""
        return self.backend.totals(since, include_duplicates)

    def texts(self, since: datetime, limit: int = 20_000) -> list[tuple[str, str]]:
        return self.backend.texts(since, limit)

    def search(self, request: SearchRequest) -> dict:
        """Articles matching a search, best first: the documented shape (``sinoscope search --json``)."""
        found = self.backend.search(request)
        hits = [
            {
                "article_id": h["article_id"],
                "url": h["url"],
                "title": h["title"],
                "outlet": h["outlet"],
                "country": h["country"],
                "language": h["language"],
                "published": _iso(h["published"]),
                "snippet": " ".join(h["snippet"].replace("</b><b>", "").split()),  # 比亚迪: one mark, not three
                "score": h["score"],
                "duplicate_of": h["duplicate_of"],
                "mentions": h["mentions"],
            }
            for h in found.hits
        ]
        return {"query": request.text, "total": found.total, "offset": request.offset, "hits": hits}

    def export(self, kind: str, request: SearchRequest, fmt: str, out, **trend_or_rank) -> int:
        """Write stored articles or mentions matching a search (its text and filters), or a trend
        or ranking, to ``out`` as csv, parquet or jsonl (``sinks/export.py``); the rows written."""
        from . import export

        if kind in ("articles", "mentions"):
            ids = None if isinstance(request.query, Everything) else self.backend.search_ids(request)
            batches = self.backend.export_batches(kind, request, ids)
        elif kind == "trend":
            batches = export.batches_of(self.trend(**trend_or_rank)["buckets"], export.TREND_SCHEMA)
        elif kind == "rank":
            batches = export.batches_of(self.rank(**trend_or_rank)["rows"], export.RANK_SCHEMA)
        else:
            raise ValueError(f"export {kind!r}: use articles, mentions, trend or rank")
        return export.write(batches, export.SCHEMAS[kind], fmt, out)

    def recent(self, now: datetime) -> dict:
        """Articles stored in the last hour and day (by fetch time) and their mentions; of the articles
        published in the last 30 days, how many a backfill found (volume honesty)."""
        out: dict = {}
        for label, delta in (("hour", timedelta(hours=1)), ("day", timedelta(days=1))):
            a, m = self.backend.fetched_counts(now - delta)
            out[label] = {"articles": a, "mentions": int(m or 0)}
        month = self.backend.totals(now - timedelta(days=30), True)  # by publication: how much a backfill filled
        out["published_30d"] = {"articles": month["articles"], "backfilled": month["backfilled"]}
        return out


def open_queries(settings: Settings) -> Queries:
    """The query layer over the store the settings name (``sink.kind``)."""
    if settings.sink.kind == "elasticsearch":
        from .elastic.queries import ElasticBackend

        return Queries(ElasticBackend.from_settings(settings.sink))
    from .duckdb.queries import DuckDBBackend

    return Queries(DuckDBBackend.open(settings.path("store.duckdb")))
