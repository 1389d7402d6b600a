"""``sinoscope nlp eval``: one table of how well the NLP stage works, on labelled data.

- Entities: precision and recall per type (city, brand) on the labelled city/brand set
  (``nlp/eval/mentions_dev.txt`` used while writing the rules, and its English mentions are
  training data of the sentiment model; ``mentions_test.txt`` held out
  from all tuning), per language. A predicted mention is correct when its span and entity
  id equal a gold one.
- Mention sentiment: accuracy and macro-F1 on correctly found mentions, per language, with
  VADER on the sentence as a lexicon baseline for English.
- Target sentiment on NewsMTSC ``rw-test`` and ``mt-dev`` (the model's own benchmark), with
  VADER on the sentence in the same table.
- Real news about Chinese cities and brands (``../shared/data/citybrand`` dev, ``citybrand.py``):
  entities per type and language, and the tone toward each entity, per article (``entities``) and
  the mentions taken together, per language; scored as ``../shared/tools/score_citybrand.py`` does.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from sklearn.metrics import accuracy_score, f1_score

from .sentiment.data import load_newsmtsc

EVAL_DIR = Path(__file__).parent / "eval"
_MARK = re.compile(r"\[\[([^\]|]+)\|([^\]|]+)\|([+0-])\]\]")
POL = {"+": 1, "0": 0, "-": -1}
LABEL_POL = {"positive": 1, "neutral": 0, "negative": -1}


def parse_line(line: str) -> dict | None:
    """'lang | source | text with [[surface|entity_id|pol]]' -> text and gold mentions."""
    line = line.rstrip("\n")
    if not line.strip() or line.lstrip().startswith("#"):
        return None
    lang, source, marked = (part.strip() for part in line.split(" | ", 2))
    text, gold, pos = [], [], 0
    last = 0
    for m in _MARK.finditer(marked):
        text.append(marked[last : m.start()])
        pos += m.start() - last
        surface, entity_id, pol = m.groups()
        gold.append(
            {"start": pos, "end": pos + len(surface), "entity_id": entity_id, "polarity": POL[pol], "text": surface}
        )
        text.append(surface)
        pos += len(surface)
        last = m.end()
    text.append(marked[last:])
    return {"language": lang, "source": source, "text": "".join(text), "gold": gold}


def load_labelled(split: str) -> list[dict]:
    rows = []
    for line in (EVAL_DIR / f"mentions_{split}.txt").read_text(encoding="utf-8").splitlines():
        row = parse_line(line)
        if row:
            rows.append(row)
    return rows


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float]:
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)


def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()

    def polarity(sentence: str) -> int:
        c = analyzer.polarity_scores(sentence)["compound"]
        return 1 if c >= 0.05 else -1 if c <= -0.05 else 0

    return polarity


def entity_and_sentiment(tagger, split: str) -> dict:
    rows = load_labelled(split)
    tagged = tagger.tag_many([("", r["text"], r["language"]) for r in rows])
    vader = _vader()
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])  # (type, lang) -> tp fp fn
    sent: dict[str, dict[str, list[int]]] = defaultdict(lambda: {"gold": [], "pred": [], "vader": []})
    errors = []
    for row, t in zip(rows, tagged):
        gold = {(g["start"], g["end"], g["entity_id"]): g for g in row["gold"]}
        pred = {(m.start, m.end, m.entity_id): (m, s) for m, s in zip(t.mentions, t.mention_sentiment)}
        lang = row["language"]
        for key, g in gold.items():
            etype = g["entity_id"].split(":")[0]
            if key in pred:
                counts[(etype, lang)][0] += 1
                m, s = pred[key]
                if s is not None:
                    sent[lang]["gold"].append(g["polarity"])
                    sent[lang]["pred"].append(LABEL_POL[s.label])
                    sent[lang]["vader"].append(vader(m.sentence))
            else:
                counts[(etype, lang)][2] += 1
                errors.append(f"missed {g['text']} ({g['entity_id']}): {row['text'][:90]}")
        for key, (m, _) in pred.items():
            if key not in gold:
                counts[(m.type, lang)][1] += 1
                errors.append(f"wrong {m.text} -> {m.entity_id}: {row['text'][:90]}")
    entities = []
    for etype in ("city", "brand"):
        for lang in sorted({k[1] for k in counts}) + ["all"]:
            tp, fp, fn = (
                sum(counts[(etype, lg)][i] for lg in ({k[1] for k in counts} if lang == "all" else {lang}))
                for i in range(3)
            )
            if tp + fp + fn == 0:
                continue
            p, r = _prf(tp, fp, fn)
            entities.append(
                {
                    "split": split,
                    "type": etype,
                    "language": lang,
                    "gold": tp + fn,
                    "precision": round(p, 4),
                    "recall": round(r, 4),
                }
            )
    sentiment = []
    for lang, d in sorted(sent.items()):
        if not d["gold"]:
            continue
        row = {
            "split": split,
            "language": lang,
            "n": len(d["gold"]),
            "accuracy": round(accuracy_score(d["gold"], d["pred"]), 4),
            "macro_f1": round(f1_score(d["gold"], d["pred"], average="macro", labels=[-1, 0, 1], zero_division=0), 4),
        }
        if lang == "en":
            row["vader_accuracy"] = round(accuracy_score(d["gold"], d["vader"]), 4)
            row["vader_macro_f1"] = round(
                f1_score(d["gold"], d["vader"], average="macro", labels=[-1, 0, 1], zero_division=0), 4
            )
        sentiment.append(row)
    return {"entities": entities, "sentiment": sentiment, "errors": errors}


def newsmtsc(tagger, data_dir: Path | None) -> list[dict]:
    vader = _vader()
    out = []
    for split in ("rw-test", "mt-dev"):
        rows = load_newsmtsc(data_dir, split)
        preds = tagger.model.predict([(r["sentence"], r["from"], r["to"]) for r in rows])
        gold = [r["polarity"] for r in rows]
        model = [LABEL_POL[p.label] for p in preds]
        lex = [vader(r["sentence"]) for r in rows]
        for name, pred in ((tagger.model_name, model), ("VADER (sentence)", lex)):
            out.append(
                {
                    "data": f"NewsMTSC {split}",
                    "system": name,
                    "n": len(rows),
                    "accuracy": round(accuracy_score(gold, pred), 4),
                    "macro_f1": round(f1_score(gold, pred, average="macro"), 4),
                }
            )
    return out


def citybrand_dev(tagger, directory: Path | None = None) -> dict:
    """The city/brand set's dev split, tagged as `sinoscope tag` tags a text (language detected)."""
    from . import citybrand

    rows = citybrand.load("dev", directory)
    results = [t.as_dict() for t in tagger.tag_many([("", r["text"], None) for r in rows])]
    return citybrand.score(rows, results)


