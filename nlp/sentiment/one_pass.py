"""The one-pass stage (``sinoscope nlp train --one-pass``): the marked model taught to find its
target by span alone, so that one encoder pass over a sentence scores every target in it.

Why: with markers (``@ target @``) a sentence naming three cities is three encoder passes; the
encoder is most of the pipeline's time. The marked model, read without its markers, already
keeps most of its skill (mt-dev accuracy 0.790 -> 0.781, rw-dev 0.837 -> 0.831); this stage
closes the rest by distillation from it: the student (started from the marked model) reads plain
text and learns the marked model's probabilities for every target, mixed with the gold label
where there is one. Multi-target sentences are what markers were for, so the data has many:
rw-train with up to two unlabelled name targets added per sentence (``transfer.py``), every
catalogued mention in the city/brand train passages, and the entity inputs of the domain stage.
The epoch kept is the best on rw-dev, mt-dev and the city/brand dev entity inputs together.
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from .data import load_newsmtsc
from .model import (
    ARTEFACT_DIR,
    FROZEN_PREFIX,
    chunk_targets,
    dequantize_state,
    encode_targets,
    group_by_text,
    load_backbone,
    load_state,
    marked,
    quantize_state,
    save_artefact,
    text_batches,
)
from .train import optimizer, predict_probs, scores, soft_target
from .transfer import name_targets

MAX_SENTENCE = 400  # characters: longer city/brand sentences are left out of the extra targets


def _plain(row: dict) -> tuple[str, int, int]:
    return row["sentence"], row["from"], row["to"]


def _citybrand(citybrand_dir: Path | None, split: str, finder) -> tuple[list, list]:
    """(mention targets found in the English passages, unlabelled; entity inputs, labelled),
    each as (plain input, marked input, label or None)."""
    from nlp.citybrand import load

    from .domain import citybrand_items

    rows = [r for r in load(split, citybrand_dir) if r["language"] == "en"]
    mentions = []
    for r in rows:
        for m in finder.find(r["text"]):
            a = m.start - m.sentence_start
            if len(m.sentence) <= MAX_SENTENCE and not (m.sense or "").startswith("in-name:"):
                mentions.append(((m.sentence, a, a + len(m.text)), marked(m.sentence, a, a + len(m.text)), None))
    plain = citybrand_items(rows, finder, {"en"}, marks=False)
    with_marks = citybrand_items(rows, finder, {"en"})
    entities = [(p, q, y) for (p, y), (q, _) in zip(plain, with_marks)]
    return mentions, entities


def grouped_probs(model, tokenizer, inputs: list, batch_size: int = 64) -> list[list[float]]:
    """Class probabilities per plain input, each text encoded once (``text_batches``)."""
    model.eval()
    out: list = [None] * len(inputs)
    with torch.inference_mode():
        for idx, texts, targets in text_batches(inputs, batch_size, pad=False):
            probs = torch.softmax(model(**encode_targets(tokenizer, texts, targets)), -1).tolist()
            for j, p in zip(idx, probs):
                out[j] = p
    return out


def fit(
    model,
    tokenizer,
    inputs: list,
    soft: list,
    dev: list,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    log=print,
) -> tuple[dict, dict, list, int]:
    """Train on plain ``inputs`` toward the ``soft`` probabilities, each batch ``batch_size`` texts
    with all their targets (one encoder pass per text, as at inference); returns (the state of the
    best epoch on ``dev`` (input, label) by macro-F1, its scores, the history, texts trained on)."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    for name, p in model.named_parameters():
        p.requires_grad = not name.startswith(FROZEN_PREFIX)
    by_text = group_by_text(inputs)
    texts = list(by_text)
    opt, sched = optimizer(model, lr, epochs * math.ceil(len(texts) / batch_size))
    best: dict = {"macro_f1": -1.0}
    best_state: dict = {}
    history: list = []
    for epoch in range(1, epochs + 1):
        model.train()
        t0, total = time.time(), 0.0
        order = texts[:]
        rng.shuffle(order)  # shuffled buckets of similar length, then the batches shuffled
        chunks = [sorted(order[i : i + batch_size * 50], key=len) for i in range(0, len(order), batch_size * 50)]
        batches = [c[i : i + batch_size] for c in chunks for i in range(0, len(c), batch_size)]
        rng.shuffle(batches)
        for b, chunk in enumerate(batches, 1):
            idx, targets = chunk_targets(chunk, by_text, inputs)
            logits = model(**encode_targets(tokenizer, chunk, targets))
            loss = -(torch.tensor([soft[j] for j in idx]) * torch.log_softmax(logits, -1)).sum(-1).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            total += loss.item()
            if b % 100 == 0:
                log(f"epoch {epoch} batch {b}/{len(batches)} loss {total / b:.4f} ({time.time() - t0:.0f}s)")
        got = scores(grouped_probs(model, tokenizer, [x for x, _ in dev]), [y for _, y in dev])
        history.append(
            {"epoch": epoch, "train_loss": round(total / len(batches), 4), "seconds": round(time.time() - t0)}
        )
        history[-1] |= {f"dev_{k}": round(v, 4) for k, v in got.items()}
        log(f"epoch {epoch}: train loss {total / len(batches):.4f}, dev macro-F1 {got['macro_f1']:.4f}")
        if got["macro_f1"] > best["macro_f1"]:
            best = {**got, "epoch": epoch}
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return best_state, best, history, len(texts)


