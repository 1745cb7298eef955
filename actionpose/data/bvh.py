"""BVH motion capture: parsing, vectorised forward kinematics, mapping to Human3.6M-17 (L1).

A BVH file has a HIERARCHY (joints with OFFSET, CHANNELS, End Site) and a MOTION block (one line per
frame, one value per channel in hierarchy order). Conventions implemented here:

- Rotation channels are Euler angles in degrees, applied in the order they are listed:
  `CHANNELS 3 Zrotation Xrotation Yrotation` gives `R_local = Rz @ Rx @ Ry` (column vectors).
- `X_global(child) = X_global(parent) + R_global(parent) @ t_local(child)`,
  `R_global(child) = R_global(parent) @ R_local(child)`, where `t_local` is the joint's OFFSET with
  any position channels of that joint overriding the matching components (the Bandai-Namco files
  carry 6 channels on every joint, so their per-frame translations replace the offsets).
- World frame of the project: z up, right-handed, millimetres. A y-up BVH maps as
  `(x, y, z)_bvh -> (x, -z, y)_world` (a +90 deg rotation about x, so handedness is kept).

Shapes: `[T, J, 3]` positions over T frames and J joints; `[T, C]` raw channel values.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..skeleton import BVH_PRESETS, H36M17_NAMES, NUM_JOINTS

_POSITION_CHANNELS = {"xposition": 0, "yposition": 1, "zposition": 2}
_ROTATION_CHANNELS = {"xrotation": "x", "yrotation": "y", "zrotation": "z"}

# (x, y, z) of a y-up file -> (x, -z, y) in the z-up project world frame.
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
_UP_AXIS_TO_WORLD = {"y": Y_UP_TO_Z_UP, "z": np.eye(3)}


@dataclass(frozen=True)
class BvhSkeleton:
    """The HIERARCHY of a BVH file (End Sites are kept apart from joints).

    names:      joint names in file order (parents always precede children).
    parents:    parent index per joint, -1 for the root.
    offsets:    `[J, 3]` OFFSET of each joint in file units and axes.
    channels:   per joint, its channel names in file order (original spelling).
    end_sites:  (parent joint index, `[3]` offset) per End Site.
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    end_sites: tuple[tuple[int, np.ndarray], ...] = ()

    @property
    def num_channels(self) -> int:
        return sum(len(c) for c in self.channels)

    def index(self, name: str, where: str = "bvh") -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"{where}: joint {name!r} not in the BVH hierarchy "
                             f"(joints: {', '.join(self.names)})") from None


@dataclass(frozen=True)
class BvhClip:
    """A parsed BVH file: skeleton + raw channel values `motion [T, C]` (float32, file units)."""

    skeleton: BvhSkeleton
    frame_time_s: float
    motion: np.ndarray
    where: str = "bvh"

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def fps(self) -> float:
        return frame_time_to_fps(self.frame_time_s)


def frame_time_to_fps(frame_time_s: float) -> float:
    """1 / frame time, snapped to the nearest integer when within 0.01 % of it.

    BVH writers print the frame time with ~6 significant digits (0.0333333 for 30 Hz); snapping keeps
    `fps == 30.0` instead of 30.00003 so that fps comparisons and resampling stay exact.
    """
    fps = 1.0 / frame_time_s
    nearest = round(fps)
    return float(nearest) if nearest > 0 and abs(fps - nearest) <= 1e-4 * fps else fps


# ----------------------------------------------------------------------------------------- parsing

def _tokens_with_lines(header: str):
    """Yield (token, line number) for the HIERARCHY text (braces count as tokens)."""
    for lineno, line in enumerate(header.splitlines(), start=1):
        for tok in line.replace("{", " { ").replace("}", " } ").split():
            yield tok, lineno


def _parse_float(tok: str, where: str, lineno: int, what: str) -> float:
    try:
        val = float(tok)
    except ValueError:
        raise ValueError(f"{where}: line {lineno}: {what} expects a number, got {tok!r}") from None
    if not math.isfinite(val):
        raise ValueError(f"{where}: line {lineno}: {what} is {tok}, expected a finite number")
    return val


