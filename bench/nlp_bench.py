"""NLP stage throughput on this machine (2 CPU cores here), printed as figures.

    .venv/bin/python bench/nlp_bench.py [--articles 1000] [--threads 2]

Articles are the bundled sample corpus, multiplied with every mention swapped for another
city or brand of the catalogue, so no two transformer inputs repeat (the tagger dedups
identical ones). Measures: mention finding alone (articles/s, mentions/s); tagging with the
transformer (articles/s, mention sentences/s); the whole stage through the embedded bus
(consume, tag, publish, commit); peak memory.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest.feeds import parse_feed  # noqa: E402
from ingest.normalize import normalize_entry  # noqa: E402
from ingest.sources import load_sources  # noqa: E402
from nlp.sentiment.model import PRECISIONS  # noqa: E402
from nlp.tagger import Tagger  # noqa: E402
from sinoscope.core.settings import load_settings  # noqa: E402


def corpus() -> list[tuple[str, str]]:
    settings = load_settings()
    out = []
    for s in load_sources():
        body = Path(s.url[7:]).read_bytes()
        for e in parse_feed(body, s.url).entries:
            a = normalize_entry(e, s, datetime.now(UTC), settings.ingest)
            if len(a.text) > 200:
                out.append((a.title, a.text))
    return out


def multiply(base, n: int, tagger: Tagger, rng: random.Random) -> list[tuple[str, str]]:
    names = {
        "city": [e.name for e in tagger.catalogue.of_type("city") if "(" not in e.name],
        "brand": [e.name for e in tagger.catalogue.of_type("brand")],
    }
    out = []
    for i in range(n):
        title, text = base[i % len(base)]
        pieces, last = [], 0
        for m in tagger.finder.find(text):
            pieces += [text[last : m.start], rng.choice(names[m.type])]
            last = m.end
        out.append((title, "".join(pieces) + text[last:]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help="The transformer's arithmetic (auto: bf16 where the CPU has it natively, else int8).",
    )
    args = ap.parse_args()
    rng = random.Random(3)
    rows = []
    plain = Tagger(sentiment=False)
    docs = multiply(corpus(), args.articles, plain, rng)
    chars = sum(len(t) + len(x) for t, x in docs)

    t = time.perf_counter()
    found = plain.tag_many([(ti, tx, "en") for ti, tx in docs])
    dt = time.perf_counter() - t
    mentions = sum(len(r.mentions) for r in found)
    rows.append(
        ("mention finding only (language given)", f"{len(docs) / dt:,.0f} articles/s, {mentions / dt:,.0f} mentions/s")
    )
    t = time.perf_counter()
    plain.tag_many([(ti, tx, None) for ti, tx in docs])
    dt = time.perf_counter() - t
    rows.append(("mention finding + language detection", f"{len(docs) / dt:,.0f} articles/s"))

    full = Tagger(threads=args.threads, precision=args.precision)
    full.tag("warm-up: BYD is doing well.")
    n, per_call = min(len(docs), 512), load_settings().nlp.batch_articles
    t = time.perf_counter()
    for i in range(0, n, per_call):
        full.tag_many([(ti, tx, None) for ti, tx in docs[i : i + per_call]])
    dt = time.perf_counter() - t
    sents = sum(len(r.mentions) for r in found[:n])
    rows.append(
        (
            f"tagging with the transformer ({full.model.precision}, {args.threads} threads, {per_call} articles a call)",
            f"{n / dt:,.1f} articles/s, {sents / dt:,.0f} mention sentences/s",
        )
    )

    from nlp.stage import enrich_stage
    from sinoscope.core.bus.embedded import EmbeddedBus
    from sinoscope.core.schemas import Article, article_id_for

    settings = load_settings(data_dir=Path(tempfile.mkdtemp()))
    bus = EmbeddedBus(settings.path("bus.sqlite"))
    now = datetime.now(UTC)
    for i, (ti, tx) in enumerate(docs[:n]):
        url = f"https://bench.example.com/{i}"
        a = Article(
            id=article_id_for(url),
            url=url,
            original_url=url,
            source="b",
            outlet="B",
            country="GB",
            language="en",
            title=ti,
            text=tx,
            published=now,
            fetched=now,
        )
        bus.publish("articles", a.id, a.to_json())
    bus.flush()
    fresh = Tagger(threads=args.threads, precision=args.precision)  # not `full`: it remembers these answers
    fresh.tag("warm-up: BYD is doing well.")
    stage = enrich_stage(bus, settings, fresh)
    t = time.perf_counter()
    stats = stage.run(until_idle=True, poll_timeout_s=0.05)
    dt = time.perf_counter() - t
    bus.close()
    rows.append(("whole stage: consume, tag (transformer), publish, commit", f"{stats.outputs / dt:,.1f} articles/s"))

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\nsinoscope NLP benchmark: {len(docs)} articles, {chars / len(docs):,.0f} characters and "
        f"{mentions / len(docs):.1f} mentions per article on average"
    )
    for name, value in rows:
        print(f"  {name:<72} {value}")
    print(f"  {'peak memory (max RSS)':<72} {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
