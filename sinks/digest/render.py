"""The digest drawn three ways from one dict (``flows/digest.py``): plain text, an HTML page that
mail clients show (inline styles, no script), and Slack's blocks. Feed text is escaped in each."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from sinks.alerts.webhook import slack_text
from sinks.links import web_url

TEMPLATES = Path(__file__).parent


def title(d: dict) -> str:
    return f"Sinoscope {'daily' if d['period'] == 'day' else 'weekly'} digest: {d['since'][:10]} to {d['until'][:10]}"


def _signed(v) -> str:
    return "–" if v is None else f"{v:+.2f}"


def text(d: dict) -> str:
    t = d["totals"]
    out = [title(d), "", f"{t['articles_with_mentions']} articles naming a tracked city or brand ({t['mentions']} mentions) "
           f"from {t['outlets']} outlets in {t['countries']} countries."]  # fmt: skip
    out += ["", "Volume movers (mentions, against the period before):"]
    out += [f"  {m['name']}: {m['mentions']} ({m['change']:+d})" for m in d["volume_movers"]] or ["  none"]
    out += ["", "Tone movers (mean tone toward each, against the period before):"]
    out += [f"  {m['name']}: {_signed(m['sentiment_mean'])} ({m['change']:+.2f})" for m in d["tone_movers"]] or [
        "  none"
    ]
    for e in d["entities"]:
        out += ["", f"{e['name']}: {e['mentions']} mentions, mean tone {_signed(e['sentiment_mean'])}"]
        for label, rows in (("most negative", e["negative"]), ("most positive", e["positive"])):
            for s in rows:
                out.append(f"  [{label}] {s['title']} ({s['outlet']}, {s['sentiment']:+.2f}) {s['url']}")
    out += ["", "Alerts fired:"]
    out += [f"  {a['fired_at'][:16]} {a['name']}: {a['kind'].replace('_', ' ')}" for a in d["alerts"]] or ["  none"]
    if d["discovered"]:
        out += ["", "Chinese companies in the news, not in the catalogue (sinoscope nlp discover):"]
        out += [f"  {c['name']} ({c['count']} times)" for c in d["discovered"]]
    s = d["sources"]
    out += ["", "Sources: " + (", ".join(f"{n} {k}" for k, n in sorted(s["counts"].items())) or "none polled")]
    out += [f"  FLAGGED {f['name']}: {f['status']} since {(f['since'] or '')[:16]}: {f['error']}" for f in s["flagged"]]
    return "\n".join(out) + "\n"


def html(d: dict) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    env.filters["signed"] = _signed
    env.filters["web_url"] = web_url
    return env.get_template("digest.html.j2").render(d=d, title=title(d))


def slack(d: dict) -> dict:
    t = d["totals"]
    lines = [f"*{slack_text(title(d))}*", f"{t['articles_with_mentions']} articles, {t['mentions']} mentions"]
    if d["volume_movers"]:
        lines.append("Volume: " + ", ".join(f"{slack_text(m['name'])} {m['change']:+d}" for m in d["volume_movers"]))
    if d["tone_movers"]:
        lines.append("Tone: " + ", ".join(f"{slack_text(m['name'])} {m['change']:+.2f}" for m in d["tone_movers"]))
    for e in d["entities"]:
        for s in (e["negative"] + e["positive"])[:2]:
            url, name = web_url(s["url"]), slack_text(s["title"] or s["url"])
            story = f"<{slack_text(url)}|{name}>" if url else name
            lines.append(f"• {slack_text(e['name'])}: {story} ({s['sentiment']:+.2f})")
    if d["alerts"]:
        lines.append(f"Alerts: {len(d['alerts'])} fired")
    flagged = d["sources"]["flagged"]
    if flagged:
        lines.append("Failing sources: " + ", ".join(slack_text(f["name"]) for f in flagged))
    return {"text": title(d), "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}]}
