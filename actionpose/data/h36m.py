"""Human3.6M -> list[Motion], from either of the two common on-disk layouts.

(a) VideoPose3D npz pair (one folder):
    `data_3d_h36m.npz`: `positions_3d` = {subject: {sequence: [T, 32, 3] float32 metres, world}}
    `data_2d_h36m_<det>.npz` (optional): `positions_2d` = {subject: {sequence: [4 x [T, J, 2|3] px]}}
    (cameras in the order 54138969, 55011271, 58860488, 60457274; J = 17 in H36M order for gt / cpn /
    detectron, J = 16 in MPII order for the Stacked Hourglass files) and `metadata` (num_joints,
    keypoints_symmetry, optional layout_name). No calibration inside: cameras come from a JSON file
    (default: the calibration shipped as package data, `assets/h36m/cameras.json`).
(b) 3d-pose-baseline folder:
    `S*/MyPoses/3D_positions/<Sequence>.h5`, dataset `3D_positions` (96, T) world mm, row = joint*3 + axis
    `S*/StackedHourglass/<Sequence>.<camera>.h5`, dataset `poses` (T, 16, 2) px, MPII order
    (spaces in sequence names written as underscores); `StackedHourglassFineTuned240/` likewise
    `cameras.h5`: `subject{N}/camera{M}/{R, T, f, c, k, p, Name}`; R is stored transposed
    (R_world_to_cam = R.T), T is the camera centre in world mm, Name the camera id as char codes.

The npz files store nested dicts as pickled object arrays. They are read with a restricted unpickler
that only rebuilds numpy arrays, dtypes and scalars (plus plain dict/list/str/int), so a crafted file
cannot run code; any other global in the pickle is refused with a one-line error.
"""
from __future__ import annotations

import io
import json
import pickle
import re
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import ClassVar

import h5py
import numpy as np

from ..geometry import Camera
from ..skeleton import H36M17_NAMES, H36M32_TO_17, NUM_JOINTS
from .framewise import H36M_ASSETS, join_framewise, load_framewise_labels
from .keypoints import coco17_to_h36m17, mpii16_to_h36m17
from .motion import Motion

H36M_ACTIONS: tuple[str, ...] = (
    "Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing", "Purchases",
    "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking", "WalkTogether",
)
TRAIN_SUBJECTS: tuple[str, ...] = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS: tuple[str, ...] = ("S9", "S11")
CAMERA_IDS: tuple[str, ...] = ("54138969", "55011271", "58860488", "60457274")
IMAGE_SIZE_WH: dict[str, tuple[int, int]] = {
    "54138969": (1000, 1002), "55011271": (1000, 1000), "58860488": (1000, 1000), "60457274": (1000, 1002),
}
H36M_FPS = 50.0

# VideoPose3D detection names (file suffix of data_2d_h36m_<det>.npz) -> Motion.kp2d_source.
DETECTION_SOURCES: dict[str, str] = {
    "gt": "gt",
    "cpn_ft_h36m_dbb": "cpn",
    "sh_ft_h36m": "sh",
    "sh_pt_mpii": "sh_pt",
    "detectron_ft_h36m": "detectron",
}
# kp2d="auto" in the npz layout takes the first file present in this order.
NPZ_AUTO_ORDER: tuple[str, ...] = ("cpn_ft_h36m_dbb", "gt", "sh_ft_h36m", "detectron_ft_h36m", "sh_pt_mpii")
# 3d-pose-baseline 2D folders per kp2d_source; kp2d="auto" takes the first present.
BASELINE_2D_DIRS: dict[str, str] = {"sh_pt": "StackedHourglass", "sh": "StackedHourglassFineTuned240"}
# Every value of kp2d= / `prepare h36m --kp2d` and what it means (the CLI help and README list these).
KP2D_VALUES: dict[str, str] = {
    "auto": "the default: npz layout, the first present of cpn, gt, sh, detectron, sh_pt (the 2D files "
            "present and the one taken are reported); folder layout, sh_pt then sh",
    "none": "3D only (evaluation then projects the ground truth)",
    "gt": "ground-truth 2D, the 3D projected through the cameras (data_2d_h36m_gt.npz): no detector error",
    "cpn": "Cascaded Pyramid Network detections fine-tuned on Human3.6M (data_2d_h36m_cpn_ft_h36m_dbb.npz)",
    "sh": "Stacked Hourglass fine-tuned on Human3.6M (data_2d_h36m_sh_ft_h36m.npz, or the folder "
          "StackedHourglassFineTuned240/)",
    "sh_pt": "Stacked Hourglass pretrained on MPII, not fine-tuned (data_2d_h36m_sh_pt_mpii.npz, or the "
             "folder StackedHourglass/ of the stock 3d-pose-baseline archive)",
    "detectron": "Detectron detections fine-tuned on Human3.6M (data_2d_h36m_detectron_ft_h36m.npz)",
    "FILE": "a detections npz in the VideoPose3D layout (positions_2d + metadata), in either layout",
    "NAME=FILE": "the same, labelled NAME in the summary and reports (e.g. sh=my_hourglass.npz)",
}
# The declared validation part of the training subjects (never a test subject): fine-tuning on
# prepared Human3.6M is validated on it. val_subjects=() keeps all five for training, as published.
VAL_SUBJECTS: tuple[str, ...] = ("S8",)

_ACTION_ALIASES = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}


def default_cameras_path() -> Path:
    """The Human3.6M calibration shipped as package data (`assets/h36m/cameras.json`)."""
    return H36M_ASSETS / "cameras.json"


