"""int8 conversion and the per-layer int8 diagnosis of a keyword model, by two checkouts side by side.

    git worktree add /tmp/before 69db988      # the code before the change
    PYTHONPATH=. python tools/benchmarking/int8_diagnosis_before_after.py --before-tree /tmp/before \
        --model RUN/model.keras --data data/keywords

A keyword model's export calibrates on 1,280 clips (``export.representative_batches`` 20 x batch
64) and, when its int8 file fails parity, runs TensorFlow's QuantizationDebugger to name the layer
with the largest int8 error. Before: the calibration generator indexed the representative .npz
file once per example, and NumPy reads and decompresses a whole array at every such index (the
1,280 x 16,000 clip array, 82 MB, for each clip), and the debugger measured every calibration
clip. After: the arrays are read once, and the measurement uses ``DIAGNOSIS_EXAMPLES`` clips,
evenly spaced (calibration still uses all of them, so the debugged model has the file's scales).
Each checkout's worker runs in its own child process on the same model and clips: the int8
conversion, then the diagnosis. Reported: seconds of each, the int8 files' equality, each
diagnosis' worst layer and the overlap of the two top-5 layer lists. Output: JSON on stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def calibration_clips(folder: Path, count: int) -> np.ndarray:
    from kerasuite.runtime.audio import load_clip, normalize_peak

    paths = sorted((folder / "train").glob("*/*.wav"))
    picked = np.random.default_rng(0).choice(len(paths), min(count, len(paths)), replace=False)
    return np.stack([normalize_peak(load_clip(paths[i], 16000, 16000), 0.05) for i in picked]).astype(np.float32)


def timed_worker(tree: Path, arguments: list[str]) -> float:
    from kerasuite.lifeline import child_env

    env = child_env({**os.environ, "PYTHONPATH": str(tree)})
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "kerasuite.export.convert_worker", *arguments],
                          capture_output=True, text=True, env=env, cwd=tree, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: convert_worker {' '.join(arguments[:2])} failed (exit {done.returncode}): "
                         f"{done.stderr.strip().splitlines()[-1:]}")
    return round(time.perf_counter() - started, 1)


def measure(tree: Path, model: Path, representative: Path, scratch: Path, label: str) -> dict:
    common = ["--model", str(model), "--mode", "int8", "--representative", str(representative), "--batch-size", "1"]
    tflite = scratch / f"{label}.tflite"
    convert_seconds = timed_worker(tree, [*common, "--out", str(tflite)])
    layers_path = scratch / f"{label}.json"
    diagnose_seconds = timed_worker(tree, ["--diagnose", *common, "--out", str(layers_path)])
    layers = [layer for layer in json.loads(layers_path.read_text()) if layer["rmse_over_scale"] is not None]
    ranked = sorted(layers, key=lambda layer: -layer["rmse_over_scale"])
    return {"tree": str(tree), "int8_conversion_seconds": convert_seconds, "diagnosis_seconds": diagnose_seconds,
            "int8_file_bytes": tflite.stat().st_size, "worst_layer": ranked[0]["tensor"], "worst_op": ranked[0]["op"],
            "worst_rmse_over_scale": round(ranked[0]["rmse_over_scale"], 3),
            "top5": [layer["tensor"] for layer in ranked[:5]], "_file": tflite}


def main(argv: list[str] | None = None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before-tree", required=True, help="a checkout of the code before the change")
    parser.add_argument("--model", required=True, help="a keyword_spotting run's model.keras")
    parser.add_argument("--data", required=True, help="its folder data set (train/ class folders)")
    parser.add_argument("--calibration", type=int, default=1280, help="training clips (the export's default count)")
    args = parser.parse_args(argv)
    if not (Path(args.before_tree) / "kerasuite" / "export" / "convert_worker.py").is_file():
        parser.error(f"--before-tree {args.before_tree}: not a kerasuite checkout (no kerasuite/export/convert_worker.py)")
    if not Path(args.model).is_file():
        parser.error(f"--model {args.model}: no such file")
    if not any((Path(args.data) / "train").glob("*/*.wav")):
        parser.error(f"--data {args.data}: no train/<class>/*.wav clips")
    if args.calibration < 1:
        parser.error(f"--calibration {args.calibration}: must be at least 1")

    after_tree = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        np.savez(scratch / "rep.npz", input__waveform=calibration_clips(Path(args.data), args.calibration))
        model = Path(args.model).resolve()
        before = measure(Path(args.before_tree).resolve(), model, scratch / "rep.npz", scratch, "before")
        after = measure(after_tree, model, scratch / "rep.npz", scratch, "after")
        same_file = before.pop("_file").read_bytes() == after.pop("_file").read_bytes()
    report = {"model": args.model, "calibration_clips": args.calibration, "before": before, "after": after,
              "int8_conversion_speedup": round(before["int8_conversion_seconds"] / after["int8_conversion_seconds"], 1),
              "diagnosis_speedup": round(before["diagnosis_seconds"] / after["diagnosis_seconds"], 1),
              "identical_int8_files": same_file, "same_worst_layer": before["worst_layer"] == after["worst_layer"],
              "top5_overlap": len(set(before["top5"]) & set(after["top5"]))}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
