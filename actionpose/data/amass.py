"""AMASS (SMPL-H) sequences -> Human3.6M-17 Motions, streamed into a prepared folder (L1).

Input, per sequence (`AMASS_DIR/<dataset>/<subject>/<take>.npz`), either form users have:
- the original release: `poses [T, 156]` (axis-angle: root 3, body 21 x 3, hands 30 x 3), `trans
  [T, 3]` (metres), `betas [16]`, `gender`, `mocap_framerate`;
- the "SMPL+H G" release: `root_orient [T, 3]`, `pose_body [T, 63]`, `pose_hand [T, 90]`, `trans`,
  `betas`, `gender`, `mocap_frame_rate` (it may also carry `poses`; the split keys win).
Per-subject `shape.npz` files (betas only) are skipped and counted.

Body model: the user's licensed SMPL-H files (`--body-model SMPLH_DIR`: `<gender>/model.npz` as AMASS
distributes them, or `SMPLH_<GENDER>.npz`, or one `.npz` for every gender), run by the `smplx`
package (no skinning of our own). Only `.npz` is read, without unpickling; `.pkl` is refused.
smplx keeps at most 10 shape coefficients when a model has fewer than 300; AMASS fits 16, so the
shape basis is zero-padded to 300 columns and all 16 betas act (as in AMASS's own body model).
Hands are full axis-angle with a flat mean (`use_pca=False, flat_hand_mean=True`), as AMASS stores them.

Human3.6M-17 joints (`meta["joints_from"]`):
- `h36m_regressor` (`--joint-regressor J_regressor_h36m.npy`, `[17, V]`): the regressor applied to the
  posed mesh vertices, as MotionBERT's AMASS preprocessing does;
- `smplh_joint_map` (default): SMPL-H body joints mapped one to one (`H36M_FROM_SMPLH`); Human3.6M's
  head top has no SMPL-H joint, so it is estimated as head + (head - neck) and listed in
  `meta["estimated_joints"]`.

Frames: resampled to `fps` by linear interpolation of joint positions (the same grid as
`bvh.resample_positions`), the body model evaluated only on the source frames the grid touches.
Axes: AMASS is z up, right-handed, metres; the project's world frame is z up, right-handed,
millimetres (`geometry`), so the transform is the identity and x 1000.
Memory is bounded: files are converted one at a time (or by `workers` processes) and streamed to
`cache.MotionStreamWriter`, which writes the same prepared format as every other source.
"""
from __future__ import annotations

import math
import time
import zipfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..skeleton import H36M17_NAMES, NUM_JOINTS
from .cache import MotionStreamWriter
from .motion import Motion

SOURCE = "amass"
SMPLH_NUM_JOINTS = 52
SMPLH_NUM_BODY_JOINTS = 22
POSE_DIM = 3 * SMPLH_NUM_JOINTS  # 156
# SMPL-H's kinematic tree: the 22 SMPL body joints, then 15 joints per hand (index, middle, pinky,
# ring, thumb; 3 each), the left hand on joint 20 (left wrist), the right on joint 21.
SMPLH_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19,
    20, 22, 23, 20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35,
    21, 37, 38, 21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50,
)
SMPLH_BODY_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)
# Human3.6M-17 joint <- SMPL-H body joint (None: estimated, see module doc). Spine is SMPL's
# spine2 (mid-back, about half-way from pelvis to thorax as Human3.6M's spine joint sits); thorax
# is the neck base (shoulder height); neck/nose is SMPL's head joint (skull base, nose height).
H36M_FROM_SMPLH: tuple[int | None, ...] = (0, 2, 5, 8, 1, 4, 7, 6, 12, 15, None, 16, 18, 20, 17, 19, 21)
HEAD = H36M17_NAMES.index("head")
MODEL_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
SHAPE_SPACE_DIM = 300  # smplx's SMPL.SHAPE_SPACE_DIM: below it smplx keeps only 10 betas
GENDERS = ("male", "female", "neutral")


# ------------------------------------------------------------------------------------ sequences

