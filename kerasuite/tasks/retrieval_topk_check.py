"""The verdict on ``retrieve_topk.tflite``, the one-invoke top-k graph a retrieval bundle ships
beside its parity-checked query tower: run on the LiteRT Interpreter and CompiledModel for
held-out queries, its top-k must be the Keras query tower's top-k over the same candidates (the
history's items skipped, as the graph skips them).

The file is float32 and its candidate matrix is a constant, so any disagreement beyond near-ties
means a broken file or runtime, not quantization: the bar is a top-10 overlap of 0.99.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kerasuite.errors import UserError
from kerasuite.metrics.retrieval import candidate_scores

MIN_TOP10_OVERLAP = 0.99
RUNTIME_APIS = {"litert_interpreter": "interpreter", "litert_compiled": "compiled"}


def check_topk_model(path: Path, queries: dict[str, np.ndarray], reference: np.ndarray,
                     candidates: np.ndarray) -> dict[str, Any]:
    """``queries``: the query tower's inputs for n held-out users; ``reference``: the Keras query
    tower's outputs for them. Returns ``{"passed", "failures", "summary", "queries", "runtimes"}``."""
    from kerasuite.runtime.compiled import open_model

    count = len(reference)
    scores = candidate_scores(np.asarray(reference, np.float64), np.asarray(candidates, np.float64))
    if "history" in queries:  # the graph never returns a history item (candidate row = index - 1)
        for i, history in enumerate(np.asarray(queries["history"])[:count]):
            scores[i, history[history > 0] - 1] = -np.inf
    expected = np.argsort(-scores, axis=1, kind="stable")
    runtimes: dict[str, dict[str, Any]] = {}
    for runtime, api in RUNTIME_APIS.items():
        try:
            model = open_model(path, api)
        except UserError as error:
            runtimes[runtime] = {"status": "failed", "reason": str(error)}
            continue
        if getattr(model, "fallback", None):  # this LiteRT has no CompiledModel for the file
            runtimes[runtime] = {"status": "not_applicable", "reason": model.fallback}
            continue
        overlaps = []
        try:
            for i in range(count):
                outputs = model.run_outputs({name: value[i:i + 1] for name, value in queries.items()})
                # converted without a SignatureDef: the rows are the int output, the scores the float one
                rows = next(np.asarray(out)[0] for out in outputs if np.asarray(out).dtype.kind == "i")
                k = min(10, len(rows))
                overlaps.append(len(np.intersect1d(rows[:k], expected[i, :k])) / k)
        except (RuntimeError, ValueError, UserError, StopIteration) as error:
            # e.g. the CompiledModel loading a file and refusing it at the first invoke
            text = " ".join(str(error).split()) or type(error).__name__
            runtimes[runtime] = {"status": "failed", "reason": f"invoke failed: {text[:300]}"}
            continue
        overlap = float(np.mean(overlaps)) if overlaps else 0.0
        runtimes[runtime] = {"status": "passed" if overlap >= MIN_TOP10_OVERLAP else "failed",
                             "top10_overlap": overlap}
    # Not a parity runtime here: TFLM has no TOPK_V2 kernel (its loader: "Didn't find op for builtin
    # opcode 'TOPK_V2'"), so a microcontroller runs the checked query tower and ranks candidates.npy.
    runtimes["tflm"] = {"status": "not_applicable",
                        "reason": "TFLM has no TOPK_V2 kernel: on a microcontroller run model_<mode>.tflite "
                                  "and rank candidates.npy in C"}
    failures = [f"{runtime}: " + (verdict.get("reason") or f"top-10 overlap {verdict['top10_overlap']:.3f} "
                                  f"< {MIN_TOP10_OVERLAP}")
                for runtime, verdict in runtimes.items() if verdict["status"] == "failed"]
    summary = (f"top-10 of {count} held-out queries against Keras: "
               + ", ".join(f"{runtime} " + (f"{verdict['top10_overlap']:.3f}" if "top10_overlap" in verdict
                                           else verdict["status"].replace("_", " "))
                           for runtime, verdict in runtimes.items() if runtime != "tflm"))
    return {"passed": not failures, "failures": failures, "summary": summary, "queries": count,
            "min_top10_overlap": MIN_TOP10_OVERLAP, "runtimes": runtimes}
