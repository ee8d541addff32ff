"""House numbers and buildings as said after a road or a compound, normalised to digits (二百三十五号 → 235号,
3号楼502室); used by the location stage (`classify.location`)."""

from __future__ import annotations

import re

from pipeline.base.numerals import NUMBER_CHARS, normalise_number

__all__ = ["building_at", "house_number_after_road", "house_number_at"]

_N = f"[{NUMBER_CHARS}]+"
_HOUSE_NUMBER = re.compile(rf"\s*(?:(?P<lane>{_N})弄(?:(?P<branch>{_N})支弄)?)?(?:(?P<no>{_N})号(?!楼))?")
_BUILDING = re.compile(rf"\s*(?:的)?(?P<bld>{_N})(?:号楼|栋|幢|号)(?:(?P<room>{_N})(?:室|号房|号)?)?")
_NOT_HOUSE_NUMBER = re.compile(r"地块|号线|号文|号令")
_NUMBER_BEFORE_BUILDING = re.compile(rf"({_N})号(?=楼[下上里道前后])")
_BARE_NUMBER = re.compile(r"([0-9]{1,4})(?=[的，,。；;\s）)]|$)")


def house_number_at(text: str, pos: int) -> tuple[str, int]:
    """The house number said at `pos` (right after a road), normalised, and where it ends.

    >>> house_number_at("张杨路一千二百弄五号门口", 3)
    ('1200弄5号', 10)

    Returns ``("", pos)`` when no 弄/号 follows.
    """
    num = _HOUSE_NUMBER.match(text, pos)
    if not num or not (num.group("lane") or num.group("no")):
        return "", pos
    lane, branch, no = num.group("lane"), num.group("branch"), num.group("no")
    norm = f"{normalise_number(lane)}弄" if lane else ""
    norm += f"{normalise_number(branch)}支弄" if branch else ""
    norm += f"{normalise_number(no)}号" if no else ""
    return norm, num.end()


def building_at(text: str, pos: int) -> tuple[str, int]:
    """The building (and room) said at `pos` (right after a compound), normalised ("3号楼502室"), and its end."""
    bld = _BUILDING.match(text, pos)
    if not bld:
        return "", pos
    norm = f"{normalise_number(bld.group('bld'))}号楼"
    norm += f"{normalise_number(bld.group('room'))}室" if bld.group("room") else ""
    return norm, bld.end()


def house_number_after_road(text: str, end: int) -> tuple[str, int]:
    """The house number after the road ending at `end`: `house_number_at`, less plots and metro lines, plus the
    spoken forms it misses."""
    number, num_end = house_number_at(text, end)
    if number and _NOT_HOUSE_NUMBER.match(text, num_end):
        return "", end  # 429号地块 is a plot, 3号线 a metro line
    if not number:
        said = _NUMBER_BEFORE_BUILDING.match(text, end)
        if said:  # 宜山路七百号楼下: after a road, "号楼下" is 号 + 楼下
            return f"{normalise_number(said.group(1))}号", said.end()
        bare = _BARE_NUMBER.match(text, end)
        if bare:  # 五一大道202的 …
            return f"{bare.group(1)}号", bare.end()
    return number, num_end
