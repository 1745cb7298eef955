"""Input corruptions by masking: joint, frame, body-part and time-window masks (pretraining only).

A masked keypoint has x = y = conf = 0, the same encoding a missing detection has, so the lifter
learns to fill in what it cannot see. Each kind has its own probability (0 switches it off), and
all randomness comes from one `torch.Generator` in a fixed order, so a batch's masks are a pure
function of the generator state.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .config import MaskConfig
from .skeleton import BODY_PARTS, NUM_JOINTS

PART_NAMES: tuple[str, ...] = tuple(BODY_PARTS)


@dataclass
class MaskRecord:
    """What was hidden in a batch.

    mask:    `[B, T, J]` bool, True where the keypoint was hidden (union of all kinds).
    parts:   per clip, the hidden body part's name (a key of skeleton.BODY_PARTS) or None.
    windows: per clip, the hidden frame span `(start, end)` (end exclusive) or None.
    joint_mask / frame_mask: `[B, T, J]` / `[B, T]` bool, the random joint and whole-frame masks alone.
    """

    mask: torch.Tensor
    parts: list[str | None]
    windows: list[tuple[int, int] | None]
    joint_mask: torch.Tensor
    frame_mask: torch.Tensor

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


def mask_batch(x2d: torch.Tensor, cfg: MaskConfig, generator: torch.Generator) -> tuple[torch.Tensor, MaskRecord]:
    """Hide keypoints of `x2d` `[B, T, J, 3]`; returns `(x_masked [B, T, J, 3], MaskRecord)`.

    Draw order (fixed, for determinism): joint uniforms `[B, T, J]`, frame uniforms `[B, T]`, part
    coins `[B]` and part choices `[B]`, window coins `[B]`, lengths `[B]`, starts `[B]`. All are drawn
    even when a probability is 0, so switching one kind off leaves the others' draws unchanged.
    Random numbers live on the generator's device; the masks are then moved to x2d's device.
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

    parts: list[str | None] = [None] * B
    windows: list[tuple[int, int] | None] = [None] * B
    lo, hi = window_length_range(T, cfg)
    # Per-clip choices are few (B), so a python loop over the drawn numbers is clearest.
    part_on = (u_part < cfg.part_prob).tolist()
    part_idx = which_part.tolist()
    win_on = (u_window < cfg.window_prob).tolist()
    lens = (lo + (u_len * (hi - lo + 1)).floor().clamp(max=hi - lo)).long().tolist()
    starts_u = u_start.tolist()
    for b in range(B):
        if part_on[b]:
            name = PART_NAMES[part_idx[b]]
            parts[b] = name
            mask[b, :, list(BODY_PARTS[name])] = True
        if win_on[b] and T > 0:
            length = int(lens[b])
            start = min(math.floor(starts_u[b] * (T - length + 1)), T - length)
            windows[b] = (start, start + length)
            mask[b, start:start + length, :] = True

    mask = mask.to(x2d.device)
    x_masked = x2d.masked_fill(mask[..., None], 0.0)
    record = MaskRecord(mask=mask, parts=parts, windows=windows,
                        joint_mask=joint_mask.to(x2d.device), frame_mask=frame_mask.to(x2d.device))
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
