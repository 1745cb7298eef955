"""2D keypoint files for inference: json / npz -> `[T, J, 3]` (u px, v px, score) + layout name.

Accepted json shapes (one person, one entry per frame, frames in order):
  1. a list of frames, each a list of `[x, y, score]` triples;
  2. a list of `{"keypoints": [x0, y0, s0, x1, y1, s1, ...], "frame" | "image_id": int}` (COCO
     results style; the index is optional but, when present, must run 0/1.. without gaps or repeats);
  3. a dict with `"keypoints"` holding either of the above, and optionally `"layout"`.
npz: `keypoints` `[T, J, 3]` and optionally `layout` (a string).

NaN / null coordinates or scores are masked (x = y = score = 0) with a warning that counts them.
Scores above 1 are clipped to 1 with a warning; negative scores are an error. Against an image size,
`check_plausible` masks a few keypoints lying far outside the image (warned) and refuses more.
"""
from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import numpy as np

from ..skeleton import COCO17_DIRECT, MPII16_TO_17, NUM_JOINTS

KEYPOINT_LAYOUTS = ("coco17", "h36m17", "mpii16")

# Head-top estimate for COCO input (documented in coco17_to_h36m17).
HEAD_TOP_FACTOR = 0.5

# A confident keypoint more than this many image widths/heights outside the image is not a detection.
OFFSCREEN_LIMIT = 1.0
# Up to this fraction of the confident keypoints (and at least one) such outliers are masked with a
# warning; more means the coordinates do not belong to this image (wrong size, other units): an error.
MAX_OUTLIER_FRAC = 0.05


def load_keypoints(path: str | Path, layout: str = "auto") -> tuple[np.ndarray, str]:
    """Read a 2D keypoint file -> (`[T, J, 3]` float32 (u px, v px, score), layout name).

    `layout`: "auto" (the file's declared layout, else inferred for 17 joints from the geometry:
    COCO has eyes and ears next to joint 0, H36M has the legs), "coco17", "h36m17" or "mpii16".
    """
    path = Path(path)
    if layout != "auto" and layout not in KEYPOINT_LAYOUTS:
        raise ValueError(f"{path}: unknown layout {layout!r}; expected auto or one of {', '.join(KEYPOINT_LAYOUTS)}")
    if not path.exists():
        raise ValueError(f"{path}: keypoint file not found")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file")
    suffix = path.suffix.lower()
    if suffix == ".json":
        kp, declared = _read_json(path)
    elif suffix == ".npz":
        kp, declared = _read_npz(path)
    else:
        raise ValueError(f"{path}: unsupported keypoint file type {suffix!r}; expected .json or .npz")
    return keypoints_from_array(kp, declared, path, layout)


def keypoints_from_array(kp: np.ndarray, declared: str | None, path: str | Path, layout: str = "auto"
                         ) -> tuple[np.ndarray, str]:
    """The checks `load_keypoints` applies after reading, on keypoints `[T, J, 3]` taken from the file
    `path` (named in every message) with its declared layout (None: none declared): bad values
    masked, the layout resolved (inferred for 17 joints under "auto") and the joint count checked."""
    path = Path(path)
    if layout != "auto" and layout not in KEYPOINT_LAYOUTS:
        raise ValueError(f"{path}: unknown layout {layout!r}; expected auto or one of {', '.join(KEYPOINT_LAYOUTS)}")
    kp = np.asarray(kp, dtype=np.float64)  # as the file readers return it
    if declared is not None and declared not in KEYPOINT_LAYOUTS:
        raise ValueError(f"{path}: field layout = {declared!r} is unknown; expected one of {', '.join(KEYPOINT_LAYOUTS)}")
    kp = _mask_bad_values(kp, path)
    if layout == "auto":
        layout = declared or _infer_layout(kp, path)
    elif declared is not None and declared != layout:
        raise ValueError(f"{path}: file declares layout {declared!r} but layout={layout!r} was requested")
    expected = 16 if layout == "mpii16" else 17
    if kp.shape[1] != expected:
        raise ValueError(f"{path}: {kp.shape[1]} joints per frame, layout {layout} expects {expected}")
    return kp, layout


