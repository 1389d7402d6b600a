"""The city/brand news set (``../shared/data/citybrand``): real passages about Chinese cities and
brands, each with every city and brand it mentions and how the passage portrays each one.

Loading, and scoring a tagger's output the way ``../shared/tools/score_citybrand.py`` scores
``sinoscope tag --json`` (so ``nlp eval`` and that script agree): an entity is found when the
tagger reports one of that type whose name, or a mention's text, matches the gold name; the tone
toward it is the tagger's article-level tone for that entity where it gives one, else its mentions
taken together (``majority``); gold 'mixed' rows are left out of the tone figures.
The passages stay in ``../shared``: nothing here copies them into the project.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from sklearn.metrics import f1_score

from sinoscope.core.errors import SinoscopeError

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "citybrand"
LABELS = ("positive", "neutral", "negative")


class CityBrandDataMissing(SinoscopeError, FileNotFoundError):
    """The set is not where it was looked for; the message says where and how to point at it."""


def load(split: str, directory: Path | None = None) -> list[dict]:
    path = Path(directory or DEFAULT_DIR) / f"{split}.jsonl"
    if not path.is_file():
        raise CityBrandDataMissing(f"no city/brand data at {path} (give --citybrand-dir)")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def norm(s: str) -> str:
    return re.sub(r"[^0-9a-z\u4e00-\u9fff]", "", s.lower())


def same(gold_name: str, pred_name: str) -> bool:
    g, p = norm(gold_name), norm(pred_name)
    return bool(g) and bool(p) and (g == p or g in p or p in g)


def majority(sentiments: list[dict]) -> str:
    """Mentions taken together (the scorer's rule, which is the tagger's: ``entity_label``)."""
    from sinoscope.core.tone import entity_label

    return entity_label([s["label"] for s in sentiments], [s["score"] for s in sentiments])


def match(row: dict, result: dict) -> tuple[dict, list[tuple[str, str, str, str]], list[str]]:
    """Entity counts per type and language, (gold tone, article-level tone, mentions-together tone,
    language) for each found entity with a 3-class gold tone, and notes on misses and false tags."""
    pred: dict[tuple[str, str], list[dict]] = {}
    for m in result["mentions"]:
        pred.setdefault((m["type"], m["name"]), []).append(m)
    counts: Counter = Counter()
    pairs, notes, matched = [], [], set()
    lang = row["language"]
    for g in row["entities"]:
        hits = [
            k
            for k in pred
            if k[0] == g["type"]
            and (same(g["name"], k[1]) or any(norm(m.get("text", "")) == norm(g["name"]) for m in pred[k]))
        ]
        if not hits:
            counts[(g["type"], lang, "fn")] += 1
            notes.append(f"{row['id']} miss {g['type']} {g['name']}")
            continue
        counts[(g["type"], lang, "tp")] += 1
        matched.update(hits)
        if g["sentiment"] == "mixed":
            continue
        mentions = [m["sentiment"] for h in hits for m in pred[h] if m.get("sentiment")]
        together = majority(mentions) if mentions else "neutral"
        article = [
            e["sentiment"] for e in result.get("entities", []) if (e["type"], e["name"]) in hits and e.get("sentiment")
        ]
        pairs.append((g["sentiment"], majority(article) if article else together, together, lang))
    for k, ms in pred.items():
        if k not in matched:
            counts[(k[0], lang, "fp")] += 1
            notes.append(f"{row['id']} false {k[0]} {k[1]} (text: {ms[0]['text']!r})")
    return counts, pairs, notes


def _tone(pairs: list[tuple[str, str]]) -> dict:
    if not pairs:
        return {"n": 0, "macro_f1": None, "accuracy": None}
    gold, pred = [g for g, _ in pairs], [p for _, p in pairs]
    return {
        "n": len(pairs),
        "macro_f1": round(float(f1_score(gold, pred, labels=list(LABELS), average="macro", zero_division=0)), 3),
        "accuracy": round(sum(g == p for g, p in pairs) / len(pairs), 3),
    }


def score(rows: list[dict], results: list[dict]) -> dict:
    """Entities per type (and per language) and tone toward each entity, overall, English and the
    other languages, both article-level and mentions taken together."""
    counts: Counter = Counter()
    pairs, notes = [], []
    for row, result in zip(rows, results):
        c, p, n = match(row, result)
        counts.update(c)
        pairs.extend(p)
        notes.extend(n)

    def prf(keys) -> dict:
        tp, fp, fn = (sum(counts[k + (x,)] for k in keys) for x in ("tp", "fp", "fn"))
        return {
            "precision": round(tp / (tp + fp), 3) if tp + fp else None,
            "recall": round(tp / (tp + fn), 3) if tp + fn else None,
            "gold": tp + fn,
        }

    langs = sorted({k[1] for k in counts})
    entities = {
        t: {"all": prf([(t, lang) for lang in langs]), **{lang: prf([(t, lang)]) for lang in langs}}
        for t in ("city", "brand")
    }
    groups = {"all": pairs, "en": [p for p in pairs if p[3] == "en"], "other": [p for p in pairs if p[3] != "en"]}
    groups.update({lang: [p for p in pairs if p[3] == lang] for lang in sorted({p[3] for p in pairs})})
    tone = {
        name: {"article": _tone([(g, a) for g, a, _, _ in ps]), "mentions": _tone([(g, m) for g, _, m, _ in ps])}
        for name, ps in groups.items()
    }
    confusion = Counter((g, a) for g, a, _, _ in pairs)
    return {
        "passages": len(rows),
        "entities": entities,
        "tone": tone,
        "confusion": {f"{g}->{p}": n for (g, p), n in sorted(confusion.items())},
        "notes": notes,
    }