@dataclass
class AmassSequence:
    """One AMASS take: `poses [T, 156]` axis-angle (float64), `trans [T, 3]` m, `betas [B]`."""

    poses: np.ndarray
    trans: np.ndarray
    betas: np.ndarray
    gender: str
    fps: float
    form: str  # "poses" (original release) or "smplh_g" (root_orient / pose_body / pose_hand)


def _scalar_text(a) -> str:
    v = a.item() if isinstance(a, np.ndarray) else a
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def read_sequence(path: str | Path) -> AmassSequence | str:
    """Read one AMASS npz (either form) -> the sequence, or a skip reason (str) for a file that holds
    no motion (a subject's `shape.npz`, fewer than 2 frames). Malformed input raises a one-line
    ValueError naming the file and field."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as e:
        raise ValueError(f"{path}: not a readable npz ({type(e).__name__}: {e})") from None
    except ValueError as e:  # object arrays need pickle: never for user files
        raise ValueError(f"{path}: not a plain npz ({str(e).splitlines()[0]})") from None
    model_type = _scalar_text(d["surface_model_type"]).lower() if "surface_model_type" in d else "smplh"
    if model_type != "smplh":
        raise ValueError(f"{path}: field surface_model_type = {model_type!r}, expected 'smplh' (this reads the "
                         "SMPL+H releases of AMASS, not SMPL-X)")
    if "root_orient" in d and "pose_body" in d:
        form = "smplh_g"
        hand = d.get("pose_hand")
        T = d["root_orient"].shape[0]
        if hand is None:
            hand = np.zeros((T, 90))
        for key, width in (("root_orient", 3), ("pose_body", 63), ("pose_hand", 90)):
            a = d.get(key, hand)
            if a.ndim != 2 or a.shape != (T, width):
                raise ValueError(f"{path}: field {key} has shape {a.shape}, expected [{T}, {width}]")
        poses = np.concatenate([d["root_orient"], d["pose_body"], hand], axis=1)
        fps_key = "mocap_frame_rate"
    elif "poses" in d:
        form = "poses"
        poses = d["poses"]
        if poses.ndim != 2 or poses.shape[1] != POSE_DIM:
            raise ValueError(f"{path}: field poses has shape {poses.shape}, expected [T, {POSE_DIM}] (SMPL-H)")
        fps_key = "mocap_framerate"
    elif "betas" in d:
        return "shape file (betas only, no motion)"
    else:
        raise ValueError(f"{path}: no poses / root_orient+pose_body field (expected an AMASS SMPL-H sequence)")
    T = poses.shape[0]
    if T < 2:
        return "fewer than 2 frames"
    for key in ("trans", "betas", "gender"):
        if key not in d:
            raise ValueError(f"{path}: field {key} missing")
    trans = d["trans"]
    if trans.shape != (T, 3):
        raise ValueError(f"{path}: field trans has shape {trans.shape}, expected [{T}, 3]")
    betas = np.asarray(d["betas"], dtype=np.float64).reshape(-1)
    fps_raw = d.get(fps_key, d.get("mocap_framerate", d.get("mocap_frame_rate")))
    if fps_raw is None:
        raise ValueError(f"{path}: field {fps_key} missing (the capture frame rate)")
    fps = float(np.asarray(fps_raw).reshape(-1)[0])
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"{path}: field {fps_key} = {fps}, expected a positive frame rate")
    gender = _scalar_text(d["gender"]).strip().lower()
    if gender not in GENDERS:
        raise ValueError(f"{path}: field gender = {gender!r}, expected one of {', '.join(GENDERS)}")
    poses = poses.astype(np.float64)
    trans = trans.astype(np.float64)
    if not (np.isfinite(poses).all() and np.isfinite(trans).all() and np.isfinite(betas).all()):
        raise ValueError(f"{path}: NaN/inf values in poses / trans / betas")
    return AmassSequence(poses, trans, betas, gender, fps, form)


# ------------------------------------------------------------------------------------ body model

def find_body_model(body_model: str | Path, gender: str) -> Path:
    """The SMPL-H npz of `gender` under `body_model` (a folder or one file for every gender)."""
    root = Path(body_model)
    if root.is_file():
        candidates = [root]
    else:
        candidates = [root / gender / "model.npz", root / f"SMPLH_{gender.upper()}.npz",
                      root / "smplh" / gender / "model.npz"]
    for c in candidates:
        if c.is_file():
            if c.suffix.lower() != ".npz":
                raise ValueError(f"{c}: only .npz body models are read (a .pkl would need unpickling); use "
                                 "the SMPL+H npz files AMASS distributes")
            return c
    pkl = list(root.glob("*.pkl")) if root.is_dir() else []
    hint = " (found .pkl files: convert to .npz; pickles are never loaded)" if pkl else ""
    raise ValueError(f"{root}: no SMPL-H model for gender {gender!r}; expected "
                     f"{' or '.join(str(c) for c in candidates)}{hint}")


def load_body_model_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays smplx needs from a SMPL-H npz, shapes checked (one-line errors name file + field)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in MODEL_KEYS if k not in z.files]
            if missing:
                raise ValueError(f"{path}: field(s) {', '.join(missing)} missing (expected a SMPL-H model npz)")
            d = {k: z[k] for k in z.files if k in MODEL_KEYS or k.startswith("hands_")}
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise ValueError(f"{path}: not a readable npz ({type(e).__name__}: {e})") from None
    V = d["v_template"].shape[0]
    expect = {"v_template": (V, 3), "J_regressor": (SMPLH_NUM_JOINTS, V), "weights": (V, SMPLH_NUM_JOINTS),
              "kintree_table": (2, SMPLH_NUM_JOINTS)}
    for key, shape in expect.items():
        if d[key].shape != shape:
            raise ValueError(f"{path}: field {key} has shape {d[key].shape}, expected {list(shape)} (SMPL-H, 52 joints)")
    if d["shapedirs"].ndim != 3 or d["shapedirs"].shape[:2] != (V, 3):
        raise ValueError(f"{path}: field shapedirs has shape {d['shapedirs'].shape}, expected [{V}, 3, betas]")
    if d["posedirs"].shape != (V, 3, 9 * (SMPLH_NUM_JOINTS - 1)):
        raise ValueError(f"{path}: field posedirs has shape {d['posedirs'].shape}, expected [{V}, 3, 459]")
    parents = d["kintree_table"][0].astype(np.int64)
    parents[0] = -1
    if tuple(parents.tolist()) != SMPLH_PARENTS:
        raise ValueError(f"{path}: field kintree_table is not SMPL-H's kinematic tree")
    return d


def make_body_model(arrays: dict[str, np.ndarray]):
    """smplx.SMPLH from checked arrays (no file access by smplx, nothing unpickled)."""
    import torch
    from smplx import SMPLH
    from smplx.utils import Struct
    d = dict(arrays)
    n_betas = d["shapedirs"].shape[2]
    if n_betas < SHAPE_SPACE_DIM:  # see module doc: otherwise smplx would keep only 10 betas
        pad = np.zeros(d["shapedirs"].shape[:2] + (SHAPE_SPACE_DIM - n_betas,), d["shapedirs"].dtype)
        d["shapedirs"] = np.concatenate([d["shapedirs"], pad], axis=2)
    for side in "lr":  # read by smplx's constructor, used only with PCA hands (off here)
        d.setdefault(f"hands_components{side}", np.zeros((45, 45)))
        d.setdefault(f"hands_mean{side}", np.zeros(45))
    # The five face landmarks smplx appends are vertex picks in the real topology; point them at
    # vertex 0 so a small test mesh works too. Only the 52 kinematic joints are ever read.
    vids = dict.fromkeys(("nose", "reye", "leye", "rear", "lear"), 0)
    model = SMPLH(model_path="", data_struct=Struct(**d), num_betas=n_betas, use_pca=False,
                  flat_hand_mean=True, vertex_ids=vids, use_feet_keypoints=False, use_hands=False,
                  create_transl=False, dtype=torch.float64)
    model.eval()
    return model, n_betas


def h36m_from_smplh_joints(j52: np.ndarray) -> np.ndarray:
    """`[T, 52, 3]` SMPL-H joints -> `[T, 17, 3]` by `H36M_FROM_SMPLH`; head top estimated."""
    out = np.empty(j52.shape[:1] + (NUM_JOINTS, 3), dtype=j52.dtype)
    for h, s in enumerate(H36M_FROM_SMPLH):
        if s is not None:
            out[:, h] = j52[:, s]
    neck, head = j52[:, 12], j52[:, 15]
    out[:, HEAD] = head + (head - neck)
    return out


def load_joint_regressor(path: str | Path, n_vertices: int | None = None) -> np.ndarray:
    """`[17, V]` Human3.6M joint regressor (`.npy`, no pickle)."""
    path = Path(path)
    try:
        reg = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable .npy array ({str(e).splitlines()[0]})") from None
    if reg.ndim != 2 or reg.shape[0] != NUM_JOINTS or (n_vertices is not None and reg.shape[1] != n_vertices):
        raise ValueError(f"{path}: joint regressor has shape {reg.shape}, expected [17, "
                         f"{n_vertices if n_vertices is not None else 'V'}] (Human3.6M joints x mesh vertices)")
    if not np.isfinite(reg).all():
        raise ValueError(f"{path}: joint regressor has NaN/inf values")
    return reg.astype(np.float64)


# ------------------------------------------------------------------------------------ conversion

def resample_plan(n_frames: int, fps_in: float, fps_out: float | None):
    """Source frames to evaluate and how to blend them: (frames [K], i0 [T'], i1 [T'], w [T']) with
    output frame i = (1 - w) * J[frames[i0]] + w * J[frames[i1]], on `bvh.resample_positions`'s grid."""
    if fps_out is None or float(fps_out) == float(fps_in):
        idx = np.arange(n_frames)
        return idx, idx, idx, np.zeros(n_frames)
    n_out = math.floor((n_frames - 1) * fps_out / fps_in + 1e-9) + 1
    t = np.arange(n_out) * (fps_in / fps_out)
    i0 = np.minimum(np.floor(t).astype(np.int64), n_frames - 1)
    i1 = np.minimum(i0 + 1, n_frames - 1)
    frames = np.unique(np.concatenate([i0, i1]))
    return frames, np.searchsorted(frames, i0), np.searchsorted(frames, i1), t - i0


def sequence_to_h36m17_mm(seq: AmassSequence, model, n_betas: int, regressor: np.ndarray | None = None,
                          fps: float | None = None, batch_frames: int = 1024) -> np.ndarray:
    """`[T', 17, 3]` world mm (z up) of one sequence at `fps` (source rate when None)."""
    import torch
    frames, i0, i1, w = resample_plan(seq.poses.shape[0], seq.fps, fps)
    betas = np.zeros(n_betas)
    k = min(n_betas, seq.betas.shape[0])
    betas[:k] = seq.betas[:k]
    out = np.empty((frames.shape[0], NUM_JOINTS, 3))
    reg = torch.as_tensor(regressor) if regressor is not None else None
    with torch.no_grad():
        for s in range(0, frames.shape[0], batch_frames):
            f = frames[s:s + batch_frames]
            p = torch.as_tensor(seq.poses[f])
            res = model(betas=torch.as_tensor(betas)[None].expand(len(f), -1), global_orient=p[:, :3],
                        body_pose=p[:, 3:66], left_hand_pose=p[:, 66:111], right_hand_pose=p[:, 111:156],
                        return_verts=reg is not None)
            t = torch.as_tensor(seq.trans[f])[:, None]
            if reg is not None:
                out[s:s + len(f)] = torch.einsum("jv,tvc->tjc", reg, res.vertices + t).numpy()
            else:
                out[s:s + len(f)] = h36m_from_smplh_joints((res.joints[:, :SMPLH_NUM_JOINTS] + t).numpy())
    w = w[:, None, None]
    joints_m = out[i0] * (1.0 - w) + out[i1] * w
    return (joints_m * 1000.0).astype(np.float32)  # z-up metres -> the project's z-up millimetres


# Per-process cache of body models: a worker converts many files of the same genders.
_MODELS: dict[str, tuple] = {}
_REGRESSOR: dict[str, np.ndarray] = {}


def _init_worker() -> None:
    import torch
    torch.set_num_threads(1)  # the parallelism is across files


def _model_for(body_model: str, gender: str):
    path = str(find_body_model(body_model, gender))
    if path not in _MODELS:
        arrays = load_body_model_arrays(path)
        _MODELS[path] = make_body_model(arrays) + (arrays["v_template"].shape[0],)
    return _MODELS[path]


@dataclass
class _Task:
    path: str
    rel: str
    body_model: str
    regressor: str | None
    fps: float | None
    babel: dict | None  # {"segments": [...], "meta": {...}, "split": str}
    babel_text: str


def convert_file(task: _Task) -> tuple[str, Motion | str]:
    """("ok", Motion) | ("skip", reason) | ("error", one-line message) for one AMASS file."""
    try:
        seq = read_sequence(task.path)
        if isinstance(seq, str):
            return "skip", seq
        model, n_betas, n_vertices = _model_for(task.body_model, seq.gender)
        reg = None
        if task.regressor:
            key = f"{task.regressor}|{n_vertices}"
            if key not in _REGRESSOR:
                _REGRESSOR[key] = load_joint_regressor(task.regressor, n_vertices)
            reg = _REGRESSOR[key]
        joints = sequence_to_h36m17_mm(seq, model, n_betas, reg, task.fps)
        fps = float(task.fps) if task.fps is not None else seq.fps
        return "ok", _motion(task, seq, joints, fps)
    except ValueError as e:
        return "error", str(e).splitlines()[0]


def _motion(task: _Task, seq: AmassSequence, joints: np.ndarray, fps: float) -> Motion:
    from .babel import Segment, per_frame_labels
    stem = task.rel[:-4] if task.rel.lower().endswith(".npz") else task.rel
    subject = stem.rsplit("/", 1)[0] if "/" in stem else SOURCE
    meta = {"file": task.rel, "form": seq.form, "gender": seq.gender, "source_fps": seq.fps,
            "betas": int(seq.betas.shape[0]),
            "joints_from": "h36m_regressor" if task.regressor else "smplh_joint_map",
            "estimated_joints": [] if task.regressor else ["head"], "split": "train"}
    labels, lpf = (), None
    if task.babel is not None:
        segs = [Segment.from_list(r) for r in task.babel["meta"]["segments"]]
        labels, lpf, overlap = per_frame_labels(segs, joints.shape[0], fps, task.babel_text)
        meta["split"] = task.babel["meta"]["split"]
        meta["babel"] = {**task.babel["meta"], "overlap_frames": overlap,
                         "labelled_frames": int((lpf >= 0).sum())}
        if not labels:
            lpf = None
    return Motion(joints3d_world_mm=joints, fps=fps, subject=subject, name=stem, source=SOURCE,
                  labels=labels, label_per_frame=lpf, meta=meta).validate(f"{task.path}")


class _Inline:
    """`map` in this process (workers <= 1: no process start-up)."""

    def map(self, fn, items, chunksize: int = 1):
        return map(fn, items)  # the caller's torch threads are left alone

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def list_amass_files(source: Path, exclude: Path | None = None) -> list[tuple[Path, str]]:
    """Every `*.npz` under `source` (sorted, relative paths with '/'), minus anything under `exclude`."""
    if not source.is_dir():
        raise ValueError(f"{source}: --source expects the AMASS folder (<dataset>/<subject>/<take>.npz)")
    ex = exclude.resolve() if exclude is not None else None
    out = []
    for f in sorted(source.rglob("*.npz")):
        if ex is not None and (f.resolve() == ex or ex in f.resolve().parents):
            continue
        out.append((f, f.relative_to(source).as_posix()))
    if not out:
        raise ValueError(f"{source}: no .npz files found (expected AMASS <dataset>/<subject>/<take>.npz)")
    return out


def _shadow(m: Motion) -> Motion:
    """What `prepare.summarize` reads of a motion, without its arrays (a broadcast view costs no
    memory), so the summary of tens of thousands of clips stays small."""
    zero = np.broadcast_to(np.zeros((1, NUM_JOINTS, 3), np.float32), (m.num_frames, NUM_JOINTS, 3))
    return Motion(joints3d_world_mm=zero, fps=m.fps, subject=m.subject, name=m.name, source=m.source,
                  labels=m.labels, joint_valid=m.joint_valid,
                  meta={"split": m.meta.get("split"), "estimated_joints": m.meta.get("estimated_joints", [])})


def prepare_amass(source: str | Path, out: str | Path, body_model: str | Path, *,
                  joint_regressor: str | Path | None = None, fps: float | None = 50.0,
                  babel: str | Path | None = None, babel_text: str = "proc_label", babel_extra: bool = False,
                  workers: int = 1, progress: bool = True, shard_frames: int = 1_000_000) -> dict:
    """Convert every AMASS sequence under `source` and write the prepared folder `out`; returns the
    summary (`prepare.summarize` + `summary["amass"]`, printed by `format_amass_summary`)."""
    from .babel import TEXT_FIELDS, feat_key, load_babel
    from .prepare import summarize
    t0 = time.perf_counter()
    source, out = Path(source), Path(out)
    if babel_text not in TEXT_FIELDS:
        raise ValueError(f"--babel-text {babel_text!r}: expected one of {', '.join(TEXT_FIELDS)}")
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"prepare amass: fps = {fps!r}, expected a positive number")
    files = list_amass_files(source, exclude=out)
    # Fail before any work on a missing body model / regressor (the first gender found suffices here).
    bm = Path(body_model)
    if not bm.exists():
        raise ValueError(f"{bm}: --body-model not found (the SMPL-H model folder or npz)")
    if joint_regressor is not None:
        load_joint_regressor(joint_regressor)
    table = load_babel(babel, extra=babel_extra) if babel else {}
    tasks, used = [], set()
    for f, rel in files:
        entry = None
        if table:
            try:
                key = feat_key(rel)
            except ValueError:
                key = None
            entry = table.get(key) if key else None
            if entry is not None:
                used.add(key)
        tasks.append(_Task(str(f), rel, str(bm), str(joint_regressor) if joint_regressor else None, fps,
                           {"meta": entry.meta(babel_text)} if entry is not None else None, babel_text))
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker) if workers > 1 else _Inline()
    writer = MotionStreamWriter(out, shard_frames=shard_frames)
    shadows, skipped, errors = [], Counter(), []
    forms, genders, src_fps = Counter(), Counter(), Counter()
    overlap = labelled = frames_total = 0
    try:
        results = pool.map(convert_file, tasks, chunksize=4)
        if progress:
            from tqdm.auto import tqdm
            results = tqdm(results, total=len(tasks), desc="amass", unit="file")
        for status, res in results:
            if status == "skip":
                skipped[res] += 1
                continue
            if status == "error":
                errors.append(res)
                continue
            writer.add(res)
            shadows.append(_shadow(res))
            forms[res.meta["form"]] += 1
            genders[res.meta["gender"]] += 1
            src_fps[f"{res.meta['source_fps']:g}"] += 1
            frames_total += res.num_frames
            if "babel" in res.meta:
                overlap += res.meta["babel"]["overlap_frames"]
                labelled += res.meta["babel"]["labelled_frames"]
        if not shadows:
            raise ValueError(f"{source}: no AMASS sequence converted ({len(errors)} errors, "
                             f"{sum(skipped.values())} skipped){': ' + errors[0] if errors else ''}")
        babel_info = None
        if table:
            babel_info = {"dir": str(babel), "text_field": babel_text, "extra": babel_extra,
                          "sequences_in_babel": len(table), "joined": len(used),
                          "babel_without_amass_file": len(table) - len(used),
                          "amass_files_without_babel": sum(1 for t in tasks if t.babel is None),
                          "labelled_frames": labelled, "overlap_frames": overlap,
                          "overlap_rule": "shortest covering segment per frame (ties: earlier start)"}
        issues = errors[:50] + ([f"... {len(errors) - 50} more errors"] if len(errors) > 50 else [])
        amass_info = {"files": len(files), "converted": len(shadows), "skipped": dict(skipped),
                      "errors": len(errors), "forms": dict(forms), "genders": dict(genders),
                      "source_fps": dict(src_fps),
                      "joints_from": ("h36m_regressor" if joint_regressor else "smplh_joint_map"),
                      "joint_regressor": str(joint_regressor) if joint_regressor else None,
                      "body_model": str(body_model), "workers": workers, "babel": babel_info}
        info = writer.close({"source": SOURCE, "source_path": str(source), "requested_fps": fps,
                             "loader_args": {"body_model": str(body_model),
                                             "joint_regressor": str(joint_regressor) if joint_regressor else None,
                                             "babel": str(babel) if babel else None, "babel_text": babel_text,
                                             "babel_extra": babel_extra},
                             "issues": issues, "amass": amass_info, "kp2d_sources": {},
                             "cameras_without_2d": []})
    except BaseException:
        writer.abort()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    summary = summarize(shadows)
    summary.update(kind=SOURCE, source=str(source), out=str(out), issues=issues, data_hash=info["data_hash"],
                   seconds_total=round(time.perf_counter() - t0, 2), amass=amass_info)
    return summary


