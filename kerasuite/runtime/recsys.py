"""Recommenders on a device: raw ids -> model inputs, and "top-k for this user" from a bundle.

numpy + the standard library + LiteRT only (never TensorFlow). A retrieval bundle holds:

- ``users.txt`` / ``items.txt``: one raw id per line; line ``i`` (0-based) is index ``i + 1`` in
  the models, and an id that is not listed maps to index 0 (the learned out-of-vocabulary row).
- ``candidates.npy``: float32 ``[num_items, dim]`` item embeddings, row ``i`` = ``items.txt`` line ``i``.
- ``model_<mode>.tflite``: the query tower, ``user_index [+ history] -> embedding``.
- ``retrieve_topk.tflite``: query tower + brute-force top-k in one graph (builtin ops).
- ``histories.npy`` (``history_two_tower`` only): int32 ``[num_users + 1, length]``, each known
  user's history as of training (row = user index; row 0 empty). ``signature.json``'s
  ``preprocessing.history`` says how to build the ``history`` input.

A ranking bundle holds the same id tables plus ``item_features.npz`` (side features per item index).

``python -m kerasuite.runtime.recsys BUNDLE_DIR --user ID [--k 10]`` prints the top-k items;
``--history ITEM ...`` (most recent first) gives the history of a user the bundle does not know.

What the functions notice but do not refuse (an unknown user answered from the out-of-vocabulary
row, unknown ids skipped, a shorter answer than asked) goes to their ``say`` argument, one line
each: stderr by default, as the command line shows it; a caller may collect or log them instead.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from kerasuite.errors import UserError
from kerasuite.metrics.retrieval import candidate_scores
from kerasuite.runtime.device_spec import EXCLUDED_SCORE, RecsysPairSpec, RecsysQuerySpec
from kerasuite.argparsing import OneLineArgumentParser

OOV_INDEX = 0

#: Receives one line per note (see the module docstring).
Say = Callable[[str], None]


def say_on_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def load_ids(path: Path) -> list[str]:
    if not path.is_file():
        raise UserError(f"{path}: missing from the bundle")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise UserError(f"{path}: line {line} is not UTF-8 text; the bundle's id table is damaged") from None


def load_candidates(path: Path, num_items: int, dim: int | None) -> np.ndarray:
    """``candidates.npy`` as float32 [num_items, dim]; never unpickles (a bundle may come from anyone)."""
    if not path.is_file():
        raise UserError(f"{path}: missing from the bundle")
    try:
        candidates = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"{path}: not a numeric .npy array ({reason})") from None
    if not isinstance(candidates, np.ndarray) or candidates.dtype.kind not in "fiu" or candidates.ndim != 2:
        raise UserError(f"{path}: expected a float array [items, dim], found "
                        f"{getattr(candidates, 'dtype', '?')} {list(getattr(candidates, 'shape', []))}")
    if len(candidates) != num_items:
        raise UserError(f"{path}: {len(candidates)} rows but items.txt lists {num_items} items; the bundle is damaged")
    if dim is not None and candidates.shape[1] != dim:
        raise UserError(f"{path}: rows of width {candidates.shape[1]}, the query tower gives {dim}")
    return candidates.astype(np.float32)


def check_k(k: int) -> None:
    if k < 1:
        raise UserError(f"--k {k}: must be at least 1")


def index_of(ids: list[str]) -> dict[str, int]:
    """Raw id -> model index (line + 1); unknown ids are left to the caller's ``.get(id, 0)``."""
    return {value: position + 1 for position, value in enumerate(ids)}


def _rows(path: str, columns: Sequence[str]) -> list[list[str]]:
    """Data rows of ``columns`` from a small CSV (header optional) or a plain one-id-per-line file."""
    text = Path(path).read_text(encoding="utf-8-sig", errors="replace")
    rows = [[cell.strip() for cell in row] for row in csv.reader(text.splitlines()) if any(c.strip() for c in row)]
    if not rows:
        raise UserError(f"--input {path}: empty file; expected {','.join(columns)}")
    header = [cell.lower() for cell in rows[0]]
    if all(name in header for name in columns):
        positions = [header.index(name) for name in columns]
        rows = rows[1:]
    else:
        positions = list(range(len(columns)))
    picked = []
    for row in rows:
        if len(row) <= max(positions):
            raise UserError(f"--input {path}: expected {len(columns)} fields ({','.join(columns)}) per line")
        picked.append([row[p] for p in positions])
    if not picked:
        raise UserError(f"--input {path}: no data rows after the header")
    return picked