def canonical_sequence_name(name: str) -> str:
    """'TakingPhoto_1' -> 'Photo 1', 'WalkingDog' -> 'WalkDog' (3d-pose-baseline spelling)."""
    name = name.replace("_", " ").strip()
    for old, new in _ACTION_ALIASES.items():
        if name == old or name.startswith((old + " ", old + "#")):
            name = new + name[len(old):]
    return name


def base_action(sequence: str, where: str = "sequence") -> str:
    """'Photo 1' / 'TakingPhoto' / 'Discussion#expmap_1' -> one of the 15 Human3.6M actions."""
    stem = canonical_sequence_name(sequence).split("#")[0]
    stem = re.sub(r"\s+\d+$", "", stem)
    if stem not in H36M_ACTIONS:
        raise ValueError(f"{where}: {sequence!r} is not a Human3.6M action; expected one of {', '.join(H36M_ACTIONS)}")
    return stem


def split_of(subject: str) -> str:
    if subject in TRAIN_SUBJECTS:
        return "train"
    if subject in TEST_SUBJECTS:
        return "test"
    raise ValueError(f"subject {subject!r} has no 3D split; expected one of {', '.join(TRAIN_SUBJECTS + TEST_SUBJECTS)}")


# ----------------------------------------------------------------------------------------- npz


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays/dtypes/scalars and plain containers; refuses every other global."""

    _ALLOWED: ClassVar[dict] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy._core.multiarray", "_reconstruct"): np.zeros(1).__reduce__()[0],
        ("numpy.core.multiarray", "_reconstruct"): np.zeros(1).__reduce__()[0],
        ("numpy._core.multiarray", "scalar"): np.float64(0).__reduce__()[0],
        ("numpy.core.multiarray", "scalar"): np.float64(0).__reduce__()[0],
    }

    def find_class(self, module: str, name: str):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}") from None


def read_npz_object(path: str | Path, key: str):
    """One field of an npz file. Object (pickled) fields go through the numpy-only unpickler.

    Returns the `.item()` of 0-d object arrays (e.g. the dicts of VideoPose3D / 3DHP files) and the
    array itself otherwise.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: file not found")
    try:
        with zipfile.ZipFile(path) as zf:
            member = key + ".npy"
            if member not in zf.namelist():
                have = ", ".join(n[:-4] for n in zf.namelist() if n.endswith(".npy")) or "nothing"
                raise ValueError(f"{path}: missing field {key!r} (has {have})")
            with zf.open(member) as f:
                version = np.lib.format.read_magic(f)
                reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, fortran, dtype = reader(f)
                if not dtype.hasobject:
                    count = int(np.prod(shape))
                    arr = np.frombuffer(f.read(), dtype=dtype, count=count)
                    return arr.reshape(shape, order="F" if fortran else "C")
                obj = _NumpyOnlyUnpickler(io.BytesIO(f.read()), encoding="latin1").load()
    except ValueError as e:
        if str(e).startswith(str(path)):
            raise
        raise ValueError(f"{path}: field {key!r} is unreadable ({e})") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, pickle.UnpicklingError,
            AttributeError, TypeError, IndexError) as e:
        raise ValueError(f"{path}: not a readable npz file ({type(e).__name__}: {e})") from None
    if isinstance(obj, np.ndarray) and obj.dtype == object and obj.shape == ():
        return obj.item()
    return obj


def _as_dict(obj, where: str) -> dict:
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a dict, got {type(obj).__name__}")
    return obj


def _joints(arr, n_joints: int, n_coords: tuple[int, ...], where: str) -> np.ndarray:
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
        raise ValueError(f"{where}: expected a numeric array, got {type(arr).__name__}")
    if arr.ndim != 3 or arr.shape[1] != n_joints or arr.shape[2] not in n_coords:
        want = " or ".join(f"[T, {n_joints}, {c}]" for c in n_coords)
        raise ValueError(f"{where}: has shape {arr.shape}, expected {want}")
    if arr.shape[0] == 0:
        raise ValueError(f"{where}: has 0 frames")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{where}: has NaN/inf values (first at frame {int(np.argwhere(bad)[0][0])})")
    return arr.astype(np.float64)


def _check_units(j32: np.ndarray, unit: str, where: str) -> None:
    """World coordinates of people in the capture volume: metres ~ 0.01..5, millimetres ~ 10..5000."""
    scale = float(np.median(np.abs(j32)))
    if unit == "m" and scale > 20:
        raise ValueError(f"{where}: values look like millimetres (median |x| = {scale:.0f}); expected metres")
    if unit == "mm" and scale < 20:
        raise ValueError(f"{where}: values look like metres (median |x| = {scale:.3g}); expected millimetres")


def detection_source_name(path: Path) -> str:
    """`data_2d_h36m_sh_ft_h36m.npz` -> "sh"; any other file name -> its stem (one's own detections)."""
    det = path.name[len("data_2d_h36m_"):-4] if path.name.startswith("data_2d_h36m_") and path.suffix == ".npz" else ""
    return DETECTION_SOURCES.get(det, det or path.stem)


def _is_file_arg(kp2d) -> bool:
    return isinstance(kp2d, Path) or (isinstance(kp2d, str) and (kp2d.endswith(".npz") or "/" in kp2d))


def _split_label(kp2d) -> tuple[str | None, str | Path]:
    """`"sh=dets/mine.npz"` -> ("sh", "dets/mine.npz"): the user's name for a detections file.
    A string that is itself an existing file, or whose part before '=' is not a plain name, has no label."""
    if isinstance(kp2d, str) and "=" in kp2d and not Path(kp2d).exists():
        label, _, rest = kp2d.partition("=")
        if rest and re.fullmatch(r"[A-Za-z0-9_.+-]+", label):
            return label, rest
    return None, kp2d


