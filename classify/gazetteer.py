"""Shanghai's administrative areas (districts, towns/streets) from the licensed table ``sh_admin.csv``.

See classify/data/ATTRIBUTION.md for where the table comes from. Besides the full names the gazetteer knows
the aliases of the table (浦东 for 浦东新区) and short forms of town names derived here (张江镇 → 张江,
花木街道 → 花木). A name shared by places in several districts (虹桥: 长宁区 虹桥街道 and 闵行区 虹桥镇)
resolves to no district.

`load_communities` reads the 居委会/村委会 table ``sh_juwei.csv`` (derived from jionlp, Apache-2.0) and knows how
callers say them: 梅陇七村居委, 露香居委 (露香社区), 华亭村村委. "社区" alone is not matched: every Chinese city
has a 朝阳社区, while "居委" is how Shanghai callers name their committee.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Mapping, Optional

from .matching import Cue, CueMatcher
from .resources import PathLike, data_path, read_table

logger = logging.getLogger(__name__)

__all__ = ["AdminArea", "AdminName", "Communities", "Community", "Gazetteer", "load_communities", "load_gazetteer"]

LEVELS = ("district", "town_street")
_TOWN_SUFFIXES = ("街道", "镇", "乡")
_ROAD_LIKE = ("路", "街", "道", "村", "区")  # short forms ending so would be read as roads or compounds
# Short forms that are everyday words, names or brands: said far more often than the town they would stand for.
_COMMON_WORDS = frozenset(
    "万里 长征 大桥 石化 建设 中兴 三星 新河 陈家 中山 海湾 书院 新桥 华新 北站 长桥 东平 新海 港西 金海 山阳 岳阳 "
    "永丰 白鹤 华亭 新场 浦江".split()
)


@dataclass(frozen=True, slots=True)
class AdminArea:
    """A district (区) or a town/street (镇/街道/乡 …) of Shanghai."""

    level: str
    name: str
    district: str
    code: str = ""


@dataclass(frozen=True, slots=True)
class AdminName:
    """A way of saying one or more areas: `full` for the official name, else an alias or short form."""

    text: str
    areas: tuple[AdminArea, ...]
    full: bool

    @property
    def level(self) -> str:
        return self.areas[0].level

    @property
    def district(self) -> Optional[str]:
        """The district, when every area so named lies in the same one."""
        districts = {a.district for a in self.areas}
        return next(iter(districts)) if len(districts) == 1 else None


@dataclass(frozen=True)
class Gazetteer:
    """The names of every area, and a matcher over them (longest name first)."""

    areas: tuple[AdminArea, ...]
    names: Mapping[str, AdminName]
    matcher: CueMatcher
    source: str

    @property
    def districts(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.areas if a.level == "district")


def _short_form(name: str) -> Optional[str]:
    for suffix in _TOWN_SUFFIXES:
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            if len(stem) >= 2 and not stem.endswith(_ROAD_LIKE) and stem not in _COMMON_WORDS:
                return stem
    return None


@lru_cache(maxsize=4)
def load_gazetteer(path: Optional[PathLike] = None) -> Gazetteer:
    """Read a gazetteer CSV (columns level, name, district, code, aliases); None reads the shipped ``sh_admin.csv``.

    Raises:
        ValueError: a row has an unknown level or no district (names the file and line).
    """
    file = data_path("sh_admin.csv", path)
    areas = []
    spoken: dict[tuple[str, bool], list[AdminArea]] = defaultdict(list)
    for row in read_table(file, ("level", "name", "district", "code", "aliases")):
        if row["level"] not in LEVELS:
            raise ValueError(f"unknown level {row['level']!r} in {row.where()}; levels are {', '.join(LEVELS)}")
        if not row["name"] or not row["district"]:
            raise ValueError(f"empty name or district in {row.where()}")
        area = AdminArea(row["level"], row["name"], row["district"], row["code"])
        areas.append(area)
        spoken[(area.name, True)].append(area)
        aliases = [a for a in row["aliases"].split("|") if a]
        if area.level == "town_street":
            short = _short_form(area.name)
            aliases += [short] if short else []
        for alias in aliases:
            spoken[(alias, False)].append(area)
    names: dict[str, AdminName] = {}
    for (text, full), found in spoken.items():
        if text in names and names[text].full:
            continue  # an official name wins over a short form spelled the same
        names[text] = AdminName(text, tuple(dict.fromkeys(found)), full)
    matcher = CueMatcher([Cue(text, text, literal=True) for text in sorted(names)], str(file))
    logger.debug("gazetteer %s: %d areas, %d names", file, len(areas), len(names))
    return Gazetteer(tuple(areas), MappingProxyType(names), matcher, str(file))


@dataclass(frozen=True, slots=True)
class Community:
    """A 居委会 (neighbourhood committee) or 村委会 (village) with its town/street and district."""

    name: str
    town_street: str
    district: str


@dataclass(frozen=True)
class Communities:
    """The spoken forms of every committee (梅陇七村居委, 露香居委会 …), each with the committees it may name."""

    spoken: Mapping[str, tuple[Community, ...]]
    matcher: CueMatcher
    source: str

    def district(self, said: str) -> Optional[str]:
        """The district of the committee said as `said`, None if unknown or several districts have one so named."""
        districts = {c.district for c in self.spoken.get(said, ())}
        return next(iter(districts)) if len(districts) == 1 else None

    def town_street(self, said: str) -> Optional[str]:
        """The town/street of the committee said as `said`, None if unknown or ambiguous."""
        towns = {(c.district, c.town_street) for c in self.spoken.get(said, ())}
        return next(iter(towns))[1] if len(towns) == 1 else None


_COMMITTEE_WORDS = {"社区": ("居委会", "居委"), "村": ("村委会", "村委")}


def _spoken_forms(name: str) -> list[str]:
    """How a caller names the committee `name`: 露香社区 → 露香社区居委(会), 露香居委(会); 华亭村 → 华亭村村委(会), 华亭村委(会)."""
    forms = [name + w for w in ("居委会", "居委")]
    for suffix, words in _COMMITTEE_WORDS.items():
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            forms += [name + w for w in words]
            if len(stem) >= 2:
                forms += [stem + w for w in words]
    return forms


@lru_cache(maxsize=4)
def load_communities(path: Optional[PathLike] = None) -> Communities:
    """Read a committee CSV (columns name, town_street, district); None reads the shipped ``sh_juwei.csv``.

    Raises:
        ValueError: a row has an empty field (names the file and line).
    """
    file = data_path("sh_juwei.csv", path)
    spoken: dict[str, list[Community]] = defaultdict(list)
    for row in read_table(file, ("name", "town_street", "district")):
        if not row["name"] or not row["town_street"] or not row["district"]:
            raise ValueError(f"empty name, town_street or district in {row.where()}")
        community = Community(row["name"], row["town_street"], row["district"])
        for form in _spoken_forms(community.name):
            spoken[form].append(community)
    frozen = {form: tuple(dict.fromkeys(found)) for form, found in spoken.items()}
    matcher = CueMatcher([Cue(form, form, literal=True) for form in sorted(frozen)], str(file))
    logger.debug("communities %s: %d spoken forms", file, len(frozen))
    return Communities(MappingProxyType(frozen), matcher, str(file))
