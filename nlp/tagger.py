"""Tag texts: language, mentions of catalogued cities and brands, and sentiment toward each
mention and for the article as a whole.

Only sentences that mention a tracked entity go through the transformer, all mentions of a
batch of articles in one length-sorted batch. Sentiment per language: Chinese, Japanese,
German, French and Spanish -> the lexicon fallback (``sentiment/lexicon.py``); English and
every other language -> the target-sentiment transformer. Article sentiment is the confidence-weighted mean
of its mention scores; an article with no mention is scored on its headline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .entities.catalogue import Catalogue, load_catalogue
from .entities.matcher import Mention, MentionFinder
from .language import detect_many
from .sentiment.lexicon import LEXICONS, lexicon_sentiment
from .sentiment.model import Prediction

NEUTRAL_BAND = 0.15
MAX_CONTEXT = 400  # characters of sentence kept around a mention for the model


@dataclass
class Tagged:
    language: str
    sentiment: Prediction | None
    mentions: list[Mention]
    mention_sentiment: list[Prediction | None] = field(default_factory=list)
    field_of: list[str] = field(default_factory=list)  # "title" or "text" per mention
    in_names: list[Mention] = field(default_factory=list)  # cities inside a proper name: not mentions

    def as_dict(self) -> dict:
        out = {"language": self.language,
               "sentiment": self.sentiment.as_dict() if self.sentiment else None,
               "mentions": [], "in_names": [m.as_dict() for m in self.in_names]}
        for m, s, f in zip(self.mentions, self.mention_sentiment, self.field_of or ["text"] * len(self.mentions)):
            d = m.as_dict()
            d["field"] = f
            d["sentiment"] = s.as_dict() if s else None
            out["mentions"].append(d)
        return out


def _label(score: float) -> str:
    return "positive" if score > NEUTRAL_BAND else "negative" if score < -NEUTRAL_BAND else "neutral"


def context(m: Mention) -> tuple[str, int, int]:
    """(sentence, target start, target end), the sentence cropped around long mentions."""
    s, a = m.sentence, m.start - m.sentence_start
    b = a + len(m.text)
    if len(s) > MAX_CONTEXT:
        lo = max(0, a - MAX_CONTEXT // 2)
        s, a, b = s[lo:lo + MAX_CONTEXT], a - lo, b - lo
    return s, a, b


class Tagger:
    def __init__(self, catalogue: Catalogue | None = None, extra_catalogues: Sequence[Path] = (),
                 sentiment: bool = True, threads: int | None = None, precision: str = "auto") -> None:
        self.catalogue = catalogue or load_catalogue(extra_catalogues)
        self.finder = MentionFinder(self.catalogue)
        self._want_sentiment = sentiment
        self._threads = threads
        self._precision = precision
        self._model = None

    @property
    def model(self):
        if self._model is None and self._want_sentiment:
            from .sentiment.model import TargetSentimentModel

            self._model = TargetSentimentModel(threads=self._threads, precision=self._precision)
        return self._model

    @property
    def model_name(self) -> str | None:
        """Stored with every record: the model and the arithmetic it ran in (workers on CPUs with
        and without bf16 give slightly different scores; this says which)."""
        return f"{self.model.name}/{self.model.precision}" if self.model else None

    def tag(self, text: str, title: str = "", language: str | None = None) -> Tagged:
        return self.tag_many([(title, text, language)])[0]

    def tag_many(self, docs: Sequence[tuple[str, str, str | None]]) -> list[Tagged]:
        """docs: (title, text, language or None to detect)."""
        results: list[Tagged] = []
        missing = [i for i, (_, _, language) in enumerate(docs) if not language]
        detected = dict(zip(missing, detect_many([f"{docs[i][0]}\n{docs[i][1]}" for i in missing])))
        for k, (title, text, language) in enumerate(docs):
            lang = language or detected[k]
            mentions, fields, in_names = [], [], []
            for name, body in (("title", title), ("text", text)):
                for m in self.finder.find(body):
                    if m.sense and m.sense.startswith("in-name:"):
                        in_names.append(m)
                    else:
                        mentions.append(m)
                        fields.append(name)
            results.append(Tagged(lang, None, mentions, [None] * len(mentions), fields, in_names))
        if not self._want_sentiment:
            return results
        # one batch for the transformer across all documents
        queue: list[tuple[int, int]] = []
        inputs: list[tuple[str, int, int]] = []
        for d, r in enumerate(results):
            for k, m in enumerate(r.mentions):
                if r.language in LEXICONS:
                    r.mention_sentiment[k] = lexicon_sentiment(m.sentence, r.language)
                else:
                    queue.append((d, k))
                    inputs.append(context(m))
        headline_docs = [d for d, r in enumerate(results) if not r.mentions and docs[d][0].strip()]
        for d in headline_docs:
            title = docs[d][0].strip()
            if results[d].language in LEXICONS:
                results[d].sentiment = lexicon_sentiment(title, results[d].language)
            else:
                queue.append((d, -1))
                inputs.append((title, 0, len(title)))
        if inputs:
            unique = list(dict.fromkeys(inputs))
            preds = dict(zip(unique, self.model.predict(unique)))
            for (d, k), item in zip(queue, inputs):
                if k >= 0:
                    results[d].mention_sentiment[k] = preds[item]
                else:
                    results[d].sentiment = preds[item]
        for r in results:
            scored = [p for p in r.mention_sentiment if p is not None]
            if scored:
                weight = sum(p.confidence for p in scored)
                score = sum(p.score * p.confidence for p in scored) / weight
                r.sentiment = Prediction(_label(score), score, weight / len(scored))
        return results