def _npz_has_field(path: Path, key: str) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return key + ".npy" in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def npz_2d_files(folder: Path) -> list[Path]:
    """The 2D files of a VideoPose3D folder: every `data_2d_h36m_*.npz`, then any other npz holding a
    `positions_2d` field (one's own detections under another name), each sorted by name."""
    named = sorted(folder.glob("data_2d_h36m_*.npz"))
    others = [p for p in sorted(folder.glob("*.npz"))
              if p not in named and p.name != "data_3d_h36m.npz" and _npz_has_field(p, "positions_2d")]
    return named + others


def _describe_2d_file(path: Path) -> str:
    """'data_2d_h36m_sh_ft_h36m.npz (sh)' / 'mine.npz (not a VideoPose3D detection name)'."""
    det = path.name[len("data_2d_h36m_"):-4] if path.name.startswith("data_2d_h36m_") else ""
    if det in DETECTION_SOURCES:
        return f"{path.name} ({DETECTION_SOURCES[det]})"
    return f"{path.name} (not a VideoPose3D detection name; say what it is with --kp2d NAME=FILE)"


def _npz_auto(folder: Path) -> Path | None:
    """kp2d="auto" in the npz layout: the file taken, with a warning that lists every 2D file present
    and says which one was taken and why whenever the choice is not the only, recognised file."""
    files = npz_2d_files(folder)
    if not files:
        warnings.warn(f"{folder}: no 2D file (data_2d_h36m_<det>.npz) next to data_3d_h36m.npz; loaded 3D only "
                      f"(evaluation will project the ground truth); pass kp2d=FILE for your detections", stacklevel=4)
        return None
    by_det = {p.name[len("data_2d_h36m_"):-4]: p for p in files if p.name.startswith("data_2d_h36m_")}
    chosen = next((by_det[d] for d in NPZ_AUTO_ORDER if d in by_det), None)
    order = ", ".join(DETECTION_SOURCES[d] for d in NPZ_AUTO_ORDER)
    if chosen is not None:
        why = f"auto takes the first present of {order}"
    elif len(files) == 1:
        chosen, why = files[0], "it is the only 2D file"
    else:
        raise ValueError(f"{folder}: kp2d='auto' cannot choose between the 2D files "
                         f"{', '.join(p.name for p in files)} (none is a VideoPose3D detection name); "
                         f"pass --kp2d NAME=FILE to say which one to use and what it is")
    if len(files) > 1 or DETECTION_SOURCES.get(chosen.name[len("data_2d_h36m_"):-4]) is None:
        warnings.warn(f"{folder}: 2D files present: {'; '.join(_describe_2d_file(p) for p in files)}; took "
                      f"{chosen.name} because {why}; pass --kp2d (a name, FILE or NAME=FILE) to use another",
                      stacklevel=4)
    return chosen


def _npz_detection(folder: Path, kp2d: str) -> Path | None:
    aliases = {src: det for det, src in DETECTION_SOURCES.items()}
    if kp2d == "none":
        return None
    if kp2d == "auto":
        return _npz_auto(folder)
    det = aliases.get(kp2d, kp2d)
    path = folder / f"data_2d_h36m_{det}.npz"
    if not path.exists():
        have = "; ".join(_describe_2d_file(p) for p in npz_2d_files(folder)) or "none"
        raise ValueError(f"{folder}: kp2d={kp2d!r} needs file data_2d_h36m_{det}.npz, which is missing "
                         f"(2D files here: {have})")
    return path


def _to_h36m17_2d(arr: np.ndarray, layout: str) -> np.ndarray:
    """[T, J, 2|3] px in `layout` -> [T, 17, 3] (score 1 where the file has none)."""
    if layout == "mpii16":
        return mpii16_to_h36m17(arr)
    if arr.shape[2] == 2:
        arr = np.concatenate([arr, np.ones(arr.shape[:2] + (1,))], axis=2)
    arr = arr.astype(np.float32)
    return coco17_to_h36m17(arr) if layout == "coco17" else arr


def _npz_2d_layout(meta: dict, path: Path) -> str:
    name = str(meta.get("layout_name", "")).lower()
    n = int(meta.get("num_joints", 0) or 0)
    if name in ("coco", "coco17"):
        return "coco17"
    if name in ("h36m", "h36m17") or (not name and n == 17):
        return "h36m17"
    if name in ("mpii", "mpii16") or (not name and n == 16):
        return "mpii16"
    if not name and not n:
        return ""  # decided per array from its joint count
    raise ValueError(f"{path}: field metadata has layout_name={name!r}, num_joints={n}; expected h36m/17, coco/17 or mpii/16")


def layout_absent_joints(layout: str) -> list[str]:
    """H36M-17 joints a 2D layout has no point for (MPII-16: neck_nose); they are missing in every frame."""
    n_j = 16 if layout == "mpii16" else 17
    out = _to_h36m17_2d(np.ones((1, n_j, 3), np.float32), layout)
    return [H36M17_NAMES[j] for j in np.flatnonzero(out[0, :, 2] <= 0)]


