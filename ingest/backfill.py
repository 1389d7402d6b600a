"""Backfill (``sinoscope backfill --since 90d``): the past that feeds no longer carry, from the
sources that can reach it, newest first, so an analyst starting today has this year's coverage.

- ``gdelt`` sources: GDELT's DOC API window by window (one day each, ``startdatetime`` /
  ``enddatetime``; GDELT searches the last three months), from now back to ``since``.
- ``sitemap`` sources: every child sitemap of the index whose ``lastmod`` is not before ``since``
  (the live poll reads only the newest), and the articles in them published since then.
- ``rss`` sources have no history to walk: left out, and said so.

Each unit (a window, a child sitemap) is published through the runner's own ``publish`` (the
seen-URL record and near-duplicate index that live polls use, so live ingest and backfill never
publish one article twice) and then recorded as done in the ingest state: a backfill stopped half
way resumes after the last unit done, and run again publishes nothing new. Requests keep the
fetcher's per-host gaps (GDELT's five seconds); a unit that fails (after ``retries``) stops the run
with its reason, its progress kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urljoin

from sinoscope.core.errors import SinoscopeError

from . import gdelt, sitemap
from .guard import file_scope
from .http import FetchError
from .poll import PollResult, poll_source
from .runner import IngestRunner, IngestSummary
from .sources import Source
from .state import SourceState

WINDOW = timedelta(days=1)


class BackfillError(SinoscopeError, RuntimeError):
    """A unit that could not be read; the backfill stopped there and resumes from it."""


@dataclass
class Unit:
    source: Source
    key: str  # what the progress record names: the window's start, or the child sitemap's URL
    url: str


@dataclass
class BackfillReport:
    units: int = 0
    done_before: int = 0
    skipped_sources: list[str] = field(default_factory=list)
    summary: IngestSummary = field(default_factory=lambda: IngestSummary(sources=0))


class Backfill:
    def __init__(self, runner: IngestRunner, retries: int = 2, retry_wait_s: float = 10.0) -> None:
        self.runner, self.retries, self.retry_wait_s = runner, retries, retry_wait_s

    def units(self, source: Source, since: datetime, now: datetime) -> list[Unit]:
        """What walking ``source`` back to ``since`` takes, newest first."""
        if source.kind == "gdelt":
            if source.url.startswith("file:"):  # a recorded answer (the sample): one unit
                return [Unit(source, source.url, source.url)]
            out, end = [], now
            while end > since:
                start = max(since, end - WINDOW)
                url = gdelt.request_url(source.url, source.query or "", start, end)
                out.append(Unit(source, start.strftime("%Y%m%dT%H%M%S"), url))
                end = start
            return out
        if source.kind == "sitemap":
            got = self._poll(source, source.url, raw=True)
            kind, rows = sitemap.parse(got)
            if kind == "urlset":
                return [Unit(source, source.url, source.url)]
            floor = since.strftime("%Y-%m-%d")
            children = [r for r in sitemap.newest(rows, "lastmod", len(rows)) if r["loc"]]
            return [
                Unit(source, urljoin(source.url, r["loc"]), urljoin(source.url, r["loc"]))
                for r in children
                if not r.get("lastmod") or r["lastmod"][:10] >= floor
            ]
        return []

    def _poll(self, source: Source, url: str, raw: bool = False):
        """One fetch (raw: the body) or poll of ``url``, retried ``retries`` times on failure."""
        r = self.runner
        for attempt in range(self.retries + 1):
            if raw:
                try:
                    got = r.fetcher.get(
                        url,
                        max_bytes=r.settings.ingest.max_feed_bytes,
                        accept="application/xml",
                        file_scope=file_scope(source.url),  # a file:// source reads inside its folder only
                    )
                    if got.status == 200:
                        return got.body
                    error = f"HTTP {got.status} from {url}"
                except FetchError as exc:
                    error = f"{url}: {exc}"
            else:
                result = poll_source(source, SourceState(name=source.name), r.fetcher, r.settings.ingest, r.clock(),
                                     r.seen, url=url)  # fmt: skip
                if result.outcome == "ok":
                    return result
                error = result.error or result.outcome
            if attempt < self.retries:
                time.sleep(self.retry_wait_s * (attempt + 1))
        raise BackfillError(f"backfill of {source.name} stopped at {url}: {error}; run it again to resume")

    def run(
        self,
        sources: list[Source],
        since: datetime,
        on_unit: Callable[[Unit, int, int, int], None] | None = None,
    ) -> BackfillReport:
        """Walk every source back to ``since``; ``on_unit(unit, done, total, published)`` after each."""
        r, now = self.runner, self.runner.clock()
        report = BackfillReport(summary=IngestSummary(sources=len(sources), dead_letter_topic=r.dlq))
        todo: list[Unit] = []
        for src in sources:
            if src.kind == "rss":
                report.skipped_sources.append(src.name)
                continue
            done = r.state.backfilled(src.name)
            units = self.units(src, since, now)
            report.done_before += sum(u.key in done for u in units)
            todo += [u for u in units if u.key not in done]
        report.units = len(todo)
        for i, unit in enumerate(todo, 1):
            result: PollResult = self._poll(unit.source, unit.url)
            result.articles = [
                a.model_copy(update={"via": "backfill"}) for a in result.articles if a.published >= since
            ]
            published = r.publish(result, report.summary)
            r.state.mark_backfilled(unit.source.name, unit.key, published, r.clock())
            if on_unit:
                on_unit(unit, i, len(todo), published)
        return report
