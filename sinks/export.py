"""Exports (``sinoscope export``): stored articles and mentions, trends and rankings as CSV,
Parquet or JSON lines, written once here for every store.

A back-end streams Arrow record batches in the columns below (DuckDB straight from its query,
Elasticsearch page by page), and the writers append batch by batch, so an export of millions of
rows runs in constant memory. The file appears whole or not at all (written beside it, then
renamed).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

import pyarrow as pa

FORMATS = ("csv", "parquet", "jsonl")
_TS = pa.timestamp("us", tz="UTC")
_S, _F = pa.string(), pa.float64()
MENTION_SCHEMA = pa.schema(
    [
        ("mention_id", _S), ("article_id", _S), ("entity_id", _S), ("entity_type", _S), ("name", _S),
        ("text", _S), ("sentence", _S), ("sense", _S), ("score", _F), ("label", _S),
        ("entity_score", _F), ("entity_label", _S), ("published", _TS), ("outlet", _S), ("country", _S),
        ("language", _S), ("duplicate_of", _S), ("url", _S), ("title", _S),
    ]
)  # fmt: skip
ARTICLE_SCHEMA = pa.schema(
    [
        ("article_id", _S), ("url", _S), ("title", _S), ("summary", _S), ("outlet", _S), ("country", _S),
        ("language", _S), ("source", _S), ("published", _TS), ("fetched", _TS), ("duplicate_of", _S),
        ("sentiment_score", _F), ("sentiment_label", _S), ("mentions", pa.int64()), ("entity_ids", _S),
    ]
)  # fmt: skip
_I = pa.int64()
TREND_SCHEMA = pa.schema([("start", _S), ("mentions", _I), ("sentiment_mean", _F), ("positive", _I), ("negative", _I)])
RANK_SCHEMA = pa.schema(
    [
        ("entity_id", _S), ("name", _S), ("mentions", _I), ("outlets", _I), ("countries", _I),
        ("sentiment_mean", _F), ("share_positive", _F), ("share_negative", _F), ("growth", _F), ("index", _F),
    ]
)  # fmt: skip
SCHEMAS = {"articles": ARTICLE_SCHEMA, "mentions": MENTION_SCHEMA, "trend": TREND_SCHEMA, "rank": RANK_SCHEMA}


class ExportError(ValueError):
    """An export that cannot be written as asked (format, file)."""


def batches_of(rows: Iterable[dict], schema: pa.Schema, size: int = 10_000) -> Iterator[pa.RecordBatch]:
    """Rows (dicts) as record batches of ``schema``, ``size`` rows at a time."""
    buf: list[dict] = []
    for row in rows:
        buf.append(row)
        if len(buf) == size:
            yield pa.RecordBatch.from_pylist(buf, schema=schema)
            buf = []
    if buf:
        yield pa.RecordBatch.from_pylist(buf, schema=schema)


def _json_value(v):
    return v.isoformat() if isinstance(v, datetime) else v


def write(batches: Iterable[pa.RecordBatch], schema: pa.Schema, fmt: str, out: Path) -> int:
    """Write the batches to ``out`` in ``fmt``; the number of rows written."""
    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r}: use csv, parquet or jsonl")
    batches = (b if b.schema.equals(schema) else b.cast(schema) for b in batches)  # e.g. DuckDB's large strings
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    rows = 0
    try:
        if fmt == "csv":
            import pyarrow.csv as pcsv

            with pcsv.CSVWriter(str(part), schema) as w:  # a header row, then the rows
                for b in batches:
                    w.write_batch(b)
                    rows += b.num_rows
        elif fmt == "parquet":
            import pyarrow.parquet as pq

            with pq.ParquetWriter(str(part), schema) as w:
                for b in batches:
                    w.write_batch(b)
                    rows += b.num_rows
        else:
            with open(part, "w", encoding="utf-8") as f:
                for b in batches:
                    for row in b.to_pylist():
                        f.write(json.dumps({k: _json_value(v) for k, v in row.items()}, ensure_ascii=False) + "\n")
                    rows += b.num_rows
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    return rows
