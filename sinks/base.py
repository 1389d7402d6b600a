"""The store seam: where enriched articles end up, whatever keeps them.

Guarantees every back-end gives (``sinks/duckdb/``: one DuckDB file, the embedded default;
``sinks/elastic/``: Elasticsearch, the stack):

- ``setup()`` is idempotent: schema, index templates, lifecycle policy; call it before writing.
- ``write(batch)`` is an idempotent upsert keyed by article and mention ids (a replayed batch
  changes nothing) and all-or-nothing for what it reports as written. It **raises**
  ``StoreUnavailable`` when the store cannot take the batch now (a busy file, a cluster that is
  down or throttling): nothing counts as stored and the stage commits nothing, so the batch is
  retried. A record the store refuses for good (e.g. a mapping error) does not raise: it comes
  back in ``WriteResult.failed`` with its reason, for the stage to dead-letter.
- ``counts()`` says what the store holds where that is cheap (``None`` where it is not);
  ``prune(older_than)`` applies retention where the store does not do it itself.
- ``where`` names the store for people (path or URL, never credentials).

``open_store`` imports a back-end only when the settings choose it, as ``open_bus`` does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from sinoscope.core.errors import RetryableError, SinoscopeError
from sinoscope.core.schemas import Enriched
from sinoscope.core.settings import Settings


class StoreError(SinoscopeError):
    """The store could not do what was asked; ``where`` names the store."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.where = where


class StoreUnavailable(StoreError, RetryableError):
    """The store cannot take the batch now; nothing of it was stored, a later try may succeed."""


@dataclass
class WriteResult:
    written: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (article id, reason): dead-letter these


class Store(ABC):
    kind: str = ""
    where: str = ""

    def setup(self) -> None:
        """Create or update what the store needs before writes (idempotent)."""

    @abstractmethod
    def write(self, batch: list[Enriched]) -> WriteResult:
        """Upsert the batch; raise ``StoreUnavailable`` when nothing could be stored."""

    def prune(self, older_than) -> dict | None:
        """Retention: drop what was published before ``older_than``; None where the store does it
        itself (Elasticsearch's lifecycle policy)."""
        return None

    def counts(self) -> dict | None:
        """{"articles": n, "mentions": n} where cheap to tell, else None."""
        return None

    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_store(settings: Settings) -> Store:
    """The store the settings name (``sink.kind``)."""
    if settings.sink.kind == "elasticsearch":
        from .elastic.store import ElasticStore

        return ElasticStore.from_settings(settings.sink)
    if settings.sink.kind == "embedded":
        from .duckdb.store import DuckDBStore

        return DuckDBStore(settings.path("store.duckdb"))
    raise StoreError(f"unknown sink.kind {settings.sink.kind!r}: use 'embedded' or 'elasticsearch'")
