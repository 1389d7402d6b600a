"""One ingest pass over every source: poll in parallel, then, per source and in order:
near-duplicate linking, publish to the bus, ``flush`` (acknowledged), and only then record
the URLs as seen and the source's new validators and health. A crash anywhere therefore
repeats work on restart and never loses an article; the bus's idempotent producer keeps a
repeat off the topic.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

import numpy as np

from sinoscope.core.bus import Bus
from sinoscope.core.schemas import DeadLetter, jsonable
from sinoscope.core.settings import Settings

from . import dedup
from .http import Fetcher
from .poll import PollResult, poll_source
from .sources import Source
from .state import IngestState, SourceState

log = logging.getLogger("sinoscope.ingest")


@dataclass
class SourceReport:
    name: str
    outcome: str
    entries: int = 0
    new: int = 0
    message: str | None = None


@dataclass
class IngestSummary:
    sources: int = 0
    polled: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source, why)
    not_modified: int = 0
    entries: int = 0
    new_articles: int = 0
    exact_duplicates: int = 0
    near_duplicates: int = 0
    pages_fetched: int = 0
    blocked: list[tuple[str, str]] = field(default_factory=list)  # (source, "link: why") the fetch guard refused
    dead_lettered: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (source, message)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    flagged: list[tuple[str, str]] = field(default_factory=list)  # failing or retired sources
    dead_letter_topic: str = ""

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _backoff(state: SourceState, settings: Settings) -> timedelta:
    n = max(1, state.consecutive_failures)
    return timedelta(seconds=min(settings.ingest.backoff_base_s * 2 ** (n - 1), settings.ingest.backoff_max_s))


def crashed(src: Source, exc: BaseException) -> PollResult:
    """The result recorded for a poll that raised (a bug or a timeout): the source is unhealthy."""
    return PollResult(source=src, outcome="failed", error=f"internal error: {exc!r}", error_kind="internal")


def in_order(todo: list[tuple[Source, SourceState]], submit: Callable, workers: int) -> Iterator[tuple]:
    """(future, source, state) in catalogue order, with at most twice ``workers`` polls submitted
    and not yet taken (the threads stay busy while one source is committed): polled articles wait
    for their commit in memory, so a pass over many sources holds a few sources' articles at a
    time, not all of them."""
    ahead = 2 * workers
    queue, pending = deque(todo), deque()
    while queue or pending:
        while queue and len(pending) < ahead:
            src, st = queue.popleft()
            pending.append((submit(src, st), src, st))
        yield pending.popleft()


class IngestRunner:
    def __init__(
        self,
        settings: Settings,
        bus: Bus,
        state: IngestState | None = None,
        fetcher: Fetcher | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.state = state or IngestState(settings.path("ingest.sqlite"))
        self.fetcher = fetcher or Fetcher(settings.ingest)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.topic = settings.bus.topics.articles
        self.dlq = settings.bus.topics.dead_letter
        self.index = dedup.NearDuplicateIndex(
            settings.ingest.near_dup_threshold, self.state, timedelta(days=settings.ingest.near_dup_window_days)
        )

    def close(self) -> None:
        self.fetcher.close()
        self.state.close()

    def due(self, source: Source, state: SourceState, now: datetime, force: bool) -> str | None:
        """Why a source is skipped this pass, or None if it is polled."""
        if state.status == "retired":
            return f"retired: {state.last_error}"
        if not force and state.next_poll_after and state.next_poll_after > now:
            return f"backing off until {state.next_poll_after:%Y-%m-%d %H:%M}Z after {state.consecutive_failures} failure(s)"
        return None

    def plan(
        self,
        sources: list[Source],
        summary: IngestSummary,
        force: bool = False,
        on_source: Callable[[SourceReport], None] | None = None,
    ) -> list[tuple[Source, SourceState]]:
        """The sources due this pass (with their state); the rest are recorded as skipped."""
        now = self.clock()
        todo: list[tuple[Source, SourceState]] = []
        for src in sources:
            st = self.state.source(src.name)
            why = self.due(src, st, now, force)
            if why:
                summary.skipped.append((src.name, why))
                if on_source:
                    on_source(SourceReport(src.name, "skipped", message=why))
            else:
                todo.append((src, st))
        return todo

    def seen(self, url: str) -> bool:
        return self.state.seen(url) is not None

    def poll(self, source: Source, state: SourceState) -> PollResult:
        """Fetch and parse one source (no side effects: safe to run in parallel and to retry)."""
        return poll_source(source, state, self.fetcher, self.settings.ingest, self.clock(), self.seen)

    def finish(self, sources: list[Source], summary: IngestSummary) -> IngestSummary:
        names = {s.name for s in sources}
        for st in self.state.sources():
            if st.name in names and st.status in ("failing", "retired"):
                since = f" since {st.failing_since:%Y-%m-%d %H:%M}Z" if st.failing_since else ""
                summary.flagged.append((st.name, f"{st.status}{since}: {st.last_error}"))
        return summary

    def run(
        self, sources: list[Source], *, force: bool = False, on_source: Callable[[SourceReport], None] | None = None
    ) -> IngestSummary:
        """One pass without an orchestrator (the Prefect ingest flow runs the same steps as tasks)."""
        summary = IngestSummary(sources=len(sources), dead_letter_topic=self.dlq)
        todo = self.plan(sources, summary, force, on_source)
        # fetch in parallel, commit in catalogue order: runs are deterministic (which copy of a
        # syndicated story counts as the first) and a slow feed delays only the commits after it
        workers = max(1, self.settings.ingest.workers)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for fut, src, st in in_order(todo, partial(pool.submit, self.poll), workers):
                try:
                    result = fut.result()
                except Exception as exc:  # a bug must not sink the other sources
                    log.exception("polling %s crashed", src.name)
                    result = crashed(src, exc)
                report = self.commit(result, st, summary)
                if on_source:
                    on_source(report)
        return self.finish(sources, summary)

    @staticmethod
    def signature(article, result: PollResult) -> np.ndarray | None:
        """The article's MinHash values: the poll's, computed in a worker process, or now."""
        if article.id in result.signatures:
            raw = result.signatures[article.id]
            return None if raw is None else dedup.from_bytes(raw)
        mh = dedup.signature(dedup.text_of(article))
        return None if mh is None else dedup.values(mh)

    def publish(self, result: PollResult, summary: IngestSummary) -> int:
        """Publish a poll's new articles (not seen before by URL; near-duplicates linked) and its
        dead letters, wait for the bus, then remember them; the number published. Live polls and
        backfills both go through here, so neither publishes what the other did."""
        src, now = result.source, self.clock()
        summary.entries += result.entries
        summary.pages_fetched += result.pages_fetched
        for link, why in result.blocked:  # the entry is published with its summary; say why
            summary.blocked.append((src.name, f"{link}: {why}"))
            self.state.record(src.name, "warning", "blocked", f"{link}: {why}", now)
        summary.exact_duplicates += result.already_seen
        # 1. publish new articles and dead letters, and wait for the bus to acknowledge
        batch_urls: set[str] = set()
        to_mark = []
        for article in result.articles:
            if article.url in batch_urls or self.state.seen(article.url):
                summary.exact_duplicates += 1  # same URL in another feed this pass
                continue
            batch_urls.add(article.url)
            sig = self.signature(article, result)
            if sig is not None:
                hit = self.index.find(sig, article.published)
                if hit:
                    article.duplicate_of, article.duplicate_similarity = hit[0], round(hit[1], 3)
                    summary.near_duplicates += 1
            self.bus.publish(self.topic, article.id, article.to_json(), dedup_id=article.id)
            to_mark.append((article, sig))
        for entry, reason in result.rejected:
            dl = DeadLetter(stage="ingest", reason=f"{src.name}: {reason}", key=src.name, payload=jsonable(entry))
            self.bus.publish(self.dlq, src.name, dl.to_json())
            summary.dead_lettered += 1
            self.state.record(src.name, "warning", "entry-rejected", reason, now)
        self.bus.flush()

        # 2. only now: remember what was published
        self.state.mark_seen((a.url, a.id, src.name, a.published, *self.index.stored(sig), now) for a, sig in to_mark)
        summary.new_articles += len(to_mark)
        return len(to_mark)

    def commit(self, result: PollResult, st: SourceState, summary: IngestSummary) -> SourceReport:
        """Publish one source's articles, wait for the bus, then record them and the source's health."""
        src, now = result.source, self.clock()
        summary.polled += 1
        report = SourceReport(src.name, result.outcome, entries=result.entries)
        report.new = self.publish(result, summary)

        # 3. then the source's health and validators
        st.url = src.url
        st.last_fetch = now
        if result.outcome in ("ok", "not-modified", "unchanged"):
            if not result.conditional and result.outcome == "ok":
                st.last_unconditional = now
            if result.outcome in ("not-modified", "unchanged"):
                summary.not_modified += 1
            st.etag, st.last_modified, st.body_hash = result.etag, result.last_modified, result.body_hash
            st.status, st.last_success = "ok", now
            st.consecutive_failures, st.failing_since, st.next_poll_after = 0, None, None
            st.entries_seen += result.entries
            st.articles_published += report.new
            if result.moved_to and result.moved_to != src.url:
                st.moved_to = result.moved_to
                result.warnings.append(f"feed moved permanently to {result.moved_to}: update the sources file")
            st.last_warning = "; ".join(result.warnings) or None
            for w in result.warnings:
                summary.warnings.append((src.name, w))
                self.state.record(src.name, "warning", "feed", w, now)
            report.message = "; ".join(result.warnings) or None
        else:
            st.consecutive_failures += 1
            st.last_error, st.last_error_at = result.error, now
            st.failing_since = st.failing_since or now
            if result.outcome == "retired":
                st.status, st.next_poll_after = "retired", None
            else:
                st.status = "failing" if st.consecutive_failures >= self.settings.ingest.failing_after else "error"
                wait = (
                    timedelta(seconds=result.retry_after_s)
                    if result.retry_after_s is not None
                    else _backoff(st, self.settings)
                )
                st.next_poll_after = now + wait
            summary.errors.append((src.name, result.error or result.outcome))
            self.state.record(src.name, "error", result.error_kind or result.outcome, result.error or "", now)
            report.message = result.error
        self.state.save_source(st)
        return report
