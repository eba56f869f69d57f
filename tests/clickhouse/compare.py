#!/usr/bin/env python3
"""Loads tlsready's connection rows (JSON lines) into ClickHouse's embedded
engine (chdb) with contrib/clickhouse/connections.sql, runs
contrib/clickhouse/clients.sql, and compares its rows, in order and cell by
cell, with `tlsready tally --clients` over the same rows, for both scopes.

    python3 tests/clickhouse/compare.py TLSREADY ROWS.jsonl...

Exit status 0 when every row is equal, 1 when some differ, 77 (with a line
starting "skipped:") when chdb is not installed (`pip install chdb`).
"""

import csv
import io
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CONTRIB = os.path.join(HERE, "..", "..", "contrib", "clickhouse")


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    tlsready, rows = sys.argv[1], sys.argv[2:]
    try:
        from chdb import session
    except ImportError:
        print("skipped: the Python module chdb is not installed (pip install chdb)")
        return 77
    schema = open(os.path.join(CONTRIB, "connections.sql")).read()
    query = open(os.path.join(CONTRIB, "clients.sql")).read()
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        s = session.Session(os.path.join(tmp, "db"))
        # Statements of the schema file, comment lines left out.
        code = "\n".join(l for l in schema.splitlines() if not l.strip().startswith("--"))
        for stmt in code.split(";"):
            if stmt.strip():
                s.query(stmt)
        for path in rows:
            s.query(
                f"INSERT INTO tlsready.connections SELECT *, '{os.path.basename(path)}' AS sensor "
                f"FROM file('{os.path.abspath(path)}', JSONEachRow) SETTINGS "
                "input_format_skip_unknown_fields = 1, date_time_input_format = 'best_effort'"
            )
        loaded = int(str(s.query("SELECT count() FROM tlsready.connections", "TSV")).strip())
        print(f"{loaded} connection rows loaded from {len(rows)} files")
        for scope, flag in (("m365", "0"), ("all", "1")):
            sql = query.replace("0 AS all_servers", f"{flag} AS all_servers")
            got = list(csv.reader(io.StringIO(str(s.query(sql, "CSVWithNames")))))
            out = os.path.join(tmp, f"clients-{scope}.csv")
            subprocess.run(
                # Per address, as the SQL (rows carry no device identity).
                [tlsready, "tally", *rows, "--scope", scope, "--group-by", "address",
                 "--clients", out, "-q"],
                check=True,
            )
            with open(out, newline="") as f:
                want = list(csv.reader(f))
            # The client name columns (issue 15) end the clients CSV; the
            # SQL has no host identity: the columns before them are compared.
            names = ["client_name", "client_name_source", "client_mac",
                     "client_vendor", "client_os_hint"]
            if want and want[0][-len(names):] == names:
                want = [r[:-len(names)] for r in want]
            if got[0] != want[0]:
                print(f"scope {scope}: header differs:\n  sql   {got[0]}\n  tally {want[0]}")
                failed += 1
                continue
            bad = 0
            for i in range(max(len(got), len(want))):
                g = got[i] if i < len(got) else None
                w = want[i] if i < len(want) else None
                if g != w:
                    bad += 1
                    if bad <= 5:
                        diff = [
                            f"{h}: sql={a!r} tally={b!r}"
                            for h, a, b in zip(want[0], g or [], w or [])
                            if a != b
                        ]
                        print(f"scope {scope}: row {i} differs: {diff or (g, w)}")
            print(f"scope {scope}: {len(want) - 1} client rows, {bad} differ")
            failed += bad > 0
    print(f"{2 - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