def format_amass_summary(summary: dict) -> str:
    """`prepare.format_summary` plus what AMASS / BABEL preparation adds; one screen."""
    from .prepare import format_summary
    a = summary["amass"]
    lines = [format_summary(summary)]
    skipped = ", ".join(f"{v} {k}" for k, v in a["skipped"].items()) or "none"
    lines.append(f"AMASS files {a['files']}: converted {a['converted']}, skipped {skipped}, errors {a['errors']}")
    lines.append("  forms: " + ", ".join(f"{k} {v}" for k, v in sorted(a["forms"].items()))
                 + "   genders: " + ", ".join(f"{k} {v}" for k, v in sorted(a["genders"].items()))
                 + "   source fps: " + ", ".join(f"{k} ({v})" for k, v in sorted(a["source_fps"].items())))
    if a["joints_from"] == "h36m_regressor":
        lines.append(f"  Human3.6M joints: H36M joint regressor on the mesh vertices ({a['joint_regressor']})")
    else:
        lines.append("  Human3.6M joints: SMPL-H body joints mapped one to one; head top estimated as "
                     "head + (head - neck) (pass --joint-regressor for MotionBERT's vertex regressor)")
    b = a.get("babel")
    if b:
        lines.append(f"BABEL ({b['text_field']}{', with extra annotators' if b['extra'] else ''}): "
                     f"{b['joined']} of {b['sequences_in_babel']} sequences joined; "
                     f"{b['babel_without_amass_file']} without an AMASS file; "
                     f"{b['amass_files_without_babel']} AMASS files unlabelled")
        lines.append(f"  labelled frames {b['labelled_frames']}, frames under overlapping segments "
                     f"{b['overlap_frames']} (rule: {b['overlap_rule']})")
    if a["errors"]:
        lines.append(f"WARNING {a['errors']} file(s) not converted, e.g. {summary['issues'][0]}")
    return "\n".join(lines)


__all__ = ["AmassSequence", "H36M_FROM_SMPLH", "SMPLH_PARENTS", "convert_file", "find_body_model",
           "format_amass_summary", "h36m_from_smplh_joints", "load_body_model_arrays", "load_joint_regressor",
           "make_body_model", "prepare_amass", "read_sequence", "resample_plan", "sequence_to_h36m17_mm"]
