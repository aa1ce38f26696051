"""Build a real implicit-feedback data set offline: Debian packages and what they depend on.

Each binary package is a "user" and each package it Depends on or Recommends is an "item" it
interacted with; the item's short description is its title and its archive section plus its
debtags ``role::`` facets are its genres. Recommending the rest of a package's dependencies from
the ones it already has is real collaborative filtering (python3-* packages share python3 and
friends, GNOME apps share GTK libraries, ...), with a strong popularity baseline (libc6) to beat.

Input is the apt package index (``apt-cache dumpavail``, which needs ``apt-get update`` once), a
saved copy of it (``--input FILE``), or, when neither exists, ``/var/lib/dpkg/status`` (only the
installed packages). Output: ``OUT/train.csv`` and ``OUT/test.csv`` with
``user_id,item_id,title,genres`` (one dependency per user held out, chosen by a stable hash), plus
``OUT/README.txt`` describing where it came from. ``--max-rows N`` also writes ``OUT/sample_N.csv``
(a prefix of the interactions, for throughput benchmarks).

    python tools/make_recsys_dataset.py data/debian-deps
    python -m kerasuite.train --task retrieval --data csv:data/debian-deps
    python tools/make_recsys_dataset.py data/debian-deps-val --validation-copy-of data/debian-deps --seed 7
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kerasuite.data.recsys import Interactions, holdout_per_user  # noqa: E402
from kerasuite.io_utils import atomic_path, write_text_atomic  # noqa: E402

DEPENDENCY_FIELDS = ("Depends", "Pre-Depends", "Recommends")
_NAME = re.compile(r"^\s*([a-z0-9][a-z0-9+.\-]*)")


def read_index(path: str | None) -> tuple[str, str]:
    """The package index text and a description of where it came from."""
    if path:
        return Path(path).read_text(encoding="utf-8", errors="replace"), path
    try:
        done = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True, timeout=300)
        if done.returncode == 0 and done.stdout.count("\nPackage: ") > 1000:
            return done.stdout, "apt-cache dumpavail"
    except (OSError, subprocess.TimeoutExpired):
        pass
    status = Path("/var/lib/dpkg/status")
    if status.is_file():
        return status.read_text(encoding="utf-8", errors="replace"), str(status)
    raise SystemExit("no package index: run 'apt-get update' or pass --input FILE (an apt-cache dumpavail copy)")


def parse_stanzas(text: str) -> list[dict[str, str]]:
    """Debian control stanzas -> dicts (continuation lines joined with a space)."""
    stanzas = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line.startswith((" ", "\t")) and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" in fields:
            stanzas.append(fields)
    return stanzas


def dependencies(fields: dict[str, str]) -> list[str]:
    """Package names depended on; of alternatives ``a | b`` the first; versions and arch dropped."""
    names: list[str] = []
    for field in DEPENDENCY_FIELDS:
        for clause in fields.get(field, "").split(","):
            first = clause.split("|")[0]
            match = _NAME.match(first)
            if match and match.group(1) not in names:
                names.append(match.group(1))
    return names


def build(stanzas: list[dict[str, str]], min_item_users: int, min_user_items: int):
    packages: dict[str, dict[str, str]] = {}
    for fields in stanzas:  # the first stanza of a name wins (several versions may be listed)
        packages.setdefault(fields["Package"], fields)
    edges = {name: [d for d in dependencies(fields) if d != name] for name, fields in packages.items()}
    # Prune rare items and thin users until stable: an item one package uses cannot be learned.
    while True:
        item_users = Counter(item for items in edges.values() for item in items)
        pruned = {user: [i for i in items if item_users[i] >= min_item_users] for user, items in edges.items()}
        pruned = {user: items for user, items in pruned.items() if len(items) >= min_user_items}
        if pruned == edges:
            break
        edges = pruned
    titles, genres = {}, {}
    for item in {i for items in edges.values() for i in items}:
        fields = packages.get(item, {})
        titles[item] = fields.get("Description", item)[:120] or item
        roles = [t.strip() for t in fields.get("Tag", "").split(",") if t.strip().startswith("role::")]
        genres[item] = "|".join([fields.get("Section", "virtual").split("/")[-1], *roles])
    return edges, titles, genres


def write_csv(path: Path, users, items, titles, genres) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "item_id", "title", "genres"])
        for user, item in zip(users, items):
            writer.writerow([user, item, titles[item], genres[item]])


def refuse(message: str) -> None:
    """Bad input: one line on stderr, exit 2."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def read_train_csv(folder: Path) -> tuple[list[str], list[str], dict[str, str], dict[str, str]]:
    """``folder/train.csv`` as written by this tool -> users, items, titles, genres."""
    path = folder / "train.csv"
    if not path.is_file():
        refuse(f"--validation-copy-of {folder}: no train.csv there (build the set with this tool first)")
    users, items, titles, genres = [], [], {}, {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"user_id", "item_id", "title", "genres"} - set(reader.fieldnames or ())
        if missing:
            refuse(f"{path}: line 1: missing column(s) {', '.join(sorted(missing))}")
        for row in reader:
            users.append(row["user_id"])
            items.append(row["item_id"])
            titles[row["item_id"]] = row["title"]
            genres[row["item_id"]] = row["genres"]
    return users, items, titles, genres


