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
end included. ``--sizes all --configs ''`` measures only flash and arena of every configuration,
untrained (minutes, no training). ``--write-results`` writes results/kws_budget.json (or
results/kws_budget_sizes.json for a sizes-only run), the README's tables.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmark_tflm, readme_tables

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
    "fft512_dir8_groups9": ("fft512_dir8 + frames transformed 9 at a time (6 groups)",
                            {"model.mfcc.frame_length": "480", "model.mfcc.fft_length": "512",
                             "model.mfcc.magnitude_directions": "8", "model.mfcc.frames_per_group": "9"}),
    "fft512_dir8_ds32": ("fft512_dir8 + ds_cnn 32x4",
                         {"model.mfcc.frame_length": "480", "model.mfcc.fft_length": "512",
                          "model.mfcc.magnitude_directions": "8", "model.ds_cnn.filters": "32"}),
}


def run_cell(config_name: str, data: str, seed: int, epochs: int, extra: dict[str, str], out: Path) -> dict:
    import keras
    from benchmark_tflm import train_and_report

    sets = {**CONFIGS[config_name][1], **extra}
    # the run folder and the bundle side by side: an export may not replace a folder holding its run
    overrides = ["model.family=ds_cnn", "train.verbose=2", f"run_dir={out / 'run'}", f"export.dir={out / 'bundle'}",
                 f"seed={seed}", *[f"{k}={v}" for k, v in sets.items()]]
    flags = {"task": "keyword_spotting", "data.source": data, "export.modes": "int8"}
    if epochs:
        flags["train.epochs"] = epochs
    report, parity_error = train_and_report(flags, overrides, out / "run")
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


def measure_size(config_name: str, clips, out: Path) -> dict:
    """Flash and TFLM arena of one configuration's int8 file, untrained (sizes do not depend on
    the weights beyond a few hundred bytes of shared buffers), and the operator where the most
    activation bytes are alive (tools/benchmarking/tflm_arena_breakdown.py)."""
    import keras
    import numpy as np

    from kerasuite import config as cfg
    from kerasuite.export import tflite
    from kerasuite.models.speech import build_ds_cnn
    from kerasuite.runtime.tflm import TFLMModel
    from tools.benchmarking.tflm_arena_breakdown import live_tensors

    config = cfg.resolve({}, cfg.parse_set([f"{k}={v}" for k, v in CONFIGS[config_name][1].items()]),
                         {"task": "keyword_spotting"})
    keras.backend.clear_session()
    model = build_ds_cnn(config.model.ds_cnn, config.model.mfcc, 12)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "untrained.keras")
    np.savez(out / "rep.npz", input__waveform=clips)
    size = tflite.convert(out / "untrained.keras", "int8", out / "untrained_int8.tflite", out / "rep.npz", batch_size=1)
    runner = TFLMModel(out / "untrained_int8.tflite")
    runner.predict({"waveform": clips[:1]})
    live = live_tensors((out / "untrained_int8.tflite").read_bytes())
    return {"flash_bytes": size, "arena_bytes": runner.arena_bytes(), "params": int(model.count_params()),
            "operators": live["operators"], "peak_live_bytes": live["peak_live_bytes"],
            "peak_at_operator": live["peak_at_operator"],
            "peak_tensors": [t["tensor"] for t in live["peak_tensors"][:3]]}


def calibration_clips(data: dict[str, str], count: int = 16):
    """A few peak-normalised training clips of the first folder set (noise if there is none)."""
    import numpy as np

    from kerasuite.runtime.audio import load_clip, normalize_peak

    for spec in data.values():
        if spec.startswith("folder:"):
            files = sorted(Path(spec.split(":", 1)[1], "train").glob("*/*.wav"))[::7][:count]
            if files:
                return np.stack([normalize_peak(load_clip(f, 16000, 16000), 0.05) for f in files]).astype("float32")
    return np.random.default_rng(0).normal(0, 0.1, (count, 16000)).astype("float32")


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
    sizes = {"columns": ["config", "what changes", "params", "flash (bytes)", "TFLM arena (bytes)", "operators",
                         "largest live activations (bytes, at operator)"], "rows": []}
    for config_name, row in results.get("sizes", {}).items():
        if "error" in row:
            sizes["rows"].append([config_name, CONFIGS[config_name][0], None, None, None, None, row["error"][:120]])
            continue
        sizes["rows"].append([config_name, CONFIGS[config_name][0], row["params"], row["flash_bytes"],
                              row["arena_bytes"], row["operators"],
                              f"{row['peak_live_bytes']:,} at {row['peak_at_operator']} ({', '.join(row['peak_tensors'])})"])
    return {"configs": {"columns": columns, "rows": rows}, "sizes": sizes}


