"""Helpers shared by the explorer's AppTest and browser tests (not a test module)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

import actionpose as ap

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app" / "main.py"
TABS = ["Viewer", "Projector", "Retrieval", "Triage", "Bring your own 2D", "Compare runs", "Masking", "Training"]
ACTION_SHIFT_MM = 10.0  # run b's per-action MPJPE = run a's + this


def make_runs_root(root: Path) -> Path:
    """`root/a` = a copy of the demo run; `root/b` = the same with every per-action MPJPE + 10 mm and
    its metrics.jsonl in reverse file order; `root/broken` = a run folder without a checkpoint."""
    demo = ap.demo_run_dir()
    for name in ("a", "b"):
        shutil.copytree(demo, root / name, dirs_exist_ok=True)
    ev = json.loads((root / "b" / "eval.json").read_text())
    for r in ev["per_action"]:
        r["mpjpe_mm"] += ACTION_SHIFT_MM
    (root / "b" / "eval.json").write_text(json.dumps(ev))
    lines = (root / "b" / "metrics.jsonl").read_text().splitlines()
    (root / "b" / "metrics.jsonl").write_text("\n".join(reversed(lines)) + "\n")
    (root / "broken").mkdir(exist_ok=True)
    shutil.copy(demo / "config.yaml", root / "broken" / "config.yaml")
    return root


# COCO-17 index -> H36M-17 index of the joint it is drawn from (eyes/ears from the head).
_COCO_FROM_H36M = [9, 10, 10, 10, 10, 11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3]
_HEAD_OFFSETS_PX = {1: (-8, -6), 2: (8, -6), 3: (-16, 0), 4: (16, 0)}


def write_coco17_file(path: Path, frames: int = 60, size_wh: tuple[int, int] = (1000, 1000)) -> Path:
    """A COCO-17 keypoint JSON (pixels) made from a held-out sequence of the bundled data."""
    motions, _ = ap.load_data(None)
    m = ap.split_motions(motions, "val")[0]
    cfg = ap.load_run_config(ap.demo_run_dir())
    view, kp_cam = ap.sequence_views(m, cfg)[0]
    x2d = ap.make_sample(m, view, kp_cam).x2d[:frames]
    px = ap.denormalize_screen(x2d[..., :2], *size_wh)
    coco = px[:, _COCO_FROM_H36M].copy()
    for j, (dx, dy) in _HEAD_OFFSETS_PX.items():
        coco[:, j] += (dx, dy)
    kp = np.concatenate([coco, np.full(coco.shape[:2] + (1,), 0.9)], axis=-1)
    path.write_text(json.dumps({"layout": "coco17", "keypoints": np.round(kp, 2).tolist()}))
    return path
