"""Ingest's CPU-bound steps in worker processes: parsing a feed into articles, and the MinHash
signatures of new articles.

Fetching is network-bound and runs in threads, but what follows is pure Python that holds the
GIL: ingest used one core of two (10,000 articles: 29.7 s of CPU in a 34 s pass), with
feedparser and entry normalising ~half of it and the signatures a quarter. Both are pure
functions of bytes and text, so a pool of processes (pebble's: a job that kills or hangs its
worker fails alone, and the worker is replaced) takes them and the threads only wait. Feeds are
untrusted: a parser that a hostile feed crashes, or keeps busy past ``parse_timeout_s``, fails
that source with the reason; every other source goes on.

``processes`` 0 runs everything in the calling thread (one core, or a caller that wants no
child processes)."""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import Any

from pebble import ProcessExpired, ProcessPool

from sinoscope.core.schemas import Article
from sinoscope.core.settings import IngestSettings

from . import dedup
from .feeds import parse_feed
from .normalize import normalize_entries
from .sources import Source


class WorkerFailed(RuntimeError):
    """A job's worker process died under it (a parser crash, or killed for memory) or ran past
    its time limit (and was stopped)."""


def parse_articles(
    body: bytes, url: str, content_type: str, source: Source, now: datetime, settings: IngestSettings
) -> tuple[list[str], str | None, int, list[Article], list[tuple[dict[str, Any], str]]]:
    """A feed's bytes -> (warnings, error, entries, articles, rejected (entry, why))."""
    parsed = parse_feed(body, url, content_type)
    entries = [] if parsed.error else [(e, source) for e in parsed.entries]
    articles, rejected = normalize_entries(entries, now, settings)
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


_pool: ProcessPool | None = None
_size = 0
_unavailable: str | None = None  # why workers cannot start in this process: parse in threads
_lock = threading.Lock()
log = logging.getLogger("sinoscope.ingest")


def _executor(size: int) -> ProcessPool:
    global _pool, _size
    with _lock:
        if _pool is None or _size != size or not _pool.active:
            if _pool is not None:
                _pool.stop()
            # forkserver: the workers are forked from a clean server process, never from this
            # one, whose threads (Prefect's, the fetch pool's) may hold locks at fork time
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload([__name__])  # imported once there, not in every worker
            _pool, _size = ProcessPool(max_workers=size, context=ctx), size
        return _pool


def warm(processes: int | None) -> None:
    """Start the workers now, in the background (the forkserver imports feedparser, lxml and
    datasketch, then forks them: ~1 s the first poll would wait), for a command with other
    start-up work to overlap it with. pebble starts a pool on its first job: this is a no-op one."""
    size = pool_size(processes)
    if size and not _unavailable:
        threading.Thread(target=_start, args=(size,), name="parse-warm", daemon=True).start()


def _start(size: int) -> None:
    try:
        _executor(size).schedule(os.getpid)
    except Exception:  # noqa: BLE001 (the first real job meets it again, and falls back: ``run``)
        pass


def run(processes: int | None, timeout_s: float | None, fn, *args):
    """``fn(*args)`` in a worker process (stopped after ``timeout_s``), or here when the pool has
    no processes."""
    global _unavailable
    size = pool_size(processes)
    if not size or _unavailable:
        return fn(*args)
    try:
        return _executor(size).schedule(fn, args=args, timeout=timeout_s).result()
    except BrokenProcessPool as exc:  # no worker could start (a script without a __main__ guard, say)
        with _lock:
            if not _unavailable:
                _unavailable = str(exc)
                log.warning("ingest worker processes could not start (%s); parsing in threads", exc)
        return fn(*args)
    except FutureTimeout as exc:
        raise WorkerFailed(f"{fn.__name__} took longer than {timeout_s:g} s; its worker was stopped") from exc
    except ProcessExpired as exc:
        raise WorkerFailed(f"the worker process died during {fn.__name__} (exit code {exc.exitcode})") from exc


@atexit.register
def shutdown() -> None:
    """Stop the workers (at exit, or by a caller done with ingest)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.stop()
        pool.join()