def main(argv: list[str] | None = None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--easy", default="folder:data/keywords", help="the easy set ('' to skip)")
    parser.add_argument("--hard", default="folder:data/keywords_hard", help="the hard set ('' to skip)")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma list of: {', '.join(CONFIGS)}")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=0, help="0 = the task default")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="extra overrides for every cell")
    parser.add_argument("--out", default="runs/benchmark_kws_budget")
    parser.add_argument("--cells", default="", help="explicit DATA:CONFIG list in run order (e.g. "
                                                    "hard:default,easy:default); default: every config on hard, then easy")
    parser.add_argument("--resume", action="store_true", help="keep the cells OUT/results.json already has")
    parser.add_argument("--merge", nargs="*", default=[], metavar="RESULTS_JSON",
                        help="also take the cells of these results files (other invocations' OUT/results.json)")
    parser.add_argument("--sizes", default="", help="comma list of configs (or 'all') whose flash and arena are "
                                                    "also measured untrained, without training (fast)")
    parser.add_argument("--write-results", action="store_true",
                        help="also write results/kws_budget.json, the source of the README's table")
    args = parser.parse_args(argv)
    names = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in names if c not in CONFIGS]
    if unknown or (not names and not args.sizes):
        parser.error(f"--configs: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(CONFIGS)}")
    extra = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--set: expected KEY=VALUE, got {item!r}")
        extra[key] = value
    sized = list(CONFIGS) if args.sizes == "all" else [c.strip() for c in args.sizes.split(",") if c.strip()]
    if [c for c in sized if c not in CONFIGS]:
        parser.error(f"--sizes: unknown {', '.join(c for c in sized if c not in CONFIGS)}")
    if args.configs == "":
        names = []
    data = {name: spec for name, spec in (("easy", args.easy), ("hard", args.hard)) if spec}
    if not data:
        parser.error("--easy and --hard are both empty: nothing to measure")

    from kerasuite.io_utils import write_json_atomic

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    command = "python tools/benchmark_kws_budget.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    results: dict = {"created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "command": command,
                     "seed": args.seed, "set": extra, "data": data, "configs": {}, "sizes": {}}
    if sized:
        clips = calibration_clips(data)
        for config_name in sized:
            print(f"[benchmark_kws_budget] size of {config_name}", flush=True)
            try:
                results["sizes"][config_name] = measure_size(config_name, clips, out / "sizes" / config_name)
            except Exception as error:  # one row failing must not lose the others
                results["sizes"][config_name] = {"error": " ".join(str(error).split())[:300] or type(error).__name__}
            write_json_atomic(out / "results.json", results)
    # The hard set first: it decides int8 parity under noise, and a run cut short keeps it.
    cells_to_run = [(name, config_name) for name in sorted(data, key=lambda n: n != "hard") for config_name in names]
    if args.cells:
        cells_to_run = []
        for item in args.cells.split(","):
            name, _, config_name = item.strip().partition(":")
            if name not in data or config_name not in CONFIGS:
                parser.error(f"--cells: expected DATA:CONFIG with DATA in {', '.join(data)}, got {item!r}")
            cells_to_run.append((name, config_name))
    previous = out / "results.json"
    if args.resume and previous.is_file():  # cells measured by an earlier invocation are kept, not rerun
        earlier = json.loads(previous.read_text())
        results["configs"] = {c: {n: cell for n, cell in cells.items() if "error" not in cell}
                              for c, cells in earlier.get("configs", {}).items()}
        results["sizes"] = results["sizes"] or earlier.get("sizes", {})
        results["command"] = earlier.get("command", "") + "; " + command
    for other in args.merge:  # cells another invocation measured (e.g. run side by side), kept as they are
        earlier = json.loads(Path(other).read_text())
        for config_name, cells in earlier.get("configs", {}).items():
            for name, cell in cells.items():
                if "error" not in cell:
                    results["configs"].setdefault(config_name, {}).setdefault(name, cell)
        results["command"] += "; " + earlier.get("command", "")
    for name, config_name in cells_to_run:
        cells = results["configs"].setdefault(config_name, {})
        if name in cells:
            continue
        started = time.perf_counter()
        print(f"[benchmark_kws_budget] {config_name} on {name}", flush=True)
        try:
            cells[name] = run_cell(config_name, data[name], args.seed, args.epochs, extra, out / config_name / name)
        except Exception as error:  # one cell failing must not lose the others
            cells[name] = {"error": " ".join(str(error).split())[:300] or type(error).__name__}
        cells[name]["seconds"] = round(time.perf_counter() - started, 1)
        write_json_atomic(out / "results.json", results)  # partial results survive a later failure
    command = results["command"]
    tables = results_tables(results)
    if args.write_results:
        from tools.readme_tables import write_results

        # a sizes-only run (no training) has its own file, so it never replaces the trained table
        if names:
            write_results("kws_budget", command, tables, seed=args.seed)
        else:
            write_results("kws_budget_sizes", command, {"sizes": tables["sizes"]})
    print(json.dumps(tables, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
