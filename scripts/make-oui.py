#!/usr/bin/env python3
"""Build tlsready's embedded MAC vendor table (data/oui/oui.tsv) from IEEE
Registration Authority files.

Usage: scripts/make-oui.py OUT FILE...

Each FILE is one of the IEEE's public registry files, in either of the two
formats the IEEE publishes (and tlsready's `--oui FILE` also reads):
  * CSV: `Registry,Assignment,Organization Name,Organization Address`
    (oui.csv = MA-L, mam.csv = MA-M, oui36.csv = MA-S, iab.csv = IAB);
  * text: `XXXXXX     (base 16)\t\tOrganization` lines (oui.txt...).
Later files win for the same prefix. The output has one line per
assignment, `HEX<TAB>Organization`, HEX being 6 (MA-L, 24-bit), 7 (MA-M,
28-bit) or 9 (MA-S and IAB, 36-bit) hex digits, sorted; "Private" entries
are dropped (they name no one). See data/oui/SOURCE.md for the inputs used.
"""

import csv
import re
import sys

TEXT_LINE = re.compile(r"^\s*([0-9A-Fa-f]{6})\s+\(base 16\)\s*(.*)$")


def read(path):
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        first = f.readline()
        f.seek(0)
        if first.startswith("Registry,Assignment"):
            for row in csv.DictReader(f):
                yield row["Assignment"].strip().upper(), row["Organization Name"]
        else:
            for line in f:
                m = TEXT_LINE.match(line)
                if m:
                    yield m.group(1).upper(), m.group(2)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    table = {}
    for path in sys.argv[2:]:
        for prefix, org in read(path):
            org = " ".join(org.split())
            if len(prefix) not in (6, 7, 9) or not re.fullmatch("[0-9A-F]+", prefix):
                continue
            if not org or org.lower() == "private":
                table.pop(prefix, None)
                continue
            table[prefix] = org.replace("\t", " ")
    with open(sys.argv[1], "w", encoding="utf-8", newline="\n") as out:
        for prefix in sorted(table, key=lambda p: (p.ljust(9, "0"), len(p))):
            out.write(f"{prefix}\t{table[prefix]}\n")
    print(f"{sys.argv[1]}: {len(table)} assignments", file=sys.stderr)


if __name__ == "__main__":
    main()
