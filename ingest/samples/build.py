"""Regenerate the bundled sample feeds from ``articles.yaml`` (and ../shared/seeds/).

    python -m ingest.samples.build [--seeds DIR]

Writes RSS 2.0 (with content:encoded) and Atom 1.0 feeds into ``feeds/``, two article pages
into ``feeds/pages/`` (inside the feeds' folder: a file:// feed may only link there; one of them Shift_JIS under a wrong declared charset, as real sites do), and
``sources.yaml`` pointing at the feeds by relative path. The output is committed; this script
only needs re-running when the articles change.
"""

from __future__ import annotations

import argparse
import html
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import yaml

HERE = Path(__file__).parent
DEFAULT_SEEDS = HERE.parents[1] / ".." / "shared" / "seeds"

FEED_META = {  # outlet, country, language of each sample feed
    "bbc-asia": ("BBC News", "GB", "en"),
    "guardian-china": ("The Guardian", "GB", "en"),
    "scmp-business": ("South China Morning Post", "HK", "en"),
    "nikkei-asia": ("Nikkei Asia", "JP", "en"),
    "reuters-wire": ("Reuters", "GB", "en"),
    "straits-times": ("The Straits Times", "SG", "en"),
    "dw-deutsch": ("Deutsche Welle", "DE", "de"),
    "lemonde-chine": ("Le Monde", "FR", "fr"),
    "elpais-intl": ("El País", "ES", "es"),
    "bbc-chinese": ("BBC News 中文", "GB", "zh"),
    "yonhap-en": ("Yonhap News Agency", "KR", "en"),
    "industry-briefs": ("Influence Matters", "CN", "en"),
    "pages": ("Kyodo News", "JP", "ja"),
}

PAGES = {
    "popmart-aeon.html": (
        "utf-8",
        "utf-8",
        """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Japan's Aeon partners with Pop Mart for Labubu stores | Kyodo News</title></head><body>
<nav><a href="/">Home</a> | <a href="/business">Business</a> | <a href="/login">Log in</a></nav>
<header><h1>Japan's Aeon partners with Pop Mart for Labubu stores</h1><p class="byline">KYODO NEWS - Nov 17, 2026</p></header>
<article>
<p>Japanese retail giant Aeon Co. said Tuesday it will open Pop Mart corners in 40 of its shopping malls across Japan, betting that the craze for the Chinese toy maker's Labubu dolls still has room to grow.</p>
<p>Pop Mart, founded in Beijing in 2010, has become one of the most successful Chinese consumer brands abroad. Its blind-box collectibles have drawn long queues in Tokyo, Osaka and Bangkok, and resale prices for rare figures have soared.</p>
<p>Aeon executives praised the brand's design and its appeal to young shoppers. Some analysts cautioned that collectible fads can fade quickly, but said Pop Mart had so far managed to keep demand fresh with new characters.</p>
<p>The first corners will open in Chiba and Nagoya next month.</p>
</article>
<aside><h3>Most read</h3><ul><li>Yen slides against dollar</li><li>Typhoon nears Okinawa</li></ul></aside>
<footer>© Kyodo News. All rights reserved. <a href="/privacy">Privacy</a></footer>
</body></html>""",
    ),
    # declared charset is wrong (iso-8859-1); the bytes are Shift_JIS
    "dji-shenzhen-ja.html": (
        "iso-8859-1",
        "shift_jis",
        """<!DOCTYPE html><html lang="ja"><head>
<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">
<title>深センのドローン大手、米制裁に反発 | 朝日新聞</title></head><body>
<div id="menu"><a href="/">トップ</a> <a href="/world">国際</a> <a href="/biz">経済</a></div>
<article><h1>深センのドローン大手、米制裁に反発</h1>
<p>中国広東省深セン市に本社を置くドローン最大手のＤＪＩは１０日、米国政府が新型機の販売を事実上禁じる措置を決めたことについて「安全保障を口実にした保護主義だ」と強く反発する声明を発表した。</p>
<p>ＤＪＩは世界の民生用ドローン市場で約７割のシェアを持つ。米国では農業や映像制作、捜索救助の現場で広く使われており、利用者団体からは代替品が見つからないとの懸念の声が上がっている。</p>
<p>深セン市政府も「強い不満」を表明した。同市には華為技術（ファーウェイ）や比亜迪（ＢＹＤ）、騰訊（テンセント）なども本社を置き、ハードウェア産業の集積地として知られる。</p>
</article>
<footer>Copyright The Asahi Shimbun Company. All rights reserved.</footer>
</body></html>""",
    ),
}


def _rfc822(value: str) -> str:
    return value  # kept exactly as written: real feeds carry odd forms, which is the point


