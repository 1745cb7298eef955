"""One held-out clip through one view, ready to inspect (L4): 2D input, 3D prediction and ground truth
in millimetres, per-joint error, off-screen joints, per-window actions with the ground-truth sentence.

Used by the explorer app and the notebooks; numpy out, no figures (those are in `viz`).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from .data.dataset import make_sample, sequence_views
from .data.motion import Motion

LOW_CONFIDENCE = 0.5  # a joint whose 2D confidence is below this (and above 0) is drawn as uncertain


def image_half_extent(image_size_wh: tuple[int, int]) -> tuple[float, float]:
    """Half width and half height of the image in screen-normalised units (width maps to [-1, 1])."""
    w, h = float(image_size_wh[0]), float(image_size_wh[1])
    if not (w > 0 and h > 0):
        raise ValueError(f"image_size_wh = {image_size_wh}: expected two positive pixel sizes")
    return 1.0, h / w


def offscreen_mask(x2d: np.ndarray, image_size_wh: tuple[int, int]) -> np.ndarray:
    """`x2d [..., 17, 3]` screen-normalised (x, y, conf) -> `[..., 17]` True where a present joint
    (conf > 0) lies outside the image rectangle."""
    hx, hy = image_half_extent(image_size_wh)
    x = np.asarray(x2d, dtype=float)
    present = x[..., 2] > 0
    outside = (np.abs(x[..., 0]) > hx) | (np.abs(x[..., 1]) > hy)
    return present & outside


def offscreen_frame_fraction(x2d: np.ndarray, image_size_wh: tuple[int, int]) -> float:
    """Fraction of frames `[N, 17, 3]` with at least one present joint outside the image."""
    m = offscreen_mask(x2d, image_size_wh)
    return float(m.any(axis=-1).mean()) if len(m) else 0.0


def majority_label(labels: list[str]) -> str:
    """Most frequent non-empty label ('' when none)."""
    labels = [x for x in labels if x]
    return Counter(labels).most_common(1)[0][0] if labels else ""


def stratified_subset(motions: list[Motion], per_group: int = 1, key: str = "content") -> list[Motion]:
    """The first `per_group` motions of every value of `meta[key]` (falling back to the name), in
    group order: a small subset that still covers every action (not the first N by name)."""
    seen: dict[str, int] = {}
    out = []
    for m in motions:
        g = str(m.meta.get(key) or m.meta.get("action") or m.name)
        if seen.get(g, 0) < per_group:
            seen[g] = seen.get(g, 0) + 1
            out.append(m)
    return out


@dataclass
class ClipView:
    """One motion seen through one view and lifted by a run.

    x2d `[N, 17, 3]` model input (screen-normalised x, y, conf); pred_mm, gt_mm `[N, 17, 3]`
    root-relative camera frame in mm; joint_err_mm `[N, 17]` (NaN for joints/frames without ground
    truth); frame_err_mm `[N]` MPJPE per frame; offscreen `[N, 17]`; windows `[W, 2]` (start, end);
    actions: per window [(sentence, probability)]; window_truth `[W]` ground-truth sentence of each
    window's majority label ('' when unlabelled); motion_emb `[W, D]` or None; mm_per_unit `[N]`
    millimetres per normalised unit of each frame (to score the `baselines` floors on the same clip).
    """

    sequence: str
    view: int
    camera: str
    image_size_wh: tuple[int, int]
    source_2d: str
    x2d: np.ndarray
    pred_mm: np.ndarray
    gt_mm: np.ndarray
    joint_err_mm: np.ndarray
    frame_err_mm: np.ndarray
    offscreen: np.ndarray
    windows: np.ndarray
    actions: list
    window_truth: list
    motion_emb: np.ndarray | None
    mm_per_unit: np.ndarray | None = None

    @property
    def mpjpe_mm(self) -> float:
        return float(np.nanmean(self.frame_err_mm))

    @property
    def worst_frame(self) -> int:
        return int(np.nanargmax(self.frame_err_mm))

    @property
    def offscreen_fraction(self) -> float:
        return float(self.offscreen.any(axis=1).mean())


def truth_sentence(label: str, sentences: dict[str, str], cfg_text=None) -> str:
    """A raw frame label ('call|normal') as the sentence the model scores ('a person calls someone over')."""
    if not label:
        return ""
    from .text.templates import label_to_sentence
    content = label.split("|")[0]
    if label in sentences:
        return sentences[label]
    if content in sentences:
        return sentences[content]
    return label_to_sentence(label, cfg_text)


def lift_clip(predictor, motion: Motion, view: int = 0, flip: bool = False, top_k: int = 5) -> ClipView:
    """Lift `motion` seen through its `view`-th evaluation view with a `Predictor`."""
    views = sequence_views(motion, predictor.cfg)
    if not 0 <= view < len(views):
        raise ValueError(f"{motion.name}: view {view} out of range (0..{len(views) - 1})")
    v, kp_cam = views[view]
    s = make_sample(motion, v, kp_cam)
    res = predictor.predict(s.x2d, fps=motion.fps, top_k=top_k, flip=flip, where=motion.name)
    scale = s.mm_per_unit[:, None, None]
    pred_mm, gt_mm = res.y3d * scale, s.y3d * scale
    err = np.linalg.norm(pred_mm - gt_mm, axis=-1)
    valid = np.broadcast_to(np.asarray(motion.joint_valid, dtype=bool), err.shape).copy()
    fv = motion.meta.get("valid_frames")
    if fv is not None:
        valid &= np.asarray(fv, dtype=bool)[:, None]
    err = np.where(valid, err, np.nan)
    frame_err = np.full(len(err), np.nan)
    has = valid.any(axis=1)
    frame_err[has] = np.nanmean(err[has], axis=1)
    size = tuple(int(x) for x in v.camera.image_size_wh)
    labels = motion.frame_labels()
    vocab_sent = dict(zip(predictor.bundle.vocab.keys, predictor.labels)) if predictor.bundle.vocab is not None else {}
    truth = [truth_sentence(majority_label(labels[a:b]), vocab_sent, predictor.cfg.text)
             for a, b in res.windows.tolist()]
    return ClipView(motion.name, view, v.camera.name or "camera", size,
                    motion.kp2d_source if kp_cam else "gt (projected)", res.x2d, pred_mm.astype(np.float32),
                    gt_mm.astype(np.float32), err.astype(np.float32), frame_err.astype(np.float32),
                    offscreen_mask(res.x2d, size), res.windows, res.actions, truth, res.motion_emb,
                    np.asarray(s.mm_per_unit, dtype=np.float32))


def view_offscreen_table(motions: list[Motion], cfg) -> list[dict]:
    """Per (sequence, view): camera, image size and the fraction of frames with joints off screen.
    Needs no model (the 2D input is synthesised or read from the data)."""
    rows = []
    for m in motions:
        for i, (v, kp_cam) in enumerate(sequence_views(m, cfg)):
            s = make_sample(m, v, kp_cam)
            size = tuple(int(x) for x in v.camera.image_size_wh)
            rows.append({"sequence": m.name, "view #": i, "camera": v.camera.name or "camera",
                         "offscreen_pct": 100.0 * offscreen_frame_fraction(s.x2d, size)})
    return rows


__all__ = ["ClipView", "lift_clip", "offscreen_mask", "offscreen_frame_fraction", "image_half_extent",
           "stratified_subset", "majority_label", "truth_sentence", "view_offscreen_table", "LOW_CONFIDENCE"]
