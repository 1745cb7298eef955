"""Input corruptions by masking: joint, frame, body-part and time-window masks (pretraining only).

A masked keypoint has x = y = conf = 0, the same encoding a missing detection has, so the lifter
learns to fill in what it cannot see. Each kind has its own probability (0 switches it off), and
all randomness comes from one `torch.Generator` in a fixed order, so a batch's masks are a pure
function of the generator state.
"""
from __future__ import annotations

import numpy as np
import torch

from .config import MaskConfig
from .skeleton import BODY_PARTS, NUM_JOINTS

PART_NAMES: tuple[str, ...] = tuple(BODY_PARTS)


class MaskRecord:
    """What was hidden in a batch.

    mask:    `[B, T, J]` bool, True where the keypoint was hidden (union of all kinds).
    parts:   per clip, the hidden body part's name (a key of skeleton.BODY_PARTS) or None.
    windows: per clip, the hidden frame span `(start, end)` (end exclusive) or None.
    joint_mask / frame_mask: `[B, T, J]` / `[B, T]` bool, the random joint and whole-frame masks alone.
    part_index: `[B]` long, index into `PART_NAMES` or -1; window_span: `[B, 2]` long, (start, end)
    or (-1, -1). These two stay on the device; `parts` / `windows` are python views of them, built
    on first access (the only place a host sync happens, never inside a training step).
    """

    def __init__(self, mask: torch.Tensor, joint_mask: torch.Tensor, frame_mask: torch.Tensor,
                 part_index: torch.Tensor, window_span: torch.Tensor):
        self.mask = mask
        self.joint_mask = joint_mask
        self.frame_mask = frame_mask
        self.part_index = part_index
        self.window_span = window_span
        self._parts: list[str | None] | None = None
        self._windows: list[tuple[int, int] | None] | None = None

    @property
    def parts(self) -> list[str | None]:
        if self._parts is None:
            self._parts = [PART_NAMES[i] if i >= 0 else None for i in self.part_index.tolist()]
        return self._parts

    @property
    def windows(self) -> list[tuple[int, int] | None]:
        if self._windows is None:
            self._windows = [(s, e) if s >= 0 else None for s, e in self.window_span.tolist()]
        return self._windows

    def to_numpy(self) -> dict:
        """Plain numpy/python view (for notebooks, the app, npz files)."""
        return {
            "mask": self.mask.detach().cpu().numpy(),
            "joint_mask": self.joint_mask.detach().cpu().numpy(),
            "frame_mask": self.frame_mask.detach().cpu().numpy(),
            "parts": list(self.parts),
            "windows": list(self.windows),
        }


def window_length_range(num_frames: int, cfg: MaskConfig) -> tuple[int, int]:
    """Inclusive `(min, max)` window length in frames: round(frac·T), at least 1, at most T."""
    lo = min(max(1, round(cfg.window_min_frac * num_frames)), num_frames)
    hi = min(max(lo, round(cfg.window_max_frac * num_frames)), num_frames)
    return lo, hi


def _check(x2d: torch.Tensor, cfg: MaskConfig) -> None:
    if not isinstance(x2d, torch.Tensor) or x2d.ndim != 4 or x2d.shape[-1] != 3:
        shape = tuple(x2d.shape) if hasattr(x2d, "shape") else type(x2d).__name__
        raise ValueError(f"mask_batch: x2d has shape {shape}, expected a tensor [B, T, J, 3] (x, y, conf)")
    if cfg.part_prob > 0 and x2d.shape[2] != NUM_JOINTS:
        raise ValueError(f"mask_batch: body-part masks need J = {NUM_JOINTS} (skeleton.BODY_PARTS), "
                         f"x2d has J = {x2d.shape[2]}")
    for name in ("joint_prob", "frame_prob", "part_prob", "window_prob"):
        p = getattr(cfg, name)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"mask config {name} = {p}: expected a probability in [0, 1]")
    if not 0.0 <= cfg.window_min_frac <= cfg.window_max_frac <= 1.0:
        raise ValueError(f"mask config window_min_frac = {cfg.window_min_frac}, window_max_frac = "
                         f"{cfg.window_max_frac}: expected 0 <= min <= max <= 1")


_PART_TABLES: dict[str, torch.Tensor] = {}


def _part_table(device: torch.device) -> torch.Tensor:
    """`[P, J]` bool: row p marks the joints of body part `PART_NAMES[p]`; one copy per device (a
    host-to-device copy on every batch would wait for the device)."""
    key = str(device)
    if key not in _PART_TABLES:
        table = torch.zeros(len(PART_NAMES), NUM_JOINTS, dtype=torch.bool)
        for p, name in enumerate(PART_NAMES):
            table[p, list(BODY_PARTS[name])] = True
        _PART_TABLES[key] = table.to(device)
    return _PART_TABLES[key]


