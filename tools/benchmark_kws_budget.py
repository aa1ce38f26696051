"""Keyword-spotting microcontroller budget: accuracy on the easy and the hard set vs int8 flash
vs TFLM arena, per front-end / network configuration, in one run.

    python tools/make_keywords.py --out data/keywords
    python tools/make_keywords.py --out data/keywords_hard --preset sc12-hard
    python tools/benchmark_kws_budget.py --easy folder:data/keywords --hard folder:data/keywords_hard \
        --configs default,fft512,fft512_dir8 --out runs/benchmark_kws_budget [--write-results]

Each (configuration, data set) cell is the real training command (``kerasuite.training.runner.run``:
train, evaluate, export int8, parity on LiteRT and TFLM) and reads its metrics.json: Keras
accuracy, int8 accuracy on TFLM, top-1 agreement of TFLM's int8 outputs with Keras, flash (the
int8 file's bytes, run in place by TFLM) and the tensor arena TFLM's recording allocator
measured. Flash and arena depend on the configuration only, so they come from the first data
set's file. The issue-15 targets are 64 kB flash and 64 kB arena for the default model, front
end included. ``--write-results`` writes results/kws_budget.json (the README's table).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FLASH_TARGET = ARENA_TARGET = 64 * 1024
# name -> (what changes, config overrides). "default" is the MfccConfig / DsCnnConfig defaults.
CONFIGS: dict[str, tuple[str, dict[str, str]]] = {
    "default": ("defaults: 640-sample frames, FFT 1024, 16 magnitude directions, all 51 frames at once, ds_cnn 64x4", {}),
    "no_low_gain": ("default without the fine low-mel copy (model.mfcc.mel_low_gain=1)",
                    {"model.mfcc.mel_low_gain": "1"}),
    "fft512": ("MLPerf Tiny's front end: 480-sample (30 ms) frames, FFT 512",
               {"model.mfcc.frame_length": "480", "model.mfcc.fft_length": "512"}),
    "fft512_dir8": ("fft512 + 8 magnitude directions",
                    {"model.mfcc.frame_length": "480", "model.mfcc.fft_length": "512",
                     "model.mfcc.magnitude_directions": "8"}),
    "fft512_dir8_groups13": ("fft512_dir8 + frames transformed 13 at a time (4 groups)",
                             {"model.mfcc.frame_length": "480", "model.mfcc.fft_length": "512",
                              "model.mfcc.magnitude_directions": "8", "model.mfcc.frames_per_group": "13"}),
    "fft512_dir8_ds32": ("fft512_dir8 + ds_cnn 32x4",
                         {"model.mfcc.frame_length": "480", "model.mfcc.fft_length": "512",
                          "model.mfcc.magnitude_directions": "8", "model.ds_cnn.filters": "32"}),
}


def run_cell(config_name: str, data: str, seed: int, epochs: int, extra: dict[str, str], out: Path) -> dict:
    import keras

    from kerasuite import config as cfg
    from kerasuite.errors import CheckFailed
    from kerasuite.training.runner import run

    sets = {**CONFIGS[config_name][1], **extra}
    # the run folder and the bundle side by side: an export may not replace a folder holding its run
    overrides = ["model.family=ds_cnn", "train.verbose=2", f"run_dir={out / 'run'}", f"export.dir={out / 'bundle'}",
                 f"seed={seed}", *[f"{k}={v}" for k, v in sets.items()]]
    flags = {"task": "keyword_spotting", "data.source": data, "export.modes": "int8"}
    if epochs:
        flags["train.epochs"] = epochs
    config = cfg.resolve({}, cfg.parse_set(overrides), flags)
    keras.backend.clear_session()
    try:
        run(config, overwrite=True)
        parity_error = None
    except CheckFailed as error:  # a failed parity check still measured everything
        parity_error = str(error).splitlines()[0]
    report = json.loads((out / "run" / "metrics.json").read_text())
    int8 = report["exports"]["int8"]
    tflm = int8["runtimes"]["tflm"]
    litert = int8["runtimes"]["litert_interpreter"]
    return {
        "keras_accuracy": report["eval"]["accuracy"],
        "int8_litert_accuracy": (litert.get("eval") or {}).get("accuracy"),
        "int8_litert_agreement": litert.get("agreement"),
        "int8_tflm_accuracy": (tflm.get("eval") or {}).get("accuracy"),
        "int8_tflm_agreement": tflm.get("agreement"),
        "tflm_status": tflm["status"], "tflm_reason": tflm.get("reason"),
        "parity_passed": int8["parity"]["passed"], "parity_failed": parity_error,
        "flash_bytes": int8["size_bytes"], "arena_bytes": tflm.get("arena_bytes"),
        "params": int(keras.saving.load_model(out / "run" / "model.keras", safe_mode=True).count_params()),
        "epochs": report["train"]["epochs"], "train_seconds": report["train"]["seconds"],
    }


def results_tables(results: dict) -> dict[str, dict]:
    columns = ["config", "what changes", "params", "flash (bytes)", "TFLM arena (bytes)"]
    for name in results["data"]:
        columns += [f"{name}: Keras acc", f"{name}: int8 acc on TFLM", f"{name}: TFLM agreement"]
    columns.append("int8 parity (LiteRT and TFLM)")
    rows = []
    for config_name, cells in results["configs"].items():
        first = next((cells[n] for n in results["data"] if "flash_bytes" in cells.get(n, {})), {})
        row = [config_name, CONFIGS[config_name][0], first.get("params"), first.get("flash_bytes"),
               first.get("arena_bytes")]
        verdicts = []
        for name in results["data"]:
            cell = cells.get(name, {})
            row += [cell.get("keras_accuracy"), cell.get("int8_tflm_accuracy"), cell.get("int8_tflm_agreement")]
            if "error" in cell:
                verdicts.append(f"{name}: error ({cell['error'][:80]})")
            elif cell:
                verdicts.append(f"{name}: " + ("passed" if cell["parity_passed"] else
                                               "failed (" + "; ".join(f for f in [cell.get("parity_failed") or ""] if f)[:100] + ")"))
        row.append(", ".join(verdicts))
        rows.append(row)
    return {"configs": {"columns": columns, "rows": rows}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--easy", default="folder:data/keywords", help="the easy set ('' to skip)")
    parser.add_argument("--hard", default="folder:data/keywords_hard", help="the hard set ('' to skip)")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma list of: {', '.join(CONFIGS)}")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=0, help="0 = the task default")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="extra overrides for every cell")
    parser.add_argument("--out", default="runs/benchmark_kws_budget")
    parser.add_argument("--write-results", action="store_true",
                        help="also write results/kws_budget.json, the source of the README's table")
    args = parser.parse_args(argv)
    names = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in names if c not in CONFIGS]
    if unknown or not names:
        parser.error(f"--configs: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(CONFIGS)}")
    extra = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--set: expected KEY=VALUE, got {item!r}")
        extra[key] = value
    data = {name: spec for name, spec in (("easy", args.easy), ("hard", args.hard)) if spec}
    if not data:
        parser.error("--easy and --hard are both empty: nothing to measure")

    from kerasuite.io_utils import write_json_atomic

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    command = "python tools/benchmark_kws_budget.py " + " ".join(argv if argv is not None else sys.argv[1:])
    results: dict = {"created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "command": command,
                     "seed": args.seed, "set": extra, "data": data, "configs": {}}
    # The hard set first: it decides int8 parity under noise, and a run cut short keeps it.
    for name in sorted(data, key=lambda n: n != "hard"):
        for config_name in names:
            cells = results["configs"].setdefault(config_name, {})
            started = time.perf_counter()
            print(f"[benchmark_kws_budget] {config_name} on {name}", flush=True)
            try:
                cells[name] = run_cell(config_name, data[name], args.seed, args.epochs, extra, out / config_name / name)
            except Exception as error:  # one cell failing must not lose the others
                cells[name] = {"error": " ".join(str(error).split())[:300] or type(error).__name__}
            cells[name]["seconds"] = round(time.perf_counter() - started, 1)
            write_json_atomic(out / "results.json", results)  # partial results survive a later failure
    tables = results_tables(results)
    if args.write_results:
        from tools.readme_tables import write_results

        write_results("kws_budget", command, tables, seed=args.seed)
    print(json.dumps(tables, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