def read_user(path: str, spec: "RecsysQuerySpec | dict[str, Any]", bundle_dir: Path,
              say: Say = say_on_stderr) -> dict[str, np.ndarray]:
    """A file naming one user id (``user_id`` header optional) -> ``{"user_index": [i]}``, plus the
    user's ``history`` row from the bundle's table when the query tower reads one."""
    spec = RecsysQuerySpec.coerce(spec)
    users = index_of(load_ids(Path(bundle_dir) / spec.users))
    user = _rows(path, ["user_id"])[0][0]
    user_index = user_index_of(users, user, spec, None, f"--input {path}", say)
    if spec.history is None:
        return {spec.input: np.array([user_index], np.int32)}
    item_ids = load_ids(Path(bundle_dir) / spec.items)
    return query_inputs(spec, bundle_dir, user_index, item_ids, None, say)


def read_pair(path: str, spec: "RecsysPairSpec | dict[str, Any]", bundle_dir: Path) -> dict[str, np.ndarray]:
    """A file with one ``user_id,item_id`` pair -> the ranking model's inputs (ids and side features)."""
    spec = RecsysPairSpec.coerce(spec)
    bundle_dir = Path(bundle_dir)
    users = index_of(load_ids(bundle_dir / spec.users))
    items = index_of(load_ids(bundle_dir / spec.items))
    user, item = _rows(path, ["user_id", "item_id"])[0]
    item_index = items.get(item, OOV_INDEX)
    inputs = {
        "user_index": np.array([users.get(user, OOV_INDEX)], np.int32),
        "item_index": np.array([item_index], np.int32),
    }
    features_file = spec.item_features
    if features_file:
        with np.load(bundle_dir / features_file) as tables:
            for name in tables.files:  # one row per item index, row 0 = unknown item
                inputs[name] = tables[name][item_index][None]
    return inputs


