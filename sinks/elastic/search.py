"""Full-text search on the stack: the search language (``sinks/search/syntax.py``) compiled to
Elasticsearch's query DSL over the article indices, answering as the embedded index does.

The article mapping (``store.py``) gives ``title``, ``summary`` and ``text`` a ``words`` sub-field
analysed by ``ANALYSIS`` (the same word pattern, lower-casing and ASCII folding as tantivy's), so
a query's tokens, already analysed in Python, are matched as the embedded index matches them:
a word is a ``term``, a phrase a ``match_phrase`` of those tokens, a prefix a ``prefix`` (or a
``match_phrase_prefix``). Filters are filter clauses (no effect on the score).
"""

from __future__ import annotations

from datetime import datetime

from ..search.highlight import snippet
from ..search.request import SearchHits, SearchRequest
from ..search.syntax import TITLE_BOOST, WORD_PATTERN, AllOf, AnyOf, Everything, Node, Without, Words

SNIPPET_CHARS = 200
ANALYSIS = {
    "tokenizer": {"sinoscope_words": {"type": "pattern", "pattern": WORD_PATTERN, "group": 0}},
    "analyzer": {
        "sinoscope_words": {"type": "custom", "tokenizer": "sinoscope_words", "filter": ["lowercase", "asciifolding"]}
    },
}
WORDS = {"words": {"type": "text", "analyzer": "sinoscope_words"}}
ANSWER = ["article_id", "url", "title", "summary", "text", "outlet", "country", "language", "published"]
ANSWER += ["duplicate_of", "entity_tones"]


def _words(w: Words, field: str) -> dict:
    name, toks = f"{field}.words", list(w.tokens)
    boost = {"boost": TITLE_BOOST} if field == "title" else {}
    if len(toks) == 1:
        return {"prefix" if w.prefix else "term": {name: {"value": toks[0], **boost}}}
    kind = "match_phrase_prefix" if w.prefix else "match_phrase"
    return {kind: {name: {"query": " ".join(toks), "analyzer": "whitespace", **boost}}}


def compile_query(node: Node) -> dict:
    if isinstance(node, Everything):
        return {"match_all": {}}
    if isinstance(node, Words):
        per_field = [_words(node, f) for f in node.fields]
        return per_field[0] if len(per_field) == 1 else {"bool": {"should": per_field, "minimum_should_match": 1}}
    if isinstance(node, Without):
        return {"bool": {"must": [{"match_all": {}}], "must_not": [compile_query(node.part)]}}
    if isinstance(node, AllOf):
        must = [compile_query(p) for p in node.parts if not isinstance(p, Without)]
        must_not = [compile_query(p.part) for p in node.parts if isinstance(p, Without)]
        return {"bool": {"must": must or [{"match_all": {}}], **({"must_not": must_not} if must_not else {})}}
    if isinstance(node, AnyOf):
        return {"bool": {"should": [compile_query(p) for p in node.parts], "minimum_should_match": 1}}
    raise TypeError(f"not a search node: {node!r}")


def compile_filters(r: SearchRequest) -> list[dict]:
    out: list[dict] = [{"terms": {name: values}} for name, values in r.keyword_filters()]
    if r.empty_tone_range:
        out.append({"match_none": {}})
    if r.entity_type:
        out.append({"prefix": {"entity_ids": f"{r.entity_type}:"}})
    if r.since or r.until:
        rng = {k: v.isoformat() for k, v in (("gte", r.since), ("lte", r.until)) if v}
        out.append({"range": {"published": rng}})
    return out


def request_body(r: SearchRequest) -> dict:
    """The keyword arguments of ``es.search(index=<prefix>-articles-*, **request_body(r))``."""
    everything = isinstance(r.query, Everything)
    body = {
        "query": {"bool": {"must": [compile_query(r.query)], "filter": compile_filters(r)}},
        "size": r.limit,
        "from_": r.offset,
        "track_total_hits": True,
        "source": ANSWER,
    }
    if everything:
        body["sort"] = [{"published": "desc"}]
    else:
        body["highlight"] = {
            "fields": {f"{f}.words": {} for f in ("text", "summary", "title")},
            "pre_tags": ["<b>"],
            "post_tags": ["</b>"],
            "encoder": "html",
            "fragment_size": SNIPPET_CHARS,
            "number_of_fragments": 1,
        }
    return body


def read_answer(answer: dict, r: SearchRequest) -> SearchHits:
    """The search answer as the embedded index gives it."""
    out = []
    for h in answer["hits"]["hits"]:
        src, marks = h["_source"], h.get("highlight", {})
        found = next((marks[f][0] for f in ("text.words", "summary.words", "title.words") if marks.get(f)), None)
        out.append(
            {
                **{k: src.get(k) or None for k in ("article_id", "url", "title", "outlet", "country", "language")},
                "duplicate_of": src.get("duplicate_of"),
                "published": datetime.fromisoformat(src["published"]),
                "mentions": src.get("entity_tones") or [],
                "score": None if isinstance(r.query, Everything) else round(h["_score"], 4),
                "snippet": found
                or snippet([src.get(f) or "" for f in ("text", "summary", "title")], r.query, SNIPPET_CHARS),
            }
        )
    return SearchHits(total=answer["hits"]["total"]["value"], hits=out)
