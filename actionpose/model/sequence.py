"""Running a lifter over a sequence of any length: overlapping windows, blended per frame.

Memory is bounded by the output: windows are processed a few at a time and accumulated into one
`[N, 17, 3]` array, so a 100,000-frame input needs no more than its own input and output arrays.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np
import torch

from ..data.synthesis import flip_array
from ..data.windows import WindowBlender, covering_windows


def _release_freed_heap() -> None:
    """Return freed heap pages to the OS (glibc `malloc_trim`; a no-op elsewhere).

    Why: glibc raises its mmap threshold after large frees, so the per-batch activation buffers
    end up on the brk heap, whose fragmented free space is never handed back; on a 100k-frame input
    that showed up as RSS growing with the length (measured: +620 MB at 100k frames vs +50 MB at
    10k) although every window's buffers are freed. Trimming every few hundred windows keeps the
    peak bounded by the output (see benchmarks/README.md).
    """
    global _TRIM
    if _TRIM is None:
        try:
            _TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except OSError:
            _TRIM = False
    if _TRIM:
        _TRIM(0)


_TRIM = None


@dataclass
class SequencePrediction:
    """y3d: `[N, 17, 3]` root-relative, normalised units. windows: `[W, 2]` (start, end).
    motion_emb: `[W, D]` per window (None without an embedding head); logits: `[W, L]` or None."""

    y3d: np.ndarray
    windows: np.ndarray
    motion_emb: np.ndarray | None
    logits: np.ndarray | None


def _run(net, x: torch.Tensor, flip: bool) -> dict[str, torch.Tensor]:
    out = net(x)
    res = {"y3d": out["y3d"].float()}
    emb = out.get("motion_emb")
    logits = out.get("logits")
    if flip:
        out_f = net(flip_array(x))
        res["y3d"] = 0.5 * (res["y3d"] + flip_array(out_f["y3d"].float()))
        if emb is not None:
            emb = torch.nn.functional.normalize(emb.float() + out_f["motion_emb"].float(), dim=-1)
        if logits is not None:
            logits = 0.5 * (logits.float() + out_f["logits"].float())
    res["y3d"] = res["y3d"] - res["y3d"][..., :1, :]
    if emb is not None:
        res["motion_emb"] = emb.float()
    if logits is not None:
        res["logits"] = logits.float()
    return res


@torch.no_grad()
def predict_sequence(net: torch.nn.Module, x2d: np.ndarray, maxlen: int, *, flip: bool = False,
                     device: torch.device | str = "cpu", windows_per_batch: int = 8,
                     stride: int | None = None) -> SequencePrediction:
    """x2d `[N, 17, 3]` (screen-normalised + confidence) -> per-frame 3D and per-window embeddings."""
    x2d = np.asarray(x2d, dtype=np.float32)
    if x2d.ndim != 3 or x2d.shape[-1] != 3:
        raise ValueError(f"predict_sequence: x2d has shape {x2d.shape}, expected [N, J, 3]")
    n = x2d.shape[0]
    if n == 0:
        raise ValueError("predict_sequence: empty sequence (0 frames)")
    was_training = net.training
    net.eval()
    wins = covering_windows(n, maxlen, stride)
    blender = WindowBlender(n, x2d.shape[1:])
    embs, logits = [], []
    # Windows of equal length batch together; a short sequence is its single window.
    for lo in range(0, len(wins), windows_per_batch):
        chunk = wins[lo:lo + windows_per_batch]
        x = torch.from_numpy(np.stack([x2d[s:e] for s, e in chunk])).to(device)
        res = _run(net, x, flip)
        y = res["y3d"].cpu().numpy()
        for (s, _e), yi in zip(chunk, y):
            blender.add(s, yi)
        if "motion_emb" in res:
            embs.append(res["motion_emb"].cpu().numpy())
        if "logits" in res:
            logits.append(res["logits"].cpu().numpy())
        if (lo // windows_per_batch) % 32 == 31:
            _release_freed_heap()
    if was_training:
        net.train()
    return SequencePrediction(
        y3d=blender.result(),
        windows=np.array(wins, dtype=np.int64),
        motion_emb=np.concatenate(embs) if embs else None,
        logits=np.concatenate(logits) if logits else None,
    )
