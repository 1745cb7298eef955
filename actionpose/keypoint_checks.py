"""Checks on a 2D keypoint file before it is lifted (L4): what `data.keypoints.load_keypoints` would
accept silently or report misleadingly. Used by `Predictor.predict_file`, hence by `actionpose infer`
and the explorer's upload; every problem is one line naming the file and the field.

- **several people** in one file: COCO-results records sharing a frame index, or frames nested one
  level deeper (`[frames][people][joints][3]`). Refused, naming how many; `person=K` keeps the K-th
  entry of every frame (file order; a frame without a K-th entry becomes a missing frame).
- **missing frames**: gaps in the records' frame indices. Refused, naming them; `fill_gaps=N` keeps
  the missing frames as masked input and `fill_short_gaps` interpolates every gap of at most N frames
  (missing frames, and joints with NaN or zero score), so short detector drop-outs are bridged.
- **3D positions given as 2D**: the third value of a keypoint must be a confidence in [0, 1]; a file
  of (x, y, z) positions in metres or millimetres is refused, with the unit the body size suggests.
- **normalised coordinates with an image size**: a skeleton a few pixels tall in the given image
  (`check_body_size`) means 0-1 (or metric) coordinates, not pixels: refused, saying which.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data.keypoints import keypoints_from_array, load_keypoints

# The third value of a keypoint is a confidence: more than MAX_NON_CONFIDENCE_FRAC of them negative or
# above MAX_SCORE, or more than MAX_ABOVE_ONE_FRAC above 1, means the file holds something else (a
# depth). Detectors never give negative scores; a few heatmap maxima slightly above 1 are scores (the
# reader clips them to 1).
MAX_NON_CONFIDENCE_FRAC = 0.05
MAX_SCORE = 1.5
MAX_ABOVE_ONE_FRAC = 0.25
# A person in a video frame spans at least this fraction of the image height (median over frames);
# a skeleton smaller than that is 0-1 or metric coordinates read as pixels.
MIN_BODY_FRAC = 0.02
# Body extents (largest side of the skeleton's bounding box) typical of a person, per unit.
METRE_EXTENT = (0.3, 3.0)
MM_EXTENT = (300.0, 3000.0)


@dataclass
class KeypointScan:
    """A JSON / npz keypoint file read leniently, frame by frame, before the reader's own checks.

    frames: per frame index from `first` to the last one, `[P, J, 3]` with P = the entries (people)
    found for that frame (0 for a missing frame). field: the field that indexes the frames
    ('frame', 'image_id' or 'keypoints' when frames are listed in order)."""

    frames: list[np.ndarray]
    first: int
    field: str

    @property
    def missing(self) -> list[int]:
        return [self.first + i for i, f in enumerate(self.frames) if len(f) == 0]

    @property
    def people(self) -> np.ndarray:
        return np.array([len(f) for f in self.frames])

    def points(self) -> np.ndarray:
        """Every keypoint of every entry `[N, 3]`."""
        parts = [f.reshape(-1, 3) for f in self.frames if len(f)]
        return np.concatenate(parts) if parts else np.zeros((0, 3))


def _numbers(values) -> np.ndarray | None:
    try:
        a = np.array(_nulls_to_nan(values), dtype=float)
    except (TypeError, ValueError):
        return None
    return a


def _nulls_to_nan(v):
    if isinstance(v, list):
        return [_nulls_to_nan(x) for x in v]
    return np.nan if v is None else v


def _people(values) -> np.ndarray | None:
    """One frame entry -> `[P, J, 3]`: flat `[x, y, s, ...]`, `[[x, y, s], ...]` or `[[[x, y, s], ...], ...]`."""
    a = _numbers(values)
    if a is None or a.size == 0 or a.shape[-1:] != (3,) and not (a.ndim == 1 and a.size % 3 == 0):
        return None
    if a.ndim == 1:
        return a.reshape(1, -1, 3)
    if a.ndim == 2:
        return a[None]
    return a if a.ndim == 3 else None


def scan_keypoint_file(path: str | Path) -> KeypointScan | None:
    """Lenient per-frame reading of a keypoint file; None when it is not a shape these checks know
    (the reader then reports what is wrong with it)."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as z:
                kp = np.asarray(z["keypoints"], dtype=float)
            if kp.ndim == 4 and kp.shape[-1] == 3:  # [T, P, J, 3]
                return KeypointScan(list(kp), 0, "keypoints")
            return KeypointScan([f[None] for f in kp], 0, "keypoints") if kp.ndim == 3 and kp.shape[-1] == 3 else None
        data = json.loads(path.read_text())
    except Exception:  # noqa: BLE001 - unreadable: the reader names the problem
        return None
    if isinstance(data, dict):
        data = data.get("keypoints")
    if not isinstance(data, list) or not data:
        return None
    if all(isinstance(r, dict) for r in data):
        return _scan_records(data)
    frames = [_people(fr) for fr in data]
    return None if any(f is None for f in frames) else KeypointScan(frames, 0, "keypoints")


