"""Scoring the tagger on city/brand news passages (``nlp/citybrand.py``, used by `nlp eval`): the
rules of ../shared/tools/score_citybrand.py, checked on passages written here (the labelled set
itself stays in ../shared)."""

from __future__ import annotations

import json

import pytest

from nlp import citybrand
from nlp.evaluate import citybrand_dev
from nlp.tagger import Tagger

PASSAGES = [
    {
        "id": "t1",
        "language": "en",
        "text": "BYD opened a plant in Hungary. Chengdu welcomed the news; BYD shares rose.",
        "entities": [
            {"name": "BYD", "type": "brand", "sentiment": "positive"},
            {"name": "Chengdu", "type": "city", "sentiment": "neutral"},
        ],
        "not_entities": ["Hungary"],
    },
    {
        "id": "t2",
        "language": "en",
        "text": "Students at Wuhan University met Xiaomi's founder in Beijing.",
        "entities": [
            {"name": "Beijing", "type": "city", "sentiment": "neutral"},
            {"name": "Xiaomi", "type": "brand", "sentiment": "neutral"},
            {"name": "Acme Tea", "type": "brand", "sentiment": "mixed"},
        ],
        "not_entities": ["Wuhan"],
    },
]


def result(mentions, entities=None):
    return {"mentions": mentions, **({"entities": entities} if entities is not None else {})}


def mention(name, type_, label, score, text=None):
    return {"name": name, "type": type_, "text": text or name, "sentiment": {"label": label, "score": score}}


def test_entities_found_missed_and_falsely_tagged():
    results = [
        result(
            [
                mention("BYD", "brand", "positive", 0.6),
                mention("Chengdu", "city", "neutral", 0.0),
                mention("Budapest", "city", "neutral", 0.0),
            ]
        ),
        result([mention("Beijing", "city", "neutral", 0.1)]),
    ]
    out = citybrand.score(PASSAGES, results)
    assert out["entities"]["city"]["all"] == {"precision": round(2 / 3, 3), "recall": 1.0, "gold": 2}
    assert out["entities"]["brand"]["all"] == {"precision": 1.0, "recall": round(1 / 3, 3), "gold": 3}
    assert "t1 false city Budapest (text: 'Budapest')" in out["notes"] and "t2 miss brand Xiaomi" in out["notes"]


def test_tone_uses_the_article_level_row_and_falls_back_to_the_mentions():
    mentions = [
        mention("BYD", "brand", "negative", -0.5),
        mention("BYD", "brand", "positive", 0.4),
        mention("BYD", "brand", "positive", 0.7),
        mention("Chengdu", "city", "positive", 0.5),
    ]
    article = [
        {"name": "BYD", "type": "brand", "sentiment": {"label": "negative", "score": -0.2}},
        {"name": "Chengdu", "type": "city", "sentiment": {"label": "neutral", "score": 0.0}},
    ]
    with_rows = citybrand.score(PASSAGES[:1], [result(mentions, article)])["tone"]["all"]
    without = citybrand.score(PASSAGES[:1], [result(mentions)])["tone"]["all"]
    # gold: BYD positive, Chengdu neutral; the article rows say negative/neutral, the mentions positive/positive
    assert with_rows["article"] == {"n": 2, "macro_f1": pytest.approx(round(1 / 3, 3)), "accuracy": 0.5}
    assert without["article"]["accuracy"] == 0.5 and without["mentions"]["accuracy"] == 0.5


def test_nlp_eval_scores_a_tagger_on_a_citybrand_folder(tmp_path):
    (tmp_path / "dev.jsonl").write_text("\n".join(json.dumps(p) for p in PASSAGES), encoding="utf-8")
    out = citybrand_dev(Tagger(sentiment=False), tmp_path)
    assert out["passages"] == 2
    assert out["entities"]["city"]["all"] == {"precision": 1.0, "recall": 1.0, "gold": 2}  # Wuhan University: no
    assert out["entities"]["brand"]["all"]["recall"] == round(2 / 3, 3)  # Acme Tea is not catalogued
    with pytest.raises(citybrand.CityBrandDataMissing, match="give --citybrand-dir"):
        citybrand.load("dev", tmp_path / "nowhere")