def _rss(feed: str, meta: dict, items: list[dict]) -> str:
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/">',
        "<channel>",
        f"<title>{escape(meta['title'])}</title>",
        f"<link>{escape(meta['link'])}</link>",
        f"<description>Sample feed: {escape(meta['title'])}</description>",
        f"<lastBuildDate>{format_datetime(datetime(2026, 11, 20, tzinfo=UTC), usegmt=True)}</lastBuildDate>",
    ]
    for it in items:
        paras = "".join(f"<p>{html.escape(p)}</p>" for p in it["text"].strip().splitlines() if p.strip())
        first = it["text"].strip().splitlines()[0]
        out += [
            "<item>",
            f"<title>{escape(it['title'])}</title>",
            f"<link>{escape(it['url'])}</link>",
            f'<guid isPermaLink="false">{escape(it["guid"])}</guid>',
            f"<pubDate>{escape(_rfc822(it['published']))}</pubDate>",
            f"<dc:creator>{escape(it.get('author', ''))}</dc:creator>",
            f"<description>{escape(first[:300])}</description>",
            f"<content:encoded><![CDATA[{paras}]]></content:encoded>",
            "</item>",
        ]
    out += ["</channel>", "</rss>"]
    return "\n".join(out) + "\n"


def _atom(feed: str, meta: dict, items: list[dict]) -> str:
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<title>{escape(meta['title'])}</title>",
        f'<link href="{escape(meta["link"])}"/>',
        f"<id>urn:sinoscope:sample:{feed}</id>",
        "<updated>2026-11-20T00:00:00Z</updated>",
    ]
    for it in items:
        lang = f' xml:lang="{it["language"]}"' if it.get("language") else ""
        out += [
            f"<entry{lang}>",
            f"<title>{escape(it['title'])}</title>",
            f'<link rel="alternate" href="{escape(it["url"])}"/>',
            f"<id>{escape(it['guid'])}</id>",
            f"<published>{escape(it['published'])}</published>",
            f"<updated>{escape(it['published'])}</updated>",
            f"<author><name>{escape(it.get('author', ''))}</name></author>",
        ]
        if it.get("text"):
            paras = "".join(f"<p>{html.escape(p)}</p>" for p in it["text"].strip().splitlines() if p.strip())
            out.append(f'<content type="html">{escape(paras)}</content>')
        out.append(f"<summary>{escape(it.get('summary') or it['text'].strip().splitlines()[0][:300])}</summary>")
        out.append("</entry>")
    out.append("</feed>")
    return "\n".join(out) + "\n"


def _to_atom_date(value: str) -> str:
    from ingest.dates import parse_date

    dt = parse_date(value)
    return dt.isoformat().replace("+00:00", "Z") if dt else value


def build(seeds: Path) -> None:
    spec = yaml.safe_load((HERE / "articles.yaml").read_text(encoding="utf-8"))
    per_feed: dict[str, list[dict]] = {name: [] for name in spec["feeds"]}
    for i, art in enumerate(spec["articles"]):
        art = dict(art)
        if art.get("seed"):
            art["text"] = (seeds / art["seed"]).read_text(encoding="utf-8")
        art["guid"] = f"sample-{i:03d}"
        placements = {art["feed"]: art["url"], **art.get("also_in", {})}
        for feed, url in placements.items():
            item = dict(art, url=url, guid=f"{art['guid']}-{feed}")
            if spec["feeds"][feed]["format"] == "atom":
                item["published"] = _to_atom_date(item["published"])
                if url.startswith("pages/"):  # relative to feeds/
                    item.pop("text", None)
            per_feed[feed].append(item)
    (HERE / "feeds").mkdir(exist_ok=True)
    sources = []
    for feed, meta in spec["feeds"].items():
        body = (_atom if meta["format"] == "atom" else _rss)(feed, meta, per_feed[feed])
        ext = "atom" if meta["format"] == "atom" else "rss"
        (HERE / "feeds" / f"{feed}.{ext}").write_text(body, encoding="utf-8")
        outlet, country, language = FEED_META[feed]
        sources.append(
            {
                "name": f"sample-{feed}",
                "url": f"feeds/{feed}.{ext}",
                "outlet": outlet,
                "country": country,
                "language": language,
            }
        )
    (HERE / "feeds" / "pages").mkdir(exist_ok=True)
    for name, (_declared, actual, text) in PAGES.items():
        (HERE / "feeds" / "pages" / name).write_bytes(text.encode(actual))
    header = (
        "# The bundled sample corpus: what `sinoscope ingest --once` reads with no configuration.\n"
        "# Generated by `python -m ingest.samples.build`; URLs are relative to this file.\n"
    )
    (HERE / "sources.yaml").write_text(
        header + yaml.safe_dump({"sources": sources}, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    print(f"wrote {len(sources)} feeds, {sum(map(len, per_feed.values()))} entries, {len(PAGES)} pages")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=Path, default=DEFAULT_SEEDS)
    build(ap.parse_args().seeds)