def _scan_records(records: list[dict]) -> KeypointScan | None:
    field = "frame" if "frame" in records[0] else "image_id" if "image_id" in records[0] else None
    entries = [_people(r.get("keypoints")) for r in records]
    if any(e is None or len(e) != 1 for e in entries):
        return None
    if field is None:
        return KeypointScan(entries, 0, "keypoints")
    index = [r.get(field) for r in records]
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in index):
        return None
    first, last = min(index), max(index)
    if last - first > 10 * len(records) + 1000:  # indices that are not frame numbers: leave it to the reader
        return None
    by_frame: list[list[np.ndarray]] = [[] for _ in range(last - first + 1)]
    for i, e in zip(index, entries):
        by_frame[i - first].append(e[0])
    j = entries[0].shape[1]
    return KeypointScan([np.stack(f) if f else np.zeros((0, j, 3)) for f in by_frame], first, field)


def _gaps(missing: list[int]) -> list[tuple[int, int]]:
    """Runs of consecutive missing frames as (first, last)."""
    runs: list[tuple[int, int]] = []
    for f in missing:
        if runs and f == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], f)
        else:
            runs.append((f, f))
    return runs


def _unit_guess(points: np.ndarray, frames: list[np.ndarray]) -> str:
    sizes = [float(np.ptp(f[0][:, :2], axis=0).max()) for f in frames if len(f) and np.isfinite(f[0][:, :2]).all()]
    size = float(np.median(sizes)) if sizes else float("nan")
    if METRE_EXTENT[0] <= size <= METRE_EXTENT[1]:
        return "metres"
    if MM_EXTENT[0] <= size <= MM_EXTENT[1]:
        return "millimetres"
    return "some unit"


def check_scan(scan: KeypointScan, where: str, person: int | None = None, fill_gaps: int = 0) -> None:
    """Raise the one-line ValueError for several people (without `person`), missing frames longer
    than `fill_gaps`, or a third value that is not a confidence (3D positions)."""
    people = scan.people
    if people.max(initial=0) > 1 and person is None:
        multi = np.flatnonzero(people > 1)
        f = scan.first + int(multi[0])
        raise ValueError(f"{where}: field {scan.field}: several people in one file ({len(multi)} of {len(people)} frames "
                         f"hold more than one entry, up to {people.max()}; first: frame {f} with {people[multi[0]]}); "
                         f"pick one with person=K, K in 0..{people.max() - 1} (`--person K`, the K-th entry of each "
                         "frame in file order)")
    if person is not None and not 0 <= person < max(1, int(people.max(initial=0))):
        raise ValueError(f"{where}: person={person}, but the frames hold at most {people.max()} entries "
                         f"(expected 0..{people.max() - 1})")
    missing = scan.missing if person is None else [scan.first + i for i, n in enumerate(people) if n <= person]
    gaps = _gaps(missing)
    longest = max((b - a + 1 for a, b in gaps), default=0)
    if longest > fill_gaps:
        a, b = gaps[0]
        first = f"frame {a}" if a == b else f"frames {a}–{b}"
        frames = f"{len(missing)} frame{'s' if len(missing) > 1 else ''}"
        raise ValueError(f"{where}: field {scan.field}: {frames} missing in {len(gaps)} gap{'s' if len(gaps) > 1 else ''} "
                         f"(first: {first}; longest {longest} frame{'s' if longest > 1 else ''}); interpolate gaps of up to N frames with "
                         f"fill_gaps=N (`--fill-gaps N`, N >= {longest}), or give every frame")
    pts = scan.points()
    conf = pts[:, 2][np.isfinite(pts[:, 2])] if len(pts) else np.zeros(0)
    impossible = (conf < -1e-6) | (conf > MAX_SCORE)
    outside = (conf < -1e-6) | (conf > 1 + 1e-6)
    if conf.size and (impossible.mean() > MAX_NON_CONFIDENCE_FRAC or outside.mean() > MAX_ABOVE_ONE_FRAC):
        unit = _unit_guess(pts, scan.frames)
        raise ValueError(f"{where}: field keypoints: the third value of {100 * outside.mean():.0f} % of the keypoints "
                         f"is outside [0, 1] (range {conf.min():.4g} to {conf.max():.4g}), so not a confidence: these look like 3D "
                         f"positions (x, y, z in {unit}), not 2D; expected image coordinates in pixels + a score per "
                         "keypoint (project the 3D into the image first)")


