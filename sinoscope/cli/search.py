"""Commands that find and take out stored coverage: search and export (one set of filters)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from .core import _ask, _entity, _since, app, console, fail

QueryArg = typer.Argument(
    "",
    help='Words, "quoted phrases", prefix*, AND, OR, NOT (or -word), parentheses, title:/text: '
    "(words side by side must all match). Empty: everything the filters let through.",
)
EntityOpt = typer.Option(
    None, "--entity", help="Only articles mentioning this city or brand (id or alias; repeat: any)."
)
TypeOpt = typer.Option(None, "--type", help="Only articles mentioning a city, or a brand.")
OutletOpt = typer.Option(None, "--outlet", help="Only this outlet (repeat: any).")
CountryOpt = typer.Option(None, "--country", help="Only outlets of this country code, e.g. DE (repeat: any).")
LanguageOpt = typer.Option(None, "--language", help="Only articles in this language code, e.g. de (repeat: any).")
SinceOpt = typer.Option(None, "--since", help="Published since: 30d, 12h, 8w or an ISO date (default: all).")
UntilOpt = typer.Option(None, "--until", help="Published until (an ISO date or 30d ago).")
ToneOpt = typer.Option(
    None,
    "--sentiment",
    help="The article's tone toward the --entity (or any entity) in LOW..HIGH, e.g. -1..-0.3 or 0.3..",
)


def search_request(query, entity, kind, outlet, country, language, since, until, sentiment, limit=20, offset=0):
    """The options as a validated ``SearchRequest`` (search and export read the same filters)."""
    from sinks.search.request import SearchRequest
    from sinks.search.syntax import SearchSyntaxError

    try:
        return SearchRequest.build(
            query,
            entity_ids=[_entity(e).id for e in entity or []],
            entity_type=kind,
            outlets=outlet or [],
            countries=country or [],
            languages=language or [],
            since=_since(since) if since else None,
            until=_since(until) if until else None,
            tone=sentiment,
            limit=limit,
            offset=offset,
        )
    except SearchSyntaxError as exc:
        fail(str(exc), "see `sinoscope search --help` and docs/queries.md#search")


@app.command()
def search(
    query: str = QueryArg,
    entity: Optional[list[str]] = EntityOpt,
    kind: Optional[str] = TypeOpt,
    outlet: Optional[list[str]] = OutletOpt,
    country: Optional[list[str]] = CountryOpt,
    language: Optional[list[str]] = LanguageOpt,
    since: Optional[str] = SinceOpt,
    until: Optional[str] = UntilOpt,
    sentiment: Optional[str] = ToneOpt,
    limit: int = typer.Option(20, "--limit", help="Hits to show."),
    offset: int = typer.Option(0, "--offset", help="Hits to skip (the next page)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Search stored articles: best matches first, with highlighted snippets and each entity's tone.

    Example: sinoscope search 'BYD AND (tariff OR tariffs) NOT Tesla' --country DE --since 30d"""
    request = search_request(query, entity, kind, outlet, country, language, since, until, sentiment, limit, offset)
    out = _ask("search", request)
    if as_json:
        print(json.dumps(out, ensure_ascii=False))
        return
    if not out["hits"]:
        console.print(f"no article matches {query!r}" if query else "no article matches these filters")
        return
    n = out["total"]
    console.print(f"{n} article{'s' if n != 1 else ''}" + (f" match {query!r}" if query else "") + ", best first:")
    for i, h in enumerate(out["hits"], request.offset + 1):
        ents = ", ".join(
            f"{m['name']} {m['sentiment']:+.2f}" if m["sentiment"] is not None else m["name"] for m in h["mentions"]
        )
        console.print(
            f"\n[bold]{i}. {escape(h['title'] or '(no title)')}[/bold]\n"
            f"   {escape(h['outlet'] or '')} ({h['country']}, {h['language']}), {h['published'][:10]}  {h['url']}\n"
            f"   {_marked(h['snippet'])}\n"
            f"   [dim]tone toward: {escape(ents) or '-'}[/dim]",
            highlight=False,
        )


def _marked(snippet: str) -> str:
    """A snippet's HTML (matches in <b>) as console markup."""
    import html

    parts = re.split(r"(</?b>)", snippet)
    return "".join({"<b>": "[bold]", "</b>": "[/bold]"}.get(p) or escape(html.unescape(p)) for p in parts)


@app.command()
def export(
    what: str = typer.Argument(..., help="articles, mentions, trend or rank"),
    query: str = typer.Argument("", help="articles/mentions: a search (as `sinoscope search`); trend: the entity."),
    out: Path = typer.Option(..., "--out", help="The file to write (replaced whole when done)."),
    fmt: Optional[str] = typer.Option(None, "--format", help="csv, parquet or jsonl (default: from --out's suffix)."),
    entity: Optional[list[str]] = EntityOpt,
    kind: Optional[str] = TypeOpt,
    outlet: Optional[list[str]] = OutletOpt,
    country: Optional[list[str]] = CountryOpt,
    language: Optional[list[str]] = LanguageOpt,
    since: Optional[str] = SinceOpt,
    until: Optional[str] = UntilOpt,
    sentiment: Optional[str] = ToneOpt,
    interval: str = typer.Option("1d", "--interval", help="trend: the bucket size (as `sinoscope trend`)."),
    duplicates: bool = typer.Option(False, "--duplicates", help="trend/rank: count syndicated copies too."),
    tz: str = typer.Option("UTC", "--tz", help="trend: the buckets' time zone (as `sinoscope trend`)."),
) -> None:
    """Export stored articles or mentions (with search's query and filters), a trend or a ranking
    as CSV (with a header row), Parquet or JSON lines; large exports stream in constant memory.

    Example: sinoscope export mentions --entity BYD --since 365d --out byd.csv"""
    from sinks.export import FORMATS

    suffix = out.suffix.lstrip(".").lower()
    fmt = fmt or {"json": "jsonl", "ndjson": "jsonl", "pq": "parquet"}.get(suffix, suffix)
    if fmt not in FORMATS:
        fail(f"format {fmt!r}", "pass --format csv, parquet or jsonl (or an --out ending .csv, .parquet, .jsonl)")
    if what in ("articles", "mentions"):
        request = search_request(query, entity, kind, outlet, country, language, since, until, sentiment)
        rows = _ask("export", what, request, fmt, out)
    elif what == "trend":
        if not query:
            fail("export trend needs the entity", "e.g. sinoscope export trend Chengdu --interval 1M --out t.csv")
        e = _entity(query)
        trend_args = {"entity_id": e.id, "name": e.name, "since": _since(since or "30d"), "interval": interval}
        trend_args |= {"include_duplicates": duplicates, "until": _since(until) if until else None, "tz": tz}
        rows = _ask("export", "trend", None, fmt, out, **trend_args)
    elif what == "rank":
        from nlp.entities.catalogue import load_catalogue

        from .core import state

        names = {x.id: x.name for x in load_catalogue(state.settings.nlp.catalogues).entities.values()}
        rank_args = {"names": names, "since": _since(since or "90d"), "entity_type": kind or "city"}
        rows = _ask("export", "rank", None, fmt, out, **rank_args, include_duplicates=duplicates)
    else:
        fail(f"export {what!r}", "export articles, mentions, trend or rank")
    console.print(f"wrote {rows:,} {what} rows to {out} ({fmt})")
