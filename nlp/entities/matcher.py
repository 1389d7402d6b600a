"""Find every mention of a catalogued city or brand in a text, in one pass.

One Aho-Corasick automaton (pyahocorasick) holds every alias of every entity plus the blocker
phrases, over a same-length normalisation of the text (lower case, one apostrophe), so offsets
map back to the original. Candidates are then filtered (word boundaries; case; the rules in
``rules.py``), and overlaps resolved longest-first, so "Great Wall Motor" beats "Great Wall",
"People's Bank of China" swallows "Bank of China", and "WuXi AppTec" is not the city Wuxi.
Chinese matches inside Chinese text must align with jieba's word boundaries ("江西安全" holds
the characters 西安 but not the city).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import ahocorasick

from . import rules
from .catalogue import Alias, Catalogue

_APOS = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'"})
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Korean writes particles onto the noun (알리익스프레스가, BYD의): a Hangul name needs a boundary
# before it only, and a Latin name may be followed by Hangul
_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
_BOUNDARY = re.compile(r"[.!?]+[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9\u00C0-\u024F])|[。！？!?]+[”’」』]?|\n+")
_ABBREV = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|St|Gen|Sen|Rep|Gov|Co|Corp|Inc|Ltd|No|vs|Jan|Feb|Mar|Apr|Jun|Jul|"
    r"Aug|Sep|Sept|Oct|Nov|Dec)|\b[A-Z]|\b(?:U\.S|U\.K|E\.U|U\.N))\.$"
)
BLOCK = "__block__"
UNCUED = "__uncued__"  # an ambiguous alias without a cue: kept only inside a list of its own kind
# a list separator between two names: "Mengniu, Yili, and Yashili", "NYD, Chirey, Omoda y JMC", "华为、小米"
_LIST_GAP = re.compile(
    r"^\s*(?:(?:,|、|，|;)\s*(?:and|or|und|oder|et|ou|y|o|e|및|와|과)?|and|or|und|oder|et|ou|y|o|e|"
    r"및|와|과|和|及|与|與)\s*$"
)


def _width(c: str) -> str:
    if c.isascii():
        return c
    n = unicodedata.normalize("NFKC", c)
    return n if len(n) == 1 else c


def _fold(c: str) -> str:
    """One character in, one out: full-width forms (ＤＪＩ) folded by NFKC, then lower case."""
    c = _width(c)
    low = c.lower()
    return low if len(low) == 1 else c


class _FoldTable(dict):
    """``str.translate`` table that folds each character once and remembers it (C speed after)."""

    def __missing__(self, code: int) -> str:
        self[code] = folded = _fold(chr(code))
        return folded


_FOLD = _FoldTable()


def _norm(text: str) -> str:
    return text.translate(_APOS).translate(_FOLD)


def _is_word(c: str) -> bool:
    return c.isalnum() and not _CJK.match(c) and not _HANGUL.match(c)


@dataclass
class Mention:
    entity_id: str
    name: str
    type: str
    text: str
    start: int
    end: int
    sentence: str
    sentence_start: int
    alias_kind: str = "name"
    sense: str | None = None  # "government" (a capital standing for the state), "in-name:<kind>" (Canton Fair)

    def as_dict(self) -> dict:
        out = {
            "entity_id": self.entity_id,
            "name": self.name,
            "type": self.type,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "sentence": self.sentence,
        }
        if self.sense:
            out["sense"] = self.sense
        return out


class Sentences:
    """Sentence bounds of one text, computed once (a rule-based splitter: fast, and good
    enough to give each mention its sentence)."""

    def __init__(self, text: str) -> None:
        self.text = text
        ends = []
        for m in _BOUNDARY.finditer(text):
            if m.group(0)[0] == "." and _ABBREV.search(text[max(0, m.start() - 6) : m.start() + 1]):
                continue
            ends.append(m.end())
        self.bounds = [0, *ends, len(text)]

    def around(self, start: int, end: int) -> tuple[int, int]:
        import bisect

        i = bisect.bisect_right(self.bounds, start) - 1
        j = bisect.bisect_left(self.bounds, end)
        lo, hi = self.bounds[max(i, 0)], self.bounds[min(j, len(self.bounds) - 1)]
        return lo, max(hi, end)

    def sentence(self, start: int, end: int) -> tuple[str, int]:
        """The stripped sentence around a span and where it starts in the text."""
        lo, hi = self.around(start, end)
        raw = self.text[lo:hi]
        return raw.strip(), lo + len(raw) - len(raw.lstrip())


class MentionFinder:
    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.automaton = ahocorasick.Automaton()
        table: dict[str, list] = {}
        for entity in catalogue.entities.values():
            for alias in entity.aliases:
                key = _norm(alias.text)
                if len(key) < 2:
                    continue
                table.setdefault(key, []).append(alias)
        for phrase in rules.BLOCKERS:
            table.setdefault(_norm(phrase), []).append(BLOCK)
        for key, items in table.items():
            self.automaton.add_word(key, (len(key), tuple(items)))
        self.automaton.make_automaton()
        self._zh_words = {a.text for e in catalogue.entities.values() for a in e.aliases if _CJK.search(a.text)}

    @lru_cache(maxsize=1)  # noqa: B019 (one finder per process; the tokenizer lives as long as it)
    def _jieba(self):
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)
        tok = jieba.Tokenizer()
        for w in self._zh_words | {b for b in rules.BLOCKERS if _CJK.search(b)}:
            tok.add_word(w, freq=200000)
        return tok

    def _zh_aligned(self, text: str, start: int, end: int) -> bool:
        lo, hi = max(0, start - 6), min(len(text), end + 6)
        if (start == 0 or not _CJK.match(text[start - 1])) and (end >= len(text) or not _CJK.match(text[end])):
            return True
        pos, cuts, prefix_of = lo, set(), False
        for tok in self._jieba().cut(text[lo:hi], HMM=False):
            cuts.add(pos)
            if pos == start and len(tok) > end - start:
                prefix_of = True  # 香港特区 at the start of the dictionary word 香港特区政府
            pos += len(tok)
        cuts.add(pos)
        return start in cuts and (end in cuts or prefix_of)

    def find(self, text: str) -> list[Mention]:
        if not text:
            return []
        norm = _norm(text)
        sentences = Sentences(text)
        spans: list[tuple[int, int, object]] = []  # (start, end, chosen alias or BLOCK)
        for last, (length, items) in self.automaton.iter(norm):
            start, end = last - length + 1, last + 1
            if _HANGUL.match(text[start]):
                if start > 0 and _HANGUL.match(text[start - 1]):
                    continue
                chosen = self._choose(text, start, end, items, sentences)
                if chosen is not None:
                    spans.append((start, end, chosen))
                continue
            latin = not _CJK.match(text[start])
            if latin and ((start > 0 and _is_word(text[start - 1])) or (end < len(text) and _is_word(text[end]))):
                continue
            if not latin and not self._zh_aligned(text, start, end):
                continue
            chosen = self._choose(text, start, end, items, sentences)
            if chosen is not None:
                spans.append((start, end, chosen))
        uncued = [s for s in spans if s[2] is not BLOCK and s[2][1] == UNCUED]
        spans = [s for s in spans if s[2] is BLOCK or s[2][1] != UNCUED]
        # longest first, then leftmost; a blocker consumes its span like a mention does
        spans.sort(key=lambda s: (-(s[1] - s[0]), s[0]))
        taken: list[tuple[int, int]] = []
        mentions: list[Mention] = []
        for start, end, chosen in spans:
            if any(start < e and s < end for s, e in taken):
                continue
            taken.append((start, end))
            if chosen is BLOCK:
                continue
            alias, sense = chosen
            mentions.append(self._mention(text, start, end, alias, sense, sentences))
        mentions.sort(key=lambda m: m.start)
        self._listed(text, uncued, taken, mentions, sentences)
        for m, nxt in zip(mentions, mentions[1:]):  # Qingdao Haier, Wuliangye Yibin: the company's name
            if text[m.end : nxt.start] == " " and {m.type, nxt.type} == {"city", "brand"}:
                city = m if m.type == "city" else nxt
                city.sense = city.sense or "in-name:company"
        return mentions

    def _choose(self, text: str, start: int, end: int, items: tuple, sentences: Sentences):
        """The alias (and sense) this match stands for, or BLOCK, or None (not a mention)."""
        if BLOCK in items:
            return BLOCK
        matched = text[start:end]
        zh = bool(_CJK.match(matched[0]) or _HANGUL.match(matched[0]))  # no letter case; cues as substrings
        before, after = text[max(0, start - 40) : start], text[end : end + 40]
        lo, hi = sentences.around(start, end)
        sentence = text[lo:hi]
        candidates: list[Alias] = []
        folded = "".join(_width(c) for c in matched)
        for alias in items:
            if not zh and not _case_ok(alias.text, folded):
                continue
            entity = self.catalogue[alias.entity_id]
            if entity.type == "city" and rules.city_rejected(after, zh):
                continue
            candidates.append(alias)
        if not candidates:
            return None
        key = _norm(matched).replace("'", "")
        if key in ("tsingtao", "tsingtau") and len({a.entity_id for a in candidates}) > 1:
            want = rules.tsingtao(before, after)
            candidates = [a for a in candidates if self.catalogue[a.entity_id].type == want]
        elif key == "changan":
            want = rules.changan(matched, sentence, after)
            candidates = [a for a in candidates if want and self.catalogue[a.entity_id].type == want]
        else:
            cued = [a for a in candidates if not a.needs_context or self._cued(a, sentence, zh, after)]
            if not cued:
                return candidates[0], UNCUED
            candidates = cued
        if not candidates:
            return None
        alias = min(candidates, key=lambda a: a.needs_context)  # a plain alias beats a context-only one
        entity = self.catalogue[alias.entity_id]
        kind = rules.in_name(before, after, zh) if entity.type == "city" else None
        if kind:
            return alias, f"in-name:{kind}"
        sense = "government" if entity.id == "city:beijing" and rules.is_government(before, after) else None
        return alias, sense

    def _mention(self, text: str, start: int, end: int, alias: Alias, sense: str | None, sentences: Sentences):
        entity = self.catalogue[alias.entity_id]
        sentence, sentence_start = sentences.sentence(start, end)
        return Mention(entity.id, entity.name, entity.type, text[start:end], start, end, sentence, sentence_start,
                       alias.kind, sense)  # fmt: skip

    def _listed(self, text: str, uncued: list, taken: list, mentions: list, sentences: Sentences) -> None:
        """An ambiguous name with no cue of its own still counts as one item of a list of names of
        its kind ("Mengniu, Yili, and Yashili"): the list is the cue. Repeated so a chain grows."""
        grew = True
        while grew and uncued:
            grew = False
            for span in list(uncued):
                start, end, (alias, _) = span
                if any(start < e and s < end for s, e in taken):
                    uncued.remove(span)
                    continue
                entity = self.catalogue[alias.entity_id]
                if not any(
                    m.type == entity.type
                    and (_LIST_GAP.match(text[m.end : start]) or _LIST_GAP.match(text[end : m.start]))
                    for m in mentions
                    if m.end <= start or m.start >= end
                ):
                    continue
                mentions.append(self._mention(text, start, end, alias, None, sentences))
                taken.append((start, end))
                uncued.remove(span)
                grew = True
        mentions.sort(key=lambda m: m.start)

    def _cued(self, alias: Alias, sentence: str, zh: bool, after: str = "") -> bool:
        entity = self.catalogue[alias.entity_id]
        if entity.type == "city" and re.match(r"^\s+[Cc]ity\b", after):
            return True  # "Jilin city"
        cues = entity.cues
        if entity.type == "city":
            cues = cues + tuple(x for x in (entity.attrs.get("province"), entity.attrs.get("name_zh"), "city of") if x)
        sentence_wo = sentence.replace(alias.text, " ")
        return rules.has_cue(sentence_wo, cues, entity.attrs.get("sector"), zh)


def _case_ok(alias: str, matched: str) -> bool:
    """News capitalises names: an acronym or an alias that starts in lower case (vivo,
    iFlytek) must match exactly; other aliases need a capital first letter (so "honor" the
    word and "great wall" never match), and an all-caps headline matches any of them."""
    if matched == alias:
        return True
    letters = [c for c in alias if c.isalpha()]
    if not letters or alias[0].islower() or (alias.isupper() and len(letters) <= 6):
        return False
    if any(c.isupper() for word in alias.split() for c in word[1:]):  # DiDi, WeChat: as written
        return matched.isupper()
    return matched.isupper() or matched[0].isupper()