def detections_2d(arr, layout: str, where: str) -> tuple[np.ndarray, int]:
    """One camera's detections `[T, J, 2|3]` px in `layout` ("" = from J) -> (`[T, 17, 3]` H36M-17, missing count).

    A joint with a NaN/inf coordinate or score is a missed detection: x = y = score = 0. A joint the
    layout does not have (MPII-16 has no neck/nose) gets the same encoding, so both enter the model
    as masked joints, never as a point at pixel (0, 0). Without a score channel, present joints get 1.
    The count is the number of missed source joints (NaN), not the absent-by-layout ones.
    """
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
        raise ValueError(f"{where}: expected a numeric array, got {type(arr).__name__}")
    lay = layout or ("mpii16" if arr.ndim == 3 and arr.shape[1] == 16 else "h36m17")
    n_j = 16 if lay == "mpii16" else 17
    if arr.ndim != 3 or arr.shape[1] != n_j or arr.shape[2] not in (2, 3):
        raise ValueError(f"{where}: has shape {arr.shape}, expected [T, {n_j}, 2] or [T, {n_j}, 3] ({lay})")
    if arr.shape[0] == 0:
        raise ValueError(f"{where}: has 0 frames")
    kp = arr.astype(np.float64)
    if kp.shape[2] == 2:
        kp = np.concatenate([kp, np.ones(kp.shape[:2] + (1,))], axis=2)
    bad = ~np.all(np.isfinite(kp), axis=-1)
    kp[bad] = 0.0
    out = _to_h36m17_2d(kp.astype(np.float32), lay)
    out[out[..., 2] <= 0] = 0.0  # one encoding for every missing joint
    return np.ascontiguousarray(out, dtype=np.float32), int(bad.sum())


class _Detections:
    """A VideoPose3D-layout detections npz: `positions_2d` {subject: {sequence: [4 x [T, J, 2|3]]}} + `metadata`."""

    def __init__(self, path: Path, label: str | None = None):
        self.path = path
        self.source = label or detection_source_name(path)
        self.table = _as_dict(read_npz_object(path, "positions_2d"), f"{path}: field positions_2d")
        try:
            meta2d = read_npz_object(path, "metadata")
        except ValueError as e:
            if "missing field" not in str(e):
                raise
            meta2d = {}
        self.layout = _npz_2d_layout(_as_dict(meta2d, f"{path}: field metadata"), path)
        self._by_subject: dict[str, dict] = {}

    def subjects(self) -> list[str]:
        return list(self.table)

    def for_sequence(self, subject: str, name: str, n_frames: int) -> tuple[dict[str, np.ndarray], dict]:
        """(camera id -> `[T, 17, 3]`, meta with missing-camera / missed-joint counts) for one sequence."""
        f2d = self.path
        if subject not in self.table:
            raise ValueError(f"{f2d}: field positions_2d has no subject {subject!r} (pass kp2d='none' to load 3D only)")
        if subject not in self._by_subject:
            self._by_subject[subject] = {canonical_sequence_name(a): v for a, v in
                                         _as_dict(self.table[subject], f"{f2d}: positions_2d[{subject!r}]").items()}
        seqs = self._by_subject[subject]
        if name not in seqs:
            raise ValueError(f"{f2d}: no 2D for {subject}/{name} (pass kp2d='none' to load 3D only)")
        per_cam = seqs[name]
        if not isinstance(per_cam, (list, tuple)) or len(per_cam) != len(CAMERA_IDS):
            raise ValueError(f"{f2d}: positions_2d[{subject!r}][{name!r}] must be a list of {len(CAMERA_IDS)} camera arrays")
        arrays, missed, layouts = {}, {}, set()
        for cam_id, arr in zip(CAMERA_IDS, per_cam):
            if arr is None or (isinstance(arr, np.ndarray) and arr.size == 0):
                continue
            w2 = f"{f2d}: positions_2d[{subject!r}][{name!r}][camera {cam_id}]"
            arrays[cam_id], n_bad = detections_2d(arr, self.layout, w2)
            layouts.add(self.layout or ("mpii16" if arr.ndim == 3 and arr.shape[1] == 16 else "h36m17"))
            if n_bad:
                missed[cam_id] = n_bad
        kp2d_px, meta = _fit_2d(arrays, n_frames, f"{f2d}: {subject}/{name}")
        absent = sorted({j for lay in layouts for j in layout_absent_joints(lay)}, key=H36M17_NAMES.index)
        return kp2d_px, _missed_meta(meta, kp2d_px, missed, self.source, f2d.name, absent)


def _missed_meta(meta: dict, kp2d_px: dict, missed: dict, source: str, file_name: str,
                 absent: list[str] | None = None) -> dict:
    """Per-motion 2D bookkeeping: file, missed (NaN) joints per kept camera, missing joints per camera
    (missed + absent from the layout), the joints the layout lacks."""
    meta = dict(meta, kp2d_file=file_name)
    counts = {cam: int((kp[..., 2] <= 0).sum()) for cam, kp in kp2d_px.items()}
    if absent:
        meta["kp2d_absent_joints"] = list(absent)
    if any(n for cam, n in missed.items() if cam in kp2d_px):
        meta["kp2d_nan_joints"] = {cam: int(n) for cam, n in missed.items() if n and cam in kp2d_px}
    if any(counts.values()):
        meta["kp2d_missing_joints"] = counts
    return meta


def _resolve_detections(kp2d, where: Path) -> _Detections | None:
    label, kp2d = _split_label(kp2d)
    if not _is_file_arg(kp2d) and label is None:
        return None
    path = Path(kp2d)
    if not path.is_file():
        raise ValueError(f"{path}: 2D detections file not found (kp2d= expects a VideoPose3D-layout npz "
                         f"with positions_2d, NAME=FILE, or one of auto, none, {', '.join(DETECTION_SOURCES.values())})")
    return _Detections(path, label)