def _parse_hierarchy(header: str, where: str) -> BvhSkeleton:
    toks = list(_tokens_with_lines(header))
    pos = 0

    def take(expected: str | None = None) -> tuple[str, int]:
        nonlocal pos
        if pos >= len(toks):
            last = toks[-1][1] if toks else 1
            raise ValueError(f"{where}: line {last}: HIERARCHY ends early"
                             + (f", expected {expected!r}" if expected else ""))
        tok, ln = toks[pos]
        pos += 1
        if expected is not None and tok.upper() != expected.upper():
            raise ValueError(f"{where}: line {ln}: expected {expected!r}, got {tok!r}")
        return tok, ln

    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    end_sites: list[tuple[int, np.ndarray]] = []

    def read_offset() -> list[float]:
        _, ln = take("OFFSET")
        return [_parse_float(take()[0], where, ln, "OFFSET") for _ in range(3)]

    def read_joint(parent: int) -> None:
        name, ln = take()
        if name in ("{", "}"):
            raise ValueError(f"{where}: line {ln}: joint name missing")
        if name in names:
            raise ValueError(f"{where}: line {ln}: joint name {name!r} appears twice")
        take("{")
        idx = len(names)
        names.append(name)
        parents.append(parent)
        offsets.append(read_offset())
        tok, ln = take("CHANNELS")
        count_tok, ln = take()
        if not count_tok.isdigit():
            raise ValueError(f"{where}: line {ln}: CHANNELS of joint {name!r} expects a count, got {count_tok!r}")
        chans = tuple(take()[0] for _ in range(int(count_tok)))
        for ch in chans:
            if ch.lower() not in _POSITION_CHANNELS and ch.lower() not in _ROTATION_CHANNELS:
                raise ValueError(f"{where}: line {ln}: joint {name!r} has unknown channel {ch!r}; expected "
                                 "Xposition/Yposition/Zposition/Xrotation/Yrotation/Zrotation")
        if len({c.lower() for c in chans}) != len(chans):
            raise ValueError(f"{where}: line {ln}: joint {name!r} lists a channel twice: {' '.join(chans)}")
        channels.append(chans)
        while True:
            tok, ln = take()
            up = tok.upper()
            if up == "}":
                return
            if up == "JOINT":
                read_joint(idx)
            elif up == "END":
                take("Site")
                take("{")
                end_sites.append((idx, np.array(read_offset())))
                take("}")
            else:
                raise ValueError(f"{where}: line {ln}: expected JOINT, End Site or '}}' in joint {name!r}, got {tok!r}")

    take("HIERARCHY")
    take("ROOT")
    read_joint(-1)
    while pos < len(toks):  # BVH allows several roots; they share the MOTION lines
        tok, ln = take()
        if tok.upper() != "ROOT":
            raise ValueError(f"{where}: line {ln}: expected ROOT or MOTION, got {tok!r}")
        read_joint(-1)
    return BvhSkeleton(tuple(names), tuple(parents), np.asarray(offsets, dtype=np.float64),
                       tuple(channels), tuple(end_sites))


def _values_per_line(body: bytes) -> np.ndarray:
    """Number of whitespace-separated values on each line of `body` (vectorised over bytes)."""
    b = np.frombuffer(body, dtype=np.uint8)
    if b.size == 0:
        return np.zeros(0, dtype=np.int64)
    ws = b <= 32  # space, tab, CR, LF and other control bytes separate values
    starts = np.flatnonzero(~ws[1:] & ws[:-1]) + 1
    if not ws[0]:
        starts = np.concatenate([[0], starts])
    newlines = np.flatnonzero(b == 10)
    n_lines = newlines.size + (0 if b[-1] == 10 else 1)
    return np.bincount(np.searchsorted(newlines, starts), minlength=n_lines)


_MOTION_RE = re.compile(rb"^\s*MOTION\s*$", re.MULTILINE)
_FRAMES_RE = re.compile(rb"\A\s*Frames:\s*(\S+)\s*\n\s*Frame\s+Time:\s*(\S+)[ \t\r]*(?:\n|\Z)")


