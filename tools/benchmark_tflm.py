"""Microcontroller benchmark: flash, TFLM arena and TFLM latency of every int8 model, and the
keyword-spotting trade-off (accuracy vs flash vs arena) over a few ds_cnn sizes.

    python tools/benchmark_tflm.py --out runs/benchmark_tflm                 # all rows
    python tools/benchmark_tflm.py --quick --out runs/benchmark_tflm_quick   # few epochs
    python tools/benchmark_tflm.py --kws-data folder:data/keywords          # real keyword clips

Each row is the real training command (``kerasuite.training.runner.run``: train, export float32
and int8, parity on LiteRT and TFLM) and reads its metrics.json: int8 accuracy on TFLM, flash
(the int8 file's bytes: TFLM runs the flatbuffer in place), the tensor arena TFLM's recording
allocator measured (``exports.int8.runtimes.tflm.arena_bytes``), and TFLM latency per example on
this CPU (the reference kernels, for information only: a microcontroller is far slower and an
optimized kernel library far faster). The default keyword-spotting model is set against the
64 kB flash / 64 kB arena targets. Results go to OUT/results.json and OUT/results.md.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FLASH_TARGET = ARENA_TARGET = 64 * 1024
# (row name, task, family, data flag, config overrides)
MODEL_ROWS = (
    ("image cnn", "image_classification", "cnn", "image", {}),
    ("text lstm", "text_classification", "lstm", "text", {}),
    ("text transformer", "text_classification", "transformer", "text", {}),
    ("keywords ds_cnn (default)", "keyword_spotting", "ds_cnn", "kws", {}),
)
DEFAULT_KWS_SIZES = "16x2,32x2,32x4,64x4"  # filters x blocks
DEFAULT_KWS_SIZE = "64x4"  # config.DsCnnConfig's default


def train_and_report(flags: dict[str, str], overrides: list[str], run_dir: Path) -> tuple[dict, str | None]:
    """Train and export one configuration in this process; returns metrics.json and the first
    line of a failed parity check (a failed check still measured everything)."""
    import keras

    from kerasuite import config as cfg
    from kerasuite.errors import CheckFailed
    from kerasuite.training.runner import run

    config = cfg.resolve({}, cfg.parse_set(overrides), flags)
    keras.backend.clear_session()
    try:
        run(config, overwrite=True)
        parity_error = None
    except CheckFailed as error:
        parity_error = str(error).splitlines()[0]
    return json.loads((run_dir / "metrics.json").read_text()), parity_error


def run_row(name: str, task: str, family: str, source: str, sets: dict[str, str], args, out: Path) -> dict:
    import keras
    import numpy as np

    from kerasuite.runtime.tflm import TFLMModel

    folder = out / name.replace(" ", "_").replace("(", "").replace(")", "")
    overrides = [f"model.family={family}", "train.verbose=0", f"run_dir={folder / 'run'}", f"export.dir={folder / 'bundle'}",
                 *[f"{k}={v}" for k, v in sets.items()]]
    flags = {"task": task, "data.source": source, "export.modes": "float32,int8"}
    if args.epochs:
        flags["train.epochs"] = args.epochs
    report, parity_error = train_and_report(flags, overrides, folder / "run")
    int8 = report["exports"]["int8"]
    tflm = int8["runtimes"]["tflm"]
    row = {
        "task": task, "family": family, "data": source, "settings": sets,
        "keras_accuracy": report["eval"].get("accuracy"),
        "int8_litert_accuracy": int8["eval"].get("accuracy"),
        "int8_tflm_accuracy": (tflm.get("eval") or {}).get("accuracy"),
        "tflm_status": tflm["status"], "tflm_reason": tflm.get("reason"),
        "flash_bytes": int8["size_bytes"],
        "float32_flash_bytes": report["exports"]["float32"]["size_bytes"],
        "arena_bytes": tflm.get("arena_bytes"),
        "ops": tflm.get("ops"),
        "params": int(keras.saving.load_model(folder / "run" / "model.keras", safe_mode=True).count_params()),
        "epochs": report["train"]["epochs"],
        "parity_failed": parity_error,
    }
    if task == "keyword_spotting":
        row["network_only"] = network_only(folder)
    if tflm.get("arena_bytes") is not None:
        golden = np.load(folder / "bundle" / "golden.npz")
        inputs = {key.split("__", 1)[1]: golden[key] for key in golden.files if key.startswith("input__")}
        # a file that failed parity is measured too, where the bundle moved it (failed/)
        int8_file = folder / "bundle" / int8.get("file", "model_int8.tflite")
        row["tflm_latency_ms"] = TFLMModel(int8_file).latency_ms(inputs, runs=args.latency_runs)
    return row


def network_only(folder: Path) -> dict:
    """The same trained ds_cnn without its MFCC front end (MFCC map in, int8): what flash and
    arena the network alone needs, i.e. what a firmware computing MFCCs itself would ship."""
    import keras
    import numpy as np

    import kerasuite.models  # noqa: F401  registers the custom layers for safe loading
    from kerasuite.export import tflite
    from kerasuite.runtime.tflm import TFLMModel

    model = keras.saving.load_model(folder / "run" / "model.keras", safe_mode=True)
    features = model.get_layer("mfcc_map").output
    front_end = keras.Model(model.inputs, features)
    inputs = keras.Input(features.shape[1:], name="mfcc")
    x, started = inputs, False
    for layer in model.layers:
        if started:
            x = layer(x)
        started = started or layer.name == "mfcc_map"
    network = keras.Model(inputs, x)
    golden = np.load(folder / "bundle" / "golden.npz")
    clips = golden["input__waveform"]
    maps = np.asarray(front_end.predict({"waveform": clips}, verbose=0), np.float32)
    np.savez(folder / "network_rep.npz", input__mfcc=maps)
    network.save(folder / "network.keras")
    out = folder / "network_int8.tflite"
    size = tflite.convert(folder / "network.keras", "int8", out, folder / "network_rep.npz", batch_size=1)
    runner = TFLMModel(out)
    got = runner.predict({"mfcc": maps})
    keras_out = np.asarray(network.predict(maps, verbose=0))
    return {"flash_bytes": size, "arena_bytes": runner.arena_bytes(),
            "top1_agreement_with_keras": float(np.mean(got.argmax(1) == keras_out.argmax(1)))}


def markdown(results: dict) -> str:
    def kb(value):
        return "-" if value is None else f"{value / 1024:.1f} kB"

    def acc(value):
        return "-" if value is None else f"{value:.4f}"

    lines = [f"TFLM ({results['tflm_version']}) on {results['machine']}, {results['created']}; "
             f"command: `{results['command']}`", "",
             "| int8 model | data | epochs | params | Keras acc | int8 acc (TFLM) | flash | TFLM arena | TFLM latency p50 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, row in results["models"].items():
        if "error" in row:
            lines.append(f"| {name} | - | - | - | - | {row['error']} | - | - | - |")
            continue
        latency = row.get("tflm_latency_ms", {}).get("p50")
        lines.append(f"| {name} | {row['data']} | {row['epochs']} | {row['params']:,} | {acc(row['keras_accuracy'])} | "
                     f"{acc(row['int8_tflm_accuracy'])} | {kb(row['flash_bytes'])} | {kb(row['arena_bytes'])} | "
                     f"{'-' if latency is None else f'{latency:.1f} ms'} |")
    default = results["models"].get(MODEL_ROWS[-1][0], {})
    if "flash_bytes" in default:
        lines += ["", f"Default keyword-spotting model vs the targets: flash {kb(default['flash_bytes'])} "
                      f"(target {kb(FLASH_TARGET)}), arena {kb(default['arena_bytes'])} (target {kb(ARENA_TARGET)}); "
                      f"without the MFCC front end: flash {kb((default.get('network_only') or {}).get('flash_bytes'))}, "
                      f"arena {kb((default.get('network_only') or {}).get('arena_bytes'))}."]
    if results.get("kws_sizes"):
        lines += ["", "| ds_cnn filters x blocks | params | int8 acc (TFLM) | flash | TFLM arena | "
                      "without front end: flash | without front end: arena |",
                  "|---|---|---|---|---|---|---|"]
        for size, row in results["kws_sizes"].items():
            if "error" in row:
                lines.append(f"| {size} | - | {row['error']} | - | - | - | - |")
                continue
            network = row.get("network_only") or {}
            lines.append(f"| {size} | {row['params']:,} | {acc(row['int8_tflm_accuracy'])} | {kb(row['flash_bytes'])} | "
                         f"{kb(row['arena_bytes'])} | {kb(network.get('flash_bytes'))} | {kb(network.get('arena_bytes'))} |")
    return "\n".join(lines) + "\n"


def results_tables(results: dict) -> dict[str, dict]:
    """The README's tables (``tools/readme_tables.py`` renders them from results/tflm.json)."""
    def latency(row):
        value = (row.get("tflm_latency_ms") or {}).get("p50")
        return None if value is None else round(value, 1)

    models = {"columns": ["int8 model", "data", "epochs", "Keras acc", "int8 acc on TFLM", "TFLM verdict",
                          "flash (bytes)", "TFLM arena (bytes)", "TFLM latency p50 (ms)"], "rows": []}
    for name, row in results["models"].items():
        if "error" in row:
            models["rows"].append([name, None, None, None, None, row["error"][:120], None, None, None])
            continue
        models["rows"].append([name, row["data"], row["epochs"], row["keras_accuracy"], row["int8_tflm_accuracy"],
                               row["tflm_status"] + (f" ({row['tflm_reason']})" if row.get("tflm_reason") else ""),
                               row["flash_bytes"], row["arena_bytes"], latency(row)])
    sizes = {"columns": ["ds_cnn filters x blocks", "params", "int8 acc on TFLM", "flash (bytes)", "TFLM arena (bytes)",
                         "without front end: flash", "without front end: arena"], "rows": []}
    for size, row in results["kws_sizes"].items():
        if "error" in row:
            sizes["rows"].append([size, None, row["error"][:120], None, None, None, None])
            continue
        network = row.get("network_only") or {}
        sizes["rows"].append([size, row["params"], row["int8_tflm_accuracy"], row["flash_bytes"], row["arena_bytes"],
                              network.get("flash_bytes"), network.get("arena_bytes")])
    tables = {"models": models}
    if sizes["rows"]:  # --rows sizes
        tables["kws_sizes"] = sizes
    default = results["models"].get(MODEL_ROWS[-1][0], {})
    network = default.get("network_only") or {}
    if "flash_bytes" in default and network:  # the default keyword model with and without its front end
        tables["kws_default_split"] = {
            "columns": ["default ds_cnn (64x4) int8", "flash (bytes)", "TFLM arena (bytes)"],
            "rows": [["with the MFCC front end (the bundle file)", default["flash_bytes"], default["arena_bytes"]],
                     ["network only (MFCC map in)", network.get("flash_bytes"), network.get("arena_bytes")]]}
    return tables