def _load_npz_layout(folder: Path, subjects: list[str] | None, cameras_json, kp2d) -> list[Motion]:
    f3d = folder / "data_3d_h36m.npz"
    positions = _as_dict(read_npz_object(f3d, "positions_3d"), f"{f3d}: field positions_3d")
    subs = _select_subjects(list(positions), subjects, f3d)
    cameras = load_cameras(cameras_json, subs)
    dets = _resolve_detections(kp2d, folder)
    if dets is None:
        det_path = _npz_detection(folder, kp2d)
        dets = _Detections(det_path) if det_path is not None else None
    if dets is not None:
        extra = sorted(set(dets.subjects()) - set(positions))
        if extra:
            warnings.warn(f"{dets.path}: 2D of subjects {', '.join(extra)} has no 3D in {f3d.name}; not loaded",
                          stacklevel=3)
    motions = []
    for s in subs:
        actions = _as_dict(positions[s], f"{f3d}: positions_3d[{s!r}]")
        for action in sorted(actions):
            where = f"{f3d}: positions_3d[{s!r}][{action!r}]"
            j32 = _joints(actions[action], 32, (3,), where)
            _check_units(j32, "m", where)
            joints_mm = j32[:, list(H36M32_TO_17)] * 1000.0
            name = canonical_sequence_name(action)
            kp2d_px, meta = {}, {}
            if dets is not None:
                kp2d_px, meta = dets.for_sequence(s, name, joints_mm.shape[0])
            motions.append(_make_motion(s, action, joints_mm, cameras[s], kp2d_px,
                                        dets.source if dets is not None else "",
                                        dict(meta, layout="videopose3d-npz"), where=where))
    return motions


# ---------------------------------------------------------------------------- cameras


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def load_cameras(path: str | Path | None, subjects: list[str]) -> dict[str, list[Camera]]:
    """A calibration file, either kind: the JSON (`load_cameras_json`; None = the shipped one) or a
    3d-pose-baseline `cameras.h5` (`load_cameras_h5`), told apart by the HDF5 signature or suffix."""
    if path is not None:
        path = Path(path)
        head = b""
        if path.is_file():
            with open(path, "rb") as f:
                head = f.read(len(HDF5_SIGNATURE))
        if head == HDF5_SIGNATURE or (not head and path.suffix.lower() in (".h5", ".hdf5")):
            if not path.is_file():
                raise ValueError(f"{path}: camera file not found")
            return load_cameras_h5(path, subjects)
    return load_cameras_json(path, subjects)


