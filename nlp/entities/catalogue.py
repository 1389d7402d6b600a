"""The entity catalogue: Chinese cities (generated from a gazetteer) and Chinese brands
(curated), plus any YAML files a user adds — same format, no code to touch:

    cities: [{id: city:xiongan, name: Xiong'an, aliases: [{text: Xiong'an}, {text: 雄安}]}]
    brands: [{id: brand:mybrand, name: MyBrand, aliases: [MyBrand], zh: [我的品牌], sector: autos}]

An entry whose id already exists extends that entity (its aliases are added).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sinoscope.core.errors import SinoscopeError

CATALOGUE_DIR = Path(__file__).resolve().parents[1] / "catalogue"


@dataclass(frozen=True)
class Alias:
    text: str
    entity_id: str
    kind: str = "name"  # name | pinyin | legacy | nickname | zh | local (Japanese, Korean script)
    needs_context: bool = False  # counts only with a cue of the entity in the sentence


@dataclass
class Entity:
    id: str
    type: str  # city | brand
    name: str
    aliases: list[Alias] = field(default_factory=list)
    cues: tuple[str, ...] = ()
    attrs: dict = field(default_factory=dict)  # province, tier, population, sector, parent, home...

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "type": self.type,
            "name": self.name,
            **self.attrs,
            "aliases": [a.text for a in self.aliases],
        }


class CatalogueError(SinoscopeError, ValueError):
    """A catalogue file that cannot be used; the message names the file and entry."""


class Catalogue:
    def __init__(self, entities: Iterable[Entity]) -> None:
        self.entities: dict[str, Entity] = {}
        self._by_name: dict[str, Entity] | None = None  # casefolded name or alias -> entity, built on first use
        for e in entities:
            self.add(e)

    def add(self, entity: Entity) -> None:
        self._by_name = None
        if entity.id in self.entities:
            known = self.entities[entity.id]
            texts = {a.text for a in known.aliases}
            known.aliases.extend(a for a in entity.aliases if a.text not in texts)
            known.cues = tuple(dict.fromkeys(known.cues + entity.cues))
            known.attrs.update({k: v for k, v in entity.attrs.items() if v is not None})
        else:
            self.entities[entity.id] = entity

    def __len__(self) -> int:
        return len(self.entities)

    def __getitem__(self, entity_id: str) -> Entity:
        return self.entities[entity_id]

    def of_type(self, kind: str) -> list[Entity]:
        return [e for e in self.entities.values() if e.type == kind]

    def parent_of(self, entity_id: str) -> str | None:
        parent = self.entities[entity_id].attrs.get("parent") if entity_id in self.entities else None
        return parent if parent in self.entities else None

    def rollup(self, kind: str = "brand") -> dict[str, str]:
        """Each entity of ``kind`` with a parent -> its topmost ancestor (WeChat -> Tencent, Haval ->
        Great Wall Motor): what ``rank --rollup`` counts a mention for."""
        out = {}
        for e in self.of_type(kind):
            top, seen = e.id, {e.id}
            while (up := self.parent_of(top)) and up not in seen:
                top = up
                seen.add(up)
            if top != e.id:
                out[e.id] = top
        return out

    def resolve(self, query: str) -> Entity | None:
        """An entity by id, name or any alias (case-insensitive): 'city:chongqing', 'Chungking', '重庆'."""
        q = query.strip()
        if q in self.entities:
            return self.entities[q]
        if self._by_name is None:  # names first, then aliases; the first entity to claim a key keeps it
            index: dict[str, Entity] = {}
            for e in self.entities.values():
                index.setdefault(e.name.casefold(), e)
            for e in self.entities.values():
                for a in e.aliases:
                    index.setdefault(a.text.casefold(), e)
            self._by_name = index
        return self._by_name.get(q.casefold())


def _city(row: dict, src: str) -> Entity:
    aliases = []
    for a in row.get("aliases", []):
        a = {"text": a} if isinstance(a, str) else a
        aliases.append(Alias(a["text"], row["id"], a.get("kind", "name"), bool(a.get("needs_context"))))
    attrs = {k: row.get(k) for k in ("name_zh", "province", "level", "tier", "population", "lat", "lon", "geonameid")}
    return Entity(row["id"], "city", row.get("name", row["id"]), aliases, tuple(row.get("cues", [])), attrs)


def _traditional(text: str) -> list[str]:
    """Traditional forms: OpenCC's standard and the Taiwan/Japan-usual variants (華爲, 華為)."""
    from opencc import OpenCC

    if not _S2T:
        _S2T.extend([OpenCC("s2t"), OpenCC("s2tw")])
    return [c.convert(text) for c in _S2T]


_S2T: list = []


def _brand(row: dict, src: str) -> Entity:
    ambiguous = set(row.get("ambiguous", [])) | set(row.get("ambiguous_zh", []))
    aliases = [Alias(t, row["id"], "name", t in ambiguous) for t in row.get("aliases", [])]
    zh = list(dict.fromkeys([*row.get("zh", []), *(t for z in row.get("zh", []) for t in _traditional(z))]))
    amb_zh = ambiguous | {t for a in ambiguous for t in _traditional(a)}
    aliases += [Alias(t, row["id"], "zh", t in amb_zh) for t in zh]
    aliases += [Alias(t, row["id"], "local", t in ambiguous) for t in row.get("local", [])]
    attrs = {k: row.get(k) for k in ("parent", "sector", "home")}
    attrs["name_zh"] = (row.get("zh") or [None])[0]
    return Entity(row["id"], "brand", row.get("name", row["id"]), aliases, tuple(row.get("cues", [])), attrs)


def _load_file(path: Path) -> list[Entity]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueError(f"catalogue file {path}: {exc}") from exc
    out = []
    for key, make, prefix in (("cities", _city, "city:"), ("brands", _brand, "brand:")):
        for n, row in enumerate(data.get(key, []) or []):
            if not isinstance(row, dict) or not str(row.get("id", "")).startswith(prefix):
                raise CatalogueError(f"catalogue file {path}: {key}[{n}] needs an id starting with {prefix!r}")
            out.append(make(row, str(path)))
    return out


def load_catalogue(extra: Iterable[Path] = ()) -> Catalogue:
    files = [CATALOGUE_DIR / "cities.yaml", CATALOGUE_DIR / "brands.yaml", *map(Path, extra)]
    entities: list[Entity] = []
    for f in files:
        entities.extend(_load_file(f))
    return Catalogue(entities)
