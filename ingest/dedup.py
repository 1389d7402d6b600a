"""Syndicated near-duplicates: the same wire story on several outlets.

MinHash over 5-token shingles estimates Jaccard similarity; LSH bands (kept in SQLite) find the
candidates in sub-linear time. Tokens are words for spaced scripts and single characters for
Chinese/Japanese, so one rule serves every language. A near-duplicate is *linked* to the first
copy (``duplicate_of``), never dropped: volume counts choose whether to include it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import cache
from hashlib import blake2b

import numpy as np
from datasketch import MinHash, MinHashLSH

NUM_PERM = 128
SCHEME = "affine32"  # datasketch >= 2: uint32 values, unbiased; stored signatures use it
SHINGLE = 5
MIN_TOKENS = 40  # shorter texts share too many shingles by chance to call them copies
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W_]+", re.UNICODE)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


@cache
def _permutations():
    """The seed's permutation tables, drawn once: each new MinHash would draw them again (~150 us,
    a third of a signature's cost)."""
    return MinHash(num_perm=NUM_PERM, seed=1, scheme=SCHEME).permutations


def text_of(article) -> str:
    """What an article's signature is computed over: its title and text."""
    return f"{article.title}\n{article.text}"


def signature(text: str) -> MinHash | None:
    toks = tokens(text)
    if len(toks) < MIN_TOKENS:
        return None
    shingles = {" ".join(toks[i : i + SHINGLE]).encode("utf-8") for i in range(len(toks) - SHINGLE + 1)}
    mh = MinHash(num_perm=NUM_PERM, seed=1, scheme=SCHEME, permutations=_permutations())
    mh.update_batch(list(shingles))
    return mh


def values(sig: MinHash | np.ndarray) -> np.ndarray:
    """A signature's hash values as stored (uint32), from a MinHash or the values themselves (as
    ingest's worker processes send them)."""
    return sig.hashvalues.astype(np.uint32) if isinstance(sig, MinHash) else sig.astype(np.uint32, copy=False)


def to_bytes(sig: MinHash | np.ndarray) -> bytes:
    return values(sig).tobytes()


def from_bytes(raw: bytes) -> np.ndarray:
    """A stored signature's hash values (``to_bytes`` undone)."""
    return np.frombuffer(raw, dtype=np.uint32)


def band_keys(hashvalues: np.ndarray, bands: int, rows: int) -> list[int]:
    """One 64-bit key per LSH band: the band's index and its ``rows`` hash values, hashed."""
    hv = hashvalues.astype(np.uint32)
    return [
        int.from_bytes(
            blake2b(bytes([i]) + hv[i * rows : (i + 1) * rows].tobytes(), digest_size=8).digest(), "little", signed=True
        )
        for i in range(bands)
    ]


class NearDuplicateIndex:
    """Banded LSH whose bands live in ingest's SQLite file beside the signatures (``IngestState``):
    memory stays flat however many articles the window holds (datasketch's in-memory index held
    ~4.3 KiB per article of the window, the largest thing a long-running ingest grew by). The
    band count and width are datasketch's optimum for the threshold. Copies are looked for among
    articles published within ``window`` of the article, so a backfill of old news links copies
    of each other as a live pass does."""

    def __init__(self, threshold: float, state, window: timedelta) -> None:
        self.threshold = threshold
        params = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self.bands, self.rows = params.b, params.r
        self.state = state
        self.window = window
        state.add_missing_bands(lambda raw: self.keys(from_bytes(raw)))

    def keys(self, hashvalues: np.ndarray) -> list[int]:
        return band_keys(hashvalues, self.bands, self.rows)

    def stored(self, sig: MinHash | np.ndarray | None) -> tuple[bytes | None, list[int]]:
        """What ``IngestState.mark_seen`` keeps of a signature: its bytes and its band keys."""
        return (None, []) if sig is None else (to_bytes(sig), self.keys(values(sig)))

    def find(self, sig: MinHash | np.ndarray, published: datetime) -> tuple[str, float] | None:
        """The earliest stored copy whose estimated similarity passes the threshold."""
        hv = values(sig)
        best: tuple[datetime, str, float] | None = None
        for cand, when, raw in self.state.band_candidates(
            self.keys(hv), published - self.window, published + self.window
        ):
            sim = float(np.count_nonzero(from_bytes(raw) == hv)) / NUM_PERM
            if sim >= self.threshold and (best is None or (when, cand) < best[:2]):
                best = (when, cand, sim)
        return (best[1], best[2]) if best else None
