"""Finding run folders under a root folder and summarising each one (stage, step, health)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import actionpose as ap

SHIPPED = ("demo", "demo-pretrain")  # the runs bundled with the package (demo-pretrain when present)


def shipped_runs() -> list[str]:
    out = []
    for name in SHIPPED:
        try:
            ap.resolve_run(name)
        except (OSError, ValueError):
            continue
        out.append(name)
    return out


def find_runs(root: str | Path, max_depth: int = 3) -> list[str]:
    """Folders holding config.yaml under `root` (up to `max_depth` levels), as paths relative to the
    working directory when possible."""
    root = Path(root).expanduser()
    if not root.is_dir():
        return []
    found: list[str] = []
    pattern = "config.yaml"
    for depth in range(max_depth + 1):
        for cfg in sorted(root.glob("/".join(["*"] * depth + [pattern]))):
            run = cfg.parent
            try:
                rel = str(run.resolve().relative_to(Path.cwd().resolve()))
            except ValueError:
                rel = str(run)
            if rel not in found:
                found.append(rel)
    return found


def run_status(run: str) -> dict:
    """Stage, step and a one-word health of a run: ok / no checkpoint / NaN loss / unreadable."""
    row = {"run": run, "stage": "?", "step": None, "health": "ok", "eval.json": False, "embeddings": False}
    try:
        run_dir = ap.resolve_run(run)
        cfg = ap.load_run_config(run_dir)
        row["stage"] = cfg.train.stage
    except Exception as e:  # noqa: BLE001 - reported in the table
        row["health"] = f"unreadable: {str(e).splitlines()[0][:80]}"
        return row
    meta_path = run_dir / "checkpoint.json"
    if not (run_dir / "checkpoint.safetensors").exists():
        row["health"] = "no checkpoint"
    elif meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
            row["step"] = meta.get("step")
            row["stage"] = meta.get("stage") or row["stage"]
        except (OSError, json.JSONDecodeError):
            row["health"] = "checkpoint.json unreadable"
    row["eval.json"] = (run_dir / "eval.json").exists()
    row["embeddings"] = (run_dir / "embeddings.npz").exists()
    if row["health"] == "ok":
        try:
            recs = ap.read_metrics(run_dir)
        except ValueError as e:
            row["health"] = str(e)[:80]
            recs = []
        bad = [r.get("step") for r in recs if isinstance(r.get("loss"), float) and not math.isfinite(r["loss"])]
        if bad:
            row["health"] = f"non-finite loss at step {bad[0]}"
        elif not recs:
            row["health"] = "ok (no metrics.jsonl)"
    return row


def label(status: dict) -> str:
    step = status["step"] if status["step"] is not None else "?"
    return f"{status['run']} · {status['stage']} · step {step} · {status['health']}"
