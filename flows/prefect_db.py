"""A new data directory's Prefect database starts as a copy of a migrated, empty one.

Prefect creates its SQLite database by running every migration its release has (~170 alembic
scripts): the first start in a data directory took 10-12 s more than later ones (18.5 against
5.8-7.8 s to a healthy API on 2 cores), paid by every new data directory: a first `run`, each
test, each benchmark. The first database this machine migrates is kept, emptied of
configuration rows, in a per-user cache keyed by the Prefect release; later new data
directories start from a copy and Prefect finds it at its head revision. Imports no Prefect
(it runs before Prefect loads its settings)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

DB = "prefect.db"
_OWN_DB_SETTINGS = ("PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL")


def template_path() -> Path | None:
    """The cached database for the installed Prefect release (None: no release to key it by)."""
    try:
        release = version("prefect")
    except PackageNotFoundError:
        return None
    root = os.environ.get("SINOSCOPE_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(root) / "sinoscope" / f"prefect-{release}.db"


def _default_db(home: Path) -> Path | None:
    """The database Prefect will use in ``home``; None when it is configured elsewhere (Postgres)."""
    return None if any(os.environ.get(k) for k in _OWN_DB_SETTINGS) else Path(home) / DB


def seed(home: Path) -> bool:
    """Copy the template into a ``home`` that has no database yet; whether it did."""
    db, template = _default_db(home), template_path()
    if db is None or db.exists() or template is None or not template.exists():
        return False
    fd, tmp = tempfile.mkstemp(dir=db.parent, prefix=".prefect-seed-")
    os.close(fd)
    shutil.copyfile(template, tmp)
    os.replace(tmp, db)  # whole or not at all: a half-copied database would be worse than none
    return True


def keep(home: Path) -> bool:
    """Keep ``home``'s database as the template if none is kept yet: call it once Prefect's API
    answers (migrated, block types registered) and before any flow runs. Configuration rows
    (Prefect keeps a telemetry id there, and later an encryption key) are not copied."""
    db, template = _default_db(home), template_path()
    if db is None or not db.exists() or template is None or template.exists():
        return False
    template.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=template.parent, prefix=".prefect-template-")
    os.close(fd)
    try:
        src, dst = sqlite3.connect(db), sqlite3.connect(tmp)
        try:
            src.backup(dst)  # a consistent copy of a database the server has open
            dst.execute("DELETE FROM configuration")
            dst.commit()
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            src.close()
            dst.close()
        os.replace(tmp, template)
    except (sqlite3.Error, OSError):
        Path(tmp).unlink(missing_ok=True)
        return False
    return True