def train_one_pass(
    data_dir: Path | None,
    out_dir: Path = ARTEFACT_DIR,
    *,
    base_dir: Path = ARTEFACT_DIR,
    citybrand_dir: Path | None = None,
    epochs: int = 3,
    lr: float = 3e-5,
    batch_size: int = 16,
    seed: int = 14,
    distil_weight: float = 0.5,
    threads: int | None = None,
    log=print,
) -> dict:
    """Distil the marked model in ``base_dir`` into one that reads plain text (``markers: false``)."""
    from nlp.entities.catalogue import load_catalogue
    from nlp.entities.matcher import MentionFinder

    if threads:
        torch.set_num_threads(threads)
    base_meta = json.loads((base_dir / "meta.json").read_text())
    if not base_meta.get("markers", True):
        raise ValueError(f"the model in {base_dir} reads no markers already; give --base the marked model")
    base_state = dequantize_state(load_file(str(base_dir / "member-0.safetensors")))
    tokenizer, teacher = load_backbone()
    load_state(teacher, dict(base_state))
    teacher.eval()
    finder = MentionFinder(load_catalogue())

    news = load_newsmtsc(data_dir, "rw-train")
    data = [(_plain(r), marked(*_plain(r)), r["polarity"] + 1) for r in news]
    data += [(_plain(r), marked(*_plain(r)), None) for r in name_targets(news, seed=seed)]
    cb_mentions, cb_entities = _citybrand(citybrand_dir, "train", finder)
    data += cb_mentions + cb_entities * 2
    t0 = time.time()
    teacher_probs = predict_probs(teacher, tokenizer, [(q, 0) for _, q, _ in data])
    soft = [p if y is None else soft_target(p, y, distil_weight) for p, (_, _, y) in zip(teacher_probs, data)]
    log(
        f"one-pass stage: {len(data)} targets in {len({p[0] for p, _, _ in data})} texts, teacher {time.time() - t0:.0f}s"
    )

    dev = [(_plain(r), r["polarity"] + 1) for split in ("rw-dev", "mt-dev") for r in load_newsmtsc(data_dir, split)]
    dev += [(p, y) for p, _, y in _citybrand(citybrand_dir, "dev", finder)[1]]

    # the student starts as the teacher (its probabilities are all taken above) and learns in place
    best_state, best, history, texts = fit(
        teacher,
        tokenizer,
        [x for x, _, _ in data],
        soft,
        dev,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        log=log,
    )
    stored = load_backbone()[1]
    load_state(stored, dequantize_state(quantize_state(best_state, stored.bert.embeddings.word_embeddings.weight)))
    final = {
        split: scores(grouped_probs(stored, tokenizer, [x for x, _ in items]), [y for _, y in items])
        for split, items in (
            ("rw_dev", [(_plain(r), r["polarity"] + 1) for r in load_newsmtsc(data_dir, "rw-dev")]),
            ("rw_test", [(_plain(r), r["polarity"] + 1) for r in load_newsmtsc(data_dir, "rw-test")]),
        )
    }  # as stored (int8 round trip), float32; rw-test reported, never chosen on
    meta = {
        **base_meta,
        "rw_dev_macro_f1": round(final["rw_dev"]["macro_f1"], 4),
        "rw_test_macro_f1": round(final["rw_test"]["macro_f1"], 4),
        "rw_test_accuracy": round(final["rw_test"]["accuracy"], 4),
        "name": base_meta["name"] + "-1p",
        "markers": False,
        "input": "the plain sentence, encoded once for all its targets; head on [CLS] + mean of each target's tokens",
        "one_pass_stage": {
            "base": base_meta["name"],
            "targets": len(data),
            "texts": texts,
            "distil_weight": distil_weight,
            "epochs": epochs,
            "lr": lr,
            "batch_size": batch_size,
            "seed": seed,
            "best_epoch": best["epoch"],
            "history": history,
        },
    }
    save_artefact([best_state], meta, out_dir)
    log(json.dumps({"best_epoch": best["epoch"], "dev_macro_f1": round(best["macro_f1"], 4)}))
    return meta
