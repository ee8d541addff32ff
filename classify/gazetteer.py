"""Shanghai's administrative areas (districts, towns/streets) from the licensed table ``sh_admin.csv``.

See classify/data/ATTRIBUTION.md for where the table comes from. Besides the full names the gazetteer knows
the aliases of the table (浦东 for 浦东新区) and short forms of town names derived here (张江镇 → 张江,
花木街道 → 花木). A name shared by places in several districts (虹桥: 长宁区 虹桥街道 and 闵行区 虹桥镇)
resolves to no district.
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

__all__ = ["AdminArea", "AdminName", "Gazetteer", "load_gazetteer"]

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
