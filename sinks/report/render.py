"""Draw the report: Plotly figures (plotly.js embedded once, so the file opens offline, with no
CDN) in a Jinja2 page. Sentiment runs from -1 (hostile) to +1 (warm)."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
from jinja2 import Environment, FileSystemLoader, select_autoescape
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from sinks.links import web_url

TEMPLATES = Path(__file__).parent
ALERT_COLOURS = {"sentiment_drop": "#c0392b", "sentiment_rise": "#1e8449", "volume_spike": "#7d3c98"}
CONFIG = {"displaylogo": False, "responsive": True}


def _html(fig: go.Figure, div_id: str) -> str:
    fig.update_layout(
        margin={"l": 50, "r": 20, "t": 40, "b": 40},
        template="plotly_white",
        font={"family": "system-ui, sans-serif", "size": 12},
    )
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=CONFIG)


def ranking_chart(rank: dict, top: int = 15) -> str:
    rows = rank["rows"][:top][::-1]
    fig = go.Figure(
        go.Bar(
            x=[r["index"] for r in rows],
            y=[r["name"] for r in rows],
            orientation="h",
            marker={
                "color": [r["sentiment_mean"] or 0 for r in rows],
                "colorscale": "RdYlGn",
                "cmin": -1,
                "cmax": 1,
                "colorbar": {"title": "tone"},
            },
            customdata=[[r["mentions"], r["outlets"], r["countries"], r["sentiment_mean"] or 0] for r in rows],
            hovertemplate="%{y}: index %{x:.1f}<br>%{customdata[0]} mentions, %{customdata[1]} outlets, "
            "%{customdata[2]} countries<br>mean sentiment %{customdata[3]:+.2f}<extra></extra>",
        )
    )
    fig.update_layout(
        title="City overseas-influence index (colour: tone)",
        height=max(260, 28 * len(rows) + 90),
        xaxis_title="index (0-100)",
    )
    return _html(fig, "chart-ranking")


def entity_chart(ent: dict, n: int) -> str:
    buckets = ent["trend"]["buckets"]
    x = [b["start"] for b in buckets]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Bar(x=x, y=[b["mentions"] for b in buckets], name="mentions", marker_color="#9db4d0"), secondary_y=False
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[b["sentiment_mean"] for b in buckets],
            name="mean sentiment",
            mode="lines+markers",
            line={"color": "#1f3b73"},
        ),
        secondary_y=True,
    )
    for a in ent["alerts"]:
        fig.add_trace(
            go.Scatter(
                x=[a["fired_at"]],
                y=[a["current"]["sentiment_mean"] if a["current"] else 0],
                mode="markers+text",
                marker={
                    "symbol": "triangle-down" if a["kind"] == "sentiment_drop" else "diamond",
                    "size": 14,
                    "color": ALERT_COLOURS.get(a["kind"], "#333"),
                },
                text=[a["kind"].replace("_", " ")],
                textposition="top center",
                name=f"alert: {a['kind']}",
                hovertemplate=f"{a['kind']} fired %{{x}}<extra></extra>",
            ),
            secondary_y=True,
        )
    fig.update_yaxes(title_text="mentions", secondary_y=False, rangemode="tozero")
    fig.update_yaxes(
        title_text="sentiment",
        secondary_y=True,
        range=[-1.05, 1.05],
        zeroline=True,
        tickvals=[-1, -0.5, 0, 0.5, 1],
        showgrid=False,
    )
    fig.update_layout(
        title=f"{ent['name']}: mentions and mean sentiment per {ent['trend']['interval']}",
        height=320,
        legend={"orientation": "h", "y": -0.2},
        bargap=0.15,
    )
    return _html(fig, f"chart-entity-{n}")


def voice_chart(voice: dict) -> str:
    rows = [r for r in voice["entities"] if r["mentions"]]
    fig = go.Figure(
        go.Pie(
            labels=[r["name"] for r in rows],
            values=[r["mentions"] for r in rows],
            hole=0.45,
            sort=False,
            textinfo="label+percent",
        )
    )
    fig.update_layout(title="Share of voice among tracked brands (mentions)", height=340, showlegend=False)
    return _html(fig, "chart-voice")


def coverage_chart(rows: list[dict], by: str) -> str:
    rows = rows[:15]
    fig = go.Figure(
        go.Bar(
            x=[r["key"] or "?" for r in rows],
            y=[r["articles"] for r in rows],
            marker_color="#5d8aa8",
            hovertemplate="%{x}: %{y} articles<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"Coverage by outlet {by} (articles mentioning a tracked city or brand)",
        height=300,
        yaxis_title="articles",
    )
    return _html(fig, f"chart-coverage-{by}")


def render(data: dict) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    env.filters["signed"] = lambda v: "–" if v is None else f"{v:+.2f}"
    env.filters["web_url"] = web_url  # feed links: drawn as links only when http(s); text is autoescaped
    charts = {
        "ranking": ranking_chart(data["rank"]) if data["rank"]["rows"] else "",
        "entities": [entity_chart(e, i) for i, e in enumerate(data["entities"])],
        "voice": voice_chart(data["share_of_voice"]) if data["share_of_voice"]["total"] else "",
        "country": coverage_chart(data["coverage"]["country"], "country") if data["coverage"]["country"] else "",
        "language": coverage_chart(data["coverage"]["language"], "language") if data["coverage"]["language"] else "",
    }
    return env.get_template("template.html.j2").render(d=data, charts=charts, plotlyjs=get_plotlyjs())
