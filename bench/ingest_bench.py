"""Ingest throughput on this machine, printed as figures (not a test: nothing here can fail).

    .venv/bin/python bench/ingest_bench.py [--feeds 40] [--entries 100] [--pages 200] [--messages 20000]

Measures: feed entries parsed+normalised per second (local RSS files), a whole ingest pass
(parse, dedup incl. MinHash, publish, record) per second, article pages extracted per second
(trafilatura on realistic 25 KB pages), embedded bus messages per second produced and consumed
(3 KB JSON values), and the process's peak memory.
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

from ingest.extract import extract_article  # noqa: E402
from ingest.feeds import parse_feed  # noqa: E402
from ingest.normalize import normalize_entry  # noqa: E402
from ingest.runner import IngestRunner  # noqa: E402
from ingest.sources import Source  # noqa: E402
from sinoscope.core.bus.embedded import EmbeddedBus  # noqa: E402
from sinoscope.core.settings import load_settings  # noqa: E402

WORDS = (
    "china city brand export market electric vehicle battery factory tourism policy investment "
    "growth shares analysts said company government officials visitors record quarter sales"
).split()


def sentence(rng: random.Random, n: int = 18) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def make_feeds(root: Path, feeds: int, entries: int, rng: random.Random) -> list[Source]:
    out = []
    for f in range(feeds):
        items = []
        for e in range(entries):
            body = "".join(f"<p>{sentence(rng)} {sentence(rng)}</p>" for _ in range(8))
            items.append(
                f"<item><title>Story {f}-{e}: {sentence(rng, 8)}</title>"
                f"<link>https://bench.example.com/{f}/{e}?utm_source=rss</link>"
                f"<pubDate>Mon, 09 Nov 2026 10:{e % 60:02d}:00 GMT</pubDate>"
                f"<description>{sentence(rng)}</description>"
                f"<content:encoded><![CDATA[{body}]]></content:encoded></item>"
            )
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>b</title>'
            f"<link>https://bench.example.com/</link><description>d</description>{''.join(items)}</channel></rss>"
        )
        path = root / f"feed{f}.xml"
        path.write_text(xml)
        out.append(Source(name=f"bench-{f}", url=path.as_uri(), outlet="Bench", country="GB", language="en"))
    return out


def page(rng: random.Random) -> bytes:
    nav = "".join(f"<li><a href='/s{i}'>Section {i}</a></li>" for i in range(40))
    paras = "".join(f"<p>{sentence(rng, 30)} {sentence(rng, 25)}</p>" for _ in range(25))
    side = "".join(f"<li>{sentence(rng, 6)}</li>" for _ in range(30))
    return (
        f"<html><head><meta charset='utf-8'><title>{sentence(rng, 6)}</title></head><body><nav><ul>{nav}</ul></nav>"
        f"<article><h1>{sentence(rng, 8)}</h1>{paras}</article><aside><ul>{side}</ul></aside>"
        "<footer>Copyright. Privacy. Cookies.</footer></body></html>"
    ).encode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", type=int, default=40)
    ap.add_argument("--entries", type=int, default=100)
    ap.add_argument("--pages", type=int, default=200)
    ap.add_argument("--messages", type=int, default=20000)
    args = ap.parse_args()
    rng = random.Random(7)
    tmp = Path(tempfile.mkdtemp(prefix="sinoscope-bench-"))
    (tmp / "feeds").mkdir()
    sources = make_feeds(tmp / "feeds", args.feeds, args.entries, rng)
    settings = load_settings(data_dir=tmp / "data", ingest={"per_host_interval_s": 0, "workers": 2})
    n_entries = args.feeds * args.entries
    rows = []

    t = time.perf_counter()
    now = datetime.now(UTC)
    for s in sources:
        body = Path(s.url[7:]).read_bytes()
        for entry in parse_feed(body, s.url, "application/rss+xml").entries:
            normalize_entry(entry, s, now, settings.ingest)
    dt = time.perf_counter() - t
    rows.append(("feed entries parsed + normalised", n_entries / dt, "entries/s"))

    bus = EmbeddedBus(settings.path("bus.sqlite"))
    runner = IngestRunner(settings, bus)
    t = time.perf_counter()
    summary = runner.run(sources)
    dt = time.perf_counter() - t
    runner.close()
    bus.close()
    assert summary.new_articles == n_entries, summary
    rows.append(("whole ingest pass (parse, dedup, publish, record)", n_entries / dt, "articles/s"))

    pages = [page(rng) for _ in range(args.pages)]
    t = time.perf_counter()
    ok = sum(1 for p in pages if not extract_article(p, "https://bench.example.com/p", "text/html").error)
    dt = time.perf_counter() - t
    rows.append(
        (
            f"pages extracted (trafilatura, {len(pages[0]) // 1024} KB each, {ok}/{len(pages)} ok)",
            len(pages) / dt,
            "pages/s",
        )
    )

    bus = EmbeddedBus(tmp / "bench-bus.sqlite")
    value = ("{" + '"text": "' + "x" * 3000 + '"}').encode()
    t = time.perf_counter()
    for i in range(args.messages):
        bus.publish("bench", f"k{i}", value)
        if i % 500 == 499:
            bus.flush()
    bus.flush()
    dt = time.perf_counter() - t
    rows.append(("embedded bus produce (3 KB, durable flush per 500)", args.messages / dt, "msg/s"))
    t = time.perf_counter()
    got = 0
    with bus.consumer("bench", ["bench"]) as c:
        while batch := c.poll(max_records=500, timeout_s=0):
            got += len(batch)
            c.commit(batch)
    dt = time.perf_counter() - t
    bus.close()
    assert got == args.messages
    rows.append(("embedded bus consume + commit per 500", got / dt, "msg/s"))

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nsinoscope ingest benchmark ({args.feeds} feeds x {args.entries} entries, {args.pages} pages)")
    for name, rate, unit in rows:
        print(f"  {name:<62} {rate:>10,.0f} {unit}")
    print(f"  {'peak memory (max RSS)':<62} {peak:>10,.0f} MiB")


if __name__ == "__main__":
    main()