def top_k(scores: np.ndarray, k: int, exclude: Sequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Rows and scores of the ``k`` best candidates, best first; ties -> lower row first."""
    scores = np.asarray(scores, np.float64).copy()
    if len(exclude):
        scores[np.asarray(exclude, dtype=np.int64)] = -np.inf
    k = min(k, int(np.sum(np.isfinite(scores))))
    order = np.lexsort((np.arange(len(scores)), -scores))[:k]
    return order, scores[order]


def history_input(spec: "RecsysQuerySpec | dict[str, Any]", bundle_dir: Path, user_index: int, item_ids: list[str],
                  history: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    """The ``history`` input ``[1, length]`` as signature.json describes it, and the unknown ids.

    ``history`` (raw item ids, most recent first) wins; without it a known user's row of the
    bundle's history table is used (an unknown user gets an empty history). Unknown ids are
    dropped, repeats kept once, and only the first ``length`` (the most recent) are kept.
    Raises ``UserError`` when a given history has no known item left.
    """
    history_spec = RecsysQuerySpec.coerce(spec).history
    if history_spec is None:
        raise KeyError("history")
    length, padding = history_spec.length, history_spec.padding_index
    row = np.full((1, length), padding, np.int32)
    if history is None:
        table = np.load(Path(bundle_dir) / history_spec.table)
        if 0 <= user_index < len(table):
            row[0, : table.shape[1]] = table[user_index][:length]
        return row, []
    index = index_of(item_ids)
    unknown = [item for item in history if item not in index]
    known: list[int] = []
    for item in history:
        if item in index and index[item] not in known:
            known.append(index[item])
    if not known:
        raise UserError(f"--history: none of the {len(history)} item id(s) is in items.txt; nothing to score")
    row[0, : min(length, len(known))] = known[:length]
    return row, unknown


def recommend(bundle_dir: str | Path, user_id: str, k: int = 10, mode: str = "float32",
              exclude_items: Sequence[str] = (), threads: int = 1,
              history: Sequence[str] | None = None, api: str = "interpreter",
              say: Say = say_on_stderr) -> list[tuple[str, float]]:
    """Top-k ``(item_id, score)`` for a raw user id: id table -> query tower (.tflite, on the
    LiteRT ``api``) -> numpy dot products against ``candidates.npy`` (with several interests,
    each candidate's best). ``exclude_items`` (e.g. already seen) are skipped, and so are the
    items of the history a ``history_two_tower`` bundle reads."""
    bundle_dir = Path(bundle_dir)
    spec = _query_spec(bundle_dir)
    users = index_of(load_ids(bundle_dir / spec.users))
    item_ids = load_ids(bundle_dir / spec.items)
    check_k(k)
    model_path = bundle_dir / f"model_{mode}.tflite"
    if not model_path.is_file():
        raise UserError(f"--mode {mode}: {model_path} is not in the bundle")
    inputs = query_inputs(spec, bundle_dir, user_index_of(users, user_id, spec, history, say=say), item_ids, history,
                          say)
    query = _open(model_path, api, threads, say).run_outputs(inputs)[0]
    candidates = load_candidates(bundle_dir / spec.candidates, len(item_ids),
                                 int(query.shape[-1]))
    exclude = excluded_rows(item_ids, exclude_items, say)
    if "history" in inputs:  # candidate row = item index - 1
        exclude += [int(i) - 1 for i in inputs["history"][0] if i != spec.history.padding_index]
    rows, scores = top_k(candidate_scores(query[:1].astype(np.float32), candidates)[0], k, exclude)
    return [(item_ids[r], float(s)) for r, s in zip(rows, scores)]


def user_index_of(users: dict[str, int], user_id: str, spec: RecsysQuerySpec, history: Sequence[str] | None,
                  what: str = "--user", say: Say = say_on_stderr) -> int:
    """The user's index; a user the bundle does not know is answered from the out-of-vocabulary
    row, and ``say`` is told (with a history bundle and no ``--history``, from an empty history too)."""
    if user_id and user_id not in users:
        empty = spec.history is not None and history is None
        hint = " (pass --history ITEM ... for a new user)" if what == "--user" else ""
        say(f"note: {what}: user {user_id} is not in {spec.users}; answering from the unknown-user row"
            + (f" and an empty history{hint}" if empty else ""))
    return users.get(user_id, OOV_INDEX)


def excluded_rows(item_ids: list[str], exclude_items: Sequence[str], say: Say = say_on_stderr) -> list[int]:
    """Candidate rows of ``--exclude`` ids; ids not in items.txt are told to ``say`` in one line."""
    row_of = {item: row for row, item in enumerate(item_ids)}
    unknown = [item for item in exclude_items if item not in row_of]
    if unknown:
        say(f"warning: --exclude: {len(unknown)} unknown item id(s) ignored: {' '.join(unknown[:10])}"
            + (" ..." if len(unknown) > 10 else ""))
    return [row_of[item] for item in exclude_items if item in row_of]


def _open(path: Path, api: str, threads: int, say: Say = say_on_stderr):
    """The file on the asked LiteRT API; a CompiledModel that cannot load it tells ``say`` why
    and the Interpreter answers instead (never silently)."""
    from kerasuite.runtime.compiled import open_model

    model = open_model(path, api, threads)
    fallback = getattr(model, "fallback", None)
    if fallback:
        say(f"note: --api {api}: {path.name} runs on the Interpreter ({fallback})")
    return model


def query_inputs(spec: "RecsysQuerySpec | dict[str, Any]", bundle_dir: Path, user_index: int, item_ids: list[str],
                 history: Sequence[str] | None, say: Say = say_on_stderr) -> dict[str, np.ndarray]:
    """The query tower's inputs; unknown ``history`` ids are told to ``say`` in one line."""
    spec = RecsysQuerySpec.coerce(spec)
    inputs = {"user_index": np.array([user_index], np.int32)}
    if spec.history is None:
        if history is not None:
            raise UserError("--history: this bundle's query tower reads no history (train model.family=history_two_tower)")
        return inputs
    inputs["history"], unknown = history_input(spec, bundle_dir, user_index, item_ids, history)
    if unknown:
        say(f"warning: --history: {len(unknown)} unknown item id(s) skipped: {' '.join(unknown[:10])}"
            + (" ..." if len(unknown) > 10 else ""))
    return inputs


def recommend_with_topk_model(bundle_dir: str | Path, user_id: str, threads: int = 1,
                              history: Sequence[str] | None = None, api: str = "interpreter",
                              k: int | None = None, exclude_items: Sequence[str] = (),
                              say: Say = say_on_stderr) -> list[tuple[str, float]]:
    """The same answer from ``retrieve_topk.tflite`` alone: one invoke, top-k computed in the graph
    (which skips the history's items itself). The graph's k is fixed at export
    (``model.two_tower.top_k``); ``exclude_items`` are dropped from its answer, and fewer than ``k``
    left is told to ``say``."""
    bundle_dir = Path(bundle_dir)
    spec = _query_spec(bundle_dir)
    users = index_of(load_ids(bundle_dir / spec.users))
    item_ids = load_ids(bundle_dir / spec.items)
    model = _open(bundle_dir / spec.topk_model, api, threads, say)
    inputs = query_inputs(spec, bundle_dir, user_index_of(users, user_id, spec, history, say=say), item_ids, history,
                          say)
    # Converted without a SignatureDef, the two outputs are told apart by dtype.
    by_dtype = {np.asarray(output).dtype.kind: np.asarray(output)[0] for output in model.run_outputs(inputs)}
    rows, scores = by_dtype["i"], by_dtype["f"]
    if len(rows) and int(np.max(rows)) >= len(item_ids):
        raise UserError(f"{bundle_dir / 'items.txt'}: lists {len(item_ids)} items but the top-k model "
                        f"returned row {int(np.max(rows))}; the bundle is damaged")
    skip = set(excluded_rows(item_ids, exclude_items, say))
    answer = [(item_ids[int(r)], float(s)) for r, s in zip(rows, scores)
              if int(r) not in skip and s > EXCLUDED_SCORE / 2]
    wanted = len(rows) if k is None else k
    if len(answer) < wanted:
        say(f"note: --topk-model: {spec.topk_model} returns its top {len(rows)}"
            + (f", {len(answer)} left after --exclude and the history" if len(answer) < len(rows) else "")
            + f"; {min(wanted, len(answer))} shown of --k {wanted} (drop --topk-model for any k)")
    return answer[:wanted]


def _query_spec(bundle_dir: Path) -> RecsysQuerySpec:
    path = bundle_dir / "signature.json"
    if bundle_dir.is_file() and (bundle_dir.parent / "signature.json").is_file():
        raise UserError(f"{bundle_dir}: a file of the bundle; pass the bundle folder {bundle_dir.parent}")
    if not path.is_file():
        raise UserError(f"{bundle_dir}: not an export bundle (no signature.json)")
    try:
        signature = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: not valid JSON ({getattr(error, 'msg', error)})") from None
    preprocessing = signature.get("preprocessing", {}) if isinstance(signature, dict) else None
    if not isinstance(preprocessing, dict):
        raise UserError(f"{path}: expected an object with a 'preprocessing' object")
    kind = preprocessing.get("kind")
    if kind != RecsysQuerySpec.kind:  # another task's bundle failed later, on a missing file or model input
        pairs = (" (a ranking bundle scores one 'user_id,item_id' line: python -m kerasuite.edge "
                 "model_<mode>.tflite --input PAIR.txt)") if kind == "recsys_pair" else ""
        raise UserError(f"{bundle_dir}: not a retrieval bundle (its signature.json says task "
                        f"{signature.get('task')!r}, preprocessing {kind!r}){pairs}")
    try:
        return RecsysQuerySpec.coerce(preprocessing)
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(f"{path}: preprocessing is not a retrieval query spec ({error})") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineArgumentParser(prog="python -m kerasuite.runtime.recsys",
                                     description="Top-k items for a user from a retrieval bundle (no TensorFlow).")
    parser.add_argument("bundle", metavar="BUNDLE_DIR")
    parser.add_argument("--user", default="", help="raw user id; unknown ids get the OOV embedding (required "
                        "unless --history is given)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--mode", default="float32", help="which model_<mode>.tflite query tower to run")
    parser.add_argument("--topk-model", action="store_true", help="use retrieve_topk.tflite instead")
    parser.add_argument("--api", choices=("interpreter", "compiled"), default="interpreter",
                        help="LiteRT API: the Interpreter or the CompiledModel LiteRT 2.x recommends")
    parser.add_argument("--exclude", nargs="*", default=[], metavar="ITEM", help="item ids to skip")
    parser.add_argument("--history", nargs="+", metavar="ITEM",
                        help="history_two_tower bundles: the user's items, most recent first (unknown ids "
                             "are skipped; beyond the bundle's history length the oldest are dropped)")
    args = parser.parse_args(argv)
    if not args.user and args.history is None:
        print("error: --user: required (or --history ITEM ... for a user the bundle does not know)", file=sys.stderr)
        return 2
    try:
        check_k(args.k)
        if args.topk_model:
            results = recommend_with_topk_model(args.bundle, args.user, history=args.history, api=args.api, k=args.k,
                                                exclude_items=args.exclude)
        else:
            results = recommend(args.bundle, args.user, args.k, args.mode, args.exclude, history=args.history,
                                api=args.api)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    for rank, (item, score) in enumerate(results, start=1):
        print(f"{rank:>3}  {item}  {score:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