def _read_json(path: Path) -> tuple[np.ndarray, str | None]:
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({str(e).splitlines()[0]})") from None
    declared = None
    if isinstance(data, dict):
        if "keypoints" not in data:
            raise ValueError(f"{path}: expected a list of frames or a dict with field 'keypoints', got keys {sorted(data)}")
        declared = data.get("layout")
        data = data["keypoints"]
    if not isinstance(data, list):
        raise ValueError(f"{path}: field keypoints must be a list of frames, got {type(data).__name__}")
    if not data:
        raise ValueError(f"{path}: empty file (no frames)")
    if all(isinstance(fr, dict) for fr in data):
        frames = _frames_from_records(data, path)
    elif any(isinstance(fr, dict) for fr in data):
        raise ValueError(f"{path}: frames mix objects and lists")
    else:
        frames = [_frame_from_list(fr, i, path) for i, fr in enumerate(data)]
    return _stack(frames, path), declared


def _frames_from_records(records: list[dict], path: Path) -> list[np.ndarray]:
    frames, indices = [], []
    for i, rec in enumerate(records):
        if "keypoints" not in rec:
            raise ValueError(f"{path}: frame {i} has no field 'keypoints'")
        flat = rec["keypoints"]
        if not isinstance(flat, list):
            raise ValueError(f"{path}: frame {i} field keypoints must be a flat list [x, y, score, ...]")
        if flat and isinstance(flat[0], list):  # nested triples inside a record are fine too
            frames.append(_frame_from_list(flat, i, path))
        else:
            frames.append(_frame_from_flat(flat, i, path))
        idx = rec.get("frame", rec.get("image_id"))
        indices.append(idx)
    given = [x for x in indices if x is not None]
    if given and len(given) != len(indices):
        raise ValueError(f"{path}: frame {indices.index(None)} has no 'frame'/'image_id' while others do")
    if given:
        _check_frame_indices(given, path)
    return frames


def _check_frame_indices(indices: list, path: Path) -> None:
    for i, idx in enumerate(indices):
        if isinstance(idx, bool) or not isinstance(idx, int):
            raise ValueError(f"{path}: frame {i} has a non-integer frame index {idx!r}")
    start = indices[0]
    for i in range(1, len(indices)):
        prev, cur = indices[i - 1], indices[i]
        if cur <= prev:
            raise ValueError(f"{path}: frame indices not increasing: entry {i} has frame {cur} after {prev}")
        if cur != prev + 1:
            raise ValueError(f"{path}: frame {prev + 1} is missing (entry {i} jumps from {prev} to {cur}; "
                             f"first frame {start})")


def _frame_from_flat(flat: list, i: int, path: Path) -> np.ndarray:
    if len(flat) == 0:
        raise ValueError(f"{path}: frame {i} has no keypoints")
    if len(flat) % 3:
        hint = " (looks like x, y pairs without scores)" if len(flat) % 2 == 0 and len(flat) // 2 in (16, 17) else ""
        raise ValueError(f"{path}: frame {i} has {len(flat)} values, not a multiple of 3 (x, y, score){hint}")
    return _to_float(flat, i, path).reshape(-1, 3)


def _frame_from_list(frame, i: int, path: Path) -> np.ndarray:
    if not isinstance(frame, list) or not frame:
        raise ValueError(f"{path}: frame {i} must be a non-empty list of [x, y, score]")
    if not isinstance(frame[0], list):
        return _frame_from_flat(frame, i, path)
    for j, point in enumerate(frame):
        if not isinstance(point, list):
            raise ValueError(f"{path}: frame {i} keypoint {j} is not a list [x, y, score]")
        if len(point) == 2:
            raise ValueError(f"{path}: frame {i} keypoint {j} has x, y but no score; expected [x, y, score]")
        if len(point) != 3:
            raise ValueError(f"{path}: frame {i} keypoint {j} has {len(point)} values, expected 3 (x, y, score)")
    return _to_float(frame, i, path).reshape(-1, 3)


