"""Study: how much do retrieval models gain when their scores are added, and how alike are they?

Given finished ``retrieval`` run folders on the same data (``config.json`` + ``model.keras``), it
scores every held-out pair of the test split as the task's evaluation does (whole catalogue,
items seen in training removed) and prints one JSON object:

- ``runs``: each run's recall@10, and for a run with ``model.two_tower.members`` > 1 each
  member's own recall@10 (its slice of the concatenated query and candidate embeddings);
- ``summed_recall_at_10``: the runs' scores added (several runs: what an ensemble of independent
  trainings would give; a single run with members: its own score);
- ``hit_correlation``: the correlation of the models' (or members') per-user top-10 hits. Models
  that miss the same users gain little from being added.

    PYTHONPATH=. python tools/benchmarking/retrieval_ensemble.py RUN_DIR [RUN_DIR ...]

The runs must share the test split (a csv folder's test.csv; synthetic sets differ per seed).
Written for the study behind ``model.two_tower.members`` (README, retrieval).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(argv=None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for run in args.runs:
        if not (run / "config.json").is_file() or not (run / "model.keras").is_file():
            parser.error(f"{run}: not a finished run folder (needs config.json and model.keras)")

    import keras
    import numpy as np

    import kerasuite.models  # noqa: F401  custom layers
    from kerasuite import config as cfg
    from kerasuite.metrics import retrieval as metrics
    from kerasuite.models.two_tower import member_count
    from kerasuite.tasks import get_task

    configs = [cfg.resolve_saved(run / "config.json") for run in args.runs]
    if any(c.task != "retrieval" for c in configs) or len({c.data.source for c in configs}) != 1:
        parser.error("the runs must all be retrieval runs on the same --data")
    task = get_task("retrieval")
    data = task.load_data(configs[0])
    test = data.test_split
    targets = test.items - 1

    def hits(score_fn) -> np.ndarray:
        ranks = []
        for start in range(0, len(targets), 512):
            rows = np.arange(start, min(start + 512, len(targets)))
            seen = [data.seen.get(int(user)) for user in test.users[rows]]
            ranks.append(metrics.heldout_ranks(score_fn(rows), targets[rows], seen))
        return np.concatenate(ranks) < 10

    report, embeddings, run_hits, member_hits = {"runs": []}, [], [], []
    for run in args.runs:
        model = keras.saving.load_model(run / "model.keras", safe_mode=True, compile=False)
        candidates = task.candidate_embeddings(model, data.arrays)
        queries = np.asarray(task.export_model(model, data).predict(task.query_features(data), batch_size=1024,
                                                                    verbose=0), np.float32)
        embeddings.append((queries, candidates))
        run_hits.append(hits(lambda rows, q=queries, c=candidates: metrics.candidate_scores(q[rows], c)))
        entry = {"run": str(run), "recall_at_10": float(run_hits[-1].mean())}
        members = member_count(model)  # from the model: a run older than the setting has none in config.json
        if members > 1:
            width = queries.shape[1] // members
            for part in (slice(m * width, (m + 1) * width) for m in range(members)):
                member_hits.append(hits(lambda rows, q=queries[:, part], c=candidates[:, part]: q[rows] @ c.T))
            entry["member_recall_at_10"] = [round(float(h.mean()), 4) for h in member_hits[-members:]]
        report["runs"].append(entry)
    report["summed_recall_at_10"] = float(hits(lambda rows: sum(
        metrics.candidate_scores(q[rows], c) for q, c in embeddings)).mean())
    compared = run_hits if len(run_hits) > 1 else member_hits
    if len(compared) > 1:
        report["hit_correlation"] = np.corrcoef(np.array(compared, float)).round(3).tolist()
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
