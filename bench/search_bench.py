"""Search on the embedded default: index build throughput and query latency, printed as figures.

    .venv/bin/python bench/search_bench.py [--articles 200000] [--mentions 5] [--repeat 20]

Articles (~1,500 characters, English and Chinese) are assembled from sentences of the real seed
articles in ../shared/seeds/ with city and brand names from the catalogue, each naming
``--mentions`` entities with a tone (200,000 x 5 = 1M mentions). They go through the real path:
``search_document`` of an ``Enriched`` record, written by ``FullTextIndex.write`` in batches of
500 with a commit each, as the sink writes. Then a mix of queries (common and rare words,
phrases, prefixes, boolean, CJK, filters only, the tone filter), each run ``--repeat`` times,
20 hits with snippets: p50 and p95 latency per query and overall.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SEEDS = ROOT.parent / "shared" / "seeds"

QUERIES = [
    ("common word", "china", {}),
    ("rare word", "semiconductor", {}),
    ("phrase", '"foreign enterprises"', {}),
    ("prefix", "invest*", {}),
    ("boolean", "(trade OR investment) AND NOT forum", {}),
    ("CJK", "成都", {}),
    ("entity filter only", "", {"entity_ids": ["brand:byd"]}),
    ("word + country + dates", "trade", {"countries": ["DE"], "since": datetime(2026, 6, 1, tzinfo=UTC)}),
    ("tone filter", "", {"entity_ids": ["city:chengdu"], "tone": "-1..-0.3"}),
]


def sentences() -> list[str]:
    out = []
    for f in sorted(SEEDS.glob("*.txt")):
        out += [
            s.strip() for s in re.split(r"(?<=[.!?。！？])\s*", f.read_text(encoding="utf-8")) if len(s.strip()) > 30
        ]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=200_000)
    ap.add_argument("--mentions", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()

    from nlp.entities.catalogue import load_catalogue
    from sinks.duckdb.search import FullTextIndex
    from sinks.search.document import search_document
    from sinks.search.request import SearchRequest
    from sinoscope.core.schemas import Article, Enriched, MentionRecord, Sentiment

    rng = random.Random(7)
    pool = sentences()
    cat = load_catalogue()
    ents = [e for e in cat.entities.values() if e.type in ("city", "brand")]
    zh = ["成都市政府宣布新的投资计划。", "比亚迪在欧洲的销量继续增长。", "上海的外资企业数量创下新高。"]
    countries = ["GB", "US", "DE", "FR", "JP", "AU", "IN", "CN"]
    start = datetime(2025, 1, 1, tzinfo=UTC)

    def record(i: int) -> Enriched:
        chosen = rng.sample(ents, args.mentions)
        body = " ".join(rng.sample(pool, 10))
        if i % 10 == 0:
            body += " " + "".join(rng.sample(zh, 2))
        body += " " + " ".join(e.name for e in chosen) + "."
        when = start + timedelta(days=600 * i / args.articles)  # spread over 600 days
        url = f"https://news.example/{i}"
        art = Article(
            id=f"a{i}", url=url, original_url=url, source="bench", outlet=f"Outlet {i % 300}",
            country=countries[i % len(countries)], language="en", title=" ".join(body.split()[:9]),
            text=body, published=when, fetched=when,
        )  # fmt: skip
        ms = []
        for k, e in enumerate(chosen):
            score = round(rng.uniform(-1, 1), 2)
            label = "positive" if score > 0.2 else "negative" if score < -0.2 else "neutral"
            ms.append(
                MentionRecord(
                    id=f"a{i}:text:{k}", entity_id=e.id, name=e.name, type=e.type, text=e.name, field="text",
                    start=0, end=1, sentence=e.name, sentiment=Sentiment(score=score, label=label, confidence=0.9),
                )
            )  # fmt: skip
        return Enriched(article=art, language="en", mentions=ms)

    tmp = Path(tempfile.mkdtemp(prefix="search-bench-"))
    try:
        index = FullTextIndex(tmp / "store.search")
        build = prep = 0.0
        for lo in range(0, args.articles, 500):
            t = time.perf_counter()
            docs = [search_document(record(i)) for i in range(lo, min(lo + 500, args.articles))]
            prep += time.perf_counter() - t
            t = time.perf_counter()
            index.write(docs)
            build += time.perf_counter() - t
        size = sum(p.stat().st_size for p in (tmp / "store.search").rglob("*") if p.is_file())
        n = index.count()
        print(f"indexed {n:,} articles ({n * args.mentions:,} mentions) in {build:.1f} s: {n / build:,.0f} articles/s")
        print(f"  (building the records and search documents: {prep:.1f} s; commit every 500 articles)")
        print(f"  index size {size / 2**20:,.0f} MiB ({size / n * 1000 / 2**20:.2f} MiB per 1,000 articles)")
        all_ms = []
        print(f"\n{'query':26} {'hits':>9} {'p50 ms':>8} {'p95 ms':>8}")
        for label, q, kw in QUERIES:
            request = SearchRequest.build(q, **kw)
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                found = index.search(request)
                times.append((time.perf_counter() - t) * 1000)
            all_ms += times
            p95 = statistics.quantiles(times, n=20)[18]
            print(f"{label:26} {found.total:>9,} {statistics.median(times):>8.1f} {p95:>8.1f}")
        p95 = statistics.quantiles(all_ms, n=20)[18]
        print(f"{'all queries':26} {'':>9} {statistics.median(all_ms):>8.1f} {p95:>8.1f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
