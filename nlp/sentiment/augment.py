"""Augmented copies of training targets for distillation: the teacher labels them, the student learns that.

Why: a 6-layer student distilled on ~19k (sentence, target) pairs still sits several points under
its teacher; task-specific distillation gains most from more inputs near the training data
(TinyBERT's augmentation). Each copy changes the rw-train sentence a little: a name-like target is
swapped, half the time, for another name (a Chinese city or brand from the catalogue, or a name
from rw-train), and each of the other words is dropped with a small probability. The teacher's label of
the copy is its target, never the original gold label (the change may well change the sentiment).
Swapping in catalogue names also shows the student the product's own names in news sentences.
"""

from __future__ import annotations

import random


def _drop(text: str, rng: random.Random, p: float, keep: int) -> str:
    """The text with each word dropped with probability p, except the word at index ``keep`` (the
    one touching the target, so the target keeps its spacing and punctuation)."""
    words = text.split(" ")
    keep %= len(words)
    return " ".join(w for i, w in enumerate(words) if i == keep or rng.random() >= p)


def name_pool(transfer_rows: list[dict], seed: int = 0) -> list[str]:
    """Names to swap in: the catalogue's city and brand names, and as many names found in rw-train."""
    from nlp.entities.catalogue import load_catalogue

    catalogue = sorted({e.name for e in load_catalogue().entities.values() if e.name.isascii()})
    found = sorted({r["mention"] for r in transfer_rows} - set(catalogue))
    return catalogue + random.Random(seed).sample(found, min(len(found), len(catalogue)))


def variants(rows: list[dict], names: list[str], seed: int = 0, swap: float = 0.5, drop: float = 0.1) -> list[dict]:
    """One changed copy of each row (``sentence``, ``from``, ``to``), in the rows' order."""
    rng = random.Random(seed)
    out = []
    for r in rows:
        s, a, b = r["sentence"], r["from"], r["to"]
        target = s[a:b]
        if target[:1].isupper() and rng.random() < swap:
            target = rng.choice(names)
        before, after = _drop(s[:a], rng, drop, -1), _drop(s[b:], rng, drop, 0)
        out.append(
            {
                "sentence": before + target + after,
                "from": len(before),
                "to": len(before) + len(target),
                "mention": target,
            }
        )
    return out
