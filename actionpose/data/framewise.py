"""Per-frame action labels for Human3.6M (Tanke et al. 2019, jutanke/h36m_framewise_actions, MIT).

File layout (`labels_int8.npz`): one int8 array per sequence and scheme, keyed
`"<subject>/<sequence>|<scheme>"`, e.g. `"S1/Walking 1|label11"`. Sequence names follow the
3d-pose-baseline layout (`Photo`, `WalkDog`, trailing take number). Five sequences whose source
could not be matched keep keys like `"S5/Discussion#expmap_1"`; they never join a motion and are
reported as unmatched. Labels are at 50 Hz, frame for frame with the 3D poses.

Length policy when a label array and its motion differ in length: labels are trimmed to the motion's
length (extra label frames dropped) or padded with -1 ("no label") at the end; both counts are
recorded in `motion.meta["framewise"]` and in the join report.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .motion import Motion

LABEL11_CLASSES: tuple[str, ...] = (
    "kneeling", "kneeling down", "leaning down", "sitting chair", "sitting down", "sitting floor",
    "squatting", "standing", "standing up", "steps", "walking",
)
LABEL8_CLASSES: tuple[str, ...] = (
    "standing", "walking", "sitting down", "sitting chair", "sitting floor", "sitting midway",
    "standing up", "leaning down",
)
SCHEMES = {"label11": LABEL11_CLASSES, "label8": LABEL8_CLASSES}
FRAMEWISE_FPS = 50.0

H36M_ASSETS = Path(__file__).resolve().parent.parent / "assets" / "h36m"


def default_framewise_path() -> Path:
    """The framewise labels shipped as package data (`assets/h36m/framewise_labels_int8.npz`, MIT)."""
    return H36M_ASSETS / "framewise_labels_int8.npz"


def load_framewise_labels(path: str | Path | None = None, scheme: str = "label11"
                          ) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
    """Read the framewise labels of one scheme.

    Returns `{sequence name: (class names of the scheme, per-frame int16 [T] indices)}` where the
    indices point into the class names (-1 = no label). Keys keep their exact spelling, including
    unmatched `#expmap` ones.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"framewise labels: unknown scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
    path = Path(default_framewise_path() if path is None else path)
    classes = SCHEMES[scheme]
    try:
        with np.load(path, allow_pickle=False) as npz:
            items = {key: npz[key] for key in npz.files}
    except FileNotFoundError:
        raise ValueError(f"{path}: framewise labels file not found") from None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable npz file ({type(e).__name__}: {e})") from None
    out: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
    for key, arr in items.items():
        if key.count("|") != 1:
            raise ValueError(f"{path}: key {key!r} is not of the form '<subject>/<sequence>|<scheme>'")
        seq, key_scheme = key.split("|")
        if key_scheme not in SCHEMES:
            raise ValueError(f"{path}: key {key!r} names unknown scheme {key_scheme!r}")
        if key_scheme != scheme:
            continue
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise ValueError(f"{path}: field {key!r} has shape {arr.shape} dtype {arr.dtype}, expected a 1-D integer array")
        if arr.size and (arr.min() < -1 or arr.max() >= len(classes)):
            raise ValueError(f"{path}: field {key!r} has class indices outside -1..{len(classes) - 1}")
        out[seq] = (classes, arr.astype(np.int16))
    if not out:
        raise ValueError(f"{path}: no keys for scheme {scheme!r}")
    return out


def fit_length(per_frame: np.ndarray, n_frames: int) -> tuple[np.ndarray, int, int]:
    """Trim or pad (-1) a `[T_labels]` array to `n_frames`; returns (array, n_trimmed, n_padded)."""
    n = per_frame.shape[0]
    if n >= n_frames:
        return per_frame[:n_frames].copy(), n - n_frames, 0
    pad = np.full(n_frames - n, -1, dtype=per_frame.dtype)
    return np.concatenate([per_frame, pad]), 0, n_frames - n


@dataclass
class FramewiseJoinReport:
    """What `join_framewise` did; nothing is left out silently."""

    scheme: str
    joined: list[str] = field(default_factory=list)
    motions_without_labels: list[str] = field(default_factory=list)
    labels_without_motion: list[str] = field(default_factory=list)  # keys of the loaded subjects only
    trimmed: dict[str, int] = field(default_factory=dict)  # name -> label frames dropped
    padded: dict[str, int] = field(default_factory=dict)  # name -> frames padded with -1

    def summary(self) -> str:
        parts = [f"framewise labels ({self.scheme}): {len(self.joined)} sequences joined"]
        if self.motions_without_labels:
            parts.append(f"{len(self.motions_without_labels)} without labels: {', '.join(self.motions_without_labels)}")
        if self.labels_without_motion:
            parts.append(f"{len(self.labels_without_motion)} label keys unmatched: {', '.join(self.labels_without_motion)}")
        if self.trimmed:
            parts.append(f"{len(self.trimmed)} trimmed to the 3D length")
        if self.padded:
            parts.append(f"{len(self.padded)} padded with -1")
        return "; ".join(parts)


def join_framewise(motions: list[Motion], table: dict[str, tuple[tuple[str, ...], np.ndarray]],
                   scheme: str = "label11") -> FramewiseJoinReport:
    """Attach per-frame labels to `motions` (in place) by exact sequence name.

    Each motion gets `labels` = the distinct class names occurring in it (in scheme order) and
    `label_per_frame` `[T]` int16 indexing them (-1 = none), plus `meta["framewise"]` describing the
    join. Motions without a key get all -1 and `meta["framewise"]["status"] = "no labels"`.
    """
    report = FramewiseJoinReport(scheme=scheme)
    names = {m.name for m in motions}
    subjects = {m.subject for m in motions}
    for m in motions:
        entry = table.get(m.name)
        if entry is None:
            m.labels = ()
            m.label_per_frame = np.full(m.num_frames, -1, dtype=np.int16)
            m.meta["framewise"] = {"status": "no labels", "scheme": scheme}
            report.motions_without_labels.append(m.name)
            continue
        classes, per_frame = entry
        fitted, n_trim, n_pad = fit_length(per_frame, m.num_frames)
        present = sorted(int(c) for c in np.unique(fitted) if c >= 0)
        remap = np.full(len(classes) + 1, -1, dtype=np.int16)  # last slot catches -1
        for new, old in enumerate(present):
            remap[old] = new
        m.labels = tuple(classes[c] for c in present)
        m.label_per_frame = remap[fitted].astype(np.int16)
        m.meta["framewise"] = {"status": "joined", "scheme": scheme, "label_frames": int(per_frame.shape[0]),
                               "trimmed": n_trim, "padded": n_pad}
        report.joined.append(m.name)
        if n_trim:
            report.trimmed[m.name] = n_trim
        if n_pad:
            report.padded[m.name] = n_pad
    report.labels_without_motion = sorted(k for k in table if k.split("/")[0] in subjects and k not in names)
    return report
