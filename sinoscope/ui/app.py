"""The local web app (``sinoscope ui``, and part of ``serve``): server-rendered pages over the same
query layer as the CLI (embedded or Elasticsearch), so a page and a command never disagree.

Pages: search (``/``), an entity (``/entity/<id>``: volume and tone over time with the alerts that
fired marked, top stories, breakdowns, related entities), the ranking (``/rank``), alerts and their
delivery (``/alerts``) and source health (``/sources``). Every page is a GET whose query string
holds its state (a URL to share), and links the CSV of what it shows (``/csv/<page>?<same query>``).
Plain HTML forms; charts are Plotly's, drawn by the report's own chart code, its script served
from the installed package (no CDN). Text from feeds is escaped by the templates; snippets come
escaped from the search engines with matches in ``<b>``.
"""

from __future__ import annotations

import csv
import io
import tempfile
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from nlp.entities.catalogue import load_catalogue
from sinks.base import StoreError
from sinks.links import web_url
from sinks.query import open_queries, parse_since
from sinks.report.data import fired_alerts
from sinks.report.render import entity_chart, ranking_chart
from sinks.search.request import SearchRequest
from sinks.search.syntax import SearchSyntaxError
from sinoscope.core.settings import Settings

TEMPLATES = Path(__file__).parent / "templates"
PAGE = 20


class BadRequest(ValueError):
    """A parameter the page cannot use; shown on the page with status 400."""


@lru_cache(maxsize=1)
def _plotly_js() -> bytes:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode()


