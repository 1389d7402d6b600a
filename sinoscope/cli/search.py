"""Commands that find stored coverage: search (and the filters export shares)."""

from __future__ import annotations

import json
import re
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
