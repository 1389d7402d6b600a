"""Prefect flows: the orchestration of the pipeline.

- ``ingest``: one pass over the sources, one task per source (retries, timeout, per-host limit).
- ``workers``: the enrich and sink stages as supervised long-running workers, or one drain pass.
- ``alerts``: swing detection and webhook delivery.
- ``maintenance``: retention and the source health report.
- ``pipeline``: one pass of all of the above (``sinoscope run --once``, ephemeral Prefect).
- ``serve``: deployments with schedules (``sinoscope serve``).

``configure`` must run before Prefect is imported: it keeps Prefect's state (its ephemeral
database) inside the data directory and quiets its logging unless asked.
"""

from __future__ import annotations

import os
from pathlib import Path


def configure(data_dir, verbose: bool = False) -> None:
    home = Path(os.environ.get("PREFECT_HOME") or Path(data_dir) / "prefect")
    home.mkdir(parents=True, exist_ok=True)  # Prefect does not create parents
    from .prefect_db import seed

    seed(home)  # a new data directory's database starts migrated (flows/prefect_db.py)
    os.environ["PREFECT_HOME"] = str(home)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO" if verbose else "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "false")
