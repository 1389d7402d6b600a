"""Extra, unlabelled targets for distillation: the teacher labels them, the student learns from that.

Why: the student learns more of the teacher's judgement from more (sentence, target) pairs than
the ~8.7k NewsMTSC labels. The pairs come from the same rw-train sentences (never dev or test):
capitalised name-like spans (people, parties, companies, places) that are not already a labelled
target, at most two per sentence. A rough span finder is enough here: these spans are only
inputs for the teacher, never gold labels.
"""

from __future__ import annotations

import random
import re

SPAN = re.compile(
    r"\b(?:[A-Z][\w’'.-]*[a-z][\w’'.-]*|[A-Z]{2,})"
    r"(?:\s+(?:of\s+|the\s+|de\s+)?(?:[A-Z][\w’'.-]*|[A-Z]{2,}))*"
)
SKIP = {
    "The",
    "A",
    "An",
    "In",
    "On",
    "But",
    "And",
    "He",
    "She",
    "It",
    "They",
    "We",
    "I",
    "This",
    "That",
    "There",
    "If",
    "As",
    "At",
    "For",
    "When",
    "While",
    "After",
    "So",
    "Yet",
    "Or",
    "What",
    "Mr",
    "Mrs",
    "Ms",
}


def name_targets(rows: list[dict], per_sentence: int = 2, seed: int = 0) -> list[dict]:
    """Unlabelled targets in the sentences of ``rows`` (NewsMTSC rows), in the rows' order:
    dicts with ``sentence``, ``from``, ``to``, ``mention``."""
    labelled: dict[str, list[tuple[int, int]]] = {}
    for r in rows:
        labelled.setdefault(r["sentence"], []).append((r["from"], r["to"]))
    rng = random.Random(seed)
    out = []
    for sentence, spans in labelled.items():
        found = []
        for m in SPAN.finditer(sentence):
            text = m.group(0).rstrip(".’'")
            a, b = m.start(), m.start() + len(text)
            if text in SKIP or len(text) < 3 or any(a < y and b > x for x, y in spans):
                continue
            found.append((a, b))
        rng.shuffle(found)
        out += [{"sentence": sentence, "from": a, "to": b, "mention": sentence[a:b]} for a, b in found[:per_sentence]]
    return out
