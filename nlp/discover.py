"""Chinese companies and brands the catalogue does not know, found in recent coverage
(``sinoscope nlp discover``).

No catalogue lists the long tail of Chinese firms that overseas media write about (bus makers,
tea chains, logistics firms, a steel mill in the news for one week). A name is proposed when the
text itself says it is Chinese: named as Chinese or China-based ("Chinese carmaker Dayun
Auto", "X, a Shenzhen-based startup"), or carrying a Chinese place in its registered name with a
company word ("Changzhou Shenrong Metal Technology"). Names the catalogue knows, places, state
media and government bodies are left out. Each proposal comes with counts, outlets, example
sentences and a line to paste into a user catalogue (``nlp.catalogues``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .entities.catalogue import Catalogue

_WORD = r"[A-Z0-9][\w'’&.+-]*"
_NAME = rf"{_WORD}(?:[ \t]+(?:{_WORD}|&|and|of)){{0,5}}"  # one line: a name never spans a line break
_KIND = (
    r"(?:company|firm|carmaker|automaker|car maker|EV maker|maker|manufacturer|giant|group|conglomerate|startup|"
    r"start-up|brand|retailer|platform|chain|operator|developer|supplier|producer|lender|bank|insurer|airline|"
    r"carrier|shipper|brewer|miner|exporter|investor|fund|unicorn|rival|tech firm|chipmaker|battery maker)"
)
_ORIGIN = r"(?:Chinese|China's|China-based|mainland|Hong Kong-based|Hong Kong-listed|Shenzhen-listed|Shanghai-listed)"
_COMPANY_WORD = (
    r"(?:Co|Co\.|Corp|Corp\.|Corporation|Company|Ltd|Ltd\.|Limited|Group|Holdings?|Technolog(?:y|ies)|"
    r"Motors?|Automobile|Auto|Electric|Electronics|Pharmaceuticals?|Energy|New Energy|Airlines|Logistics|"
    r"Shipping|Steel|Chemicals?|Foods?|Construction|Industr(?:y|ies)|Materials|Machinery|Robotics|Bus)"
)
PATTERNS = [
    # Chinese carmaker Dayun Auto / China's Nayuki / Hong Kong-listed Kaisa Group
    re.compile(rf"\b{_ORIGIN}(?:[ \t]+[a-z][\w-]*){{0,3}}?[ \t]+{_KIND}s?[ \t]+(?P<name>{_NAME})"),
    # Dayun Auto, a Chinese carmaker / X, a Shenzhen-based startup (not "X, a director at ...": a person)
    re.compile(
        rf"(?P<name>{_NAME}),[ \t]+(?:a|an|the)[ \t]+(?:(?!at\b|of\b|from\b|with\b|for\b)[a-z][\w-]*[ \t]+){{0,2}}?"
        rf"(?:{_ORIGIN}|(?P<based>[A-Z][a-z]+)-based)[ \t]+(?:[a-z][\w-]*[ \t]+){{0,2}}?{_KIND}\b"
    ),
]
# a Chinese place at the head of a registered company name: Changzhou Shenrong Metal Technology
_PLACE_NAME = re.compile(
    rf"(?P<name>(?P<place>[A-Z][a-z]+)(?:[ \t]+{_WORD}){{1,5}}?[ \t]+{_COMPANY_WORD})\b"
    r"(?![ \t]+(?:Expo|Show|Fair|Festival|City|Park|Zone|Industrial|Vehicle|Center|Centre|Index|Port))"
)
_ORIGIN_WORDS = ("Chin", "mainland", "-based", "-listed")
_HAS_COMPANY_WORD = re.compile(rf"\b{_COMPANY_WORD}\b")
_PROVINCES = {
    "Anhui",
    "Fujian",
    "Gansu",
    "Guangdong",
    "Guangxi",
    "Guizhou",
    "Hainan",
    "Hebei",
    "Heilongjiang",
    "Henan",
    "Hubei",
    "Hunan",
    "Jiangsu",
    "Jiangxi",
    "Jilin",
    "Liaoning",
    "Ningxia",
    "Qinghai",
    "Shaanxi",
    "Shandong",
    "Shanxi",
    "Sichuan",
    "Tibet",
    "Xinjiang",
    "Yunnan",
    "Zhejiang",
}
# not companies: state media and agencies, government bodies, generic words
_NOT = re.compile(
    r"^(?:The|A|An|This|That|Its|Their|China|Chinese|Beijing|Xinhua|CCTV|CGTN|China Daily|Global Times|"
    r"People's Daily|Caixin|Yicai|ThePaper|Reuters|Bloomberg|AFP|AP)$|"
    # a sentence adverb before ", the Chinese brand ...": "Initially, the Chinese brand had planned"
    r"^(?:[A-Z][a-z]+ly|Meanwhile|However|Moreover|Today|Yesterday|Now|Still|Instead|Nevertheless|Yet|"
    r"Elsewhere|Overall|Last year|This year|Since then|By then|In contrast)$|^(?:In|On|At|For|By|As|After|"
    r"Before|Since|From|The)\b|^[\d\s]+$|"
    r"\b(?:Ministry|Commission|Administration|Bureau|Council|Party|Congress|Government|Authority|"
    r"Committee|Court|Police|Army|Navy|University|Association|Federation|Academy|Institute|Province|"
    r"Day|Media|Broadcasting|Radio|Television|TV|Daily|News)\b|"
    # China units of foreign carmakers (joint ventures) are not Chinese brands
    r"\b(?:Hyundai|Toyota|Honda|Nissan|Volkswagen|Benz|BMW|General Motors|GM|Ford|Kia|Mazda|Suzuki|"
    r"Mitsubishi|Audi|Tesla)\b"
)
_TRAIL = re.compile(r"(?:\s+(?:and|of|&))+$|[.,’']+$|'s$|’s$")


def _clean(name: str) -> str:
    name = _TRAIL.sub("", name.strip())
    return _TRAIL.sub("", name)


@dataclass
class Candidate:
    name: str
    count: int = 0
    outlets: set = field(default_factory=set)
    examples: list = field(default_factory=list)
    home: str | None = None
    evidence: str = ""

    def as_dict(self) -> dict:
        slug = re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")
        home = f", home: {self.home}" if self.home else ""
        name = (
            json.dumps(self.name, ensure_ascii=False) if re.search(r"[:#\[\]{},&*!|>'\"%@`]", self.name) else self.name
        )
        return {
            "name": self.name,
            "count": self.count,
            "outlets": sorted(self.outlets),
            "evidence": self.evidence,
            "examples": self.examples,
            "catalogue_line": f"- {{id: brand:{slug}, name: {name}, aliases: [{name}]{home}, "
            f'source: "discovered in coverage ({self.evidence})"}}',
        }


class Discoverer:
    """Finds candidate names in texts, leaving out what the catalogue already tags."""

    def __init__(self, catalogue: Catalogue, finder=None) -> None:
        from .entities.matcher import MentionFinder

        self.catalogue = catalogue
        self.finder = finder or MentionFinder(catalogue)
        self.places = {a.text: e.id for e in catalogue.of_type("city") for a in e.aliases if a.text[:1].isupper()}

    def candidates(self, text: str) -> list[tuple[str, str, str | None]]:
        """(name, evidence, home city id) for each proposal in ``text``."""
        found: list[tuple[str, str, str | None]] = []
        origin = any(w in text for w in _ORIGIN_WORDS)  # cheap tests first: most texts have no candidate
        for pattern in PATTERNS if origin else ():
            for m in pattern.finditer(text):
                based = m.groupdict().get("based")
                if based and based not in self.places and based not in _PROVINCES:
                    continue  # São Paulo-based: not a Chinese place
                found.append((_clean(m.group("name")), "named as Chinese", self.places.get(based or "")))
        for m in _PLACE_NAME.finditer(text) if _HAS_COMPANY_WORD.search(text) else ():
            place = m.group("place")
            if place in self.places or place in _PROVINCES:
                found.append((_clean(m.group("name")), f"Chinese place {place} in its name", self.places.get(place)))
        out, seen = [], set()
        for name, evidence, home in found:
            if name in seen or len(name) < 3 or _NOT.search(name) or not self._unknown(name):
                continue
            seen.add(name)
            out.append((name, evidence, home))
        return out

    def _unknown(self, name: str) -> bool:
        """Neither a catalogued entity nor a place: nothing in it is tagged, and it resolves to nothing."""
        if self.catalogue.resolve(name) or name in self.places or name in _PROVINCES:
            return False
        return not any(m.type == "brand" for m in self.finder.find(name))

    def unlisted(self, text: str) -> list:
        """Mentions of the companies this text itself calls Chinese but the catalogue lacks (every
        occurrence of each name), as brands with the id ``brand:unlisted:<slug>``."""
        from .entities.matcher import Mention, Sentences

        out = []
        names = self.candidates(text)
        sentences = Sentences(text) if names else None
        for name, _, _ in names:
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
            for m in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", text):
                sentence, sentence_start = sentences.sentence(m.start(), m.end())
                out.append(
                    Mention(
                        f"brand:unlisted:{slug}",
                        name,
                        "brand",
                        name,
                        m.start(),
                        m.end(),
                        sentence,
                        sentence_start,
                        "unlisted",
                    )
                )
        return out

    def scan(self, docs) -> list[Candidate]:
        """docs: (text, outlet) pairs; proposals ordered by count, then name."""
        by_name: dict[str, Candidate] = {}
        for text, outlet in docs:
            for name, evidence, home in self.candidates(text):
                c = by_name.setdefault(name.casefold(), Candidate(name, evidence=evidence, home=home))
                c.count += 1
                c.outlets.add(outlet)
                if len(c.examples) < 3 and text not in c.examples:
                    c.examples.append(text[:300])
        return sorted(by_name.values(), key=lambda c: (-c.count, c.name))