def mask_batch(x2d: torch.Tensor, cfg: MaskConfig, generator: torch.Generator) -> tuple[torch.Tensor, MaskRecord]:
    """Hide keypoints of `x2d` `[B, T, J, 3]`; returns `(x_masked [B, T, J, 3], MaskRecord)`.

    Draw order (fixed, for determinism): joint uniforms `[B, T, J]`, frame uniforms `[B, T]`, part
    coins `[B]` and part choices `[B]`, window coins `[B]`, lengths `[B]`, starts `[B]`. All are drawn
    even when a probability is 0, so switching one kind off leaves the others' draws unchanged.
    Random numbers live on the generator's device; the masks are then moved to x2d's device.
    Everything is tensor arithmetic (no per-clip python loop, no host sync), so with a generator on
    the model's device (the training loop on CUDA) masking never leaves the GPU. A CPU generator
    gives exactly the masks of the earlier per-clip implementation (window starts are computed in
    float64 as python did); a CUDA generator draws other (equally deterministic) numbers.
    """
    _check(x2d, cfg)
    B, T, J, _ = x2d.shape
    gdev = generator.device
    u_joint = torch.rand(B, T, J, generator=generator, device=gdev)
    u_frame = torch.rand(B, T, generator=generator, device=gdev)
    u_part = torch.rand(B, generator=generator, device=gdev)
    which_part = torch.randint(len(PART_NAMES), (B,), generator=generator, device=gdev)
    u_window = torch.rand(B, generator=generator, device=gdev)
    u_len = torch.rand(B, generator=generator, device=gdev)
    u_start = torch.rand(B, generator=generator, device=gdev)

    joint_mask = u_joint < cfg.joint_prob
    frame_mask = u_frame < cfg.frame_prob
    mask = joint_mask | frame_mask[:, :, None]

    # Body part: one of PART_NAMES hidden in every frame of the clip.
    part_on = u_part < cfg.part_prob
    if J == NUM_JOINTS:
        part_joints = _part_table(gdev)[which_part] & part_on[:, None]  # [B, J]
        mask = mask | part_joints[:, None, :]
    part_index = torch.where(part_on, which_part, torch.full_like(which_part, -1))

    # Time window: length U{lo..hi}, start uniform over the positions where it fits.
    win_on = u_window < cfg.window_prob
    if T > 0:
        lo, hi = window_length_range(T, cfg)
        lens = (lo + (u_len * (hi - lo + 1)).floor().clamp(max=hi - lo)).long()
        starts = torch.minimum(torch.floor(u_start.double() * (T - lens + 1).double()).long(), T - lens)
        t = torch.arange(T, device=gdev)
        in_win = (t[None, :] >= starts[:, None]) & (t[None, :] < (starts + lens)[:, None]) & win_on[:, None]
        mask = mask | in_win[:, :, None]
        span = torch.stack([starts, starts + lens], dim=1)
    else:
        win_on = torch.zeros_like(win_on)
        span = torch.zeros(B, 2, dtype=torch.long, device=gdev)
    window_span = torch.where(win_on[:, None], span, torch.full_like(span, -1))

    dev = x2d.device
    mask = mask.to(dev, non_blocking=True)
    x_masked = x2d.masked_fill(mask[..., None], 0.0)
    record = MaskRecord(mask=mask, joint_mask=joint_mask.to(dev), frame_mask=frame_mask.to(dev),
                        part_index=part_index.to(dev), window_span=window_span.to(dev))
    return x_masked, record


def describe(record: MaskRecord | dict, i: int) -> str:
    """One line saying what was hidden in clip `i` (accepts a MaskRecord or its `to_numpy()` dict)."""
    rec = record.to_numpy() if isinstance(record, MaskRecord) else record
    mask = np.asarray(rec["mask"])
    if not 0 <= i < mask.shape[0]:
        raise IndexError(f"describe: clip {i} out of range, the record holds {mask.shape[0]} clips")
    m = mask[i]
    T, J = m.shape
    hidden = int(m.sum())
    bits = [f"clip {i}: {hidden}/{T * J} keypoints hidden ({100.0 * hidden / max(T * J, 1):.1f}%)"]
    n_joint = int(np.asarray(rec["joint_mask"])[i].sum())
    n_frame = int(np.asarray(rec["frame_mask"])[i].sum())
    if n_joint:
        bits.append(f"{n_joint} random joint-frames")
    if n_frame:
        bits.append(f"{n_frame} random frames")
    if rec["parts"][i] is not None:
        bits.append(f"body part {rec['parts'][i]} in every frame")
    if rec["windows"][i] is not None:
        s, e = rec["windows"][i]
        bits.append(f"frames {s}-{e - 1} (time window of {e - s})")
    if len(bits) == 1:
        bits.append("nothing masked")
    return "; ".join(bits)


def hide_keypoints(x2d: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """`x2d [T, J, 3]` with the keypoints where `hidden [T, J]` (bool) is True set to x = y = conf = 0,
    the encoding `mask_batch` and missing detections use; a copy (numpy, for test-time masks)."""
    x = np.array(x2d, dtype=np.float32, copy=True)
    h = np.asarray(hidden, dtype=bool)
    if h.shape != x.shape[:2]:
        raise ValueError(f"hide_keypoints: hidden has shape {h.shape}, expected {x.shape[:2]} ([T, J] of x2d)")
    x[h] = 0.0
    return x


def part_hidden(num_frames: int, part: str) -> np.ndarray:
    """`[T, 17]` bool: body part `part` (a key of skeleton.BODY_PARTS) hidden in every frame."""
    if part not in BODY_PARTS:
        raise ValueError(f"part_hidden: unknown body part {part!r}; expected one of {', '.join(PART_NAMES)}")
    h = np.zeros((num_frames, NUM_JOINTS), dtype=bool)
    h[:, list(BODY_PARTS[part])] = True
    return h


def periodic_window_hidden(num_frames: int, window: int, period: int) -> np.ndarray:
    """`[T, 17]` bool: every joint hidden in the last `window` frames of each `period` frames (e.g. 30 of
    every 90 at 30 fps: 2 s seen, 1 s hidden), so every hidden stretch has seen frames before it."""
    if not 0 < window <= period:
        raise ValueError(f"periodic_window_hidden: window = {window}, period = {period}; expected 0 < window <= period")
    t = np.arange(num_frames)
    return np.repeat(((t % period) >= period - window)[:, None], NUM_JOINTS, axis=1)
