"""Executes notebooks headless with the evcxr Rust kernel (`make notebooks` calls this).

Each notebook runs in a fresh kernel whose working directory is notebooks/, every cell even after a failure, and
its executed copy (outputs included) is written to notebooks/executed/ as .ipynb and .html. A cell fails if the
kernel reports an error (compile error, panic) or if it writes to stderr: evcxr shows an error returned through `?`
only there. Afterwards the failed cells are listed (notebook, cell index counted from 0, error text), as is a
notebook without any figure (image/svg+xml output), and the exit status is 1.

usage: run.py [NOTEBOOK.ipynb ...]   (default: every notebooks/*.ipynb, in name order)
"""

import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

ANSI = re.compile(r"\x1b\[[0-9;]*m")
HERE = Path(__file__).resolve().parent
OUT = HERE / "executed"
TIMEOUT_S = 1800  # per cell: a cold `:dep` cell compiles the crate and polars


def cell_error_text(cell, reply):
    """What the user would see of a failed cell: evcxr prints a compile error as an `error` output, but an error
    returned through `?` (or a panic) only as stderr text with an error status in the reply."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            parts.append("\n".join(out.get("traceback") or [f"{out.get('ename')}: {out.get('evalue')}"]))
        elif out.get("output_type") == "stream" and out.get("name") == "stderr":
            parts.append(out.get("text", ""))
    if not parts and reply:
        parts.append(f"{reply.get('ename', 'Error')}: {reply.get('evalue', '')}")
    return ANSI.sub("", "\n".join(parts)).strip() or "(the kernel reported an error without text)"


def output_kinds(nb):
    kinds = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            for mime in out.get("data", {}):
                kinds[mime] = kinds.get(mime, 0) + 1
    return kinds


def run(path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=TIMEOUT_S, kernel_name="rust", allow_errors=True, resources={"metadata": {"path": str(HERE)}}
    )
    failed = {}  # cell index -> the kernel's error reply (its status is the only sign of a `?` error)
    client.on_cell_error = lambda cell, cell_index, execute_reply: failed.setdefault(
        cell_index, execute_reply.get("content", {})
    )
    start = time.monotonic()
    try:
        client.execute()
    except Exception as e:  # the kernel died or a cell timed out: keep what ran, report it as an error
        nb.cells.append(nbformat.v4.new_markdown_cell(f"**Execution stopped:** {type(e).__name__}: {e}"))
        errors = [(len(nb.cells) - 1, f"{type(e).__name__}: {e}")]
    else:
        errors = []
    seconds = time.monotonic() - start
    for index, cell in enumerate(nb.cells):
        # evcxr reports an error returned through `?` only as stderr text (with an "ok" status), so any stderr
        # output of a cell counts as a failure: the notebooks write nothing else to stderr.
        if index in failed or any(
            o.get("output_type") == "error" or (o.get("output_type") == "stream" and o.get("name") == "stderr")
            for o in cell.get("outputs", [])
        ):
            errors.append((index, cell_error_text(cell, failed.get(index))))
    OUT.mkdir(exist_ok=True)
    nbformat.write(nb, OUT / path.name)
    html, _ = HTMLExporter().from_notebook_node(nb)
    (OUT / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
    return seconds, sorted(errors, key=lambda e: e[0]), output_kinds(nb)


def main(args):
    paths = [Path(a).resolve() for a in args] or sorted(HERE.glob("*.ipynb"))
    failures = []
    total = time.monotonic()
    for path in paths:
        print(f"== {path.name}", flush=True)
        seconds, errors, kinds = run(path)
        shown = ", ".join(f"{n} {mime}" for mime, n in sorted(kinds.items()))
        print(f"   {seconds:.0f} s, {len(errors)} failing cell(s); outputs: {shown}", flush=True)
        if "image/svg+xml" not in kinds:
            errors.append((None, "no figure (image/svg+xml output) in the executed notebook"))
        failures += [(path.name, i, text) for i, text in errors]
    print(f"== {len(paths)} notebook(s) in {time.monotonic() - total:.0f} s; executed copies in {OUT}")
    for name, index, text in failures:
        where = f"cell {index}" if index is not None else "notebook"
        print(f"\nFAILED {name}, {where}:\n{text}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