def create_app(settings: Settings) -> Starlette:
    catalogue = load_catalogue(settings.nlp.catalogues)
    names = {e.id: e.name for e in catalogue.entities.values()}
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    env.filters["signed"] = lambda v: "–" if v is None else f"{v:+.2f}"
    env.filters["web_url"] = web_url

    def since_of(request: Request, default: str | None) -> datetime | None:
        value = request.query_params.get("since") or default
        try:
            return parse_since(value) if value else None
        except ValueError as exc:
            raise BadRequest(f"since {value!r}: use 30d, 12h, 8w or an ISO date") from exc

    def entity_of(value: str):
        e = catalogue.resolve(value)
        if e is None:
            raise BadRequest(f"no city or brand called {value!r}")
        return e

    def search_request(request: Request, limit: int = PAGE) -> SearchRequest:
        p = request.query_params
        until = p.get("until")
        try:
            return SearchRequest.build(
                p.get("q", ""),
                entity_ids=[entity_of(v).id for v in p.getlist("entity") if v],
                entity_type=p.get("type") or None,
                countries=[v for v in p.getlist("country") if v],
                languages=[v for v in p.getlist("language") if v],
                outlets=[v for v in p.getlist("outlet") if v],
                since=since_of(request, None),
                until=parse_since(until) if until else None,
                tone=p.get("sentiment") or None,
                limit=limit,
                offset=max(0, int(p.get("offset") or 0)),
            )
        except (SearchSyntaxError, ValueError) as exc:
            raise BadRequest(str(exc)) from exc

    def page(name: str, request: Request, status: int = 200, **ctx) -> HTMLResponse:
        q = str(request.url.query)
        html = env.get_template(f"{name}.html.j2").render(
            page=name,
            query=q,
            csv_url=f"/csv/{request.url.path.strip('/') or 'search'}" + (f"?{q}" if q else ""),
            **ctx,
        )
        return HTMLResponse(html, status_code=status)

    def guarded(name: str, build):
        """A page's handler: its context from ``build``; a bad parameter or a store that does not
        answer is shown on the page (400 / 503), never a stack trace."""

        def endpoint(request: Request) -> Response:
            try:
                return page(name, request, **build(request))
            except BadRequest as exc:
                return page("error", request, 400, title="Cannot show this", message=str(exc))
            except StoreError as exc:
                return page("error", request, 503, title="The store did not answer", message=f"{exc} ({exc.where})")

        return endpoint

    # -- pages -----------------------------------------------------------------------------------
    def search_ctx(request: Request) -> dict:
        req = search_request(request)
        q = open_queries(settings)
        try:
            found = q.search(req)
        finally:
            q.close()
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "offset"]
        nxt = req.offset + PAGE if req.offset + PAGE < found["total"] else None
        return {
            "title": "Search",
            "p": request.query_params,
            "found": found,
            "req": req,
            "next_url": "/?" + urlencode(params + [("offset", nxt)]) if nxt is not None else None,
            "prev_url": "/?" + urlencode(params + [("offset", max(0, req.offset - PAGE))]) if req.offset else None,
        }

    def entity_ctx(request: Request) -> dict:
        e = entity_of(request.path_params["entity"])
        since = since_of(request, "90d")
        now = datetime.now(UTC)
        interval = request.query_params.get("interval") or ("1d" if now - since <= timedelta(days=120) else "1w")
        tz = request.query_params.get("tz") or "UTC"
        q = open_queries(settings)
        try:
            try:
                trend = q.trend(e.id, e.name, since, interval, until=now, tz=tz)
            except ValueError as exc:
                raise BadRequest(str(exc)) from exc
            ent = {
                "entity_id": e.id,
                "name": e.name,
                "type": e.type,
                "trend": trend,
                "alerts": [a for a in fired_alerts(settings, since) if a["entity_id"] == e.id],
                "negative": q.stories(e.id, since, negative=True, limit=5)["stories"],
                "positive": q.stories(e.id, since, negative=False, limit=5)["stories"],
                "splits": {by: q.breakdown(e.id, since, by)["rows"][:10] for by in ("outlet", "country", "language")},
                "related": q.related(e.id, names, since)["rows"],
            }
        finally:
            q.close()
        return {"title": e.name, "e": ent, "chart": entity_chart(ent, 0), "since": since, "interval": interval}

    def rank_ctx(request: Request) -> dict:
        kind = request.query_params.get("type") or "city"
        if kind not in ("city", "brand"):
            raise BadRequest(f"type {kind!r}: city or brand")
        since = since_of(request, "90d")
        q = open_queries(settings)
        try:
            rank = q.rank({k: v for k, v in names.items() if k.startswith(kind)}, since, kind)
        finally:
            q.close()
        chart = ranking_chart(rank) if rank["rows"] else ""
        return {"title": f"{kind.title()} ranking", "rank": rank, "kind": kind, "chart": chart, "since": since}

    def alerts_ctx(request: Request) -> dict:
        since = since_of(request, "3650d")
        return {"title": "Alerts", "alerts": fired_alerts(settings, since), "since": since}

    def sources_ctx(request: Request) -> dict:
        from sinoscope.status import sources

        return {"title": "Sources", "health": sources(settings).get("source_health", [])}

    # -- CSV of each page ------------------------------------------------------------------------
    def csv_rows(rows: list[dict], columns: tuple[str, ...], filename: str) -> Response:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
        w.writeheader()  # a header row even when there is nothing to list
        w.writerows(rows)
        return Response(buf.getvalue(), media_type="text/csv", headers=_attachment(filename))

    def csv_export(kind: str, request: Request, filename: str, req=None, **args) -> Response:
        tmp = Path(tempfile.mkstemp(suffix=".csv")[1])
        q = open_queries(settings)
        try:
            q.export(kind, req, "csv", tmp, **args)
        finally:
            q.close()
        return FileResponse(
            tmp, media_type="text/csv", headers=_attachment(filename), background=BackgroundTask(tmp.unlink)
        )

    def csv_endpoint(build):
        def endpoint(request: Request) -> Response:
            try:
                return build(request)
            except BadRequest as exc:
                return Response(str(exc), status_code=400, media_type="text/plain")
            except StoreError as exc:
                return Response(str(exc), status_code=503, media_type="text/plain")

        return endpoint

    def csv_search(request):
        return csv_export("articles", request, "search.csv", search_request(request))

    def csv_entity(request):
        e = entity_of(request.path_params["entity"])
        ctx_since = since_of(request, "90d")
        interval = request.query_params.get("interval") or "1d"
        tz = request.query_params.get("tz") or "UTC"
        args = {"entity_id": e.id, "name": e.name, "since": ctx_since, "interval": interval, "tz": tz}
        return csv_export("trend", request, f"{e.id.replace(':', '-')}-trend.csv", **args)

    def csv_rank(request):
        kind = request.query_params.get("type") or "city"
        args = {"names": names, "since": since_of(request, "90d"), "entity_type": kind}
        return csv_export("rank", request, f"{kind}-ranking.csv", **args)

    def csv_alerts(request):
        rows = fired_alerts(settings, since_of(request, "3650d"))
        return csv_rows(rows, ("id", "entity_id", "name", "kind", "fired_at", "delivered"), "alerts.csv")

    def csv_sources(request):
        from sinoscope.status import sources

        cols = ("name", "status", "since", "last_success", "last_fetch", "error", "articles", "next_poll_after")
        return csv_rows(sources(settings).get("source_health", []), cols, "sources.csv")

    def plotly(request: Request) -> Response:
        return Response(_plotly_js(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    routes = [
        Route("/", guarded("search", search_ctx)),
        Route("/entity/{entity}", guarded("entity", entity_ctx)),
        Route("/rank", guarded("rank", rank_ctx)),
        Route("/alerts", guarded("alerts", alerts_ctx)),
        Route("/sources", guarded("sources", sources_ctx)),
        Route("/csv/search", csv_endpoint(csv_search)),
        Route("/csv/entity/{entity}", csv_endpoint(csv_entity)),
        Route("/csv/rank", csv_endpoint(csv_rank)),
        Route("/csv/alerts", csv_endpoint(csv_alerts)),
        Route("/csv/sources", csv_endpoint(csv_sources)),
        Route("/static/plotly.min.js", plotly),
    ]
    return Starlette(routes=routes)


def _attachment(filename: str) -> dict:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}