def validation_copy(source: Path, out: Path, seed: int) -> str:
    """A tuning copy that never reads the test split: ``source/train.csv`` with one more item per
    package held out by the same hashed rule (``--seed`` picks the hash)."""
    import numpy as np

    users, items, titles, genres = read_train_csv(source)
    train, held, _ = holdout_per_user(Interactions(np.array(users, dtype=str), np.array(items, dtype=str)), seed)
    write_csv(out / "train.csv", train.users.tolist(), train.items.tolist(), titles, genres)
    write_csv(out / "test.csv", held.users.tolist(), held.items.tolist(), titles, genres)
    return (f"Validation copy of {source}/train.csv ({source}/test.csv not read): train {len(train)}, "
            f"held out {len(held)} (one per package with two or more, hashed with seed {seed}).\n")


def main(argv=None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="output folder (train.csv, test.csv, README.txt)")
    parser.add_argument("--input", help="a saved 'apt-cache dumpavail' (default: run it)")
    parser.add_argument("--min-item-users", type=int, default=3, help="drop dependencies fewer packages use")
    parser.add_argument("--min-user-items", type=int, default=3, help="drop packages with fewer dependencies")
    parser.add_argument("--seed", type=int, default=42, help="seed of the hashed per-user hold-out")
    parser.add_argument("--max-rows", type=int, default=0, help="also write sample_N.csv with the first N interactions")
    parser.add_argument("--validation-copy-of", metavar="FOLDER",
                        help="instead: a tuning copy of FOLDER (built by this tool) from its train.csv only")
    args = parser.parse_args(argv)

    if args.validation_copy_of:
        summary = validation_copy(Path(args.validation_copy_of), Path(args.out), args.seed)
        write_text_atomic(Path(args.out) / "README.txt", summary)
        print(summary.strip())
        return 0
    text, origin = read_index(args.input)
    edges, titles, genres = build(parse_stanzas(text), args.min_item_users, args.min_user_items)
    users = [user for user, items in sorted(edges.items()) for _ in items]
    items = [item for _, deps in sorted(edges.items()) for item in deps]
    import numpy as np

    table = Interactions(np.array(users, dtype=str), np.array(items, dtype=str))
    train, test, _ = holdout_per_user(table, args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "train.csv", train.users.tolist(), train.items.tolist(), titles, genres)
    write_csv(out / "test.csv", test.users.tolist(), test.items.tolist(), titles, genres)
    if args.max_rows:
        write_csv(out / f"sample_{args.max_rows}.csv", users[: args.max_rows], items[: args.max_rows], titles, genres)
    summary = (f"Debian dependency graph from {origin}: {len(edges)} packages (users), "
               f"{len(titles)} dependencies (items), {len(users)} interactions; "
               f"train {len(train)}, test {len(test)} (one per package, hashed with seed {args.seed}); "
               f"items used by >= {args.min_item_users} packages, packages with >= {args.min_user_items} of them.\n")
    write_text_atomic(out / "README.txt", summary)
    print(summary.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