def _kept_array(scan: KeypointScan, person: int | None) -> np.ndarray:
    """`[T, J, 3]`: the `person`-th entry of each frame (0 when one person), zeros (masked) where absent."""
    k = person or 0
    j = next(f.shape[1] for f in scan.frames if len(f))
    return np.stack([f[k] if len(f) > k else np.zeros((j, 3)) for f in scan.frames])


def read_checked_keypoints(path: str | Path, layout: str = "auto", person: int | None = None,
                           fill_gaps: int = 0) -> tuple[np.ndarray, str]:
    """`load_keypoints` after the checks of this module -> (`[T, J, 3]` px + score, layout).

    When a file needs `person` or holds missing frames (allowed by `fill_gaps`), the chosen entries go
    through the reader's own checks (`keypoints_from_array`: layout inference, NaN masking, score
    checks), missing frames as masked frames; interpolation itself is `fill_short_gaps`."""
    path = Path(path)
    scan = scan_keypoint_file(path)
    if scan is None:
        return load_keypoints(path, layout)
    check_scan(scan, str(path), person, fill_gaps)
    if scan.people.max(initial=0) <= 1 and not scan.missing:
        return load_keypoints(path, layout)
    return keypoints_from_array(_kept_array(scan, person), _declared_layout(path), path, layout)


def _declared_layout(path: Path) -> str | None:
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return str(z["layout"]) if "layout" in z.files else None
        data = json.loads(path.read_text())
    except Exception:  # noqa: BLE001
        return None
    return data.get("layout") if isinstance(data, dict) and isinstance(data.get("layout"), str) else None


def fill_short_gaps(kp: np.ndarray, max_gap: int) -> tuple[np.ndarray, int]:
    """Interpolate joints missing (score <= 0) for at most `max_gap` consecutive frames between two
    frames where they are present: `[T, J, 3]` (x, y, score) -> (a copy, keypoints filled). x, y are
    linear in time; the score is the lower of the two neighbours' (a guess is no surer than its ends).
    Longer gaps, and gaps at either end, stay masked."""
    out = np.array(kp, dtype=np.float32)
    if max_gap <= 0 or len(out) < 3:
        return out, 0
    filled = 0
    t = np.arange(len(out))
    for j in range(out.shape[1]):
        ok = out[:, j, 2] > 0
        if ok.all() or ok.sum() < 2:
            continue
        idx = np.flatnonzero(ok)
        for a, b in zip(idx[:-1], idx[1:]):
            if 1 < b - a <= max_gap + 1:
                mid = t[a + 1:b]
                w = ((mid - a) / (b - a))[:, None]
                out[a + 1:b, j, :2] = out[a, j, :2] * (1 - w) + out[b, j, :2] * w
                out[a + 1:b, j, 2] = min(out[a, j, 2], out[b, j, 2])
                filled += int(b - a - 1)
    return out, filled


def check_body_size(kp: np.ndarray, image_size_wh: tuple[int, int], where: str = "keypoints") -> None:
    """Pixel keypoints `[T, J, 3]` against a `W x H` image: a skeleton smaller than MIN_BODY_FRAC of the
    image height (median over frames of its bounding box's larger side) is not in pixels of this image:
    raise a one-line ValueError saying whether the coordinates look normalised to 0-1."""
    kp = np.asarray(kp, dtype=float)
    w, h = (float(v) for v in image_size_wh)
    sizes = []
    for frame in kp:
        pts = frame[frame[:, 2] > 0, :2]
        if len(pts) >= 2:
            sizes.append(float(np.ptp(pts, axis=0).max()))
    if not sizes:
        return
    size = float(np.median(sizes))
    if size >= MIN_BODY_FRAC * h:
        return
    conf = kp[..., 2] > 0
    xy = kp[..., :2][conf]
    unit01 = bool(xy.size) and xy.min() >= -0.05 and xy.max() <= 1.05
    why = ("coordinates look normalised to 0–1: give pixels (x × W, y × H)" if unit01 else
           "expected pixel coordinates of this image (metres, or another unit?)")
    raise ValueError(f"{where}: field keypoints: the skeleton is {size:.3g} px tall in the {w:g}x{h:g} image (median over "
                     f"frames; a person is at least {MIN_BODY_FRAC * h:.0f} px): {why}")


__all__ = ["KeypointScan", "scan_keypoint_file", "check_scan", "read_checked_keypoints", "fill_short_gaps",
           "check_body_size"]
