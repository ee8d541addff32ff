"""Rebuild sh_juwei.csv (Shanghai's 居委会/村委会 with their town/street and district) from jionlp's table.

Usage: python classify/data/derive_sh_juwei.py SH_ADMIN_JIONLP_CSV > classify/data/sh_juwei.csv

Source: the Shanghai part of jionlp 1.5.31's ``jionlp/dictionary/china_location.zip`` (Apache License 2.0,
github.com/dongrixinyu/JioNLP), the same table ``derive_sh_admin.py`` reads. Only the ``community_village`` rows
are kept; town names that the MCA 2025 table spells differently are renamed the same way as in sh_admin.csv.
"""

from __future__ import annotations

import csv
import sys

# jionlp town names that sh_admin.csv (the MCA 2025 table) spells differently
RENAMED = {"古美街道": "古美路街道", "金海社区": "金海街道", "上海市奉贤区海湾旅游区": "海湾旅游区"}

HEADER = """\
# Shanghai's 居委会 (neighbourhood committees) and 村委会 (villages): name, town/street, district.
# Derived by classify/data/derive_sh_juwei.py from jionlp 1.5.31 (PyPI), jionlp/dictionary/china_location.zip
# (dated 2025-11-27), Apache License 2.0, https://github.com/dongrixinyu/JioNLP. A name may occur more than once.
"""


def main(jionlp_csv: str) -> None:
    with open(jionlp_csv, encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["level"] == "community_village"]
    sys.stdout.write(HEADER)
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["name", "town_street", "district"])
    seen = set()
    for r in rows:
        key = (r["name"], RENAMED.get(r["town_street"], r["town_street"]), r["district"])
        if key not in seen:
            seen.add(key)
            out.writerow(key)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.split("\n\n")[1])
    main(sys.argv[1])
