"""The search language, written once for every back-end: a query string becomes a small tree
(``Words``, ``AllOf``, ``AnyOf``, ``Without``) that ``sinks/duckdb/search.py`` (tantivy) and
``sinks/elastic/search.py`` (Elasticsearch) each compile, so one query means the same on both.

Lucene's syntax, parsed by luqum: ``AND``, ``OR``, ``NOT`` / ``-`` (``+`` is a no-op),
parentheses, ``"quoted phrases"``, ``tariff*`` (a prefix), ``title:BYD``. Terms side by side
must all match (AND, as in a web search). Curly quotes count as straight ones.

Words are split by ``WORD_PATTERN`` (the same regular expression in tantivy's and
Elasticsearch's analyzers), lower-cased and folded to ASCII (``Zürich`` finds ``Zurich``).
Chinese characters and kana are one token each, so ``成都`` is the phrase 成 都 (it finds 成都市
and not 都成); Katakana runs and Hangul words are whole tokens (``서울*`` finds ``서울에서``).
Nothing is stemmed: ``tariff`` does not find ``tariffs`` (``tariff*`` does).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from sinoscope.core.errors import SinoscopeError

# one pattern for both engines (Rust's regex crate and Java's regex both read \p{sc=...})
WORD_PATTERN = r"[\p{sc=Han}\p{sc=Hiragana}]|[\p{sc=Katakana}\x{30FC}]+|[\p{L}\p{N}\p{M}_]+"
FIELDS = ("title", "summary", "text")  # what a search reads; ``title:`` and ``text:`` narrow it
TITLE_BOOST = 2.0
QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "＂": '"'})


class SearchSyntaxError(SinoscopeError, ValueError):
    """A query the search language cannot read; the message says where and how to fix it."""


@dataclass(frozen=True)
class Words:
    """One word or quoted phrase as tokens (a phrase when several); ``prefix``: the last token
    is a prefix (``tariff*``); ``fields``: where to look."""

    tokens: tuple[str, ...]
    prefix: bool = False
    fields: tuple[str, ...] = FIELDS


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Without:
    """Documents that do not match ``part`` (inside ``AllOf``: AND NOT)."""

    part: Node


@dataclass(frozen=True)
class Everything:
    """An empty query: every document (the filters alone decide)."""


Node = Words | AllOf | AnyOf | Without | Everything


@lru_cache(maxsize=1)
def analyzer():
    """The analyzer both engines use, as tantivy builds it (also what tokenizes query words)."""
    import tantivy

    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(WORD_PATTERN))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .build()
    )


def tokens(text: str) -> list[str]:
    return analyzer().analyze(text)


def parse(query: str) -> Node:
    """The query string as a tree; ``SearchSyntaxError`` says what is wrong."""
    from luqum.parser import parser

    text = (query or "").translate(QUOTES).strip()
    if not text:
        return Everything()
    try:
        tree = parser.parse(text)
    except Exception as exc:  # luqum's ParseError kinds, and ply's own on odd input
        raise SearchSyntaxError(
            f'cannot read the query {query!r}: {exc}. Use words, "quoted phrases", prefix*, AND, OR, NOT, '
            "parentheses and title:/text:"
        ) from exc
    node = _convert(tree, FIELDS)
    if node is None:
        raise SearchSyntaxError(f"the query {query!r} has no word to search for")
    return node


def _convert(t, fields: tuple[str, ...]) -> Node | None:
    from luqum import tree as lt

    if isinstance(t, lt.Group | lt.FieldGroup | lt.Plus):
        return _convert(t.children[0] if isinstance(t, lt.Plus) else t.expr, fields)
    if isinstance(t, lt.SearchField):
        name = t.name.lower()
        if name not in ("title", "text"):
            raise SearchSyntaxError(f"field {t.name!r}: search title: or text: (filters are options: --entity, ...)")
        return _convert(t.expr, ("title",) if name == "title" else ("summary", "text"))
    if isinstance(t, lt.Not | lt.Prohibit):
        inner = _convert(t.children[0], fields)
        return Without(inner) if inner is not None else None
    if isinstance(t, lt.AndOperation | lt.UnknownOperation | lt.OrOperation):
        parts = tuple(p for p in (_convert(c, fields) for c in t.children) if p is not None)
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        kind = AnyOf if isinstance(t, lt.OrOperation) else AllOf
        return kind(tuple(q for p in parts for q in (p.parts if isinstance(p, kind) else (p,))))  # a AND (b AND c)
    if isinstance(t, lt.Phrase):
        toks = tuple(tokens(t.value[1:-1]))
        return Words(toks, False, fields) if toks else None
    if isinstance(t, lt.Word):
        value = t.value
        prefix = value.endswith("*")
        stem = value.rstrip("*")
        if "*" in stem or "?" in stem:
            raise SearchSyntaxError(f"{value!r}: a wildcard may only end a word (tariff*)")
        toks = tuple(tokens(stem))
        if prefix and not toks:
            raise SearchSyntaxError(f"{value!r}: a prefix needs at least one letter or digit before *")
        return Words(toks, prefix, fields) if toks else None
    raise SearchSyntaxError(f"{str(t)!r}: ranges, fuzzy terms, proximity and boosts are not supported")


# -- the tone filter -------------------------------------------------------------------------
# Each stored article carries one keyword per entity it speaks of: ``<entity id>@<tone x 100>``
# (and ``*@<tone x 100>`` for "any entity"), so a tone range is a set of keywords on both engines.
ANY_ENTITY = "*"


def tone_keywords(tones: dict[str, float | None]) -> list[str]:
    """The keywords of an article's article-level tone toward each entity (sinoscope.core.tone)."""
    out = set()
    for eid, score in tones.items():
        if score is not None:
            n = math.floor(score * 100 + 0.5)  # half up, as the embedded store's SQL filter rounds
            out |= {f"{eid}@{n}", f"{ANY_ENTITY}@{n}"}
    return sorted(out)


def tone_range_keywords(lo: float, hi: float, entity_ids: tuple[str, ...] = ()) -> list[str]:
    """Every keyword of tones from ``lo`` to ``hi`` (to the hundredth), toward the entities given
    (or any entity)."""
    first, last = math.ceil(round(lo * 100, 6)), math.floor(round(hi * 100, 6))
    return [f"{e}@{n}" for e in (entity_ids or (ANY_ENTITY,)) for n in range(first, last + 1)]


def parse_tone_range(text: str) -> tuple[float, float]:
    """``-1..-0.3`` -> (-1.0, -0.3); either end may be left open (``..-0.3``, ``0.2..``)."""
    m = re.fullmatch(r"\s*(-?\d*\.?\d*)\s*\.\.\s*(-?\d*\.?\d*)\s*", text or "")
    try:
        lo = float(m.group(1)) if m and m.group(1) else -1.0
        hi = float(m.group(2)) if m and m.group(2) else 1.0
    except ValueError:
        m = None
    if not m or not -1 <= lo <= hi <= 1:
        raise SearchSyntaxError(f"tone range {text!r}: write LOW..HIGH within -1..1, e.g. -1..-0.3 or 0.3..")
    return lo, hi