def _to_float(values, i: int, path: Path) -> np.ndarray:
    try:
        return np.array([[np.nan if v is None else v for v in row] if isinstance(row, list)
                         else (np.nan if row is None else row) for row in values], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: frame {i} has non-numeric keypoint values") from None


def _stack(frames: list[np.ndarray], path: Path) -> np.ndarray:
    n0 = frames[0].shape[0]
    for i, fr in enumerate(frames):
        if fr.shape[0] != n0:
            raise ValueError(f"{path}: frame {i} has {fr.shape[0]} keypoints, frame 0 has {n0}")
    return np.stack(frames).astype(np.float64)


def _read_npz(path: Path) -> tuple[np.ndarray, str | None]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "keypoints" not in npz.files:
                raise ValueError(f"{path}: missing field 'keypoints' (has {', '.join(npz.files) or 'nothing'})")
            kp = np.asarray(npz["keypoints"])
            declared = str(npz["layout"]) if "layout" in npz.files else None
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise ValueError(f"{path}: not a readable npz file ({type(e).__name__}: {e})") from None
    except ValueError as e:
        if str(e).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a readable npz file ({e})") from None
    if kp.ndim != 3 or kp.shape[-1] != 3:
        hint = " (x, y without scores)" if kp.ndim == 3 and kp.shape[-1] == 2 else ""
        raise ValueError(f"{path}: field keypoints has shape {kp.shape}, expected [T, J, 3]{hint}")
    if kp.shape[0] == 0:
        raise ValueError(f"{path}: empty file (field keypoints has 0 frames)")
    if kp.dtype.kind not in "fiu":
        raise ValueError(f"{path}: field keypoints has dtype {kp.dtype}, expected numbers")
    return kp.astype(np.float64), declared


def _mask_bad_values(kp: np.ndarray, path: Path) -> np.ndarray:
    """NaN anywhere in a keypoint -> x = y = score = 0 (warned); scores > 1 clipped (warned)."""
    kp = kp.copy()
    # Values beyond float32's range would become inf below: treat them like inf.
    bad = ~np.all(np.isfinite(kp) & (np.abs(kp) <= np.finfo(np.float32).max), axis=-1)
    if bad.any():
        frames = np.unique(np.nonzero(bad)[0])
        warnings.warn(f"{path}: {int(bad.sum())} keypoints with NaN/inf values in {frames.size} frames "
                      f"(first frame {int(frames[0])}) masked to x = y = score = 0", stacklevel=3)
        kp[bad] = 0.0
    scores = kp[..., 2]
    if (scores < 0).any():
        t, j = np.argwhere(scores < 0)[0]
        raise ValueError(f"{path}: frame {t} keypoint {j} has negative score {scores[t, j]}; expected [0, 1]")
    if (scores > 1).any():
        warnings.warn(f"{path}: {int((scores > 1).sum())} scores above 1 clipped to 1", stacklevel=3)
        kp[..., 2] = np.minimum(scores, 1.0)
    return kp.astype(np.float32)


def check_plausible(kp: np.ndarray, image_size_wh: tuple[int, int], where: str = "keypoints") -> np.ndarray:
    """Pixel keypoints `[T, J, 3]` (u px, v px, score) checked against a `W x H` image -> a copy where
    the few implausible ones are masked (x = y = score = 0).

    A confident keypoint (score > 0) is implausible when it lies more than OFFSCREEN_LIMIT image
    sizes outside the image (u outside [-W, 2W] or v outside [-H, 2H]). Up to MAX_OUTLIER_FRAC of
    the confident keypoints (at least one) are masked with a warning that counts them; more raise a
    ValueError naming the first one.
    """
    kp = np.array(kp, dtype=np.float32)
    w, h = (float(x) for x in image_size_wh)
    if not (np.isfinite(w) and np.isfinite(h) and w > 0 and h > 0):
        raise ValueError(f"{where}: image size {tuple(image_size_wh)}: expected two positive numbers (W, H)")
    u, v, conf = kp[..., 0], kp[..., 1], kp[..., 2] > 0
    m = OFFSCREEN_LIMIT
    outside = conf & ((u < -m * w) | (u > (1 + m) * w) | (v < -m * h) | (v > (1 + m) * h))
    n_out, n_conf = int(outside.sum()), int(conf.sum())
    if n_out == 0:
        return kp
    t, j = (int(i) for i in np.argwhere(outside)[0])
    first = f"frame {t} keypoint {j} at ({u[t, j]:.4g}, {v[t, j]:.4g}) px"
    size = f"{w:g}x{h:g}"
    if n_out > max(1.0, MAX_OUTLIER_FRAC * n_conf):
        raise ValueError(f"{where}: {n_out} of {n_conf} confident keypoints lie more than {m:g} image size(s) "
                         f"outside the {size} image (first: {first}); expected pixel coordinates of this image "
                         "(wrong image size, or normalised coordinates?)")
    warnings.warn(f"{where}: {n_out} of {n_conf} confident keypoints more than {m:g} image size(s) outside the "
                  f"{size} image masked to x = y = score = 0 (first: {first})", stacklevel=2)
    kp[outside] = 0.0
    return kp


def _infer_layout(kp: np.ndarray, path: Path) -> str:
    """COCO-17 vs H36M-17 from geometry: the spread of joints 1-4 around joint 0 relative to the body size.

    COCO joints 1-4 are eyes and ears (within ~0.1 body heights of the nose); H36M joints 1-4 are the
    hips, right knee and right ankle (the ankle alone is ~0.4 body heights from the pelvis).
    """
    if kp.shape[1] == 16:
        return "mpii16"
    if kp.shape[1] != 17:
        raise ValueError(f"{path}: {kp.shape[1]} joints per frame; cannot infer a layout (expected 16 or 17)")
    ratios = []
    for frame in kp:
        if np.any(frame[:5, 2] <= 0) or np.sum(frame[:, 2] > 0) < 10:
            continue
        pts = frame[frame[:, 2] > 0, :2]
        extent = float(np.max(np.ptp(pts, axis=0)))
        if extent <= 0:
            continue
        ratios.append(float(np.max(np.linalg.norm(frame[1:5, :2] - frame[0, :2], axis=1))) / extent)
    if not ratios:
        raise ValueError(f"{path}: cannot infer the joint layout (too few confident joints); pass layout='coco17' or 'h36m17'")
    return "coco17" if float(np.median(ratios)) < 0.25 else "h36m17"


def coco17_to_h36m17(kp: np.ndarray) -> np.ndarray:
    """COCO-17 `[T, 17, 3]` (x, y, score) -> H36M-17 `[T, 17, 3]`.

    Direct joints (hips, knees, ankles, shoulders, elbows, wrists) are copied. Derived joints, each
    with score = min of the contributing scores:
      pelvis    = mid(l_hip, r_hip)
      thorax    = mid(l_shoulder, r_shoulder)
      spine     = mid(pelvis, thorax)
      neck_nose = nose
      head      = mid_ears + HEAD_TOP_FACTOR * (mid_ears - thorax), an estimate of the head top: the
                  ears sit roughly two thirds of the way from the shoulder line to the crown, so the
                  crown is about half the thorax->ears distance beyond the ears.
    Works for any trailing coordinate count >= 2 (the last channel is the score).
    """
    kp = np.asarray(kp, dtype=np.float32)
    if kp.ndim != 3 or kp.shape[1] != 17 or kp.shape[2] != 3:
        raise ValueError(f"coco17_to_h36m17: keypoints have shape {kp.shape}, expected [T, 17, 3]")
    out = np.zeros((kp.shape[0], NUM_JOINTS, 3), dtype=np.float32)
    for h36m_idx, coco_idx in COCO17_DIRECT.items():
        out[:, h36m_idx] = kp[:, coco_idx]

    def mid(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.concatenate([(a[:, :2] + b[:, :2]) / 2, np.minimum(a[:, 2:], b[:, 2:])], axis=1)

    pelvis = mid(kp[:, 11], kp[:, 12])
    thorax = mid(kp[:, 5], kp[:, 6])
    ears = mid(kp[:, 3], kp[:, 4])
    head = ears.copy()
    head[:, :2] = ears[:, :2] + HEAD_TOP_FACTOR * (ears[:, :2] - thorax[:, :2])
    head[:, 2] = np.minimum(ears[:, 2], thorax[:, 2])
    out[:, 0] = pelvis
    out[:, 7] = mid(pelvis, thorax)
    out[:, 8] = thorax
    out[:, 9] = kp[:, 0]
    out[:, 10] = head
    return out


def mpii16_to_h36m17(kp: np.ndarray) -> np.ndarray:
    """MPII-16 (Stacked Hourglass order) `[T, 16, C]` -> H36M-17 `[T, 17, 3]`.

    neck_nose has no MPII point: it gets x = y = score = 0. Without a score channel (C = 2) every
    present joint gets score 1.
    """
    kp = np.asarray(kp, dtype=np.float32)
    if kp.ndim != 3 or kp.shape[1] != 16 or kp.shape[2] not in (2, 3):
        raise ValueError(f"mpii16_to_h36m17: keypoints have shape {kp.shape}, expected [T, 16, 2 or 3]")
    out = np.zeros((kp.shape[0], NUM_JOINTS, 3), dtype=np.float32)
    for h36m_idx, mpii_idx in enumerate(MPII16_TO_17):
        if mpii_idx is None:
            continue
        out[:, h36m_idx, :2] = kp[:, mpii_idx, :2]
        out[:, h36m_idx, 2] = kp[:, mpii_idx, 2] if kp.shape[2] == 3 else 1.0
    return out


def to_h36m17(kp: np.ndarray, layout: str) -> np.ndarray:
    """Any supported layout `[T, J, 3]` -> H36M-17 `[T, 17, 3]`."""
    if layout == "h36m17":
        kp = np.asarray(kp, dtype=np.float32)
        if kp.ndim != 3 or kp.shape[1:] != (17, 3):
            raise ValueError(f"to_h36m17: keypoints have shape {kp.shape}, expected [T, 17, 3] for layout h36m17")
        return kp.copy()
    if layout == "coco17":
        return coco17_to_h36m17(kp)
    if layout == "mpii16":
        return mpii16_to_h36m17(kp)
    raise ValueError(f"to_h36m17: unknown layout {layout!r}; expected one of {', '.join(KEYPOINT_LAYOUTS)}")


def interpolate_keypoints(kp: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Sample 2D keypoints `[N, J, 3]` (x, y, score) at fractional frame positions `pos` `[M]` -> `[M, J, 3]`.

    Interpolates only between valid samples (score > 0): an output joint is linear between its two
    neighbouring input frames when both are valid, equals one of them when `pos` falls on it (within
    1e-6 frames), and is masked (x = y = score = 0, the encoding of a missing joint) otherwise, so a
    masked joint at (0, 0) never blends into its neighbours' coordinates or scores.
    """
    kp = np.asarray(kp, dtype=np.float32)
    if kp.ndim != 3 or kp.shape[-1] != 3 or kp.shape[0] == 0:
        raise ValueError(f"interpolate_keypoints: keypoints have shape {kp.shape}, expected [N>0, J, 3]")
    n = kp.shape[0]
    pos = np.clip(np.asarray(pos, dtype=np.float64), 0.0, n - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    frac = (pos - lo)[:, None]
    valid = kp[..., 2] > 0
    v_lo, v_hi = valid[lo], valid[hi]
    on_lo = frac < 1e-6
    on_hi = frac > 1 - 1e-6
    out = kp[lo] * (1 - frac[..., None]) + kp[hi] * frac[..., None]
    out = np.where((on_lo & v_lo)[..., None], kp[lo], out)
    out = np.where((on_hi & v_hi)[..., None], kp[hi], out)
    ok = (v_lo & v_hi) | (on_lo & v_lo) | (on_hi & v_hi)
    out[~ok] = 0.0
    return out.astype(np.float32)


def resample_keypoints(kp: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """`[T, J, 3]` keypoints at `fps_in` -> the frame grid of `bvh.resample_positions` at `fps_out`,
    interpolating only between valid samples (see `interpolate_keypoints`)."""
    if not (fps_in > 0 and fps_out > 0):
        raise ValueError(f"resample_keypoints: fps_in = {fps_in}, fps_out = {fps_out}, expected positive numbers")
    t = np.asarray(kp).shape[0]
    if t == 0 or fps_in == fps_out:
        return np.asarray(kp, dtype=np.float32).copy()
    n_out = int(np.floor((t - 1) * fps_out / fps_in + 1e-9)) + 1
    return interpolate_keypoints(kp, np.arange(n_out) * (fps_in / fps_out))