def evaluate(tagger, data_dir: Path | None, citybrand_dir: Path | None = None) -> dict:
    report = {"dev": entity_and_sentiment(tagger, "dev"), "test": entity_and_sentiment(tagger, "test")}
    try:
        report["newsmtsc"] = newsmtsc(tagger, data_dir)
    except FileNotFoundError as exc:
        report["newsmtsc"] = []
        report["newsmtsc_missing"] = str(exc)
    try:
        report["citybrand"] = citybrand_dev(tagger, citybrand_dir)
    except FileNotFoundError as exc:
        report["citybrand_missing"] = str(exc)
    return report


def render(report: dict):
    from rich.table import Table

    t = Table(
        title="sinoscope nlp eval (dev: rules written on it, and its English mentions are in the sentiment "
        "model's training data; TEST: held out from all tuning and training)",
        show_lines=False,
    )
    for col in ("data", "what", "lang", "n", "P / acc", "R / macro-F1", "VADER acc / F1"):
        t.add_column(col, no_wrap=True)
    for split in ("dev", "test"):
        label = "cities/brands dev" if split == "dev" else "cities/brands TEST"
        for e in report[split]["entities"]:
            t.add_row(
                label,
                f"entity {e['type']}",
                e["language"],
                str(e["gold"]),
                f"{e['precision']:.3f}",
                f"{e['recall']:.3f}",
                "",
            )
        for s in report[split]["sentiment"]:
            base = f"{s['vader_accuracy']:.3f} / {s['vader_macro_f1']:.3f}" if "vader_accuracy" in s else ""
            what = "mention sentiment (trained on)" if split == "dev" and s["language"] == "en" else "mention sentiment"
            t.add_row(label, what, s["language"], str(s["n"]), f"{s['accuracy']:.3f}", f"{s['macro_f1']:.3f}", base)
    rows = report.get("newsmtsc", [])
    for r in rows:
        t.add_row(r["data"], r["system"], "en", str(r["n"]), f"{r['accuracy']:.3f}", f"{r['macro_f1']:.3f}", "")
    if report.get("newsmtsc_missing"):
        t.add_row("NewsMTSC", report["newsmtsc_missing"], "", "", "", "", "")
    cb = report.get("citybrand")
    if cb:
        label = f"real news dev ({cb['passages']})"
        for etype, by_lang in cb["entities"].items():
            for lang, e in by_lang.items():
                if e["gold"] and e["precision"] is not None:
                    t.add_row(
                        label,
                        f"entity {etype}",
                        lang,
                        str(e["gold"]),
                        f"{e['precision']:.3f}",
                        f"{e['recall']:.3f}",
                        "",
                    )
        for group, tone in cb["tone"].items():  # article-level (the JSON also has the mentions taken together)
            x = tone["article"]
            if x["n"]:
                t.add_row(
                    label, "tone per entity", group, str(x["n"]), f"{x['accuracy']:.3f}", f"{x['macro_f1']:.3f}", ""
                )
    if report.get("citybrand_missing"):
        t.add_row("real news (city/brand)", report["citybrand_missing"], "", "", "", "", "")
    return t
