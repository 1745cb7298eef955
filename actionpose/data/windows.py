"""Cutting sequences into fixed-length windows (training) and covering windows (evaluation)."""
from __future__ import annotations

import numpy as np


def window_starts(num_frames: int, length: int, stride: int, where: str = "sequence") -> list[int]:
    """Start frames of windows of `length` every `stride` frames; the last window ends at the end.

    Raises a one-line error when the sequence is shorter than the window (callers that accept short
    sequences pad explicitly with `pad_to_length`, never silently).
    """
    if length <= 0 or stride <= 0:
        raise ValueError(f"{where}: window length and stride must be positive, got {length}, {stride}")
    if num_frames < length:
        raise ValueError(f"{where}: {num_frames} frames is shorter than the window of {length} frames")
    starts = list(range(0, num_frames - length + 1, stride))
    if starts[-1] != num_frames - length:
        starts.append(num_frames - length)
    return starts


def covering_windows(num_frames: int, length: int, stride: int | None = None) -> list[tuple[int, int]]:
    """(start, end) windows of at most `length` frames covering every frame of a sequence.

    Sequences shorter than `length` give one window of their own length (the lifter accepts any
    T <= maxlen). Longer ones overlap by `length - stride` (default: half a window) and their
    predictions are averaged per frame by `blend_windows`.
    """
    if num_frames <= length:
        return [(0, num_frames)]
    stride = stride or max(1, length // 2)
    return [(s, s + length) for s in window_starts(num_frames, length, stride)]


def blend_weights(length: int) -> np.ndarray:
    """Per-frame weight inside a window `[length]`: a flat-topped ramp so window edges count less."""
    ramp = np.minimum(np.arange(1, length + 1), np.arange(length, 0, -1)).astype(np.float64)
    return np.minimum(ramp / max(1.0, length / 4.0), 1.0)


class WindowBlender:
    """Accumulates overlapping window predictions into one array per frame (bounded memory).

    out[t] = sum_w weight_w(t) * pred_w(t) / sum_w weight_w(t).
    """

    def __init__(self, num_frames: int, frame_shape: tuple[int, ...], dtype=np.float32):
        self.acc = np.zeros((num_frames, *frame_shape), dtype=np.float64)
        self.wsum = np.zeros(num_frames, dtype=np.float64)
        self.dtype = dtype

    def add(self, start: int, pred: np.ndarray, weights: np.ndarray | None = None) -> None:
        n = pred.shape[0]
        w = blend_weights(n) if weights is None else weights
        self.acc[start:start + n] += pred * w.reshape(-1, *([1] * (pred.ndim - 1)))
        self.wsum[start:start + n] += w

    def result(self) -> np.ndarray:
        if np.any(self.wsum <= 0):
            raise ValueError(f"window blender: {int(np.sum(self.wsum <= 0))} frames were not covered by any window")
        return (self.acc / self.wsum.reshape(-1, *([1] * (self.acc.ndim - 1)))).astype(self.dtype)


def pad_to_length(x: np.ndarray, length: int) -> np.ndarray:
    """Pad `[T, ...]` to `length` frames by repeating the last frame (explicit, for short takes)."""
    if x.shape[0] >= length:
        return x
    pad = np.repeat(x[-1:], length - x.shape[0], axis=0)
    return np.concatenate([x, pad], axis=0)
