"""MPI-INF-3DHP -> list[Motion], from the common preprocessed npz files (P-STMO's converters,
used by MixSTE, PoseFormerV2, MotionAGFormer, D3DP, ...).

`data_test_3dhp.npz`: `data` = {"TS1".."TS6": {"data_3d": [T, 17, 3], "data_2d": [T, 17, 2], "valid": [T]}}
`data_train_3dhp.npz`: `data` = {"S1 Seq1": [{"0": {"data_3d", "data_2d"}, "1": ..., "8": ...}, fps]}
(cameras 0, 1, 2, 4, 5, 6, 7, 8 -- the chest-height "vnect" set).

`data_3d` is the dataset's `univ_annot3`: millimetres, in each camera's frame (x right, y down,
z forward), with the skeleton rescaled to a universal body size (it does NOT reproject exactly onto
`data_2d`, which is `annot2`, pixels). Joint order is MPI-INF-3DHP-17 (`skeleton.MPI3DHP17_NAMES`,
root = index 14); we convert to H36M-17 with `skeleton.MPI3DHP17_TO_17`.

The Motion contract wants a z-up world, so each motion's world frame is its camera frame turned
upright: world = (x_cam, z_cam, -y_cam) (`CAM_TO_WORLD`), and every motion has one Camera with
`R_world_to_cam = CAM_TO_WORLD.T`, `T = 0`, so projecting the world joints through it gives back the
camera-frame data exactly ("up" is the camera's up, not gravity). Test cameras carry the published
intrinsics of TS1-TS6; the training npz has no calibration, so training cameras get nominal studio
intrinsics (`TRAIN_NOMINAL_F`/`_C`, `meta["intrinsics"] == "nominal"`), used only to normalise scale.
Test frames flagged invalid by the dataset are kept (sequences stay contiguous) and listed in
`meta["valid_frames"]` (a JSON-safe list of bools, one per frame; `valid_mask(motion)` returns it as an
array); metrics must skip frames where it is False.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..geometry import Camera
from ..skeleton import MPI3DHP17_TO_17, NUM_JOINTS
from .h36m import read_npz_object
from .motion import Motion

# Test-set intrinsics (fx, fy), (cx, cy) in px and image size (w, h): the published calibration of the
# six test sequences, as distributed with mmpose's test data (tests/fixtures/mmpose/3dhp_cameras_test.json).
TEST_CAMERAS: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[int, int]]] = {
    "TS1": ((1500.068613599573, 1500.6590966853373), (1017.3794860438501, 1043.062824876025), (2048, 2048)),
    "TS2": ((1503.7797378120256, 1501.269075113775), (1015.234803518741, 1038.6790933704747), (2048, 2048)),
    "TS3": ((1500.0407048640109, 1500.589522665641), (1017.3923175559039, 1043.0463942934855), (2048, 2048)),
    "TS4": ((1499.926031676143, 1500.7571507932212), (1017.3679602670802, 1042.9887817726449), (2048, 2048)),
    "TS5": ((1683.4825594821796, 1671.927242063374), (939.9278168524226, 560.2072491988035), (1920, 1080)),
    "TS6": ((1683.9753834870119, 1672.674794304162), (939.8482654419638, 560.115778626129), (1920, 1080)),
}
# Frame rates of the test sequences (studio TS1-TS4, outdoor TS5-TS6). Not stored in the npz.
TEST_FPS: dict[str, float] = {"TS1": 25.0, "TS2": 25.0, "TS3": 25.0, "TS4": 25.0, "TS5": 50.0, "TS6": 50.0}
TRAIN_IMAGE_SIZE_WH = (2048, 2048)
# Training cameras: same studio and camera model as TS1-TS4; nominal intrinsics = their mean (a pinhole
# fit on the mmpose training fixture frames gives f 1496-1500 px, c (1017-1025, 1043-1052) px).
TRAIN_NOMINAL_F = (1500.95, 1500.82)
TRAIN_NOMINAL_C = (1016.84, 1041.94)
# world = CAM_TO_WORLD @ x_cam: x stays, forward becomes y, up (-y_cam) becomes z.
CAM_TO_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
TRAIN_CAMERAS = ("0", "1", "2", "4", "5", "6", "7", "8")
SPLIT_FILES = {"test": "data_test_3dhp.npz", "train": "data_train_3dhp.npz"}


def valid_mask(motion: Motion) -> np.ndarray:
    """`[T]` bool: frames that count in metrics (all True when the source has no validity flags)."""
    flags = motion.meta.get("valid_frames")
    if flags is None:
        return np.ones(motion.num_frames, dtype=bool)
    return np.asarray(flags, dtype=bool)


def _array(obj, shape_tail: tuple[int, ...], where: str) -> np.ndarray:
    if not isinstance(obj, np.ndarray) or obj.dtype.kind not in "fiu":
        raise ValueError(f"{where}: expected a numeric array, got {type(obj).__name__}")
    if obj.ndim != 1 + len(shape_tail) or obj.shape[1:] != shape_tail:
        raise ValueError(f"{where}: has shape {obj.shape}, expected [T, {', '.join(map(str, shape_tail))}]")
    if obj.shape[0] == 0:
        raise ValueError(f"{where}: has 0 frames")
    return obj.astype(np.float64)


def _fill_invalid(arr: np.ndarray, valid: np.ndarray, where: str) -> tuple[np.ndarray, int]:
    """NaN in invalid frames -> copy of the nearest valid frame; NaN in a valid frame is an error."""
    bad = ~np.all(np.isfinite(arr.reshape(arr.shape[0], -1)), axis=1)
    if not bad.any():
        return arr, 0
    if (bad & valid).any():
        raise ValueError(f"{where}: has NaN/inf values in valid frame {int(np.argmax(bad & valid))}")
    good = np.nonzero(~bad)[0]
    if good.size == 0:
        raise ValueError(f"{where}: every frame has NaN/inf values")
    idx = np.nonzero(bad)[0]
    nearest = good[np.clip(np.searchsorted(good, idx), 0, good.size - 1)]
    left = good[np.clip(np.searchsorted(good, idx) - 1, 0, good.size - 1)]
    nearest = np.where(np.abs(left - idx) <= np.abs(nearest - idx), left, nearest)
    arr = arr.copy()
    arr[idx] = arr[nearest]
    return arr, int(idx.size)


def _check_mm(j3d: np.ndarray, where: str) -> None:
    depth = float(np.median(np.abs(j3d[:, 14, 2])))  # pelvis depth in front of the camera
    if depth < 50:
        raise ValueError(f"{where}: pelvis depth median {depth:.3g} looks like metres; expected millimetres")


def _camera(name: str, f, c, size) -> Camera:
    return Camera(name=name, R_world_to_cam=CAM_TO_WORLD.T.copy(), T_world_mm=np.zeros(3), f=np.array(f, float),
                  c=np.array(c, float), image_size_wh=tuple(size)).validate(f"MPI-INF-3DHP camera {name}")


def _motion(name: str, subject: str, fps: float, j3d_mpi: np.ndarray, kp_mpi: np.ndarray, camera: Camera,
            meta: dict) -> Motion:
    order = list(MPI3DHP17_TO_17)
    kp = np.concatenate([kp_mpi[:, order], np.ones((kp_mpi.shape[0], NUM_JOINTS, 1))], axis=2)
    world = j3d_mpi[:, order] @ CAM_TO_WORLD.T
    meta = dict(meta, frame="camera-aligned world: (x_cam, z_cam, -y_cam)", joints3d="univ_annot3")
    return Motion(
        joints3d_world_mm=world.astype(np.float32), fps=fps, subject=subject, name=name,
        source="mpi_inf_3dhp", joint_valid=np.ones(NUM_JOINTS, dtype=bool), cameras=[camera],
        kp2d_px={camera.name: kp.astype(np.float32)}, kp2d_source="gt", meta=meta,
    ).validate()


def _load_test(path: Path, data: dict) -> list[Motion]:
    motions = []
    for seq in sorted(data):
        if seq not in TEST_CAMERAS:
            raise ValueError(f"{path}: sequence {seq!r} is not a test sequence; expected one of {', '.join(TEST_CAMERAS)}")
        rec = data[seq]
        where = f"{path}: data[{seq!r}]"
        if not isinstance(rec, dict):
            raise ValueError(f"{where}: expected a dict with data_3d, data_2d, valid")
        for key in ("data_3d", "data_2d", "valid"):
            if key not in rec:
                raise ValueError(f"{where}: missing field {key!r}")
        j3d = _array(rec["data_3d"], (17, 3), f"{where}['data_3d']")
        kp = _array(rec["data_2d"], (17, 2), f"{where}['data_2d']")
        valid_raw = np.asarray(rec["valid"]).reshape(-1)
        if valid_raw.shape[0] != j3d.shape[0] or kp.shape[0] != j3d.shape[0]:
            raise ValueError(f"{where}: data_3d has {j3d.shape[0]} frames, data_2d {kp.shape[0]}, valid {valid_raw.shape[0]}")
        if not np.all(np.isin(valid_raw, (0, 1))):
            raise ValueError(f"{where}['valid']: expected 0/1 flags")
        valid = valid_raw.astype(bool)
        j3d, n3 = _fill_invalid(j3d, valid, f"{where}['data_3d']")
        kp, n2 = _fill_invalid(kp, valid, f"{where}['data_2d']")
        if n3 or n2:
            warnings.warn(f"{where}: {max(n3, n2)} invalid frames had NaN values; filled from the nearest valid frame",
                          stacklevel=3)
        _check_mm(j3d[valid] if valid.any() else j3d, f"{where}['data_3d']")
        f, c, size = TEST_CAMERAS[seq]
        meta = {"split": "test", "intrinsics": "calibrated", "image_size_wh": list(size),
                "valid_frames": valid.tolist(), "num_valid_frames": int(valid.sum()),
                "filled_invalid_frames": max(n3, n2)}
        motions.append(_motion(seq, seq, TEST_FPS[seq], j3d, kp, _camera(seq, f, c, size), meta))
    return motions


def _load_train(path: Path, data: dict) -> list[Motion]:
    motions = []
    for key in sorted(data):
        where = f"{path}: data[{key!r}]"
        parts = key.split(" ")
        if len(parts) != 2 or not parts[0].startswith("S") or not parts[1].startswith("Seq"):
            raise ValueError(f"{where}: key must look like 'S1 Seq1'")
        entry = data[key]
        if not isinstance(entry, (list, tuple)) or len(entry) != 2 or not isinstance(entry[0], dict):
            raise ValueError(f"{where}: expected [{{camera: {{data_3d, data_2d}}}}, fps]")
        cams, fps = entry
        if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)) or not fps > 0:
            raise ValueError(f"{where}[1]: fps = {fps!r}, expected a positive number")
        subject, seq = parts
        for cam in sorted(cams, key=lambda c: int(c) if str(c).isdigit() else 1 << 30):
            w = f"{where}[0][{cam!r}]"
            rec = cams[cam]
            if not isinstance(rec, dict) or "data_3d" not in rec or "data_2d" not in rec:
                raise ValueError(f"{w}: expected a dict with data_3d and data_2d")
            j3d = _array(rec["data_3d"], (17, 3), f"{w}['data_3d']")
            kp = _array(rec["data_2d"], (17, 2), f"{w}['data_2d']")
            if kp.shape[0] != j3d.shape[0]:
                raise ValueError(f"{w}: data_3d has {j3d.shape[0]} frames, data_2d {kp.shape[0]}")
            for arr, field in ((j3d, "data_3d"), (kp, "data_2d")):
                if not np.all(np.isfinite(arr)):
                    frame = int(np.argwhere(~np.isfinite(arr))[0][0])
                    raise ValueError(f"{w}['{field}']: has NaN/inf values (first at frame {frame})")
            _check_mm(j3d, f"{w}['data_3d']")
            camera = _camera(f"cam{cam}", TRAIN_NOMINAL_F, TRAIN_NOMINAL_C, TRAIN_IMAGE_SIZE_WH)
            meta = {"split": "train", "intrinsics": "nominal", "sequence": seq, "camera_index": int(cam),
                    "image_size_wh": list(TRAIN_IMAGE_SIZE_WH)}
            motions.append(_motion(f"{subject}/{seq}/{camera.name}", subject, float(fps), j3d, kp, camera, meta))
    return motions


def load_3dhp(path: str | Path, *, split: str = "test") -> list[Motion]:
    """Load the preprocessed MPI-INF-3DHP npz of `split` ("test", "train" or "all").

    `path` is the npz file or the folder holding it. Test: one Motion per sequence ("TS1".."TS6"),
    train: one per subject/sequence/camera ("S1/Seq1/cam0"); 2D is the dataset's 2D annotation
    (`kp2d_source` "gt", score 1) keyed by the camera name; one Camera per motion (see module doc).
    "all" (a folder) loads the files present, with a warning naming a missing one; "all" given one file
    under its standard name (e.g. only `data_test_3dhp.npz`, the common case) loads that split and warns.
    """
    if split == "all":
        folder = Path(path)
        if folder.is_file():
            # The common case: users have only the test file and point --source at it. Use what is
            # there (the split its standard name says) and say so, instead of asking for a folder.
            named = [s for s, f in SPLIT_FILES.items() if folder.name == f]
            if not named:
                raise ValueError(f"{folder}: split 'all' reads a file only under its standard name "
                                 f"({' or '.join(SPLIT_FILES.values())}); pass --split test or --split train")
            other = [f for s, f in SPLIT_FILES.items() if s != named[0]]
            warnings.warn(f"{folder}: one file given; loaded split {named[0]} only ({', '.join(other)} not read"
                          + ("; fine-tuning has no training data)" if named[0] == "test" else ")"), stacklevel=2)
            return load_3dhp(folder, split=named[0])
        if not folder.is_dir():
            raise ValueError(f"{folder}: not found (expected {' and/or '.join(SPLIT_FILES.values())} or their folder)")
        have = [s for s, f in SPLIT_FILES.items() if (folder / f).is_file()]
        if not have:
            raise ValueError(f"{folder}: no MPI-INF-3DHP file (expected {' and/or '.join(SPLIT_FILES.values())})")
        if len(have) < len(SPLIT_FILES):
            missing = [f for s, f in SPLIT_FILES.items() if s not in have]
            warnings.warn(f"{folder}: {', '.join(missing)} not found; loaded split(s) {', '.join(have)} only",
                          stacklevel=2)
        return [m for s in have for m in load_3dhp(folder, split=s)]
    if split not in SPLIT_FILES:
        raise ValueError(f"load_3dhp: unknown split {split!r}; expected one of {', '.join(SPLIT_FILES)} or all")
    path = Path(path)
    if path.is_dir():
        path = path / SPLIT_FILES[split]
    if not path.exists():
        raise ValueError(f"{path}: not found (expected {SPLIT_FILES[split]})")
    data = read_npz_object(path, "data")
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: field 'data' must be a non-empty dict of sequences")
    return _load_test(path, data) if split == "test" else _load_train(path, data)
