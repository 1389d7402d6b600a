"""Tag texts: language, mentions of catalogued cities and brands, and sentiment toward each
mention and for the article as a whole.

Only sentences that mention a tracked entity go through the transformer, all mentions of a
batch of articles in one length-sorted batch. Sentiment per language: Chinese, Japanese,
German, French and Spanish -> the lexicon fallback (``sentiment/lexicon.py``); English and
every other language -> the target-sentiment transformer. Article sentiment is the confidence-weighted mean
of its mention scores; an article with no mention is scored on its headline.

The tone of the article toward each entity (``entities``) takes that entity's mentions together
(``sinoscope.core.tone.entity_label``, the rule the stores use too): the polarity with more mentions,
neutral when none is polar (a neutral mention is a reference, not a verdict), a tie settled by
the sign of the mean score. On the city/brand set this beat a mean score with a neutral band,
a confidence-weighted mean and the mean of the most polar half (train macro-F1 0.652 against at
most 0.643), and scoring all of an entity's sentences at once with the sentence model (dev 0.689
against 0.703). With the domain-trained model (``train
--domain-only``) the mentions taken together still beat that model reading an entity's mentions at
once (city/brand dev macro-F1 0.775 against 0.754); ``entity_tone="model"`` selects the latter.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sinoscope.core.tone import entity_label

from .discover import Discoverer
from .entities.catalogue import Catalogue, load_catalogue
from .entities.matcher import Mention, MentionFinder
from .language import detect_many
from .sentiment.domain import entity_input
from .sentiment.lexicon import LEXICONS, lexicon_sentiment
from .sentiment.model import Prediction

NEUTRAL_BAND = 0.15
MAX_CONTEXT = 400  # characters of sentence kept around a mention for the model
SEEN_MAX = 50_000  # model answers kept for reuse (~20 MB)
SHARED_MAX = 2  # taggers kept per process (``Tagger.shared``), each with its model (~100 MB)


@dataclass
class Tagged:
    language: str
    sentiment: Prediction | None
    mentions: list[Mention]
    mention_sentiment: list[Prediction | None] = field(default_factory=list)
    field_of: list[str] = field(default_factory=list)  # "title" or "text" per mention
    in_names: list[Mention] = field(default_factory=list)  # cities inside a proper name: not mentions
    entity_sentiment: dict[str, Prediction] = field(default_factory=dict)  # the model's own, where it reads entities

    def as_dict(self) -> dict:
        out = {
            "language": self.language,
            "sentiment": self.sentiment.as_dict() if self.sentiment else None,
            "mentions": [],
            "in_names": [m.as_dict() for m in self.in_names],
        }
        for m, s, f in zip(self.mentions, self.mention_sentiment, self.field_of or ["text"] * len(self.mentions)):
            d = m.as_dict()
            d["field"] = f
            d["sentiment"] = s.as_dict() if s else None
            out["mentions"].append(d)
        out["entities"] = entity_tones(self.mentions, self.mention_sentiment, self.entity_sentiment)
        return out


def _label(score: float) -> str:
    return "positive" if score > NEUTRAL_BAND else "negative" if score < -NEUTRAL_BAND else "neutral"


def entity_tones(
    mentions: Sequence[Mention], preds: Sequence[Prediction | None], scored_whole: dict[str, Prediction] | None = None
) -> list[dict]:
    """One row per entity found: its article-level tone and how many mentions it rests on. Where
    the model read all of an entity's mentions at once (``scored_whole``), that is its tone."""
    groups: dict[str, list[tuple[Mention, Prediction | None]]] = {}
    for m, p in zip(mentions, preds):
        groups.setdefault(m.entity_id, []).append((m, p))
    out = []
    for entity_id, items in groups.items():
        scored = [p for _, p in items if p is not None]
        sentiment = (scored_whole or {}).get(entity_id)
        if sentiment is None and scored:
            label = entity_label([p.label for p in scored], [p.score for p in scored])
            agree = [p.confidence for p in scored if p.label == label] or [p.confidence for p in scored]
            sentiment = Prediction(label, sum(p.score for p in scored) / len(scored), sum(agree) / len(agree))
        m = items[0][0]
        out.append(
            {
                "entity_id": entity_id,
                "name": m.name,
                "type": m.type,
                "sentiment": sentiment.as_dict() if sentiment else None,
                "mentions": len(items),
            }
        )
    return out


