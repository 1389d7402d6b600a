"""The product's own domain as training data: how a passage portrays each city and brand.

``entity_input`` turns one entity's mentions in an article into one model input: its mention
sentences in order, each cropped around its mentions, every mention marked (``@ name @``), so
the model reads everything the article says about the entity at once. Training
(``train.domain_stage``) and inference (``Tagger``, when the model was trained this way) build
the input with this one function. ``citybrand_items`` makes labelled inputs from the city/brand
set (``../shared/data/citybrand``): its annotation is per entity and passage, exactly this task.
"""

from __future__ import annotations

from collections.abc import Sequence

from .model import MARK

PER_SENTENCE = 240  # characters kept around an entity's mentions in one sentence
TOTAL = 600  # characters of context in all (~128 tokens, the model's input length)
LABEL_INDEX = {"negative": 0, "neutral": 1, "positive": 2}


def entity_input(mentions: Sequence, marks: bool = True) -> tuple[str, list[tuple[int, int]]]:
    """(text, target spans) for one entity's mentions (objects with ``sentence``,
    ``sentence_start``, ``start``, ``end``), sentences in text order, the first ones kept; each
    mention marked unless ``marks`` is off (a model that finds its target by span alone)."""
    left, right = (f"{MARK} ", f" {MARK}") if marks else ("", "")
    by_sentence: dict[tuple[int, str], list[tuple[int, int]]] = {}
    for m in mentions:
        by_sentence.setdefault((m.sentence_start, m.sentence), []).append(
            (m.start - m.sentence_start, m.end - m.sentence_start)
        )
    text, spans = "", []
    for (_, sentence), found in sorted(by_sentence.items()):
        first, last = min(a for a, _ in found), max(b for _, b in found)
        lo = max(0, first - max(0, PER_SENTENCE - (last - first)) // 2)
        hi = min(len(sentence), max(lo + PER_SENTENCE, last))
        piece, piece_spans, pos = "", [], lo
        for a, b in sorted(found):
            if a < pos or b > hi:
                continue
            piece += sentence[pos:a] + left
            piece_spans.append((len(piece), len(piece) + b - a))
            piece += sentence[a:b] + right
            pos = b
        piece += sentence[pos:hi]
        if text and len(text) + len(piece) > TOTAL:
            break
        offset = len(text) + (1 if text else 0)
        text = f"{text} {piece}" if text else piece
        spans += [(a + offset, b + offset) for a, b in piece_spans]
    return text, spans


def citybrand_items(
    rows: list[dict], finder, languages: set[str] | None = None, marks: bool = True
) -> list[tuple[tuple, int]]:
    """(entity input, label index) for every annotated entity the finder finds in its passage
    (gold 'mixed' left out), from city/brand rows; ``languages`` keeps only those."""
    from nlp.citybrand import norm, same

    items = []
    for row in rows:
        if languages is not None and row["language"] not in languages:
            continue
        groups: dict[tuple[str, str], list] = {}
        for m in finder.find(row["text"]):
            if not (m.sense or "").startswith("in-name:"):
                groups.setdefault((m.type, m.name), []).append(m)
        for g in row["entities"]:
            if g["sentiment"] not in LABEL_INDEX:
                continue
            hits = [
                m
                for (t, name), ms in groups.items()
                if t == g["type"] and (same(g["name"], name) or any(norm(x.text) == norm(g["name"]) for x in ms))
                for m in ms
            ]
            if hits:
                items.append((entity_input(sorted(hits, key=lambda m: m.start), marks), LABEL_INDEX[g["sentiment"]]))
    return items
