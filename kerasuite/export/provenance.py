"""What made a bundle (provenance.json) and what it is for (MODEL_CARD.md)."""

from __future__ import annotations

import datetime
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGES = {"kerasuite": "kerasuite", "tensorflow": "tensorflow", "keras": "keras", "litert": "ai-edge-litert",
            "numpy": "numpy"}


def package_versions() -> dict[str, str | None]:
    found = {}
    for key, distribution in PACKAGES.items():
        try:
            found[key] = version(distribution)
        except PackageNotFoundError:
            found[key] = None
    return found


def git_commit(where: Path) -> str | None:
    """The commit of the source tree kerasuite runs from, with ``+dirty`` for local changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=5)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(data: dict[str, Any]) -> dict[str, Any]:
    import kerasuite

    return {
        "created_utc": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "versions": package_versions(),
        "kerasuite_commit": git_commit(Path(kerasuite.__file__).resolve().parent),
        "data": data,
    }


def model_card(title: str, summary: dict[str, Any], exports: dict[str, Any], conversions: list[str],
               intended_use: str, limits: list[str], provenance_record: dict[str, Any],
               unconverted: dict[str, str] | None = None) -> str:
    """A short MODEL_CARD.md: what it is, on what data, how each mode did on each runtime."""
    lines = [f"# {title}", ""]
    lines += [f"- **{key}**: {value}" for key, value in summary.items() if value not in (None, "", {})]
    versions = provenance_record["versions"]
    lines += [f"- **made with**: kerasuite {versions.get('kerasuite')}, TensorFlow {versions.get('tensorflow')}, "
              f"Keras {versions.get('keras')}, LiteRT {versions.get('litert')}; commit "
              f"{provenance_record.get('kerasuite_commit') or 'unknown'}; {provenance_record['created_utc']}", ""]
    lines += ["## Files and verdicts", "",
              "| mode | file | size (B) | runtime | verdict | agreement | max abs diff | metrics |",
              "|---|---|---:|---|---|---:|---:|---|"]
    for mode, result in exports.items():
        for runtime, verdict in result["parity"].get("runtimes", {}).items():
            agreement = verdict.get("agreement")
            metrics = ", ".join(f"{k} {v:.4f}" for k, v in (verdict.get("eval") or {}).items()
                                if isinstance(v, (int, float)))
            status = verdict["status"].upper() if verdict["status"] == "failed" else verdict["status"]
            reason = f" ({verdict['reason']})" if verdict.get("reason") else ""
            diff = verdict.get("max_abs_diff")
            lines.append(f"| {mode} | {result['file']} | {result['size_bytes']:,} | {runtime} | {status}{reason} | "
                         f"{'-' if agreement is None else f'{agreement:.4f}'} | "
                         f"{'-' if diff is None else f'{diff:.3g}'} | {metrics or '-'} |")
    for mode, reason in (unconverted or {}).items():
        lines.append(f"| {mode} | (none) | - | - | NOT CONVERTED ({reason}) | - | - | - |")
    failed = [mode for mode, result in exports.items() if not result["parity"]["passed"]]
    lines.append("")
    if unconverted:
        lines += [f"**No {', '.join(unconverted)} file**: the converter failed on this model in that mode.", ""]
    if failed:
        lines += [f"**Do not ship {', '.join(failed)}**: parity failed; those files are in `failed/`.", ""]
    if conversions:
        lines += ["## Conversions applied", ""] + [f"- {text}" for text in conversions] + [""]
    lines += ["## Intended use", "", intended_use, "", "## Limits", ""] + [f"- {text}" for text in limits] + [""]
    return "\n".join(lines)
