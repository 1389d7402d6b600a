"""Ingest's CPU-bound steps in worker processes: parsing a feed into articles, and the MinHash
signatures of new articles.

Fetching is network-bound and runs in threads, but what follows is pure Python that holds the
GIL: ingest used one core of two (10,000 articles: 29.7 s of CPU in a 34 s pass), with
feedparser and entry normalising ~half of it and the signatures a quarter. Both are pure
functions of bytes and text, so a pool of processes takes them and the threads only wait. A
parser that a hostile feed crashes takes down its worker only: that source's poll fails with
the reason, the pool is rebuilt, every other source goes on.

``processes`` 0 runs everything in the calling thread (one core, or a caller that wants no
child processes)."""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import Any

from sinoscope.core.schemas import Article
from sinoscope.core.settings import IngestSettings

from . import dedup
from .feeds import parse_feed
from .normalize import EntryError, normalize_entry
from .sources import Source

STARTUP_S = 120  # for the first answer of a new pool (its workers import feedparser, lxml, datasketch)


class WorkerCrashed(RuntimeError):
    """A worker process died while it held this job (a parser crash, or killed for memory)."""


def parse_articles(
    body: bytes, url: str, content_type: str, source: Source, now: datetime, settings: IngestSettings
) -> tuple[list[str], str | None, int, list[Article], list[tuple[dict[str, Any], str]]]:
    """A feed's bytes -> (warnings, error, entries, articles, rejected (entry, why))."""
    parsed = parse_feed(body, url, content_type)
    articles, rejected = [], []
    if not parsed.error:
        for entry in parsed.entries:
            try:
                articles.append(normalize_entry(entry, source, now, settings))
            except EntryError as exc:
                rejected.append((dict(entry), str(exc)))
    return parsed.warnings, parsed.error, len(parsed.entries), articles, rejected


def signatures(texts: list[str]) -> list[bytes | None]:
    """MinHash signatures (``dedup.to_bytes``) of texts; None for a text too short to have one."""
    return [None if (mh := dedup.signature(t)) is None else dedup.to_bytes(mh) for t in texts]


def pool_size(processes: int | None) -> int:
    """``None``: one process per core where there are several, none on one core."""
    if processes is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return cores if cores > 1 else 0
    return max(0, processes)


_pool: ProcessPoolExecutor | None = None
_size = 0
_unavailable: str | None = None  # why workers cannot start in this process: parse in threads
_lock = threading.Lock()
log = logging.getLogger("sinoscope.ingest")


def _executor(size: int) -> ProcessPoolExecutor | None:
    """The pool, started and checked on first use; None where workers cannot start here."""
    global _pool, _size, _unavailable
    with _lock:
        if _unavailable:
            return None
        if _pool is None or _size != size:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=False)
            # forkserver: the workers are forked from a clean server process, never from this
            # one, whose threads (Prefect's, the fetch pool's) may hold locks at fork time
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload([__name__])  # imported once there, not in every worker
            pool = ProcessPoolExecutor(max_workers=size, mp_context=ctx)
            try:  # a worker that cannot start (e.g. a script without a __main__ guard) is not a crash
                pool.submit(os.getpid).result(timeout=STARTUP_S)
            except Exception as exc:  # noqa: BLE001 - any failure to start means: no workers here
                pool.shutdown(wait=False, cancel_futures=True)
                _unavailable = f"{type(exc).__name__}: {exc}"
                log.warning("ingest worker processes could not start (%s); parsing in threads", _unavailable)
                return None
            _pool, _size = pool, size
        return _pool


def _discard(pool: ProcessPoolExecutor) -> None:
    """Forget a broken pool (the next call builds a new one)."""
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


def run(processes: int | None, fn, *args):
    """``fn(*args)`` in a worker process, or here when the pool has no processes."""
    size = pool_size(processes)
    if not size:
        return fn(*args)
    for attempt in (1, 2):  # a pool breaks for every job it held: each gets one more try in a new one
        pool = _executor(size)
        if pool is None:
            return fn(*args)
        try:
            return pool.submit(fn, *args).result()
        except BrokenProcessPool as exc:
            _discard(pool)
            if attempt == 2:
                raise WorkerCrashed(f"the ingest worker process died during {fn.__name__} ({exc})") from exc
    raise AssertionError("unreachable")


@atexit.register
def shutdown() -> None:
    """Stop the workers (at exit, or by a caller done with ingest)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
