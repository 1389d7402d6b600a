"""A snippet where the engine gives none: tantivy highlights terms and phrases but not prefix
queries (``tariff*``), and an empty query (filters only) has nothing to highlight. The first
passage holding a searched word, HTML-escaped, matches in ``<b>``; else the text's opening."""

from __future__ import annotations

import html
import re

from .syntax import AllOf, AnyOf, Node, Words


def _positive_words(node: Node) -> list[Words]:
    if isinstance(node, Words):
        return [node]
    if isinstance(node, AllOf | AnyOf):
        return [w for p in node.parts for w in _positive_words(p)]
    return []  # Without, Everything


def has_prefix(node: Node) -> bool:
    """Engines' highlighters mark terms and phrases; a prefix (``tariff*``) needs ``snippet``."""
    return any(w.prefix for w in _positive_words(node))


def _pattern(w: Words) -> str:
    parts = [re.escape(t) for t in w.tokens]
    if w.prefix:
        parts[-1] += r"\w*"
    return r"\W*".join(parts)


def snippet(texts: list[str], node: Node, chars: int = 200) -> str:
    words = _positive_words(node)
    pattern = re.compile("|".join(f"(?:{_pattern(w)})" for w in words), re.IGNORECASE) if words else None
    for text in texts:
        m = pattern.search(text) if pattern and text else None
        if m:
            start = max(0, m.start() - chars // 3)
            window = text[start : start + chars]
            out, last = [], 0
            for hit in pattern.finditer(window):
                out += [html.escape(window[last : hit.start()]), "<b>", html.escape(hit.group()), "</b>"]
                last = hit.end()
            return "".join(out) + html.escape(window[last:])
    first = next((t for t in texts if t), "")
    return html.escape(first[:chars])
