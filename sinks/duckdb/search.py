"""Full-text search on the embedded default: a tantivy index beside the DuckDB file.

Why tantivy (its official Python bindings): a real search engine in-process, BM25 ranking with
top-k pruning, phrase and prefix queries, snippets, and a file format that a reader in another
process sees as soon as a writer commits. (DuckDB's FTS extension cannot be installed offline;
SQLite FTS5 ranks by scoring every match, slow on common words over 200k articles.)

The store writes here inside its own transaction (``DuckDBStore.write``): documents are replaced
by article id (a replay changes nothing) and committed before the DuckDB commit, so a failure
rolls the batch back and the stage retries it whole. Like DuckDB's file, the index takes one
writer at a time: a writer opens it per batch and waits for another process's writer to finish.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from pathlib import Path

import tantivy

from ..search.highlight import has_prefix, snippet
from ..search.request import SearchHits, SearchRequest
from ..search.syntax import TITLE_BOOST, AllOf, AnyOf, Everything, Node, Without, Words, analyzer

TOKENIZER = "sinoscope_words"
_RAW = ("article_id", "url", "outlet", "country", "language", "duplicate_of", "entity_ids", "tone_keywords")
_ANSWER = ("article_id", "url", "title", "outlet", "country", "language", "duplicate_of")
WRITER_HEAP = 50_000_000
SNIPPET_CHARS = 200


def _schema() -> tantivy.Schema:
    b = tantivy.SchemaBuilder()
    for name in _RAW:
        b.add_text_field(name, stored=name not in ("entity_ids", "tone_keywords"), tokenizer_name="raw")
    for name in ("title", "summary", "text"):
        b.add_text_field(name, stored=True, tokenizer_name=TOKENIZER)
    b.add_date_field("published", stored=True, indexed=True, fast=True)
    b.add_bytes_field("mentions", stored=True, indexed=False)
    return b.build()


class FullTextIndex:
    """The search documents (``sinks/search/document.py``) of one embedded store."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.schema = _schema()
        exists = tantivy.Index.exists(str(self.path))
        self.index = tantivy.Index(self.schema, path=str(self.path), reuse=exists)
        self.index.register_tokenizer(TOKENIZER, analyzer())
        self._lock = threading.Lock()

    # -- writing ---------------------------------------------------------------------------------
    def _writer(self, wait_s: float = 30.0):
        """The index's one writer; another process holding it is waited for, as DuckDB's file is."""
        deadline, delay = time.monotonic() + wait_s, 0.05
        while True:
            try:
                return self.index.writer(heap_size=WRITER_HEAP, num_threads=1)
            except ValueError as exc:  # "LockBusy": another writer holds the index
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def write(self, docs: list[dict]) -> None:
        """Replace each article's document (by id) and commit; raises on failure, committing nothing."""
        if not docs:
            return
        with self._lock:
            writer = self._writer()
            try:
                for d in docs:
                    writer.delete_documents_by_term("article_id", d["article_id"])
                    writer.add_document(self._document(d))
                writer.commit()
            except BaseException:
                writer.rollback()
                raise
            finally:
                writer.wait_merging_threads()

    @staticmethod
    def _document(d: dict) -> tantivy.Document:
        doc = tantivy.Document()
        for name in ("article_id", "url", "title", "summary", "text", "outlet", "country", "language"):
            doc.add_text(name, d[name] or "")
        if d["duplicate_of"]:
            doc.add_text("duplicate_of", d["duplicate_of"])
        for name in ("entity_ids", "tone_keywords"):
            for value in d[name]:
                doc.add_text(name, value)
        doc.add_date("published", d["published"])
        doc.add_bytes("mentions", json.dumps(d["mentions"], ensure_ascii=False).encode())
        return doc

    def prune(self, older_than: datetime) -> None:
        with self._lock:
            writer = self._writer()
            try:
                writer.delete_documents_by_query(
                    tantivy.Query.range_query(
                        self.schema, "published", tantivy.FieldType.Date, None, older_than, True, False
                    )
                )
                writer.commit()
            finally:
                writer.wait_merging_threads()

    def count(self) -> int:
        self.index.reload()
        return self.index.searcher().num_docs

    # -- searching -------------------------------------------------------------------------------
    def search(self, request: SearchRequest) -> SearchHits:
        self.index.reload()  # see what a writer in another process committed since
        searcher = self.index.searcher()
        text_query = self._compile(request.query)
        query = self._query(request, text_query)
        everything = isinstance(request.query, Everything)  # filters only: newest first, no score
        result = searcher.search(
            query,
            request.limit,
            count=True,
            offset=request.offset,
            order_by_field="published" if everything else None,
        )
        generators = []
        if not everything and not has_prefix(request.query):
            for f in ("text", "summary", "title"):
                generators.append(tantivy.SnippetGenerator.create(searcher, text_query, self.schema, f))
                generators[-1].set_max_num_chars(SNIPPET_CHARS)
        hits = []
        for key, address in result.hits:
            doc = searcher.doc(address)
            hit = {name: (doc.get_first(name) or None) for name in _ANSWER}
            hit["published"] = doc.get_first("published")
            hit["mentions"] = json.loads(bytes(doc.get_first("mentions")).decode())
            hit["score"] = None if everything else round(key, 4)
            found = (g.snippet_from_doc(doc).to_html() for g in generators)
            hit["snippet"] = next((h for h in found if "<b>" in h), None) or snippet(
                [doc.get_first(f) or "" for f in ("text", "summary", "title")], request.query, SNIPPET_CHARS
            )
            hits.append(hit)
        return SearchHits(total=result.count, hits=hits)

    def matching_ids(self, request: SearchRequest) -> list[str]:
        """Every matching article's id (what an export of a search's results reads)."""
        self.index.reload()
        searcher = self.index.searcher()
        query = self._query(request)
        total = searcher.search(query, 1, count=True).count
        if not total:
            return []
        return [searcher.doc(a).get_first("article_id") for _, a in searcher.search(query, total, count=False).hits]

    def _query(self, request: SearchRequest, text_query: tantivy.Query | None = None) -> tantivy.Query:
        """The text query (compiled here unless given) and the filters (filters do not score)."""
        clauses = [(tantivy.Occur.Must, text_query or self._compile(request.query))]
        clauses += [(tantivy.Occur.Must, tantivy.Query.const_score_query(f, 0.0)) for f in self._filters(request)]
        return tantivy.Query.boolean_query(clauses)

    def _words(self, w: Words, field: str) -> tantivy.Query:
        s, toks = self.schema, list(w.tokens)
        if len(toks) == 1:
            if w.prefix:
                return tantivy.Query.regex_query(s, field, _regex_escape(toks[0]) + ".*")
            return tantivy.Query.term_query(s, field, toks[0])
        if w.prefix:
            return tantivy.Query.phrase_prefix_query(s, field, toks)
        return tantivy.Query.phrase_query(s, field, toks)

    def _compile(self, node: Node) -> tantivy.Query:
        Q, Occur = tantivy.Query, tantivy.Occur
        if isinstance(node, Everything):
            return Q.all_query()
        if isinstance(node, Words):
            per_field = [
                Q.boost_query(self._words(node, f), TITLE_BOOST) if f == "title" else self._words(node, f)
                for f in node.fields
            ]
            return per_field[0] if len(per_field) == 1 else Q.boolean_query([(Occur.Should, q) for q in per_field])
        if isinstance(node, Without):
            return Q.boolean_query([(Occur.Must, Q.all_query()), (Occur.MustNot, self._compile(node.part))])
        if isinstance(node, AllOf):
            must = [(Occur.Must, self._compile(p)) for p in node.parts if not isinstance(p, Without)]
            must_not = [(Occur.MustNot, self._compile(p.part)) for p in node.parts if isinstance(p, Without)]
            return Q.boolean_query((must or [(Occur.Must, Q.all_query())]) + must_not)
        if isinstance(node, AnyOf):
            return Q.boolean_query([(Occur.Should, self._compile(p)) for p in node.parts])
        raise TypeError(f"not a search node: {node!r}")

    def _filters(self, r: SearchRequest) -> list[tantivy.Query]:
        Q, s = tantivy.Query, self.schema
        out = [Q.term_set_query(s, name, values) for name, values in r.keyword_filters()]
        if r.empty_tone_range:
            out.append(Q.empty_query())
        if r.entity_type:
            out.append(Q.regex_query(s, "entity_ids", f"{r.entity_type}:.*"))
        if r.since or r.until:
            out.append(Q.range_query(s, "published", tantivy.FieldType.Date, r.since, r.until))
        return out


def _regex_escape(token: str) -> str:
    """A token inside tantivy's regular expressions (Rust's syntax): every non-word character escaped."""
    return "".join(c if c.isalnum() or c == "_" else "\\" + c for c in token)