def parse_bvh(data: bytes | str, where: str = "<bvh string>") -> BvhClip:
    """Parse BVH text into a `BvhClip`; any malformed part raises a one-line ValueError naming `where`.

    Checks: hierarchy syntax, channel names, `Frames:`/`Frame Time:` header, every frame line holding
    exactly one value per channel (error names the frame and its line), the number of frame lines
    matching `Frames:` (a truncated file is reported), every value finite.
    """
    if isinstance(data, str):
        data = data.encode()
    m = _MOTION_RE.search(data)
    if m is None:
        raise ValueError(f"{where}: no MOTION section (file truncated or not BVH)")
    try:
        header = data[:m.start()].decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{where}: HIERARCHY is not UTF-8/ASCII text") from None
    skel = _parse_hierarchy(header, where)
    motion_line = header.count("\n") + 1  # the MOTION keyword's line
    rest = data[m.end():].lstrip(b"\r\n")
    hm = _FRAMES_RE.match(rest)
    if hm is None:
        raise ValueError(f"{where}: line {motion_line + 1}: expected 'Frames: N' and 'Frame Time: dt' after MOTION")
    try:
        n_frames = int(hm.group(1))
        frame_time = float(hm.group(2))
    except ValueError:
        raise ValueError(f"{where}: line {motion_line + 1}: Frames / Frame Time are not numbers "
                         f"({hm.group(1).decode(errors='replace')!r}, {hm.group(2).decode(errors='replace')!r})") from None
    if n_frames < 0:
        raise ValueError(f"{where}: Frames = {n_frames}, expected >= 0")
    if not (math.isfinite(frame_time) and frame_time > 0):
        raise ValueError(f"{where}: Frame Time = {frame_time}, expected a positive number of seconds")
    body_start = len(data) - len(rest) + hm.end()
    body = data[body_start:]
    first_line = data.count(b"\n", 0, body_start) + 1  # file line number of body line 0
    n_ch = skel.num_channels

    counts = _values_per_line(body)
    nonblank = np.flatnonzero(counts)
    if nonblank.size == 0:
        if n_frames:
            raise ValueError(f"{where}: truncated: Frames = {n_frames} but no frame lines")
        return BvhClip(skel, frame_time, np.zeros((0, n_ch), dtype=np.float32), where)
    lo, hi = int(nonblank[0]), int(nonblank[-1])
    if nonblank.size != hi - lo + 1:
        # A blank line between frames would shift every later frame; refuse rather than guess.
        gap = lo + int(np.flatnonzero(counts[lo:hi] == 0)[0])
        raise ValueError(f"{where}: line {first_line + gap}: blank line inside the MOTION data")
    first_line += lo
    counts = counts[lo:hi + 1]
    wrong = np.flatnonzero(counts != n_ch)
    if wrong.size:
        i = int(wrong[0])
        # A short last line without its newline is a file cut mid-frame, not a malformed frame.
        if i == counts.size - 1 and counts[i] < n_ch and not body.rstrip(b" \t").endswith(b"\n"):
            raise ValueError(f"{where}: truncated: frame {i} (line {first_line + i}) has {counts[i]} of "
                             f"{n_ch} values and Frames = {n_frames}")
        raise ValueError(f"{where}: frame {i} (line {first_line + i}) has {counts[i]} values, "
                         f"expected {n_ch} (one per channel)")
    if counts.size < n_frames:
        raise ValueError(f"{where}: truncated: Frames = {n_frames} but only {counts.size} frame lines")
    if counts.size > n_frames:
        raise ValueError(f"{where}: Frames = {n_frames} but the MOTION section has {counts.size} frame lines")
    try:
        values = np.array(body.split(), dtype=np.float32)
    except ValueError as e:
        bad = str(e).rsplit(":", 1)[-1].strip()
        raise ValueError(f"{where}: MOTION data holds a non-number value {bad}") from None
    motion = values.reshape(n_frames, n_ch)
    finite = np.isfinite(motion)
    if not finite.all():
        i = int(np.argwhere(~finite)[0][0])
        raise ValueError(f"{where}: frame {i} (line {first_line + i}) has NaN/inf values")
    return BvhClip(skel, frame_time, motion, where)


def read_bvh(path: str | Path) -> BvhClip:
    """Read and parse a BVH file (see `parse_bvh`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValueError(f"{path}: cannot read BVH file ({e.strerror})") from None
    return parse_bvh(data, str(path))


# -------------------------------------------------------------------------------- kinematics

def _axis_rotation(axis: str, angle_rad: np.ndarray) -> np.ndarray:
    """`[...]` angles -> `[..., 3, 3]` rotation about a coordinate axis (right-hand rule)."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    out = np.zeros(angle_rad.shape + (3, 3))
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]  # the plane the rotation turns
    k = 3 - i - j
    out[..., k, k] = 1.0
    out[..., i, i] = c
    out[..., j, j] = c
    out[..., i, j] = -s
    out[..., j, i] = s
    return out


