"""Action recognition over a fixed span of motion, whatever the lifter's window length.

A lifter scores one row of label logits per window. With the demo's short windows (T = 9 frames,
0.3 s at 30 fps) a row sees a third of a step, so "turning left" and "turning right" are barely
apart, while a T = 81 lifter's row saw 2.7 s. Recognition accuracies of lifters with different T
are therefore not comparable row by row. This module scores *segments* of a fixed length
(`CONTEXT_FRAMES`, the T at which issue 21's recognition targets were first measured) the same way
for every lifter: the segments are the windows a T = `CONTEXT_FRAMES` lifter would have had
(`covering_windows`, half overlap), and a segment's scores are the mean of the scores of the lifter's
windows that lie inside it.

Why the mean of logits: in text mode a logit is cos(motion, text) / temperature with each window's
embedding normalised, so the mean logit is <mean of the unit window embeddings, text> / temperature;
its ranking over texts is that of the cosine of the segment's pooled motion embedding. Nothing is
trained for it. A lifter whose T is already `CONTEXT_FRAMES` gets back its own windows.
"""
from __future__ import annotations

import numpy as np

from .data.windows import covering_windows

CONTEXT_FRAMES = 81
# A context longer than any take: each take (x view) is one segment, scored by all its windows.
WHOLE_TAKE = 10**6
POOLING = ("segments of {frames} frames (the windows of a T = {frames} lifter, half overlap); a segment's "
           "scores are the mean of its windows' logits = the pooled (mean unit) motion embedding's scores")


def pool_window_scores(windows: np.ndarray, scores: np.ndarray, num_frames: int,
                       context: int = CONTEXT_FRAMES) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Window scores -> segment scores.

    windows: `[W, 2]` (start, end) frames of one sequence's windows; scores: `[W, L]` per window;
    num_frames: the sequence's length. Returns the segments `[(start, end)] * S` and their scores
    `[S, L]`: the mean of the rows of the windows inside each segment. Every segment of at least one
    window length holds a window when the windows cover the sequence with stride <= their length
    (as `covering_windows` does); a segment without one is an error, not a silent zero.
    """
    windows = np.asarray(windows, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    if windows.ndim != 2 or windows.shape[1] != 2:
        raise ValueError(f"pool_window_scores: windows have shape {windows.shape}, expected [W, 2]")
    if scores.ndim != 2 or scores.shape[0] != windows.shape[0]:
        raise ValueError(f"pool_window_scores: scores have shape {scores.shape}, expected [{windows.shape[0]}, L]")
    if context <= 0:
        raise ValueError(f"pool_window_scores: context must be positive, got {context}")
    segments = covering_windows(int(num_frames), int(context))
    out = np.empty((len(segments), scores.shape[1]), dtype=np.float64)
    for i, (s, e) in enumerate(segments):
        inside = (windows[:, 0] >= s) & (windows[:, 1] <= e)
        if not inside.any():
            raise ValueError(f"pool_window_scores: segment {s}..{e} holds no window "
                             f"(windows are longer than {context} frames or leave gaps)")
        out[i] = scores[inside].mean(axis=0)
    return segments, out
