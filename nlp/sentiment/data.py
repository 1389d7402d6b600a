"""NewsMTSC (Hamborg & Donnay, EACL 2021): labelled target-dependent sentiment in news.

The data is not copied into the repository; it lives beside it in ``../shared/data/newsmtsc``
(or wherever ``nlp.newsmtsc_dir`` / ``--data`` points).
"""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO.parent / "shared" / "data" / "newsmtsc"
SPLITS = ("rw-train", "rw-dev", "rw-test", "mt-dev")


def load_newsmtsc(data_dir: Path | None, split: str) -> list[dict]:
    path = Path(data_dir or DEFAULT_DIR) / f"{split}.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"NewsMTSC split {split!r} not found at {path}; pass --data DIR")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                row = json.loads(line)
                if row["sentence"][row["from"] : row["to"]] != row["mention"]:
                    raise ValueError(f"{path}:{n}: offsets do not match the mention")
                rows.append(row)
    return rows