def euler_to_matrix(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """`[..., k]` Euler angles (degrees) about the axes in `order` (e.g. "zxy") -> `[..., 3, 3]`.

    `R = R_order[0] @ R_order[1] @ ...`: the BVH convention (intrinsic rotations in listed order).
    """
    angles = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    if len(order) != angles.shape[-1]:
        raise ValueError(f"euler_to_matrix: {angles.shape[-1]} angles for axis order {order!r}")
    out = np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3))
    for k, axis in enumerate(order.lower()):
        out = out @ _axis_rotation(axis, angles[..., k])
    return np.ascontiguousarray(out)


def _local_transforms(clip: BvhClip) -> tuple[np.ndarray, np.ndarray]:
    """Per-joint local translation `[T, J, 3]` and rotation `[T, J, 3, 3]` from the channel values.

    Joints sharing a rotation-channel order are converted in one vectorised call (the per-joint
    Python loop, not the arithmetic, dominates the cost for short clips).
    """
    skel, motion = clip.skeleton, clip.motion
    T, J = motion.shape[0], len(skel.names)
    t_local = np.broadcast_to(skel.offsets, (T, J, 3)).copy()
    r_local = np.broadcast_to(np.eye(3), (T, J, 3, 3)).copy()
    groups: dict[str, tuple[list[int], list[list[int]]]] = {}
    col = 0
    for j, chans in enumerate(skel.channels):
        rot_cols, order = [], ""
        for k, ch in enumerate(chans):
            lc = ch.lower()
            if lc in _POSITION_CHANNELS:
                t_local[:, j, _POSITION_CHANNELS[lc]] = motion[:, col + k]
            else:
                rot_cols.append(col + k)
                order += _ROTATION_CHANNELS[lc]
        col += len(chans)
        if order:
            joints, cols = groups.setdefault(order, ([], []))
            joints.append(j)
            cols.append(rot_cols)
    for order, (joints, cols) in groups.items():
        r_local[:, joints] = euler_to_matrix(motion[:, np.asarray(cols)], order)
    return t_local, r_local


def forward_kinematics(clip: BvhClip) -> tuple[np.ndarray, np.ndarray]:
    """Global joint positions `[T, J, 3]` and rotations `[T, J, 3, 3]` (file units and axes, float64)."""
    t_local, r_local = _local_transforms(clip)
    pos = np.empty_like(t_local)
    rot = np.empty_like(r_local)
    for j, p in enumerate(clip.skeleton.parents):
        if p < 0:
            pos[:, j] = t_local[:, j]
            rot[:, j] = r_local[:, j]
        else:
            pos[:, j] = pos[:, p] + (rot[:, p] @ t_local[:, j, :, None])[..., 0]
            rot[:, j] = rot[:, p] @ r_local[:, j]
    return pos, rot


def to_world_mm(points: np.ndarray, unit_to_mm: float, up_axis: str = "y") -> np.ndarray:
    """`[..., 3]` file units/axes -> project world (z up, right-handed, mm); y-up maps (x, y, z) -> (x, -z, y)."""
    if up_axis not in _UP_AXIS_TO_WORLD:
        raise ValueError(f"up_axis = {up_axis!r}: expected one of {', '.join(_UP_AXIS_TO_WORLD)}")
    return (np.asarray(points) @ _UP_AXIS_TO_WORLD[up_axis].T) * unit_to_mm


# ---------------------------------------------------------------------------- H36M-17 mapping

def resolve_mapping(mapping: str | Mapping, where: str = "mapping") -> dict:
    """A preset name (`skeleton.BVH_PRESETS`) or a user dict -> `{h36m joint: source}` for all 17 joints.

    Each source is a BVH joint name; `(name, factor)` for a virtual end point beyond joint `name`
    along its own bone (see `map_to_h36m17`); or None when the file has no such joint.
    """
    if isinstance(mapping, str):
        if mapping not in BVH_PRESETS:
            raise ValueError(f"{where}: unknown BVH preset {mapping!r}; expected one of {', '.join(BVH_PRESETS)}")
        mapping = BVH_PRESETS[mapping]
    unknown = sorted(set(mapping) - set(H36M17_NAMES))
    if unknown:
        raise ValueError(f"{where}: unknown Human3.6M joint name(s) {', '.join(unknown)}; "
                         f"expected names from {', '.join(H36M17_NAMES)}")
    out = {}
    for name in H36M17_NAMES:
        src = mapping.get(name)
        if isinstance(src, (tuple, list)):
            if len(src) != 2 or not isinstance(src[0], str) or not isinstance(src[1], (int, float)):
                raise ValueError(f"{where}: entry {name!r} = {src!r}, expected a joint name, (joint name, factor) or None")
            src = (src[0], float(src[1]))
        elif src is not None and not isinstance(src, str):
            raise ValueError(f"{where}: entry {name!r} = {src!r}, expected a joint name, (joint name, factor) or None")
        out[name] = src
    return out