def main(argv: list[str] | None = None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/benchmark_tflm")
    parser.add_argument("--quick", action="store_true", help="3 epochs per model, two ds_cnn sizes")
    parser.add_argument("--epochs", type=int, default=0, help="0 = each task's default (--quick: 3)")
    parser.add_argument("--image-data", default="builtin:digits")
    parser.add_argument("--text-data", default="synthetic:topics")
    parser.add_argument("--kws-data", default="synthetic:tones")
    parser.add_argument("--kws-sizes", default="", help=f"filters x blocks list (default {DEFAULT_KWS_SIZES})")
    parser.add_argument("--rows", default="models,sizes", help="models and/or sizes")
    parser.add_argument("--latency-runs", type=int, default=20)
    parser.add_argument("--write-results", action="store_true",
                        help="also write results/tflm.json, the source of the README's tables")
    args = parser.parse_args(argv)
    if args.quick and not args.epochs:
        args.epochs = 3
    sizes = [s.strip() for s in (args.kws_sizes or ("16x2,64x4" if args.quick else DEFAULT_KWS_SIZES)).split(",") if s.strip()]
    for size in sizes:
        filters, _, blocks = size.partition("x")
        if not (filters.isdigit() and blocks.isdigit()):
            parser.error(f"--kws-sizes: expected FILTERSxBLOCKS like 32x4, got {size!r}")
    rows = {r.strip() for r in args.rows.split(",") if r.strip()}
    if rows - {"models", "sizes"}:
        parser.error(f"--rows: unknown {', '.join(sorted(rows - {'models', 'sizes'}))}")

    import platform
    from importlib.metadata import version

    from kerasuite.io_utils import write_json_atomic, write_text_atomic

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    sources = {"image": args.image_data, "text": args.text_data, "kws": args.kws_data}
    results: dict = {
        "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python tools/benchmark_tflm.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "tflm_version": f"tflite-micro {version('tflite-micro')}", "machine": f"{platform.machine()} {platform.system()}",
        "models": {}, "kws_sizes": {},
    }

    def record(table: str, name: str, *row_args) -> None:
        started = time.perf_counter()
        print(f"[benchmark_tflm] {name}", flush=True)
        try:
            results[table][name] = run_row(*row_args, args, out)
        except Exception as error:  # one row failing must not lose the others
            results[table][name] = {"error": " ".join(str(error).split())[:300] or type(error).__name__}
        results[table][name]["seconds"] = round(time.perf_counter() - started, 1)
        write_json_atomic(out / "results.json", results)

    if "models" in rows:
        for name, task, family, data, sets in MODEL_ROWS:
            record("models", name, name, task, family, sources[data], sets)
    if "sizes" in rows:
        for size in sizes:
            filters, _, blocks = size.partition("x")
            default = results["models"].get(MODEL_ROWS[-1][0], {})
            if size == DEFAULT_KWS_SIZE and "flash_bytes" in default:  # the default model's row, not trained twice
                results["kws_sizes"][size] = default
                continue
            sets = {"model.ds_cnn.filters": filters, "model.ds_cnn.num_blocks": blocks}
            record("kws_sizes", size, f"ds_cnn {size}", "keyword_spotting", "ds_cnn", args.kws_data, sets)
    table = markdown(results)
    write_text_atomic(out / "results.md", table)
    if args.write_results:
        from tools.readme_tables import write_results

        write_results("tflm", results["command"], results_tables(results), tflm=results["tflm_version"])
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
