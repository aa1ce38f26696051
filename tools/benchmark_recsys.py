"""Recommender benchmark: models next to their baselines, each pair measured in the same run.

1. retrieval (two_tower) on the real Debian dependency set: recall@10/100 vs popularity;
2. ranking (dcn) with implicit labels on the same set: AUC vs popularity;
3. ranking (dcn) rating regression: RMSE vs predicting the training mean. No real rated data set
   is available offline, so this one uses the planted synthetic ratings and says so;
4. throughput: one training epoch of each task on a 100,000-interaction CSV (examples/s);
5. ``--only baselines``: tools/benchmark_retrieval.py (popularity, EASE, two_tower and
   history_two_tower: recall, training time, peak memory) on this data set and two others.

    python tools/make_recsys_dataset.py data/debian-deps --max-rows 100000
    python tools/benchmark_recsys.py --data data/debian-deps --out runs/benchmark_recsys.json

Training goes through ``kerasuite.training.runner.run`` (the same code as the CLI) with export
off; every run folder lands under ``--work`` for TensorBoard.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from kerasuite.io_utils import write_text_atomic  # noqa: E402  (after the path insert above)


def run(task: str, family: str, source: str, work: Path, name: str, epochs: int, **sets: str) -> dict:
    from kerasuite import config as cfg
    from kerasuite.training.runner import run as run_training

    values = {"task": task, "model.family": family, "data.source": source, "train.epochs": str(epochs),
              "train.verbose": "2", "run_dir": str(work / name), "name": name, **sets}
    config = cfg.resolve({}, values)
    config.export.modes = ()
    started = time.perf_counter()
    report = run_training(config, overwrite=True)
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    return {"task": task, "model": family, "data": source, "settings": sets, "epochs": epochs,
            "eval": report["eval"], "train": report["train"], "wall_seconds": report["wall_seconds"]}


def main(argv=None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder written by tools/make_recsys_dataset.py")
    parser.add_argument("--sample", help="100k-interaction CSV for throughput (default DATA/sample_100000.csv)")
    parser.add_argument("--work", default="runs/benchmark_recsys", help="run folders go here")
    parser.add_argument("--out", default="runs/benchmark_recsys.json")
    parser.add_argument("--retrieval-epochs", type=int, default=5)
    parser.add_argument("--ranking-epochs", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=["retrieval", "implicit", "rating", "throughput"],
                        help="sections; 'baselines' (not in the default) runs tools/benchmark_retrieval.py")
    args = parser.parse_args(argv)

    data = Path(args.data)
    sample = Path(args.sample or data / "sample_100000.csv")
    work = Path(args.work)
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "runs": {}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def record(key: str, value: dict) -> None:
        results["runs"][key] = value
        write_text_atomic(out, json.dumps(results, indent=2) + "\n")
        print(f"== {key}: {json.dumps(value['eval'])}  train {json.dumps(value['train'])}", flush=True)

    if "retrieval" in args.only:
        record("retrieval_real", run("retrieval", "two_tower", f"csv:{data}", work, "retrieval-real",
                                     args.retrieval_epochs))
    if "implicit" in args.only:
        record("ranking_implicit_real", run("ranking", "dcn", f"csv:{data}", work, "ranking-implicit-real",
                                            args.ranking_epochs, **{"data.recsys.implicit": "true"}))
    if "rating" in args.only:
        record("ranking_rating_synthetic", run(
            "ranking", "dcn", "synthetic:clusters,users=2000,items=500,clusters=10,per_user=25", work,
            "ranking-rating-synthetic", 6))
    if "throughput" in args.only:
        if not sample.is_file():
            raise SystemExit(f"{sample}: missing; make it with tools/make_recsys_dataset.py --max-rows 100000")
        for task, family in (("retrieval", "two_tower"), ("ranking", "dcn")):
            sets = {"data.validation_fraction": "0"}
            if task == "ranking":
                sets["data.recsys.implicit"] = "true"
            record(f"throughput_{task}", run(task, family, f"csv:{sample}", work, f"throughput-{task}", 1, **sets))
    if "baselines" in args.only:
        import benchmark_retrieval

        benchmark_retrieval.main(["--debian", str(data), "--epochs", str(args.retrieval_epochs),
                                  "--work", str(work / "baselines"), "--out", str(out.with_name("benchmark_retrieval.json"))])
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