def map_to_h36m17(positions: np.ndarray, rotations: np.ndarray, skeleton: BvhSkeleton,
                  mapping: str | Mapping = "bandai", where: str = "bvh") -> tuple[np.ndarray, np.ndarray]:
    """Pick the 17 Human3.6M joints out of BVH FK results.

    positions `[T, J, 3]`, rotations `[T, J, 3, 3]` (from `forward_kinematics`) -> joints `[T, 17, 3]`
    (same units/axes) and joint_valid `[17]` bool. A `(name, factor)` source is a virtual end site of
    joint `name`: `X(name) + R_global(name) @ (factor * offset(name))`, i.e. the joint's own bone
    (parent -> joint) continued `factor` times its length past it, turning with the joint. The
    Bandai-Namco head top is estimated this way (no head-top end point in those files). A None
    source gives NaN coordinates and joint_valid False. An unknown BVH joint name is an error.
    """
    resolved = resolve_mapping(mapping, where=f"{where}: mapping")
    T = positions.shape[0]
    out = np.full((T, NUM_JOINTS, 3), np.nan)
    valid = np.zeros(NUM_JOINTS, dtype=bool)
    for k, name in enumerate(H36M17_NAMES):
        src = resolved[name]
        if src is None:
            continue
        joint = src if isinstance(src, str) else src[0]
        if joint not in skeleton.names:
            raise ValueError(f"{where}: mapping entry {name!r} names joint {joint!r}, which is not in the file "
                             f"(joints: {', '.join(skeleton.names)})")
        j = skeleton.names.index(joint)
        if isinstance(src, str):
            out[:, k] = positions[:, j]
        else:
            out[:, k] = positions[:, j] + rotations[:, j] @ (src[1] * skeleton.offsets[j])
        valid[k] = True
    return out, valid


# ---------------------------------------------------------------------------------- resampling

