"""Weights a float16 file cannot hold.

The float16 mode stores weights as IEEE half floats, whose largest finite value is 65,504. A
larger weight saturates: a house-price regression whose output bias is 200,000 gets a float16
file off by about 134,000 (200,000 - 65,504), and the verdict said only that max |diff| was too
large (tools/benchmarking/plain_output_sweep.py).
"""

from __future__ import annotations

import numpy as np

FLOAT16_MAX = float(np.finfo(np.float16).max)


def weights_beyond_float16(model, most: int = 3) -> list[str]:
    """One note naming the weights (up to ``most``) beyond float16's range, and what to do; empty
    when every weight fits."""
    culprits = []
    for weight in model.weights:  # each variable once, named by its layer path ("price/bias")
        largest = float(np.max(np.abs(np.asarray(weight)), initial=0.0))
        if largest > FLOAT16_MAX:
            culprits.append(f"{getattr(weight, 'path', weight.name)} (|w| up to {largest:.3g})")
    if not culprits:
        return []
    listed = ", ".join(culprits[:most]) + (f" and {len(culprits) - most} more" if len(culprits) > most else "")
    return [f"float16 cannot hold weights above {FLOAT16_MAX:,.0f}: {listed}; ship float32 or dynamic, or "
            "move that scale out of the weights (e.g. train on a standardised target and rescale outside)"]
