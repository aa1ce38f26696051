"""Where one int8 scale is shared by values of very different ranges inside a model.

A full-integer file gives a CONCATENATION one scale for all its inputs. A one-hot block (0 or 1)
concatenated with raw or wrongly normalised features (tens of thousands) then rounds to zero, and
the int8 file decides from the features alone, while the per-layer diagnosis pointed at the final
SOFTMAX (each tensor's error is small against
its own, far too coarse, scale). Measured on the Keras model, from the calibration inputs.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from kerasuite.export.parity import narrowest_share


def narrow_concatenation_inputs(model, inputs: Mapping[str, np.ndarray], most_examples: int = 256) -> list[str]:
    """For each Concatenate layer, its input whose value range is the smallest share of the
    concatenation's range, when that share is below ``parity.NARROW_FEATURE_SHARE``: one note each."""
    import keras

    from kerasuite.export.prepare import all_layers

    joins = [layer for layer in all_layers(model) if isinstance(layer, keras.layers.Concatenate)]
    if not joins:
        return []
    try:
        branches = [tensor for layer in joins for tensor in _inputs_of(layer)]
        probe = keras.Model(model.inputs, branches)
        values = probe.predict({name: np.asarray(array)[:most_examples] for name, array in inputs.items()},
                               verbose=0, batch_size=64)
    except Exception:  # noqa: BLE001 - a nested model's tensors may not be reachable: no note then
        return []
    values = iter(values if isinstance(values, (list, tuple)) else [values])
    notes = []
    for layer in joins:
        parts = [np.asarray(next(values), np.float64) for _ in _inputs_of(layer)]
        spans = [float(np.ptp(part)) if part.size else 0.0 for part in parts]
        whole = float(np.ptp(np.concatenate([part.ravel() for part in parts])))
        found = narrowest_share(spans, whole)
        if found is not None:
            narrowest, share = found
            notes.append(f"int8 concatenation '{layer.name}': its input {narrowest} spans {spans[narrowest]:.3g} of "
                         f"the joined range {whole:.3g}, about {256 * share:.2g} of int8's 256 steps (one scale for "
                         "all inputs); bring the branches to similar ranges (normalise features before joining), "
                         "or ship the dynamic mode (float activations)")
    return notes


def _inputs_of(layer) -> list:
    received = layer.input
    return list(received) if isinstance(received, (list, tuple)) else [received]
