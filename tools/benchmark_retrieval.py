"""Retrieval benchmark: popularity, EASE, two_tower and history_two_tower (three members, one vector, 16 interests) side by side, in one run.

For each data set (the Debian dependency set from tools/make_recsys_dataset.py, the planted
synthetic clusters, and a MovieLens-format CSV with ratings and timestamps built offline from
the synthetic generator) and each seed: recall@10/@100 of every model on the same split and
protocol (kerasuite/metrics/retrieval.py), training wall time, and the peak resident memory of
the child process that did the work (``resource.getrusage(RUSAGE_SELF).ru_maxrss``). EASE runs in
its own child (lambda chosen on validation), so its time and memory are its own.

    python tools/make_recsys_dataset.py data/debian-deps-5 --min-item-users 5 --min-user-items 5
    nice python tools/benchmark_retrieval.py --debian data/debian-deps-5 --seeds 42 \
        --out runs/benchmark_retrieval.json

Writes the JSON results and a markdown table (``--out`` with ``.md``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from kerasuite.io_utils import write_text_atomic  # noqa: E402  (no TensorFlow: atomic writes only)
# benchmark name -> (family, settings): the history family at its defaults (three one-vector
# members side by side), as one of those members alone, and with 16 attention-pooled interests
# (its default until 2026-12-06), side by side
MODELS = {
    "two_tower": ("two_tower", ()),
    "history_two_tower": ("history_two_tower", ()),
    "history_two_tower_one_vector": ("history_two_tower", ("model.two_tower.members=1", "model.two_tower.interests=1")),
    "history_two_tower_16_interests": ("history_two_tower", ("model.two_tower.members=1",
                                                             "model.two_tower.interests=16")),
}
SYNTHETIC = "synthetic:clusters,users=2000,items=500,clusters=10,per_user=25"


def seed_means(rows: list[dict]) -> list[dict]:
    """Per data set and model (EASE under one name whatever lambda each seed chose): the mean of
    recall@10 and @100 over the seeds measured, with recall@10's range."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        if "error" in row or row.get("recall_at_10") is None:
            continue
        model = "ease" if row["model"].startswith("ease") else row["model"]
        groups.setdefault((row["data"], model), []).append(row)
    means = []
    for (data, model), group in groups.items():
        at_10 = [float(row["recall_at_10"]) for row in group]
        seconds = [float(row["seconds"]) for row in group if row.get("seconds") not in (None, "")]
        means.append({"data": data, "model": model, "seeds": len(group), "recall_at_10": sum(at_10) / len(at_10),
                      "recall_at_10_min": min(at_10), "recall_at_10_max": max(at_10),
                      "recall_at_100": sum(float(row["recall_at_100"]) for row in group) / len(group),
                      "seconds": round(sum(seconds) / len(seconds), 1) if seconds else None})
    return means


def write_movielens_csv(path: Path, seed: int) -> Path:
    """A MovieLens-format file (user_id,item_id,rating,timestamp,title,genres) from the planted
    generator: no download, ratings and timestamps as in ml-100k."""
    from kerasuite.data.recsys import synthetic

    raw = synthetic("clusters,users=1500,items=800,clusters=12,per_user=40,noise=0.2", seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "item_id", "rating", "timestamp", "title", "genres"])
        for table in (raw.train, raw.test):
            for user, item, rating, stamp in zip(table.users, table.items, table.ratings, table.timestamps):
                writer.writerow([user, item, f"{rating:.0f}", int(stamp), raw.item_titles.get(item, item),
                                 "|".join(raw.item_genres.get(item, []))])
    return path


def child(args: argparse.Namespace) -> int:
    """One measurement in this process: ``--child model FAMILY`` or ``--child ease``."""
    import resource

    from kerasuite import config as cfg

    values = {"task": "retrieval", "data.source": args.source, "seed": str(args.seed),
              "train.verbose": "0", "run_dir": args.run_dir,
              "name": Path(args.run_dir).name, "model.family": args.family or "two_tower"}
    if args.epochs:  # else each family's default (history_two_tower trains longer than two_tower)
        values["train.epochs"] = str(args.epochs)
    for item in args.set:
        key, _, value = item.partition("=")
        values[key] = value
    config = cfg.resolve({}, values)
    config.export.modes = ()
    started = time.perf_counter()
    if args.kind == "ease":
        from kerasuite.tasks.retrieval import Retrieval

        task = Retrieval()
        data = task.load_data(config)
        loaded = time.perf_counter()
        result = {"eval": Retrieval.ease_recall(data, config), "seconds": round(time.perf_counter() - loaded, 2)}
    else:
        from kerasuite.training.runner import run

        config.model.ease.enabled = False  # measured in its own child
        report = run(config, overwrite=True)
        result = {"eval": report["eval"], "seconds": report["train"]["seconds"], "epochs": report["train"]["epochs"]}
    result["wall_seconds"] = round(time.perf_counter() - started, 2)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    write_text_atomic(Path(args.result), json.dumps(result) + "\n")
    return 0


def measure(kind: str, source: str, seed: int, epochs: int | None, work: Path, family: str | None = None,
            sets: tuple[str, ...] = (), label: str | None = None) -> dict:
    name = f"{kind}-{label or family or 'ease'}-{abs(hash(source)) % 10**6}-{seed}"
    result = work / f"{name}.json"
    command = [sys.executable, __file__, "--child", kind, "--source", source, "--seed", str(seed),
               "--epochs", str(epochs or 0), "--run-dir", str(work / name), "--result", str(result),
               "--family", family or "", "--set", *sets]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    return json.loads(result.read_text())


