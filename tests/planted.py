"""A replayable corpus with a planted swing: RSS feeds (file://) in which Chengdu has four
weeks of warm coverage and then two days of bad news, while Hangzhou stays warm throughout."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

POSITIVE = [
    "{c} won praise from foreign investors for its thriving technology parks and rising exports.",
    "Visitors said {c} was a delight, with clean streets, friendly people and superb food.",
    "{c} opened a new metro line ahead of schedule, a success welcomed by commuters.",
    "Analysts hailed {c} as one of the most dynamic and livable cities in Asia.",
    "{c} reported strong growth as new factories brought thousands of well-paid jobs.",
]
NEGATIVE = [
    "{c} was condemned by rights groups over a brutal crackdown on peaceful protesters.",
    "A corruption scandal in {c} exposed officials who stole millions from the poor.",
    "Residents of {c} protested angrily after toxic chemicals poisoned the water supply.",
    "Investors fled {c} after a string of bankruptcies and mass layoffs.",
]
WORDS = (
    "ledger harbour quarterly survey lantern archive meridian tariff orchard bulletin canal "
    "census granary pavilion terrace almanac ferry kiln loom quarry"
).split()
OUTLETS = [
    ("planted-wire", "Planted Wire", "GB"),
    ("planted-daily", "Planted Daily", "US"),
    ("planted-post", "Planted Post", "AU"),
]


def _filler(rng: random.Random) -> str:
    a, b, c = rng.sample(WORDS, 3)
    return (
        f"The {a} report ran to {rng.randint(10, 900)} pages and cited a {b} study from {rng.randint(1990, 2025)}. "
        f"Its {c} appendix listed {rng.randint(2, 80)} further items for review."
    )


def write_corpus(root: Path, now: datetime, days: int = 28, per_day: int = 4, window_n: int = 14) -> Path:
    rng = random.Random(7)
    items: dict[str, list[str]] = {o[0]: [] for o in OUTLETS}
    n = 0

    def add(city: str, when: datetime, sentence: str) -> None:
        nonlocal n
        n += 1
        outlet = OUTLETS[n % len(OUTLETS)][0]
        text = f"{sentence.format(c=city)} {_filler(rng)}"
        items[outlet].append(
            f"<item><title>{escape(city)} dispatch {n}</title><link>https://planted.example/{outlet}/{n}</link>"
            f"<guid>https://planted.example/{outlet}/{n}</guid><pubDate>{format_datetime(when)}</pubDate>"
            f"<description>{escape(text[:60])}</description><content:encoded>{escape(text)}</content:encoded></item>"
        )

    for city in ("Chengdu", "Hangzhou"):
        for d in range(days):
            for k in range(per_day):
                add(city, now - timedelta(days=d + 2, hours=3 * k + 1), rng.choice(POSITIVE))
        pool = NEGATIVE if city == "Chengdu" else POSITIVE
        for i in range(window_n):
            add(city, now - timedelta(hours=40 * (i + 0.5) / window_n), pool[i % len(pool)])
    root.mkdir(parents=True, exist_ok=True)
    lines = ["sources:"]
    for name, outlet, country in OUTLETS:
        (root / f"{name}.rss").write_text(
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>'
            + outlet
            + "</title><link>https://planted.example/</link><description>test</description>"
            + "".join(items[name])
            + "</channel></rss>",
            encoding="utf-8",
        )
        lines += [
            f"- name: {name}",
            f"  url: {name}.rss",
            f"  outlet: {outlet}",
            f"  country: {country}",
            "  language: en",
        ]
    (root / "sources.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root / "sources.yaml"
