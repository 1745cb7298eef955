"""The floors every 3D number in the explorer stands beside (`actionpose.baselines`): the flat lift and
the flat lift + the mean training depth, scored on the same frames as the model; the MLP floor where
the run's eval.json measured one. A model that does not beat them has not learned depth."""
from __future__ import annotations

import numpy as np
import pandas as pd

import actionpose as ap

FLAT = "flat lift"
MEAN_DEPTH = "flat + mean depth"
MLP = "MLP floor"


def depth_units(rep: dict) -> np.ndarray | None:
    """The run's mean training depth per joint `[17]` (normalised units) as evaluate recorded it."""
    md = ((rep.get("header") or {}).get("floors") or {}).get("mean_depth") or {}
    units = md.get("depth_units")
    return np.asarray(units, dtype=np.float32) if units is not None and len(units) == 17 else None


def floors_table(rep: dict) -> pd.DataFrame:
    """eval.json's floors table (predictor, training, MPJPE mm, P-MPJPE mm), model row last; empty if absent."""
    df = pd.DataFrame(rep.get("floors") or [])
    if df.empty:
        return df
    df = df.rename(columns={"mpjpe_mm": "MPJPE mm", "p_mpjpe_mm": "P-MPJPE mm"})
    return df[[c for c in ("predictor", "training", "MPJPE mm", "P-MPJPE mm") if c in df]].round(1)


def per_action_floors(rep: dict) -> dict[str, dict[str, float]]:
    """{floor name: {action: MPJPE mm}} from eval.json (same frames as the model's per-action rows)."""
    return dict(((rep.get("header") or {}).get("floors") or {}).get("per_action_mpjpe_mm") or {})


def clip_floor_errors(clip: ap.ClipView, depth: np.ndarray | None) -> dict[str, np.ndarray]:
    """Per-joint error `[N, 17]` (mm, NaN where the model's error is NaN) of each floor on the clip."""
    if clip.mm_per_unit is None:
        return {}
    mm = np.asarray(clip.mm_per_unit, dtype=np.float32)[:, None, None]
    flat = ap.baselines.flat_lift(clip.x2d)
    preds = {FLAT: flat}
    if depth is not None:
        preds[MEAN_DEPTH] = ap.baselines.MeanDepthFloor(depth)(clip.x2d)
    nan = np.isnan(clip.joint_err_mm)
    return {k: np.where(nan, np.nan, np.linalg.norm(p * mm - clip.gt_mm, axis=-1)) for k, p in preds.items()}


def frame_errors(joint_err: np.ndarray) -> np.ndarray:
    """`[N, 17]` -> MPJPE per frame `[N]` (NaN for frames without ground truth)."""
    out = np.full(len(joint_err), np.nan)
    has = ~np.isnan(joint_err).all(axis=1)
    out[has] = np.nanmean(joint_err[has], axis=1)
    return out


def caption(values: dict[str, float]) -> str:
    """'flat lift 103 mm · flat + mean depth 86 mm' for the floors available."""
    return " · ".join(f"{k} {v:.1f} mm" for k, v in values.items() if v == v)
