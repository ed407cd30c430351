"""Checks every cached Parquet table against the table declarations (`wgf schema --json`) with an independent
reader (pyarrow), so Python users can rely on the documented names, order, types and nulls (`make schema-check`;
`.ci/run` calls it).

Reads only what docs/TABLES.md documents: `results/<stage>/current.json` lists the points of a stage's last
complete run, `results/<stage>/<key>/manifest.json` names each table's file. The stage's kind (from current.json)
selects the declared tables `kind/table`. Fails if a table or column is missing, extra, out of order, of another
type, or holds nulls the declaration does not allow.

The wgf binary is $WGF if set (the Makefile passes its WGF), else the newest target/*/wgf.

usage: parquet_schema.py [--results results]
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

# Declared type -> the Arrow types a reader may see (polars writes strings as string_view).
TYPES = {
    "f64": {"double"},
    "u32": {"uint32"},
    "u64": {"uint64"},
    "i8": {"int8"},
    "str": {"string", "large_string", "string_view"},
    "bool": {"bool"},
}


class SchemaError(Exception):
    pass


def find_wgf(root):
    """The wgf binary: $WGF, else the most recently built target/*/wgf."""
    given = os.environ.get("WGF")
    if given:
        path = Path(given)
        if not path.is_file():
            raise SchemaError(f"WGF={given} is not a file; build it (`make build` or `cargo build`) or unset WGF")
        return path
    built = sorted(root.glob("target/*/wgf"), key=lambda p: p.stat().st_mtime, reverse=True)
    if not built:
        raise SchemaError("no wgf binary at target/*/wgf; run `cargo build` or set WGF=path/to/wgf")
    return built[0]


def load_schema(wgf):
    """{"kind/table": {column: (type, nullable)}} in declaration order, from `wgf schema --json`."""
    out = subprocess.run([str(wgf), "schema", "--json"], capture_output=True, text=True)
    if out.returncode != 0:
        raise SchemaError(f"`{wgf} schema --json` failed: {out.stderr.strip()}")
    schema = {}
    for kind in json.loads(out.stdout)["kinds"]:
        for table in kind["tables"]:
            columns = {c["name"]: (c["type"], c["nullable"]) for c in table["columns"]}
            unknown = sorted({t for t, _ in columns.values()} - set(TYPES))
            if unknown:
                raise SchemaError(f"`{kind['kind']}/{table['name']}` declares types {unknown} this check does not know")
            schema[f"{kind['kind']}/{table['name']}"] = columns
    return schema


def check(schema, results):
    problems, checked, kinds_seen = [], 0, set()
    stages = sorted(p.parent for p in results.glob("*/current.json"))
    if not stages:
        raise SchemaError(f"no stage with a complete run in {results}; run `make figures` (or `wgf run`) first")
    for stage_dir in stages:
        current = json.loads((stage_dir / "current.json").read_text())
        stage, kind = current["stage"], current["kind"]
        documented = {k.split("/", 1)[1]: cols for k, cols in schema.items() if k.split("/", 1)[0] == kind}
        if not documented:
            problems.append(f"stage {stage}: kind `{kind}` declares no table (`wgf schema`)")
            continue
        kinds_seen.add(kind)
        for point in current["points"]:
            entry = stage_dir / point["key"]
            manifest = json.loads((entry / "manifest.json").read_text())
            if set(manifest["tables"]) != set(documented):
                problems.append(
                    f"{stage}/{point['key'][:12]}: tables {sorted(manifest['tables'])}, "
                    f"declared {sorted(documented)} for kind `{kind}`"
                )
            for table, record in sorted(manifest["tables"].items()):
                cols = documented.get(table)
                if cols is None:
                    continue
                path = entry / record["file"]
                data = pq.read_table(path)
                where = f"{stage}/{point['key'][:12]}/{record['file']} (`{kind}/{table}`)"
                names = data.schema.names
                if set(names) != set(cols):
                    missing, extra = sorted(set(cols) - set(names)), sorted(set(names) - set(cols))
                    problems.append(f"{where}: columns missing {missing}, not declared {extra}")
                elif names != list(cols):
                    problems.append(f"{where}: columns in the order {names}, declared {list(cols)}")
                for field in data.schema:
                    if field.name not in cols:
                        continue
                    word, nullable = cols[field.name]
                    if str(field.type) not in TYPES[word]:
                        problems.append(f"{where}: column `{field.name}` is {field.type}, declared {word}")
                    nulls = data.column(field.name).null_count
                    if nulls and not nullable:
                        problems.append(f"{where}: column `{field.name}` has {nulls} null(s), declared without nulls")
                checked += 1
    for kind_table in sorted(schema):
        if kind_table.split("/", 1)[0] not in kinds_seen:
            print(f"note: declared table `{kind_table}` not checked (no stage of that kind has results)")
    return checked, len(stages), problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parent.parent
    ap.add_argument("--results", type=Path, default=root / "results")
    args = ap.parse_args()
    try:
        wgf = find_wgf(root)
        checked, stages, problems = check(load_schema(wgf), args.results)
    except SchemaError as e:
        print(f"schema check: {e}", file=sys.stderr)
        return 1
    for p in problems:
        print(f"MISMATCH {p}", file=sys.stderr)
    verdict = f"{len(problems)} mismatch(es)" if problems else "all match"
    print(f"schema check: {checked} Parquet files of {stages} stages against `{wgf} schema --json`: {verdict}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
