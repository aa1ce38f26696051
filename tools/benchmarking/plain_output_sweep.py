"""User models whose output nothing but its values can judge, through ``python -m kerasuite.export``.

    PYTHONPATH=. python tools/benchmarking/plain_output_sweep.py --out DIR

Builds small Keras models the way a user writes them (regressions, embeddings, autoencoders, a
sequence map; no targets in their held-out files, so no agreement and no metric applies), trains
each briefly on seeded synthetic data, exports every mode and prints each file's verdict and
``relative_error`` (the RMS difference over the spread of Keras' outputs, parity.json) and the
worst single example's (``worst_example``): the figures behind the lossy modes' defaults for
``max_relative_error`` (0.2) and ``max_example_error`` (1.0).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
MODES = "float32,float16,dynamic,int8"


def build_models(rng):
    """name -> (model, inputs, fit targets)."""
    import keras
    import numpy as np

    layers = keras.layers
    models = {}
    x = rng.normal(size=(768, 8)).astype("float32")
    price = (200000 + 50000 * np.tanh(x @ rng.normal(size=8)) + 5000 * x[:, 0]).astype("float32")
    house = keras.Sequential([keras.Input((8,), name="features"), layers.Dense(32, activation="relu"),
                              layers.Dense(32, activation="relu"), layers.Dense(1)])
    house.layers[-1].bias.assign([200000.0])
    models["house_price"] = (house, {"features": x}, price)
    images = rng.random((768, 16, 16, 1)).astype("float32")
    directions = rng.normal(size=(768, 16)).astype("float32")
    image = keras.Input((16, 16, 1), name="image")
    h = layers.GlobalAveragePooling2D()(layers.Conv2D(32, 3, strides=2, activation="relu")(
        layers.Conv2D(16, 3, activation="relu")(image)))
    models["image_embedding"] = (keras.Model(image, layers.UnitNormalization()(layers.Dense(16)(h))), {"image": images},
                                 directions / np.linalg.norm(directions, axis=1, keepdims=True))
    h = layers.BatchNormalization()(layers.Conv2D(16, 3, activation="relu")(image))
    h = layers.BatchNormalization()(layers.Conv2D(32, 3, activation="relu")(layers.MaxPooling2D()(h)))
    models["batchnorm_embedding"] = (keras.Model(image, layers.UnitNormalization()(layers.Dense(24)(
        layers.Dropout(0.2)(layers.GlobalAveragePooling2D()(h))))), {"image": images},
        np.repeat(directions[:, :1], 24, axis=1) / np.sqrt(24))
    h = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(
        layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(image))
    h = layers.UpSampling2D(2)(layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(h))
    models["conv_autoencoder"] = (keras.Model(image, layers.Conv2D(1, 3, padding="same", activation="sigmoid")(h)),
                                  {"image": images}, images)
    signal = np.sort(rng.random((768, 32)).astype("float32"), 1)
    inputs = keras.Input((32,), name="signal")
    models["dense_autoencoder"] = (keras.Model(inputs, layers.Dense(32)(layers.Dense(8, activation="tanh")(inputs))),
                                   {"signal": signal}, signal)
    series = rng.normal(size=(768, 12, 4)).astype("float32")
    inputs = keras.Input((12, 4), name="series")
    models["lstm_regression"] = (keras.Model(inputs, layers.Dense(2)(layers.LSTM(16)(inputs))), {"series": series},
                                 np.cumsum(series, 1)[:, -1, :2])
    models["gru_sequence_map"] = (keras.Model(inputs, layers.TimeDistributed(layers.Dense(2))(
        layers.GRU(12, return_sequences=True)(inputs))), {"series": series}, np.cumsum(series[..., :2], 1))
    x = rng.normal(size=(768, 6)).astype("float32")
    standard = keras.Sequential([keras.Input((6,), name="features"), layers.Dense(64, activation="gelu"),
                                 layers.LayerNormalization(), layers.Dense(64, activation="swish"), layers.Dense(1)])
    # two targets in their own units, the price de-normalised inside the model as users do: one
    # output tensor whose columns differ in spread by 10,000x
    rooms = np.round(3 + x[:, 1:2]).clip(1, 6)
    mixed = keras.Sequential([keras.Input((6,), name="features"), layers.Dense(32, activation="relu"),
                              layers.Dense(2), layers.Rescaling(scale=[50000.0, 1.0], offset=[200000.0, 0.0])])
    models["price_and_rooms"] = (mixed, {"features": x}, np.concatenate(
        [200000 + 50000 * np.tanh(x[:, :1]), rooms], axis=1).astype("float32"))
    models["standardised_regression"] = (standard, {"features": x}, np.sin(x[:, :1] * 2) + 0.5 * x[:, 1:2])
    return models


def main(argv=None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the models and their bundles")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--only", nargs="+", metavar="MODEL", help="run these models only (all are built)")
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, (model, inputs, targets) in build_models(rng).items():
        if args.only and name not in args.only:
            continue
        model.compile("adam", "mse")
        model.fit(inputs, targets, epochs=args.epochs, batch_size=32, verbose=0)
        model.save(args.out / f"{name}.keras")
        half = len(targets) // 3
        np.savez(args.out / f"{name}_representative.npz", **{k: v[half:] for k, v in inputs.items()})
        np.savez(args.out / f"{name}_heldout.npz", **{k: v[:half] for k, v in inputs.items()})
        bundle = args.out / f"{name}_bundle"
        done = subprocess.run([sys.executable, "-m", "kerasuite.export", str(args.out / f"{name}.keras"),
                               "--representative", str(args.out / f"{name}_representative.npz"),
                               "--heldout", str(args.out / f"{name}_heldout.npz"), "--modes", MODES,
                               "--out", str(bundle)], capture_output=True, text=True,
                              env=dict(os.environ, PYTHONPATH=str(REPO)))
        if not (bundle / "parity.json").is_file():
            rows.append({"model": name, "error": (done.stderr.strip().splitlines() or ["no output"])[-1]})
            continue
        parity = json.loads((bundle / "parity.json").read_text())
        for mode, result in parity.items():
            rows.append({"model": name, "mode": mode, "passed": result["passed"],
                         "relative_error": result.get("relative_error"),
                         "worst_example_error": (result.get("worst_example") or {}).get("relative_error"),
                         "worst_column_error": (result.get("worst_column") or {}).get("relative_error"),
                         "max_abs_diff": result["max_abs_diff"],
                         "failures": result["failures"][:1]})
    print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
