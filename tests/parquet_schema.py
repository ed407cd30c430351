"""Checks every cached Parquet table against README.md's "Result tables" schema with an independent reader (pyarrow),
so Python users can rely on the documented names, types and nulls (`make schema-check`; `.ci/run` calls it).

Reads only what the README documents: `results/<stage>/current.json` lists the points of a stage's last complete
run, `results/<stage>/<key>/manifest.json` names each table's file. The stage's kind (from current.json) selects the
README rows `kind/table`. Fails if a table or column is missing, extra, of another type, holds nulls the README
does not allow, or if a README row cannot be parsed.

usage: parquet_schema.py [--readme README.md] [--results results]
"""

import argparse
import json
import re
import sys
from pathlib import Path

import pyarrow.parquet as pq

# README type word -> the Arrow types a reader may see (polars writes strings as string_view).
TYPES = {
    "f64": {"double"},
    "u32": {"uint32"},
    "u64": {"uint64"},
    "i8": {"int8"},
    "str": {"string", "large_string", "string_view"},
}


class SchemaError(Exception):
    pass


def parse_readme(text):
    """{"kind/table": {column: (type, nullable)}} from the markdown table under "## Result tables"."""
    section = re.search(r"^## Result tables\n(.*?)(?=^## )", text, re.S | re.M)
    if not section:
        raise SchemaError('README has no "## Result tables" section')
    schema, current = {}, None
    for n, line in enumerate(section.group(1).splitlines(), 1):
        if not line.startswith("|") or line.startswith("|---") or line.startswith("| table "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3:
            raise SchemaError(f"README Result tables row {n}: expected | table | column | type | meaning |: {line}")
        table, columns, types = cells[0], cells[1], cells[2]
        if table:
            current = table.strip("`")
            schema.setdefault(current, {})
        if current is None or "/" not in current:
            raise SchemaError(f"README Result tables row {n}: no `kind/table` in the first column: {line}")
        names = re.findall(r"`([^`]+)`", columns)
        words = [w.strip() for w in types.split(",") if w.strip()]
        nullable = any(w.startswith("null") for w in words)
        words = [w for w in words if not w.startswith("null")]
        repeat = bool(words) and words[-1].endswith("…")
        words = [w.rstrip("…") for w in words]
        if len(words) == 1:
            words = words * len(names)
        elif repeat and len(words) < len(names):
            words += [words[-1]] * (len(names) - len(words))
        if not names or len(words) != len(names) or any(w not in TYPES for w in words):
            raise SchemaError(
                f"README Result tables, `{current}` row {n}: cannot match columns {names} with types {types!r} "
                f"(types are {', '.join(TYPES)}, optionally `null …`)"
            )
        for name, word in zip(names, words):
            schema[current][name] = (word, nullable)
    return schema


def check(readme, results):
    schema = parse_readme(readme.read_text(encoding="utf-8"))
    problems, checked, kinds_seen = [], 0, set()
    stages = sorted(p.parent for p in results.glob("*/current.json"))
    if not stages:
        raise SchemaError(f"no stage with a complete run in {results}; run `make figures` (or `wgf run`) first")
    for stage_dir in stages:
        current = json.loads((stage_dir / "current.json").read_text())
        stage, kind = current["stage"], current["kind"]
        documented = {k.split("/", 1)[1]: cols for k, cols in schema.items() if k.split("/", 1)[0] == kind}
        if not documented:
            problems.append(f"stage {stage}: kind `{kind}` has no table in the README")
            continue
        kinds_seen.add(kind)
        for point in current["points"]:
            entry = stage_dir / point["key"]
            manifest = json.loads((entry / "manifest.json").read_text())
            if set(manifest["tables"]) != set(documented):
                problems.append(
                    f"{stage}/{point['key'][:12]}: tables {sorted(manifest['tables'])}, "
                    f"README documents {sorted(documented)} for kind `{kind}`"
                )
            for table, record in sorted(manifest["tables"].items()):
                cols = documented.get(table)
                if cols is None:
                    continue
                path = entry / record["file"]
                data = pq.read_table(path)
                where = f"{stage}/{point['key'][:12]}/{record['file']} (README `{kind}/{table}`)"
                names = data.schema.names
                if set(names) != set(cols):
                    missing, extra = sorted(set(cols) - set(names)), sorted(set(names) - set(cols))
                    problems.append(f"{where}: columns missing {missing}, not in the README {extra}")
                for field in data.schema:
                    if field.name not in cols:
                        continue
                    word, nullable = cols[field.name]
                    if str(field.type) not in TYPES[word]:
                        problems.append(f"{where}: column `{field.name}` is {field.type}, README says {word}")
                    nulls = data.column(field.name).null_count
                    if nulls and not nullable:
                        problems.append(f"{where}: column `{field.name}` has {nulls} null(s), README allows none")
                checked += 1
    for kind_table in sorted(schema):
        if kind_table.split("/", 1)[0] not in kinds_seen:
            print(f"note: README table `{kind_table}` not checked (no stage of that kind has results)")
    return checked, len(stages), problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parent.parent
    ap.add_argument("--readme", type=Path, default=root / "README.md")
    ap.add_argument("--results", type=Path, default=root / "results")
    args = ap.parse_args()
    try:
        checked, stages, problems = check(args.readme, args.results)
    except SchemaError as e:
        print(f"schema check: {e}", file=sys.stderr)
        return 1
    for p in problems:
        print(f"MISMATCH {p}", file=sys.stderr)
    verdict = f"{len(problems)} mismatch(es)" if problems else "all match"
    print(f"schema check: {checked} Parquet files of {stages} stages against {args.readme.name}: {verdict}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