def load_cameras_json(path: str | Path | None, subjects: list[str]) -> dict[str, list[Camera]]:
    """`h36m-cameras.json` (`{"cameras": {"S1/54138969": {...}}}`) -> subject -> 4 Cameras (CAMERA_IDS order)."""
    path = Path(default_cameras_path() if path is None else path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: camera file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({str(e).splitlines()[0]})") from None
    table = data.get("cameras") if isinstance(data, dict) else None
    if not isinstance(table, dict):
        raise ValueError(f"{path}: missing field 'cameras' (a mapping 'S1/54138969' -> camera)")
    out = {}
    for s in subjects:
        cams = []
        for cam_id in CAMERA_IDS:
            key = f"{s}/{cam_id}"
            if key not in table:
                raise ValueError(f"{path}: field cameras has no entry {key!r}")
            cams.append(Camera.from_dict(dict(table[key], name=cam_id), where=f"{path} cameras[{key!r}]"))
            _check_rotation(cams[-1].R_world_to_cam, f"{path} cameras[{key!r}]")
        out[s] = cams
    return out


def load_cameras_h5(path: str | Path, subjects: list[str]) -> dict[str, list[Camera]]:
    """3d-pose-baseline `cameras.h5` -> subject -> 4 Cameras in CAMERA_IDS order."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path.parent}: missing camera file {path.name} (3d-pose-baseline layout needs it, "
                         f"or pass cameras_json=)")
    out = {}
    with _open_h5(path) as hf:
        for s in subjects:
            cams = []
            for m, cam_id in enumerate(CAMERA_IDS, start=1):
                group = f"subject{int(s[1:])}/camera{m}"
                where = f"{path} {group}"
                if group not in hf:
                    raise ValueError(f"{path}: missing group {group!r}")
                g = hf[group]
                fields = {}
                for key in ("R", "T", "f", "c", "k", "p", "Name"):
                    if key not in g:
                        raise ValueError(f"{where}: missing field {key}")
                    fields[key] = np.asarray(g[key][()])
                name = "".join(chr(int(v)) for v in fields["Name"].reshape(-1))
                if name != cam_id:
                    raise ValueError(f"{where}: field Name is {name!r}, expected {cam_id!r}")
                cam = Camera(name=cam_id, R_world_to_cam=fields["R"].astype(np.float64).T,
                             T_world_mm=fields["T"].astype(np.float64).reshape(-1),
                             f=fields["f"].astype(np.float64).reshape(-1), c=fields["c"].astype(np.float64).reshape(-1),
                             k=fields["k"].astype(np.float64).reshape(-1), p=fields["p"].astype(np.float64).reshape(-1),
                             image_size_wh=IMAGE_SIZE_WH[cam_id]).validate(where)
                _check_rotation(cam.R_world_to_cam, where)
                cams.append(cam)
            out[s] = cams
    return out


def _check_rotation(R: np.ndarray, where: str) -> None:
    R = np.asarray(R, dtype=np.float64)
    if np.abs(R @ R.T - np.eye(3)).max() > 1e-4 or np.linalg.det(R) < 0:
        raise ValueError(f"{where}: field R is not a rotation matrix (orthonormal, det +1)")


# ----------------------------------------------------------------------- 3d-pose-baseline


def _open_h5(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable HDF5 file ({str(e).splitlines()[0]})") from None


def _read_h5(path: Path, dataset: str) -> np.ndarray:
    with _open_h5(path) as hf:
        if dataset not in hf:
            raise ValueError(f"{path}: missing dataset {dataset!r} (has {', '.join(hf.keys()) or 'nothing'})")
        try:
            return np.asarray(hf[dataset][()])
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: dataset {dataset!r} is unreadable ({str(e).splitlines()[0]})") from None


def _index_2d_dir(folder: Path) -> dict[str, dict[str, Path]]:
    """`<Sequence>.<camera>.h5` files -> canonical sequence -> camera -> path."""
    out: dict[str, dict[str, Path]] = {}
    for f in sorted(folder.glob("*.h5")):
        stem, _, cam = f.stem.rpartition(".")
        if cam not in CAMERA_IDS:
            raise ValueError(f"{f}: file name must be <Sequence>.<camera id>.h5 with a camera of {', '.join(CAMERA_IDS)}")
        out.setdefault(canonical_sequence_name(stem), {})[cam] = f
    return out


def _baseline_dirs_here(folder: Path) -> str:
    """'StackedHourglass/ (use --kp2d sh_pt)' for the 2D folders present in a subject folder, or 'none'."""
    have = [f"{d}/ (use --kp2d {src})" for src, d in BASELINE_2D_DIRS.items() if (folder / d).is_dir()]
    return ", ".join(have) or "none"


def _baseline_2d_source(root: Path, subs: list[str], kp2d: str) -> str | None:
    if kp2d == "none":
        return None
    if kp2d == "auto":
        complete = [src for src, dirname in BASELINE_2D_DIRS.items() if all((root / s / dirname).is_dir() for s in subs)]
        if not complete:
            warnings.warn(f"{root}: no 2D folder ({', '.join(d + '/' for d in BASELINE_2D_DIRS.values())}) in every "
                          f"subject; loaded 3D only (evaluation will project the ground truth); pass kp2d=FILE for "
                          f"your detections", stacklevel=4)
            return None
        if len(complete) > 1:
            warnings.warn(f"{root}: 2D folders present: {', '.join(BASELINE_2D_DIRS[c] + '/ (' + c + ')' for c in complete)}; "
                          f"took {BASELINE_2D_DIRS[complete[0]]}/ ({complete[0]}) because auto takes "
                          f"{', '.join(BASELINE_2D_DIRS)} in this order; pass kp2d='sh' for the other", stacklevel=4)
        return complete[0]
    if kp2d not in BASELINE_2D_DIRS:
        raise ValueError(f"{root}: kp2d={kp2d!r} is not available in the 3d-pose-baseline layout; expected "
                         f"auto, none, {', '.join(BASELINE_2D_DIRS)} or a detections npz FILE "
                         f"(2D folders in {subs[0]}: {_baseline_dirs_here(root / subs[0])})")
    for s in subs:
        if not (root / s / BASELINE_2D_DIRS[kp2d]).is_dir():
            raise ValueError(f"{root / s}: kp2d={kp2d!r} needs folder {BASELINE_2D_DIRS[kp2d]}/, which is missing "
                             f"(2D folders here: {_baseline_dirs_here(root / s)})")
    return kp2d


def _load_baseline_layout(root: Path, subjects: list[str] | None, cameras_json, kp2d) -> list[Motion]:
    present = sorted(d.name for d in root.glob("S*") if (d / "MyPoses" / "3D_positions").is_dir())
    subs = _select_subjects(present, subjects, root)
    cameras = load_cameras(cameras_json, subs) if cameras_json is not None else load_cameras_h5(root / "cameras.h5", subs)
    dets = _resolve_detections(kp2d, root)
    src = None if dets is not None else _baseline_2d_source(root, subs, kp2d)
    motions = []
    for s in subs:
        index_2d = _index_2d_dir(root / s / BASELINE_2D_DIRS[src]) if src else {}
        used_2d = set()
        for f in sorted((root / s / "MyPoses" / "3D_positions").glob("*.h5")):
            raw = _read_h5(f, "3D_positions")
            if raw.ndim != 2 or raw.shape[0] != 96:
                raise ValueError(f"{f}: dataset '3D_positions' has shape {raw.shape}, expected (96, T) = 32 joints x 3")
            j32 = _joints(raw.T.reshape(raw.shape[1], 32, 3), 32, (3,), f"{f}: dataset '3D_positions'")
            _check_units(j32, "mm", f"{f}: dataset '3D_positions'")
            joints_mm = j32[:, list(H36M32_TO_17)]
            name = canonical_sequence_name(f.stem)
            kp2d_px, meta = {}, {}
            if dets is not None:
                kp2d_px, meta = dets.for_sequence(s, name, joints_mm.shape[0])
            elif src:
                files = index_2d.get(name, {})
                used_2d.add(name)
                arrays, missed = {}, {}
                for cam_id in CAMERA_IDS:
                    if cam_id in files:
                        poses = _read_h5(files[cam_id], "poses")
                        arrays[cam_id], missed[cam_id] = detections_2d(poses, "mpii16", f"{files[cam_id]}: dataset 'poses'")
                if not arrays:
                    raise ValueError(f"{root / s / BASELINE_2D_DIRS[src]}: no 2D files for {name!r} "
                                     f"(expected {name.replace(' ', '_')}.<camera>.h5; pass kp2d='none' to load 3D only)")
                kp2d_px, meta = _fit_2d(arrays, joints_mm.shape[0], f"{root / s / BASELINE_2D_DIRS[src]}: {name}")
                meta = _missed_meta(meta, kp2d_px, missed, src, BASELINE_2D_DIRS[src] + "/",
                                    layout_absent_joints("mpii16"))
            motions.append(_make_motion(s, f.stem, joints_mm, cameras[s], kp2d_px,
                                        dets.source if dets is not None else (src or ""),
                                        dict(meta, layout="3d-pose-baseline"), where=str(f)))
        unused = sorted(set(index_2d) - used_2d)
        if unused and src:
            warnings.warn(f"{root / s / BASELINE_2D_DIRS[src]}: 2D for {', '.join(unused)} has no 3D file; not loaded",
                          stacklevel=3)
    return motions


# ---------------------------------------------------------------------------- common


def _select_subjects(present: list[str], subjects, where: Path) -> list[str]:
    """`subjects` = (list of subjects or None, split name or None)."""
    subjects, split = subjects if isinstance(subjects, tuple) else (subjects, None)
    present = sorted(present, key=lambda s: int(s[1:]) if s[1:].isdigit() else 1 << 30)
    for s in present:
        if not re.fullmatch(r"S\d+", s):
            raise ValueError(f"{where}: subject {s!r} is not of the form S<number>")
        try:
            split_of(s)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
    if split is not None:
        in_split = [s for s in present if s in SPLITS[split]]
        if subjects is None:
            if not in_split:
                raise ValueError(f"{where}: no subject of split {split!r} ({', '.join(SPLITS[split])}) found "
                                 f"(has {', '.join(present) or 'none'})")
            return in_split
        subjects = [s for s in subjects if (s if isinstance(s, str) else f"S{int(s)}") in SPLITS[split]]
        if not subjects:
            raise ValueError(f"{where}: none of the requested subjects is in split {split!r}")
    if subjects is None:
        if not present:
            raise ValueError(f"{where}: no subjects found")
        return present
    wanted = [s if isinstance(s, str) else f"S{int(s)}" for s in subjects]
    missing = [s for s in wanted if s not in present]
    if missing:
        raise ValueError(f"{where}: subjects {', '.join(missing)} not found (has {', '.join(present)})")
    return [s for s in present if s in wanted]


def _fit_2d(arrays: dict[str, np.ndarray], n_frames: int, where: str) -> tuple[dict[str, np.ndarray], dict]:
    """Trim 2D longer than the 3D (some videos have extra frames, as VideoPose3D does); shorter is an error.

    A camera with no detection at all in the 3D's frames (every joint NaN or score 0) is a camera
    without 2D, exactly like an absent one: dropped, listed in `kp2d_missing_cameras` (and in
    `kp2d_blank_cameras`), never scored with a blank input."""
    out, trimmed, blank = {}, {}, []
    for cam_id, kp in arrays.items():
        if kp.shape[0] < n_frames:
            raise ValueError(f"{where}: camera {cam_id} has {kp.shape[0]} 2D frames, fewer than the {n_frames} 3D frames")
        if not (kp[:n_frames, :, 2] > 0).any():
            blank.append(cam_id)
            continue
        if kp.shape[0] > n_frames:
            trimmed[cam_id] = int(kp.shape[0] - n_frames)
        out[cam_id] = np.ascontiguousarray(kp[:n_frames], dtype=np.float32)
    meta = {}
    missing = [c for c in CAMERA_IDS if c not in out]
    if missing:
        meta["kp2d_missing_cameras"] = missing
        why = f" (every detection of {', '.join(blank)} is NaN or has score 0)" if blank else ""
        warnings.warn(f"{where}: no 2D for camera(s) {', '.join(missing)}{why}; skipped in evaluation", stacklevel=4)
    if blank:
        meta["kp2d_blank_cameras"] = blank
    if trimmed:
        meta["kp2d_trimmed_frames"] = trimmed
    return out, meta


def _make_motion(subject: str, source_name: str, joints_mm: np.ndarray, cameras: list[Camera],
                 kp2d_px: dict, kp2d_source: str, meta: dict, where: str | None = None) -> Motion:
    """`where`: the file (and field) the sequence came from, for errors."""
    name = canonical_sequence_name(source_name)
    where = where or f"{subject}/{source_name}"
    meta = dict(meta, action=base_action(name, where), split=split_of(subject))
    if name != source_name:
        meta["source_name"] = source_name
    return Motion(
        joints3d_world_mm=joints_mm.astype(np.float32), fps=H36M_FPS, subject=subject, name=f"{subject}/{name}",
        source="h36m", joint_valid=np.ones(NUM_JOINTS, dtype=bool), cameras=list(cameras), kp2d_px=kp2d_px,
        kp2d_source=kp2d_source if kp2d_px else "", meta=meta,
    ).validate(where)


def _detect_layout(path: Path) -> tuple[str, Path]:
    if path.is_file() and path.name == "data_3d_h36m.npz":
        return "npz", path.parent
    if not path.exists():
        raise ValueError(f"{path}: not found")
    if not path.is_dir():
        raise ValueError(f"{path}: expected a folder (or data_3d_h36m.npz)")
    if (path / "data_3d_h36m.npz").exists():
        return "npz", path
    if any(path.glob("S*/MyPoses/3D_positions/*.h5")):
        return "baseline", path
    raise ValueError(f"{path}: no Human3.6M data: expected data_3d_h36m.npz (VideoPose3D) or "
                     f"S*/MyPoses/3D_positions/*.h5 (3d-pose-baseline)")


SPLITS: dict[str, tuple[str, ...]] = {"train": TRAIN_SUBJECTS, "test": TEST_SUBJECTS,
                                      "all": TRAIN_SUBJECTS + TEST_SUBJECTS}


def _check_val_subjects(val_subjects, where: Path) -> tuple[str, ...]:
    if val_subjects is None:
        return VAL_SUBJECTS
    if isinstance(val_subjects, str):
        val_subjects = [] if val_subjects.strip().lower() in ("", "none") else val_subjects.split(",")
    out = []
    for v in val_subjects:
        s = v.strip() if isinstance(v, str) else f"S{int(v)}"
        if s not in TRAIN_SUBJECTS:
            raise ValueError(f"{where}: val_subjects {s!r} is not a training subject; the validation part is "
                             f"taken from {', '.join(TRAIN_SUBJECTS)} (never from the test subjects "
                             f"{', '.join(TEST_SUBJECTS)}), or 'none'")
        out.append(s)
    return tuple(dict.fromkeys(out))


def assign_validation_part(motions: list[Motion], val_subjects: tuple[str, ...], where: Path) -> None:
    """Training-subject motions of `val_subjects` -> split "val" (in place), with the rule in
    `meta["split_rule"]`. Not applied (with a warning) when it would leave no training subject, or
    when none of `val_subjects` is loaded while training subjects are."""
    if not val_subjects:
        return
    train_subs = {m.subject for m in motions if m.meta.get("split") == "train"}
    if not train_subs:
        return  # test subjects only (e.g. split="test"): nothing to validate
    val = train_subs & set(val_subjects)
    names = ", ".join(val_subjects)
    if not val:
        warnings.warn(f"{where}: no validation part: subject(s) {names} not loaded (training subjects "
                      f"{', '.join(sorted(train_subs))}); fine-tuning on this data is not validated; pass "
                      f"val_subjects (--val-subjects) with one of the loaded training subjects", stacklevel=3)
        return
    if val == train_subs:
        warnings.warn(f"{where}: no validation part: {names} would leave no training subject; all loaded training "
                      f"subjects stay 'train'", stacklevel=3)
        return
    rule = f"validation part: subject(s) {', '.join(sorted(val))} of the training subjects"
    for m in motions:
        if m.subject in val and m.meta.get("split") == "train":
            m.meta["split"] = "val"
            m.meta["split_rule"] = rule


def load_h36m(path: str | Path, *, subjects=None, cameras_json: str | Path | None = None,
              with_framewise_labels: bool | str | Path = True, kp2d: str | Path = "auto",
              label_scheme: str = "label11", split: str | None = None,
              val_subjects=None) -> list[Motion]:
    """Load Human3.6M from a VideoPose3D npz folder or a 3d-pose-baseline folder.

    subjects:  e.g. ["S1", "S9"] (or ints); None = all present.
    cameras_json: calibration file, the JSON or a 3d-pose-baseline cameras.h5 (default: the package's
               assets/h36m/cameras.json in the npz layout, the folder's cameras.h5 in the 3d-pose-baseline layout).
    with_framewise_labels: True = the default framewise labels file, a path = that file, False = none.
               Unjoined sequences/keys are reported with a warning (and in each motion's meta).
    kp2d:      one of `KP2D_VALUES`: "auto" | "none" | a VideoPose3D detection name (`cpn_ft_h36m_dbb`,
               `gt`, ...) or its kp2d_source alias (`gt`, `cpn`, `sh`, `sh_pt`, `detectron`); baseline
               layout: `sh_pt` (StackedHourglass/) or `sh` (StackedHourglassFineTuned240/); or the path
               of a detections npz in the VideoPose3D layout (SH, CPN or one's own; either 3D layout),
               optionally as "NAME=FILE" to label it NAME. "auto" warns with the list of 2D files when
               the choice is not the only recognised one, and when it finds no 2D at all.
               NaN joints in detections are missed detections (x = y = score = 0, counted in
               `meta["kp2d_nan_joints"]`); a camera with no detections (absent, or every joint NaN)
               is listed in `meta["kp2d_missing_cameras"]` and keeps no 2D (never filled with projected GT).
    split:     "train" (S1, S5, S6, S7, S8), "test" (S9, S11) or "all"; combines with `subjects`.
    val_subjects: the declared validation part (meta split "val"), training subjects only; None =
               `VAL_SUBJECTS` (S8); [] or "none" = none (all five train, as published).
    Returns one Motion per sequence, named "S1/Walking 1", joints in world mm, fps 50.
    """
    layout, root = _detect_layout(Path(path))
    if split is not None and split not in SPLITS:
        raise ValueError(f"{root}: unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    val_subjects = _check_val_subjects(val_subjects, root)
    subjects = (subjects, split)
    if layout == "npz":
        motions = _load_npz_layout(root, subjects, cameras_json, kp2d)
    else:
        motions = _load_baseline_layout(root, subjects, cameras_json, kp2d)
    if with_framewise_labels is not False:
        label_path = None if with_framewise_labels is True else with_framewise_labels
        report = join_framewise(motions, load_framewise_labels(label_path, label_scheme), label_scheme)
        if report.motions_without_labels or report.labels_without_motion or report.trimmed or report.padded:
            warnings.warn(f"{root}: {report.summary()}", stacklevel=2)
    assign_validation_part(motions, val_subjects, root)
    return motions
