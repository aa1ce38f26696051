"""Regenerate the README's measured tables from the results files that benchmark scripts write.

Every figure table in README.md sits between two markers naming its source::

    <!-- results: results/text.json#accuracy -->
    ...generated table...
    <!-- /results -->

A results file (JSON, small, committed) holds the command that made it and one or more tables::

    {"command": "python tools/benchmark_text.py ...", "date": "2026-12-01",
     "tables": {"accuracy": {"columns": ["corpus", "ngram", ...], "rows": [["fortunes", 0.57, ...]]}}}

``python tools/readme_tables.py`` rewrites README.md in place (atomically); ``--check`` exits 1
naming the first table that differs, so a test keeps README and results files in step.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- results: (?P<source>[^#\s]+)#(?P<table>[\w.-]+) -->\n)(?P<body>.*?)(<!-- /results -->)", re.S)


def results_name(value: str) -> str:
    """argparse ``type=`` of the benchmarks' ``--results-name``: a plain file name for results/NAME.json,
    checked before anything is measured."""
    import argparse

    if not re.fullmatch(r"[\w.-]+", value) or set(value) == {"."}:
        raise argparse.ArgumentTypeError(f"letters, digits, '.', '-' and '_' only (it names results/NAME.json), got {value!r}")
    return value


def write_results(name: str, command: str, tables: dict[str, dict], root: Path = REPO, **extra) -> Path:
    """Write ``results/<name>.json`` (atomically) for benchmark scripts: ``tables`` maps a table
    name to ``{"columns": [...], "rows": [[...], ...]}``."""
    import datetime

    path = root / "results" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"command": command, "date": datetime.date.today().isoformat(), **extra, "tables": tables}
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(payload, out, indent=1)
        out.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def format_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def render(results: dict, table_name: str, source: str) -> str:
    try:
        table = results["tables"][table_name]
    except KeyError:
        raise SystemExit(f"error: {source}: no table {table_name!r}") from None
    columns = table["columns"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in table["rows"]:
        if len(row) != len(columns):
            raise SystemExit(f"error: {source}#{table_name}: a row has {len(row)} cells, the header {len(columns)}")
        lines.append("| " + " | ".join(format_cell(v) for v in row) + " |")
    made = f"`{results['command']}`" if results.get("command") else "a script in tools/"
    when = f" on {results['date']}" if results.get("date") else ""
    lines.append("")
    lines.append(f"<sub>From `{source}`, written by {made}{when}.</sub>")
    return "\n".join(lines) + "\n"


def regenerate(text: str, root: Path = REPO) -> str:
    def replace(match: re.Match) -> str:
        source = match.group("source")
        path = root / source
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise SystemExit(f"error: {source}: cannot read results ({error})") from None
        return match.group(1) + render(results, match.group("table"), source) + match.group(5)

    return BLOCK.sub(replace, text)


def main(argv: list[str] | None = None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is not what the results files give")
    parser.add_argument("--readme", default=str(REPO / "README.md"))
    args = parser.parse_args(argv)
    readme = Path(args.readme)
    current = readme.read_text(encoding="utf-8")
    wanted = regenerate(current, readme.parent)
    if args.check:
        if current != wanted:
            for old, new in zip(BLOCK.finditer(current), BLOCK.finditer(wanted)):
                if old.group(0) != new.group(0):
                    print(f"README table {old.group('source')}#{old.group('table')} differs from its results file; "
                          "run python tools/readme_tables.py", file=sys.stderr)
                    return 1
            return 1
        return 0
    if wanted != current:
        handle, tmp = tempfile.mkstemp(dir=readme.parent, prefix=".README.")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(wanted)
        os.chmod(tmp, 0o644)
        os.replace(tmp, readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
