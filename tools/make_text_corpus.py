"""Build a real multi-class text set offline: ``train.csv`` and ``test.csv`` (columns text,label).

Four sources, all already on a Debian machine (no network):

- ``fortunes`` (default when present): Debian's fortune cookie files (``apt-get install
  fortunes``), one class per category file (computers, definitions, politics, science, ...).
  Short, noisy, human-written text; categories overlap in vocabulary, which makes it a fair test.
- ``docstrings``: docstrings of the Python standard library, labelled by top-level package
  (email, asyncio, unittest, ...): always available wherever Python is.
- ``packages``: Debian package descriptions (synopsis + long description, without the package
  name) labelled by archive Section (admin, devel, games, ...), from ``apt-cache dumpavail``
  (the apt lists of the last ``apt-get update``). Short technical prose, overlapping classes.
- ``manpages``: the NAME line and the start of DESCRIPTION of every manual page under
  ``/usr/share/man/man?``, labelled by section (1 commands, 2 system calls, 3 library calls,
  5 file formats, 7 overviews, 8 administration); generated ``gcloud`` pages are skipped.

The split is deterministic: a hash of each text decides test or train, so re-running gives the
same files. Exact duplicate texts are dropped (a duplicate across splits would leak).

  python -m tools.make_text_corpus --out data/fortunes
  python -m tools.make_text_corpus --source packages --max-per-class 1000 --out data/packages
  python -m tools.make_text_corpus --source manpages --out data/manpages
  python -m kerasuite.train --task text_classification --data csv:data/fortunes
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import importlib
import inspect
import io
import pkgutil
import re
import subprocess
import sys
import warnings
from collections import Counter
from pathlib import Path

FORTUNE_DIR = Path("/usr/share/games/fortunes")
FORTUNE_CATEGORIES = ("computers", "definitions", "people", "politics", "science", "songs-poems", "work", "men-women")
PACKAGE_SECTIONS = ("admin", "devel", "games", "graphics", "net", "science", "sound", "text", "utils", "x11")
MAN_DIR = Path("/usr/share/man")
MAN_SECTIONS = ("1", "2", "3", "5", "7", "8")
MAN_DESCRIPTION_WORDS = 60
# The Google Cloud SDK ships ~16,600 generated "gcloud ..." pages: they would be 93% of section 1
# and make it a one-word class.
GENERATED_MAN_PREFIXES = ("gcloud",)
DOCSTRING_PACKAGES = ("asyncio", "email", "http", "xml", "unittest", "multiprocessing", "logging", "concurrent", "importlib", "json")


def read_fortunes(path: Path) -> list[str]:
    """One fortune per ``%``-separated block, whitespace at the ends removed."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    blocks, current = [], []
    for line in text.splitlines():
        if line.strip() == "%":
            blocks.append("\n".join(current).strip())
            current = []
        else:
            current.append(line)
    blocks.append("\n".join(current).strip())
    return [block for block in blocks if block]


def fortune_examples(folder: Path, categories: tuple[str, ...]) -> list[tuple[str, str]]:
    examples = []
    for category in categories:
        path = folder / category
        if not path.is_file():
            raise SystemExit(f"make_text_corpus: {path}: no such fortune file (apt-get install fortunes, or --source docstrings)")
        examples.extend((text, category) for text in read_fortunes(path))
    return examples


def docstring_examples(packages: tuple[str, ...]) -> list[tuple[str, str]]:
    """Docstrings of every public class and function in each package's modules."""
    examples = []
    for package_name in packages:
        package = importlib.import_module(package_name)
        modules = [package]
        for info in pkgutil.walk_packages(getattr(package, "__path__", []), prefix=f"{package_name}."):
            if any(part.startswith("_") or part in ("test", "tests") for part in info.name.split(".")):
                continue
            try:
                with warnings.catch_warnings(), _QuietStdout():
                    warnings.simplefilter("ignore")
                    modules.append(importlib.import_module(info.name))
            except Exception:  # platform-specific modules (e.g. Windows-only) do not import
                continue
        for module in modules:
            for name, member in sorted(vars(module).items()):
                if name.startswith("_") or getattr(member, "__module__", None) != module.__name__:
                    continue
                if inspect.isclass(member) or inspect.isfunction(member):
                    doc = inspect.getdoc(member)
                    if doc and len(doc.split()) >= 5:
                        examples.append((doc, package_name))
    return examples


def package_examples(sections: tuple[str, ...]) -> list[tuple[str, str]]:
    """(description, section) of every package apt knows, for the wanted sections."""
    try:
        dump = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise SystemExit(f"make_text_corpus: apt-cache dumpavail failed ({error}); run apt-get update first") from None
    examples = []
    for record in dump.decode("utf-8", errors="replace").split("\n\n"):
        fields, key = {}, None
        for line in record.splitlines():
            if line.startswith((" ", "\t")) and key:
                fields[key] += "\n" + line
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        section = fields.get("Section", "").rpartition("/")[2]  # "contrib/net" -> "net"
        if section in sections and fields.get("Description"):
            lines = [line.strip() for line in fields["Description"].splitlines()]
            text = " ".join(line for line in lines if line != ".")
            if len(text.split()) >= 5:
                examples.append((text, section))
    if not examples:
        raise SystemExit("make_text_corpus: apt knows no packages in those sections; run apt-get update first")
    return examples


