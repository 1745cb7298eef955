"""MotionBERT's Human3.6M evaluation, reproduced step by step (L4; `evaluate(..., protocol="motionbert")`).

MotionBERT (Zhu et al., ICCV 2023; Walter0807/MotionBERT, `train.py` `evaluate()` with
`lib/data/datareader_h36m.py`) does not score camera-frame millimetres. What it scores, and what
this module reproduces on a prepared Human3.6M folder (`actionpose prepare h36m`), is:

1. **Test videos.** Every (sequence, camera) of S9 and S11 is one video. Input 2D: the camera's
   keypoints (its detections; MotionBERT's released numbers use Stacked-Hourglass-fine-tuned
   detections with confidences, `--kp2d` when preparing), screen-normalised `u/W*2 - 1`,
   `v/W*2 - H/W` (W x H = 1000 x 1002 for cameras 54138969 / 60457274, 1000 x 1000 otherwise).
2. **Clips.** Each video is cut into consecutive, non-overlapping clips of `T` frames (MotionBERT:
   243) from frame 0 (`split_clips` with `data_stride_test = T`). Frames after the last full clip
   are **not evaluated**. A video shorter than `T` is one clip of `T` frames sampled evenly over it
   (MotionBERT samples with jitter there; no Human3.6M test video is that short, so this never
   matters for its numbers; here the sampling is deterministic).
3. **Prediction** per clip, with flip test-time augmentation when asked (its configs evaluate
   with flip on).
4. **Target: 2.5D image space, not camera 3D.** Per frame, with the camera-frame joints `X` (mm)
   and the pinhole intrinsics (no distortion): `x, y = f * X[:2] / Z + c` (px, per joint
   perspective), `z = (Z - Z_root) * r` with `r = (2000 * fx / Z_root + 1) / 2000` px per mm (the
   width of a 2 m box at the root depth, in px, plus one, over 2000 mm). The millimetre target is
   that pose times `factor = 1 / r` (MotionBERT's `joints_2.5d_image` = `joint3d_image * 2.5d_factor`).
   This step is rebuilt from the preprocessing that produced MotionBERT's data file (lcn-pose's
   `camera_to_image_frame` / `_infer_box`); the file itself is not needed.
5. **Prediction to millimetres.** The normalised prediction is de-normalised like the input
   (`x, y: (p + [1, H/W]) * W/2`, `z: p * W/2`) and multiplied by the same per-frame `factor`.
   For a model trained here (root-relative camera 3D in units of `2/W * f/Z_root`) this gives its
   camera-frame prediction in mm; for an imported MotionBERT model it is exactly MotionBERT's step.
6. **Errors.** Both poses root-relative (pelvis); MPJPE = mean joint distance per frame, P-MPJPE
   after a per-frame similarity (Procrustes) alignment. A frame covered by several clips would be
   averaged over them (with non-overlapping clips each frame is covered once).
7. **Excluded sequences.** MotionBERT skips three S9 sequences with corrupted ground truth,
   `s_09_act_05_subact_02`, `s_09_act_10_subact_02`, `s_09_act_13_subact_01` - in the
   3d-pose-baseline / VideoPose3D naming used here `S9/Greeting`, `S9/SittingDown 1`,
   `S9/Waiting 1` (`EXCLUDED_SEQUENCES`).
8. **Aggregation.** Per action: the mean over its evaluated frames; the reported number is the
   mean of the 15 per-action means.

Shapes: `[T, 17, 3]` per clip or video; `factor [T]`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import metrics as M

PROTOCOL_NAME = "motionbert"
CLIP_FRAMES = 243  # MotionBERT's clip length; `evaluate` uses the model's own maxlen
BOX_MM = 2000.0
# S9 sequences MotionBERT leaves out (its block_list), in the naming of the prepared data.
EXCLUDED_SEQUENCES: tuple[str, ...] = ("S9/Greeting", "S9/SittingDown 1", "S9/Waiting 1")
EXCLUDED_SOURCE_IDS: tuple[str, ...] = ("s_09_act_05_subact_02", "s_09_act_10_subact_02", "s_09_act_13_subact_01")


def clip_indices(n_frames: int, clip_frames: int) -> list[np.ndarray]:
    """Step 2: frame indices of the clips of one video (`[clip_frames]` each).

    Non-overlapping full clips from frame 0; the tail after the last full clip is left out. A video
    shorter than one clip gives one clip sampled evenly over it (deterministic).
    """
    if n_frames <= 0 or clip_frames <= 0:
        raise ValueError(f"clip_indices: n_frames = {n_frames}, clip_frames = {clip_frames}, expected positive")
    if n_frames < clip_frames:
        return [np.linspace(0, n_frames, clip_frames, endpoint=False).astype(np.int64)]
    return [np.arange(s, s + clip_frames) for s in range(0, n_frames - clip_frames + 1, clip_frames)]


def image_25d_target(joints_cam_mm: np.ndarray, f: np.ndarray, c: np.ndarray, root: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Step 4: camera-frame joints `[T, 17, 3]` mm -> (2.5D image-space pose `[T, 17, 3]` px units,
    per-frame `factor [T]` mm per px unit). The millimetre target is `pose * factor[:, None, None]`."""
    x = np.asarray(joints_cam_mm, dtype=np.float64)
    f = np.asarray(f, dtype=np.float64).reshape(2)
    c = np.asarray(c, dtype=np.float64).reshape(2)
    z = x[..., 2]
    if np.any(z <= 0):
        raise ValueError("image_25d_target: a joint is behind the camera (Z <= 0); expected camera-frame mm")
    z_root = z[:, root]
    ratio = (BOX_MM * f[0] / z_root + 1.0) / BOX_MM  # px per mm at the root depth (box width + 1 px)
    out = np.empty_like(x)
    out[..., :2] = x[..., :2] / z[..., None] * f + c
    out[..., 2] = (z - z_root[:, None]) * ratio[:, None]
    return out, 1.0 / ratio


