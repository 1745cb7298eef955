"""Reuse a finished pretraining stage from another ablation folder instead of computing it again.

A method-tuning sweep run after the ablation pretrains several cells the ablation already has
(e.g. `actionpose` at the default `loss.w_align`, with the same seed): same config, same pretraining
data, so the same weights bit for bit (training is deterministic per seed). `--reuse-pretraining DIR`
lets `ablate` copy such a stage instead of retraining it. A stage is only taken when

- DIR's `ablation_spec.json` pins the same pretraining data (its data fingerprint), and
- the stage's record names the same seed and the same resolved config hash (which covers the model,
  the variant's losses and masks, the learning rate, the step budget and the seed), and
- it is finished (record + checkpoint.safetensors + checkpoint.json).

The copy lands atomically (a temporary folder renamed into place) and its record says where it came
from (`reused_from`), so a summary row built on it can be traced.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from .protocol import DONE_NAME, SPEC_NAME

_NEEDED = (DONE_NAME, "checkpoint.safetensors", "checkpoint.json", "config.yaml")


def _pretrain_fingerprint(folder: Path) -> str | None:
    try:
        spec = json.loads((folder / SPEC_NAME).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return (spec.get("identity", {}).get("data_fingerprints") or {}).get("pretrain")


def find_reusable(sources: list[Path], pretrain_fingerprint: str, seed: int, cfg_hash: str) -> Path | None:
    """The first finished pretraining stage under `sources` computing exactly this stage, or None."""
    for src in sources:
        src = Path(src)
        if _pretrain_fingerprint(src) != pretrain_fingerprint:
            continue
        for rec_path in sorted(src.glob(f"**/seed{seed}/pretrain/{DONE_NAME}")):
            stage = rec_path.parent
            try:
                rec = json.loads(rec_path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if rec.get("config_hash") == cfg_hash and rec.get("seed") == seed and all(
                    (stage / n).exists() for n in _NEEDED):
                return stage
    return None


def adopt(stage: Path, dest: Path, record: dict) -> dict:
    """Copy the finished `stage` to `dest` (absent or empty: never over a started run); returns the
    copied record updated with `record` (this cell's name and setting) and `reused_from`."""
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise ValueError(f"{dest}: already holds a run; refusing to replace it with {stage}")
    tmp = dest.with_name(dest.name + ".reuse-tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(stage, tmp)
    rec = {**json.loads((tmp / DONE_NAME).read_text()), **record, "reused_from": str(Path(stage).resolve())}
    (tmp / DONE_NAME).write_text(json.dumps(rec, indent=1))
    if dest.exists():
        dest.rmdir()
    tmp.rename(dest)
    return rec
