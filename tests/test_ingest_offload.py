"""Ingest's CPU-bound steps in worker processes (ingest/offload.py): the same articles, copies and
dead letters as parsing in the fetching threads, and a worker that dies fails only its own job."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import Clock, topic_articles

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


def test_a_worker_that_dies_fails_its_own_job_and_the_next_job_gets_a_new_pool():
    with pytest.raises(offload.WorkerCrashed, match="died during _exit"):
        offload.run(2, os._exit, 3)  # the worker process exits under the job, as a parser crash would
    assert offload.run(2, offload.signatures, ["too short"]) == [None]
    assert offload.run(0, offload.signatures, ["too short"]) == [None]  # 0: in this thread


def test_a_source_whose_parser_crashes_is_failed_with_the_reason(tmp_path, monkeypatch):
    """Stand-in: a real parser crash cannot be provoked on demand, so the offload call raises as it
    does when the worker died; the poll records the source as failed and the pass goes on."""
    from ingest import poll

    real = offload.run

    def crash_on_parse(processes, fn, *args):
        if fn is offload.parse_articles and "feeds/" in str(args[1]) and args[1].endswith("scmp-business.rss"):
            raise offload.WorkerCrashed("the ingest worker process died during parse_articles (test)")
        return real(processes, fn, *args)

    monkeypatch.setattr(poll.offload, "run", crash_on_parse)
    summary, articles = _pass(tmp_path / "data", 2)
    failed = dict(summary.errors)
    assert any("died during parse_articles" in why for why in failed.values()), failed
    assert len(failed) == 1 and articles  # every other source published


def test_where_workers_cannot_start_ingest_parses_in_threads_and_says_so(tmp_path):
    """A script without a ``__main__`` guard: each forkserver worker runs the script again, which
    multiprocessing refuses, so no worker ever starts. The first job's probe sees it; parsing goes
    on in the calling thread, with a warning, instead of failing every source as crashed."""
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(
        "import logging\nlogging.basicConfig()\nfrom ingest import offload, dedup\n"
        "text = ' '.join(f'word{i}' for i in range(60))\n"
        "sigs = offload.run(2, offload.signatures, [text])\n"
        "print('same' if sigs == [dedup.to_bytes(dedup.signature(text))] else 'different')\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=root, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "same"
    assert "could not start" in out.stderr and "parsing in threads" in out.stderr