def denormalize(pred: np.ndarray, image_size_wh: tuple[int, int]) -> np.ndarray:
    """Step 5: normalised prediction `[T, 17, 3]` -> px units (MotionBERT's `denormalize`)."""
    w, h = image_size_wh
    out = np.array(pred, dtype=np.float64)
    out[..., :2] = (out[..., :2] + np.array([1.0, h / w])) * w / 2.0
    out[..., 2] = out[..., 2] * w / 2.0
    return out


def frame_errors(pred_px: np.ndarray, target_px: np.ndarray, factor: np.ndarray, root: int = 0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Step 6: per-frame MPJPE and P-MPJPE (mm) of px-unit poses scaled by `factor`, root-relative."""
    s = np.asarray(factor, dtype=np.float64)[:, None, None]
    p = pred_px * s
    g = target_px * s
    p = p - p[:, root:root + 1]
    g = g - g[:, root:root + 1]
    e1 = M.mpjpe_per_frame(p, g, None, protocol=1, root=root).values
    e2 = M.mpjpe_per_frame(p, g, None, protocol=2).values
    return np.asarray(e1, dtype=np.float64), np.asarray(e2, dtype=np.float64)


@dataclass
class VideoResult:
    """Per-frame errors of one evaluated video (frames that no clip covered are NaN)."""

    sequence: str
    camera: str
    action: str
    mpjpe_mm: np.ndarray  # [N]
    p_mpjpe_mm: np.ndarray  # [N]
    covered: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # [N]


def score_video(sequence: str, camera: str, action: str, n_frames: int, clips: list[np.ndarray],
                pred_px: list[np.ndarray], target_px: np.ndarray, factor: np.ndarray) -> VideoResult:
    """Steps 5-6 for one video: clip predictions (px units) -> per-frame errors, averaged where
    clips overlap, NaN where no clip covers a frame."""
    e1 = np.zeros(n_frames)
    e2 = np.zeros(n_frames)
    count = np.zeros(n_frames)
    for idx, p in zip(clips, pred_px):
        a, b = frame_errors(p, target_px[idx], factor[idx])
        np.add.at(e1, idx, a)
        np.add.at(e2, idx, b)
        np.add.at(count, idx, 1.0)
    covered = count > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return VideoResult(sequence, camera, action, np.where(covered, e1 / count, np.nan),
                           np.where(covered, e2 / count, np.nan), covered)


def summarize(results: list[VideoResult]) -> dict:
    """Step 8: per-action mean over evaluated frames, then the mean over actions.

    Returns {"mpjpe_mm", "p_mpjpe_mm", "per_action": {action: {mpjpe_mm, p_mpjpe_mm, frames}},
    "frames_evaluated", "frames_not_covered"}.
    """
    if not results:
        raise ValueError("motionbert protocol: no video was evaluated")
    per_action: dict[str, dict] = {}
    for r in results:
        row = per_action.setdefault(r.action, {"e1": [], "e2": []})
        row["e1"].append(r.mpjpe_mm[r.covered])
        row["e2"].append(r.p_mpjpe_mm[r.covered])
    table = {}
    for action in sorted(per_action):
        e1 = np.concatenate(per_action[action]["e1"])
        e2 = np.concatenate(per_action[action]["e2"])
        if e1.size:
            table[action] = {"mpjpe_mm": float(e1.mean()), "p_mpjpe_mm": float(e2.mean()), "frames": int(e1.size)}
    if not table:
        raise ValueError("motionbert protocol: no frame was covered by a clip")
    return {
        "mpjpe_mm": float(np.mean([v["mpjpe_mm"] for v in table.values()])),
        "p_mpjpe_mm": float(np.mean([v["p_mpjpe_mm"] for v in table.values()])),
        "per_action": table,
        "frames_evaluated": int(sum(int(r.covered.sum()) for r in results)),
        "frames_not_covered": int(sum(int((~r.covered).sum()) for r in results)),
    }
