"""Ingest's CPU-bound steps in worker processes (ingest/offload.py): the same articles, copies and
dead letters as parsing in the fetching threads, and a job that kills or hangs its worker fails
alone (its source is failed with the reason; the other sources and later jobs go on)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import Clock, topic_articles
from pebble.pool.base_pool import PoolStatus

from ingest import offload
from ingest.runner import IngestRunner
from ingest.sources import load_sources
from sinoscope.core.bus.embedded import EmbeddedBus
from sinoscope.core.settings import load_settings

SAMPLES = Path(__file__).resolve().parents[1] / "ingest" / "samples" / "sources.yaml"


def _pass(data: Path, processes: int):
    settings = load_settings(data_dir=data, ingest={"per_host_interval_s": 0, "parse_processes": processes})
    bus = EmbeddedBus(settings.path("bus.sqlite"))
    runner = IngestRunner(settings, bus, clock=Clock())
    try:
        summary = runner.run(load_sources(SAMPLES))
    finally:
        runner.close()
        bus.close()
    return summary, topic_articles(settings)


def test_worker_processes_publish_what_the_threads_publish(tmp_path):
    """The bundled corpus (a syndicated wire story, a page under a wrong charset, an entry with
    nothing in it) through two worker processes and through none: same articles, same copies linked."""
    threads, in_threads = _pass(tmp_path / "threads", 0)
    workers, in_workers = _pass(tmp_path / "workers", 2)

    def comparable(articles):
        return sorted(({k: v for k, v in a.items() if k != "fetched"} for a in articles), key=lambda a: a["id"])

    assert in_threads and comparable(in_workers) == comparable(in_threads)
    assert workers.near_duplicates == threads.near_duplicates > 0
    assert (workers.dead_lettered, workers.warnings, workers.errors) == (
        threads.dead_lettered,
        threads.warnings,
        threads.errors,
    )


def test_a_job_that_kills_or_hangs_its_worker_fails_alone_and_the_pool_goes_on():
    with pytest.raises(offload.WorkerFailed, match=r"died during _exit \(exit code 3\)"):
        offload.run(2, None, os._exit, 3)  # the worker process exits under the job, as a parser crash would
    started = time.monotonic()
    with pytest.raises(offload.WorkerFailed, match="took longer than 1 s; its worker was stopped"):
        offload.run(2, 1, time.sleep, 60)  # as a parser kept busy by a hostile feed would be
    assert time.monotonic() - started < 30
    assert offload.run(2, 5, offload.signatures, ["too short"]) == [None]
    assert offload.run(0, None, offload.signatures, ["too short"]) == [None]  # 0: in this thread


def test_a_source_whose_parser_crashes_is_failed_with_the_reason(tmp_path, monkeypatch):
    """Stand-in: a real parser crash cannot be provoked on demand, so the offload call raises as it
    does when the worker died; the poll records the source as failed and the pass goes on."""
    from ingest import poll

    real = offload.run

    def crash_on_parse(processes, timeout_s, fn, *args):
        if fn is offload.parse_articles and args[1].endswith("scmp-business.rss"):
            raise offload.WorkerFailed("the worker process died during parse_articles (exit code -11)")
        return real(processes, timeout_s, fn, *args)

    monkeypatch.setattr(poll.offload, "run", crash_on_parse)
    summary, articles = _pass(tmp_path / "data", 2)
    failed = dict(summary.errors)
    assert any("died during parse_articles" in why for why in failed.values()), failed
    assert len(failed) == 1 and articles  # every other source published


def test_where_workers_cannot_start_ingest_parses_in_threads_and_says_so(tmp_path):
    """A script without a ``__main__`` guard: each worker runs the script again, which
    multiprocessing refuses, so no worker ever starts. Parsing goes on in the calling thread,
    with a warning, instead of failing every source."""
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(
        "import logging\nlogging.basicConfig()\nfrom ingest import offload, dedup\n"
        "text = ' '.join(f'word{i}' for i in range(60))\n"
        "sigs = offload.run(2, 60, offload.signatures, [text])\n"
        "print('same' if sigs == [dedup.to_bytes(dedup.signature(text))] else 'different')\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=root, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "same"
    assert "could not start" in out.stderr and "parsing in threads" in out.stderr


def test_warm_starts_the_workers_before_the_first_job():
    """``run`` warms the pool while it loads the model: the workers are up before ingest asks."""
    offload.shutdown()
    offload.warm(0)  # no processes wanted: nothing starts
    time.sleep(0.5)
    assert offload._pool is None
    offload.warm(2)

    def running() -> bool:  # pebble's status, read without starting the pool (``active`` would start it)
        return offload._pool is not None and offload._pool._context.status == PoolStatus.RUNNING

    deadline = time.monotonic() + 60
    while not running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert running(), "the warmed pool never started"
    assert offload.run(2, 30, os.getpid) != os.getpid()  # and the next job runs in one of its workers