_ROFF_ESCAPES = [
    (re.compile(r'\\".*'), ""),  # comments
    (re.compile(r"\\f(\[[^]]*\]|\(..|.)"), ""),  # font changes
    (re.compile(r"\\\(..|\\\[[^]]*\]"), " "),  # special characters
    (re.compile(r"\\\*(\(..|\[[^]]*\]|.)"), ""),  # strings
    (re.compile(r"\\s[+-]?\d+"), ""),  # size changes
    (re.compile(r"\\-"), "-"),
    (re.compile(r"\\e"), "\\\\"),
    (re.compile(r"\\[&|^/,%:!c0 ~]"), " "),
]


def _roff_text(lines: list[str]) -> str:
    """Running text of roff source lines: macros with text arguments keep the text."""
    words = []
    for line in lines:
        if line.startswith((".", "'")):
            macro, _, rest = line[1:].partition(" ")
            if macro not in ("B", "I", "BR", "IR", "RB", "RI", "BI", "IB", "SM", "Nm", "Nd", "Ar", "Fl", "Xr", "Sy", "Em"):
                continue
            line = rest.replace('"', "")
        for pattern, replacement in _ROFF_ESCAPES:
            line = pattern.sub(replacement, line)
        words.extend(line.split())
    return " ".join(words)


def man_page_text(source: str) -> str | None:
    """NAME section + the first ``MAN_DESCRIPTION_WORDS`` words of DESCRIPTION, or None."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in source.splitlines():
        heading = re.match(r'^\.(SH|Sh)\s+"?([^"]*)"?\s*$', line)
        if heading:
            current = heading.group(2).strip().upper()
            sections.setdefault(current, [])
        elif current is not None:
            sections[current].append(line)
    name = _roff_text(sections.get("NAME", []))
    if not name:
        return None
    description = _roff_text(sections.get("DESCRIPTION", [])).split()[:MAN_DESCRIPTION_WORDS]
    return " ".join([name, *description])


def man_examples(folder: Path, sections: tuple[str, ...]) -> list[tuple[str, str]]:
    examples = []
    for section in sections:
        for path in sorted((folder / f"man{section}").glob("*")):
            if path.name.startswith(GENERATED_MAN_PREFIXES):
                continue
            try:
                raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            except (OSError, EOFError, gzip.BadGzipFile):
                continue
            text = man_page_text(raw.decode("utf-8", errors="replace"))
            if text and len(text.split()) >= 5:  # ".so" redirects have no NAME
                examples.append((text, f"man{section}"))
    if not examples:
        raise SystemExit(f"make_text_corpus: no manual pages under {folder}")
    return examples


class _QuietStdout:
    """Silence stdout while importing modules that print on import."""

    def __enter__(self):
        self.saved, sys.stdout = sys.stdout, io.StringIO()

    def __exit__(self, *exc):
        sys.stdout = self.saved
        return False


def _hash_fraction(text: str, seed: int) -> float:
    digest = hashlib.sha1(f"{seed}:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def build(examples: list[tuple[str, str]], max_per_class: int, test_fraction: float, seed: int):
    """Deduplicate, cap each class (by hash order, so the cap is stable), split by hash."""
    seen, unique = set(), []
    for text, label in examples:
        if text not in seen:
            seen.add(text)
            unique.append((text, label))
    by_label: dict[str, list[str]] = {}
    for text, label in unique:
        by_label.setdefault(label, []).append(text)
    train, test = [], []
    for label in sorted(by_label):
        texts = sorted(by_label[label], key=lambda t: _hash_fraction(t, seed + 1))[:max_per_class]
        for text in texts:
            (test if _hash_fraction(text, seed) < test_fraction else train).append((text, label))
    return train, test


def write_csv(path: Path, rows: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    tmp.replace(path)


def main(argv=None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder to write train.csv and test.csv into")
    parser.add_argument("--source", choices=("fortunes", "docstrings", "packages", "manpages"), default=None,
                        help="default: fortunes when Debian's fortunes package is installed, else docstrings")
    parser.add_argument("--categories", default=",".join(FORTUNE_CATEGORIES), help="fortune files, comma separated")
    parser.add_argument("--fortune-dir", default=str(FORTUNE_DIR))
    parser.add_argument("--max-per-class", type=int, default=600)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    source = args.source or ("fortunes" if Path(args.fortune_dir).is_dir() else "docstrings")
    if source == "fortunes":
        examples = fortune_examples(Path(args.fortune_dir), tuple(c for c in args.categories.split(",") if c))
    elif source == "packages":
        examples = package_examples(PACKAGE_SECTIONS)
    elif source == "manpages":
        examples = man_examples(MAN_DIR, MAN_SECTIONS)
    else:
        examples = docstring_examples(DOCSTRING_PACKAGES)
    train, test = build(examples, args.max_per_class, args.test_fraction, args.seed)
    out = Path(args.out)
    write_csv(out / "train.csv", train)
    write_csv(out / "test.csv", test)
    counts = Counter(label for _, label in train + test)
    print(f"{source}: {len(train)} train + {len(test)} test texts in {len(counts)} classes -> {out}")
    for label, count in sorted(counts.items()):
        print(f"  {label:16s} {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
