"""Syndicated near-duplicates: the same wire story on several outlets.

MinHash over 5-token shingles estimates Jaccard similarity; datasketch's LSH index finds the
candidates in sub-linear time. Tokens are words for spaced scripts and single characters for
Chinese/Japanese, so one rule serves every language. A near-duplicate is *linked* to the first
copy (``duplicate_of``), never dropped: volume counts choose whether to include it.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

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


def signature(text: str) -> MinHash | None:
    toks = tokens(text)
    if len(toks) < MIN_TOKENS:
        return None
    shingles = {" ".join(toks[i : i + SHINGLE]).encode("utf-8") for i in range(len(toks) - SHINGLE + 1)}
    mh = MinHash(num_perm=NUM_PERM, seed=1, scheme=SCHEME, permutations=_permutations())
    mh.update_batch(list(shingles))
    return mh


def to_bytes(mh: MinHash) -> bytes:
    return mh.hashvalues.astype(np.uint32).tobytes()


def from_bytes(raw: bytes) -> LeanMinHash:
    """A stored signature, lean: no permutation tables (a MinHash carries 1 KiB of them, per object)."""
    return LeanMinHash(seed=1, scheme=SCHEME, hashvalues=np.frombuffer(raw, dtype=np.uint32))


class NearDuplicateIndex:
    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self._sigs: dict[str, LeanMinHash] = {}
        self._published: dict[str, datetime] = {}

    def __len__(self) -> int:
        return len(self._sigs)

    def add(self, article_id: str, mh: MinHash, published: datetime) -> None:
        if article_id in self._sigs:
            return
        lean = mh if isinstance(mh, LeanMinHash) else LeanMinHash(mh)  # the index holds the window: keep it small
        self.lsh.insert(article_id, lean)
        self._sigs[article_id] = lean
        self._published[article_id] = published

    def find(self, mh: MinHash) -> tuple[str, float] | None:
        """The earliest indexed copy whose estimated similarity passes the threshold."""
        best: tuple[datetime, str, float] | None = None
        for cand in self.lsh.query(mh):
            sim = mh.jaccard(self._sigs[cand])
            if sim < self.threshold:
                continue
            key = (self._published[cand], cand, sim)
            if best is None or key[:2] < best[:2]:
                best = key
        return (best[1], best[2]) if best else None