def resample_positions(x: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Linear interpolation in time: `[T, ...]` at fps_in -> `[T', ...]` at fps_out.

    Output frame i sits at time i / fps_out, for every such time within the input's span
    [0, (T-1) / fps_in], so `T' = floor((T-1) * fps_out / fps_in) + 1` (the last input frame is kept
    only when it falls on the output grid).
    """
    if not (fps_in > 0 and fps_out > 0 and math.isfinite(fps_in) and math.isfinite(fps_out)):
        raise ValueError(f"resample: fps_in = {fps_in}, fps_out = {fps_out}, expected positive numbers")
    x = np.asarray(x)
    T = x.shape[0]
    if T == 0 or fps_in == fps_out:
        return x.copy()
    n_out = math.floor((T - 1) * fps_out / fps_in + 1e-9) + 1
    t = np.arange(n_out) * (fps_in / fps_out)  # output times in input-frame units
    i0 = np.minimum(np.floor(t).astype(np.int64), T - 1)
    i1 = np.minimum(i0 + 1, T - 1)
    w = (t - i0).reshape((-1,) + (1,) * (x.ndim - 1))
    out = x[i0] * (1.0 - w) + x[i1] * w
    return out.astype(x.dtype, copy=False)


# --------------------------------------------------------------------------------- one-call API

def bvh_to_h36m17(clip: BvhClip, mapping: str | Mapping = "bandai", unit_to_mm: float = 10.0,
                  up_axis: str = "y", fps: float | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """A parsed clip -> (`joints3d_world_mm [T, 17, 3]` float32, `joint_valid [17]`, fps).

    unit_to_mm: file units to millimetres (10 for centimetres, as in Bandai-Namco).
    fps: resample to this rate (linear interpolation of positions); None keeps the file's rate.
    """
    if clip.num_frames == 0:  # a header-only file parses, but is no motion to prepare
        raise ValueError(f"{clip.where}: Frames = 0; expected at least one frame of motion")
    pos, rot = forward_kinematics(clip)
    joints, valid = map_to_h36m17(pos, rot, clip.skeleton, mapping, where=clip.where)
    joints = to_world_mm(joints, unit_to_mm, up_axis)
    src_fps = clip.fps
    if fps is not None and fps != src_fps:
        joints = resample_positions(joints, src_fps, fps)
        src_fps = float(fps)
    return joints.astype(np.float32), valid, src_fps


def load_bvh_h36m17(data: bytes | str | Path, where: str | None = None, **kw) -> tuple[np.ndarray, np.ndarray, float]:
    """Parse BVH bytes/text (or read a path) and map it to H36M-17 world mm; see `bvh_to_h36m17`.

    A top-level function of plain arguments so that it can run in a worker process.
    """
    clip = read_bvh(data) if isinstance(data, Path) else parse_bvh(data, where or "<bvh string>")
    return bvh_to_h36m17(clip, **kw)


# ------------------------------------------------------------------------- user joint maps, labels

JOINT_MAP_SETTINGS = ("unit_to_mm", "up_axis")


def load_joint_map(path: str | Path) -> tuple[dict, dict]:
    """A joint-map file for one's own BVH -> (`{h36m joint: source}` for `map_to_h36m17`, settings).

    JSON (or YAML) object: either the 17-joint mapping itself, or `{"joints": {...}, "unit_to_mm": 10,
    "up_axis": "y"}`. Each joint maps to a BVH joint name, `[name, factor]` (a virtual end point
    `factor` bone lengths past `name`, e.g. a head top), or null (missing: the joint is marked invalid
    and masked everywhere). Every one of the 17 Human3.6M names must be present, so nothing is
    left out by accident. The Bandai-Namco map (`skeleton.BVH_PRESETS["bandai"]`) is the built-in example.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ValueError(f"{path}: joint-map file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: joint-map file unreadable ({e})") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml
            data = yaml.safe_load(text)
        else:
            import json
            data = json.loads(text)
    except Exception as e:  # noqa: BLE001 - any parse error becomes one line naming the file
        raise ValueError(f"{path}: not a valid joint map ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object mapping the 17 Human3.6M joint names to BVH joints")
    settings = {k: data[k] for k in JOINT_MAP_SETTINGS if k in data}
    joints = data.get("joints", data if "joints" not in data else None)
    if not isinstance(joints, dict):
        raise ValueError(f"{path}: field joints must be an object of Human3.6M joint name -> BVH joint")
    joints = {k: v for k, v in joints.items() if k not in JOINT_MAP_SETTINGS}
    missing = [n for n in H36M17_NAMES if n not in joints]
    if missing:
        raise ValueError(f"{path}: joint map lacks {', '.join(missing)} (give a BVH joint name, "
                         f"[name, factor] or null for each of the 17 joints)")
    if "unit_to_mm" in settings and not (isinstance(settings["unit_to_mm"], (int, float))
                                         and settings["unit_to_mm"] > 0):
        raise ValueError(f"{path}: field unit_to_mm = {settings['unit_to_mm']!r}, expected a positive number")
    if "up_axis" in settings and settings["up_axis"] not in _UP_AXIS_TO_WORLD:
        raise ValueError(f"{path}: field up_axis = {settings['up_axis']!r}, expected one of {', '.join(_UP_AXIS_TO_WORLD)}")
    return resolve_mapping(joints, where=str(path)), settings


def load_label_csv(path: str | Path) -> dict[str, dict]:
    """Per-file labels for `prepare bvh`: CSV with header `file,label[,split]` -> `{file stem: row}`.

    `file` is the BVH path relative to the source (with or without `.bvh`); `label` the action text
    (required, non-empty); `split` optional, one of train / val / test. Duplicate files are an error.
    """
    import csv
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ValueError(f"{path}: labels file not found") from None
    rows = list(csv.DictReader(text.splitlines()))
    if not rows:
        raise ValueError(f"{path}: no rows (expected a header `file,label[,split]` and one row per BVH file)")
    fields = set(rows[0])
    if not {"file", "label"} <= fields:
        raise ValueError(f"{path}: header has {', '.join(sorted(fields))}; expected columns file, label[, split]")
    out: dict[str, dict] = {}
    for i, row in enumerate(rows, start=2):
        key = (row.get("file") or "").strip().replace("\\", "/")
        key = key[:-4] if key.lower().endswith(".bvh") else key
        label = (row.get("label") or "").strip()
        split = (row.get("split") or "").strip()
        if not key or not label:
            raise ValueError(f"{path}: line {i}: fields file and label must be non-empty")
        if split and split not in ("train", "val", "test"):
            raise ValueError(f"{path}: line {i}: field split = {split!r}, expected train, val or test")
        if key in out:
            raise ValueError(f"{path}: line {i}: file {key!r} is listed twice")
        out[key] = {"label": label, "split": split}
    return out