def table(results: dict) -> str:
    lines = ["| data | seed | model | epochs | recall@10 | recall@100 | train s | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|"]
    for row in results["rows"]:
        lines.append(f"| {row['data']} | {row['seed']} | {row['model']} | {row.get('epochs', '')} | "
                     f"{row.get('recall_at_10', float('nan')):.3f} | "
                     f"{row.get('recall_at_100', float('nan')):.3f} | {row.get('seconds', '')} | {row.get('peak_rss_mb', '')} |")
    return "\n".join(lines) + "\n"


def _rounded(value):
    return None if value is None else round(float(value), 3)


def main(argv=None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser
    from tools.readme_tables import results_name

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debian", help="folder from tools/make_recsys_dataset.py (skipped when absent)")
    parser.add_argument("--datasets", nargs="*", default=["debian", "synthetic", "movielens_csv"])
    parser.add_argument("--epochs", type=int, default=0, help="training epochs of every family (default: each family's own)")
    parser.add_argument("--seeds", type=int, nargs="*", default=[42])
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--work", default="runs/benchmark_retrieval")
    parser.add_argument("--out", default="runs/benchmark_retrieval.json")
    parser.add_argument("--results-name", type=results_name, help="also write results/NAME.json for README tables (tools/readme_tables.py)")
    parser.add_argument("--child", choices=("model", "ease"), dest="kind", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=42, help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--family", help=argparse.SUPPRESS)
    parser.add_argument("--set", nargs="*", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.kind:
        return child(args)

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    sources = {}
    if "debian" in args.datasets:
        if not args.debian or not Path(args.debian).is_dir():
            print("debian: skipped (pass --debian DIR built by tools/make_recsys_dataset.py)", file=sys.stderr)
        else:
            sources["debian"] = (f"csv:{args.debian}", ("data.recsys.implicit=true",))
    if "synthetic" in args.datasets:
        sources["synthetic"] = (SYNTHETIC, ())
    if "movielens_csv" in args.datasets:
        sources["movielens_csv"] = (f"csv:{write_movielens_csv(work / 'movielens_format.csv', 0)}",
                                    ("data.recsys.min_rating=4",))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results: dict = {"command": " ".join(sys.argv), "epochs": args.epochs, "rows": []}

    def record(row: dict) -> None:
        results["rows"].append(row)
        write_text_atomic(out, json.dumps(results, indent=2) + "\n")  # partial results survive a later failure
        write_text_atomic(out.with_suffix(".md"), table(results))
        print(json.dumps(row), flush=True)

    for data_name, (source, sets) in sources.items():
        for seed in args.seeds:
            ease_run = measure("ease", source, seed, args.epochs, work, sets=sets)
            base = {"data": data_name, "seed": seed}
            if "error" in ease_run:
                record({**base, "model": "ease", "error": ease_run["error"]})
            else:
                evaluation = ease_run["eval"]
                record({**base, "model": f"ease (lambda {evaluation.get('ease_lambda')})",
                        "recall_at_10": evaluation.get("ease_recall_at_10", float("nan")),
                        "recall_at_100": evaluation.get("ease_recall_at_100", float("nan")),
                        "seconds": ease_run["seconds"], "peak_rss_mb": ease_run["peak_rss_mb"],
                        "note": evaluation.get("ease_note")})
            popularity_done = False
            for model_name in args.models:
                family, model_sets = MODELS[model_name]
                run = measure("model", source, seed, args.epochs, work, family, (*sets, *model_sets), model_name)
                if "error" in run:
                    record({**base, "model": model_name, "error": run["error"]})
                    continue
                evaluation = run["eval"]
                if not popularity_done:
                    record({**base, "model": "popularity", "recall_at_10": evaluation["popularity_recall_at_10"],
                            "recall_at_100": evaluation["popularity_recall_at_100"], "seconds": 0, "peak_rss_mb": ""})
                    popularity_done = True
                record({**base, "model": model_name, "epochs": run.get("epochs"), "recall_at_10": evaluation["recall_at_10"],
                        "recall_at_100": evaluation["recall_at_100"], "seconds": run["seconds"],
                        "peak_rss_mb": run["peak_rss_mb"]})
    results["means"] = seed_means(results["rows"])
    write_text_atomic(out, json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"wrote {out} and {out.with_suffix('.md')}")
    if args.results_name:
        sys.path.insert(0, str(ROOT / "tools"))
        from readme_tables import write_results

        columns = ["data", "seed", "model", "epochs", "recall@10", "recall@100", "train s", "peak RSS MB"]
        rows = [[row["data"], row["seed"], row["model"], row.get("epochs"), _rounded(row.get("recall_at_10")),
                 _rounded(row.get("recall_at_100")), row.get("seconds"), row.get("peak_rss_mb") or None]
                for row in results["rows"]]
        tables = {"recall": {"columns": columns, "rows": rows}}
        if len(args.seeds) > 1:
            tables["means"] = {"columns": ["data", "model", "seeds", "recall@10 (mean)", "recall@10 (range)",
                                           "recall@100 (mean)", "train s (mean)"],
                               "rows": [[m["data"], m["model"], m["seeds"], _rounded(m["recall_at_10"]),
                                         f"{_rounded(m['recall_at_10_min'])}-{_rounded(m['recall_at_10_max'])}",
                                         _rounded(m["recall_at_100"]), m["seconds"]] for m in results["means"]]}
        written = write_results(args.results_name, results["command"], tables, epochs=args.epochs)
        print(f"wrote {written} (README: python tools/readme_tables.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