def context(m: Mention) -> tuple[str, int, int]:
    """(sentence, target start, target end), the sentence cropped around long mentions."""
    s, a = m.sentence, m.start - m.sentence_start
    b = a + len(m.text)
    if len(s) > MAX_CONTEXT:
        lo = max(0, a - MAX_CONTEXT // 2)
        s, a, b = s[lo : lo + MAX_CONTEXT], a - lo, b - lo
    return s, a, b


_SHARED: OrderedDict[tuple, Tagger] = OrderedDict()
_SHARED_LOCK = threading.Lock()


class Tagger:
    def __init__(
        self,
        catalogue: Catalogue | None = None,
        extra_catalogues: Sequence[Path] = (),
        sentiment: bool = True,
        threads: int | None = None,
        precision: str = "auto",
        entity_tone: str = "mentions",
    ) -> None:
        self.catalogue = catalogue or load_catalogue(extra_catalogues)
        self.finder = MentionFinder(self.catalogue)
        self.discoverer = Discoverer(self.catalogue, self.finder)
        self._want_sentiment = sentiment
        self._threads = threads
        self._precision = precision
        self.entity_tone = entity_tone  # "mentions" or "model" (setting nlp.entity_tone)
        self._model = None
        self._seen: OrderedDict[tuple, Prediction] = OrderedDict()  # recent model answers, by input

    @classmethod
    def shared(cls, nlp) -> Tagger:
        """This process's tagger for these settings, built once: a worker's enrich runs (a pass
        of ``run``, a restarted worker flow) reuse its loaded model and recent answers instead of
        loading it again, and a command can load it while it waits for something else. A change
        to an extra catalogue file (its mtime) builds a new one."""
        key = (nlp.model_dump_json(), tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in nlp.catalogues))
        with _SHARED_LOCK:
            tagger = _SHARED.pop(key, None) or cls.from_settings(nlp)
            _SHARED[key] = tagger  # most recent last; the oldest goes beyond SHARED_MAX
            while len(_SHARED) > SHARED_MAX:
                _SHARED.popitem(last=False)
            return tagger

    @classmethod
    def from_settings(cls, nlp, sentiment: bool = True) -> Tagger:
        """The tagger the settings (``settings.nlp``) describe."""
        return cls(
            extra_catalogues=nlp.catalogues,
            sentiment=sentiment and nlp.sentiment,
            precision=nlp.precision,
            threads=nlp.threads,
            entity_tone=nlp.entity_tone,
        )

    def _predict(self, unique: list[tuple]) -> dict[tuple, Prediction]:
        """The model's answers, each input scored once per worker while it is recent: a
        syndicated copy, a repeated boilerplate sentence or a replayed batch costs a lookup
        (the model is deterministic for an input: bf16 scores do not depend on the batch)."""
        out = {x: self._seen[x] for x in unique if x in self._seen}
        todo = [x for x in unique if x not in out]
        for x, p in zip(todo, self.model.predict_inputs(todo) if todo else []):
            out[x] = p
        for x in unique:
            self._seen[x] = out[x]
            self._seen.move_to_end(x)
        while len(self._seen) > SEEN_MAX:
            self._seen.popitem(last=False)
        return out

    @property
    def model(self):
        if self._model is None and self._want_sentiment:
            from .sentiment.model import TargetSentimentModel

            self._model = TargetSentimentModel(threads=self._threads, precision=self._precision)
        return self._model

    def preload(self) -> Tagger:
        """Load the model now rather than on the first batch (a command that waits for something
        else meanwhile)."""
        _ = self.model
        return self

    @property
    def model_name(self) -> str | None:
        """Stored with every record: the model and the arithmetic it ran in (workers on CPUs with
        and without bf16 give slightly different scores; this says which)."""
        return f"{self.model.name}/{self.model.precision}" if self.model else None

    def find(self, text: str) -> list[Mention]:
        """Catalogued mentions, plus companies the text itself calls Chinese that no catalogue
        lists (``discover.unlisted``); a city inside such a name is that name's, not the city's."""
        found = self.finder.find(text)
        unlisted = self.discoverer.unlisted(text) if text else []
        for m in found:
            if any(u.start <= m.start and m.end <= u.end for u in unlisted):
                m.sense = m.sense or "in-name:company"
        return sorted(found + unlisted, key=lambda m: m.start)

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
                for m in self.find(body):
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
        # with entity_tone "model", a model trained to read an entity's mentions together (train
        # --domain-only) scores each entity of a transformer-language article on all its mentions
        whole: list[tuple[int, str]] = []
        if self.entity_tone == "model" and self.model.entity_context:
            for d, r in enumerate(results):
                if r.language in LEXICONS:
                    continue
                groups: dict[str, list[Mention]] = {}
                for m in r.mentions:
                    groups.setdefault(m.entity_id, []).append(m)
                for entity_id, ms in groups.items():
                    text, spans = entity_input(ms, marks=self.model.markers)
                    whole.append((d, entity_id))
                    inputs.append((text, tuple(spans)))
        model_inputs = [x if isinstance(x[1], tuple) else self.model.input_for(*x) for x in inputs]
        if model_inputs:
            preds = self._predict(list(dict.fromkeys(model_inputs)))
            for (d, k), item in zip(queue, model_inputs):
                if k >= 0:
                    results[d].mention_sentiment[k] = preds[item]
                else:
                    results[d].sentiment = preds[item]
            for (d, entity_id), item in zip(whole, model_inputs[len(queue) :]):
                results[d].entity_sentiment[entity_id] = preds[item]
        for r in results:
            scored = [p for p in r.mention_sentiment if p is not None]
            if scored:
                weight = sum(p.confidence for p in scored)
                score = sum(p.score * p.confidence for p in scored) / weight
                r.sentiment = Prediction(_label(score), score, weight / len(scored))
        return results
