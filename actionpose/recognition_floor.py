"""The recognition floor: how well a cheap window classifier names the action from the lifter's own input.

The 3D floors (`baselines`) say what a lifter must beat to have learned to lift; this module does the
same for the action it recognises. A `WindowClassifier` (an MLP over one window's flattened features,
`FEATURES`) is trained by soft cross-entropy on the label weights of the very windows the lifter
trains on (`LiftingWindows(train=True, vocab=...)`: random cameras, noise, horizontal flips with the
label mirrored), then scored like the lifter (`score_heldout`): the held-out takes' fixed views, the
lifter's covering windows, per window and pooled over longer segments
(`recognition_context.pool_window_scores`), through `evaluate.recognition_summary`.

Three inputs, so a miss can be placed:
- ``"2d"``: the lifter's input `x2d [T, 17, 3]` -- each frame's x, y about its root (0 where a joint's
  confidence is 0), the confidence, and the root's image track about its window mean (where the
  person moves in the picture: the path a turn bends). A floor the lifter's recognition should beat.
- ``"3d"``: the ground-truth root-relative camera-frame 3D `y3d [T, 17, 3]` of the same windows: an
  oracle with the depth the lifter has to infer. Where the 3D oracle names an action and the 2D
  floor does not, the cue is in depth; where neither does, the window holds too little of it.
- ``"lifted"``: a trained lifter's own root-relative 3D of the same windows (its `y3d` output for the
  window's x2d, frozen): what any head reading this lifter's 3D could name. Where the oracle names an
  action and this probe does not, the lifter's 3D has lost the cue; where both do and the lifter's own
  recognition does not, its embedding head has.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .config import RunConfig
from .data.dataset import LiftingWindows
from .data.motion import Motion
from .data.windows import covering_windows
from .recognition_context import pool_window_scores
from .skeleton import NUM_JOINTS, ROOT
from .text.vocab import LabelVocab

FEATURES = ("2d", "3d", "lifted")
INPUT_SCALE = 10.0  # normalised screen / 3D units are ~0.1 per limb: lift them to O(1) for the MLP


def window_features(window: np.ndarray | torch.Tensor, features: str) -> torch.Tensor:
    """One batch of windows -> classifier input `[N, F]`.

    window: `[N, T, 17, 3]`: the lifter's input x2d (``"2d"``) or root-relative 3D (``"3d"``: y3d,
    ``"lifted"``: `lift_windows`'s output). ``"2d"``: per frame x, y minus the root's (0 where
    confidence is 0) and the confidence, plus the root's x, y minus its mean over the window:
    F = T * (17 * 3 + 2). ``"3d"`` / ``"lifted"``: the flattened 3D, F = T * 51. All scaled by `INPUT_SCALE`.
    """
    if features not in FEATURES:
        raise ValueError(f"recognition floor features {features!r}: expected one of {', '.join(FEATURES)}")
    w = torch.as_tensor(window, dtype=torch.float32)
    if w.ndim != 4 or w.shape[2:] != (NUM_JOINTS, 3):
        raise ValueError(f"recognition floor window shape {tuple(w.shape)}: expected [N, T, {NUM_JOINTS}, 3]")
    n = w.shape[0]
    if features != "2d":
        return w.reshape(n, -1) * INPUT_SCALE
    root = w[:, :, ROOT, :2]
    conf = w[..., 2:3]
    xy = (w[..., :2] - root[:, :, None]) * (conf > 0)
    track = root - root.mean(dim=1, keepdim=True)
    per_frame = torch.cat([torch.cat([xy, conf], dim=-1).reshape(n, w.shape[1], -1), track], dim=-1)
    return per_frame.reshape(n, -1) * INPUT_SCALE


def in_features(features: str, window_frames: int) -> int:
    """The width F of `window_features(..., features)` for windows of `window_frames` frames."""
    return window_frames * (NUM_JOINTS * 3 + (2 if features == "2d" else 0))


@torch.no_grad()
def lift_windows(lifter, x2d: np.ndarray | torch.Tensor, batch_windows: int = 144) -> np.ndarray:
    """A lifter's root-relative 3D for full-length windows: `[N, T, 17, 3]` x2d -> `[N, T, 17, 3]` float32.

    `lifter`: a `ModelBundle` (`train.model_io.load_bundle`), run in eval mode window by window (each
    window lifted on its own, as in training; no overlap averaging, no flip)."""
    net = lifter.net
    was_training = net.training
    net.eval()
    x = torch.as_tensor(x2d, dtype=torch.float32)
    out = []
    for lo in range(0, len(x), batch_windows):
        y = net(x[lo:lo + batch_windows], None)["y3d"].float()
        out.append((y - y[:, :, ROOT:ROOT + 1]).numpy())
    if was_training:
        net.train()
    return np.concatenate(out) if out else np.zeros((0, *x.shape[1:]), np.float32)


class WindowClassifier(nn.Module):
    """`[N, F]` window features -> `[N, L]` logits over the vocabulary's entries: Linear(F, width),
    `blocks` residual (LayerNorm, Linear, GELU) blocks, LayerNorm, Linear(width, L)."""

    def __init__(self, in_features: int, labels: int, width: int = 256, blocks: int = 2):
        super().__init__()
        self.inp = nn.Linear(in_features, width)
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.GELU())
                                    for _ in range(blocks))
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, labels))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        h = self.inp(feats)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)


@dataclass
class RecognitionFloor:
    """A trained window classifier with what it was trained on (`meta`: steps, seed, CPU seconds...)."""

    net: WindowClassifier
    features: str
    window_frames: int
    vocab: LabelVocab
    meta: dict
    lifter: object | None = None  # the frozen lifter whose 3D a "lifted" floor reads

    def scores(self, windows: np.ndarray) -> np.ndarray:
        """`[W, T, 17, 3]` windows (x2d for "2d" and "lifted", y3d for "3d") -> `[W, L]` logits."""
        if self.features == "lifted":
            windows = lift_windows(self.lifter, windows)
        self.net.eval()
        with torch.no_grad():
            return self.net(window_features(windows, self.features)).double().numpy()


def _epoch_windows(ds: LiftingWindows, epoch: int, features: str, lifter=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The labelled full-length training windows of `epoch`: features `[N, F]`, label weights `[N, L]`
    (each row sums to 1)."""
    ds.set_epoch(epoch)
    xs, ws = [], []
    key = "y3d" if features == "3d" else "x2d"
    for i in range(len(ds)):
        item = ds[i]
        if item["has_label"] > 0 and item["frame_valid"].all():
            xs.append(item[key])
            ws.append(item["label_weights"] / item["label_weights"].sum())
    if not xs:
        raise ValueError("recognition floor: no labelled full-length training window")
    windows = lift_windows(lifter, np.stack(xs)) if features == "lifted" else np.stack(xs)
    return window_features(windows, features), torch.as_tensor(np.stack(ws), dtype=torch.float32)


def train_recognition_floor(train_motions: list[Motion], cfg: RunConfig, vocab: LabelVocab, *, features: str = "2d",
                            steps: int = 3000, batch_windows: int = 144, lr: float = 1e-3, width: int = 256,
                            blocks: int = 2, seed: int = 0, lifter=None, reuse_epochs: int | None = None,
                            curve_steps: tuple[int, ...] = (),
                            on_curve: Callable[[int, RecognitionFloor], None] | None = None) -> RecognitionFloor:
    """Train for exactly `steps` Adam steps of `batch_windows` windows (cosine learning rate to 0).

    Windows are `LiftingWindows(train_motions, cfg, train=True, vocab=vocab, seed=seed)`, i.e. those the
    lifter of `cfg` trains on (T = `cfg.model.maxlen`); epoch e's windows are rendered once and shuffled
    by `(seed, e)`. Loss: cross-entropy against the window's label weights. Same arguments -> same
    weights on the same torch build; the global torch RNG is left as it was.

    `lifter` (a `ModelBundle`, required for ``features="lifted"``): whose 3D the floor reads.
    `reuse_epochs`: render (and lift) only epochs 0 .. reuse_epochs - 1 and cycle them, keeping them in
    memory (lifting an epoch costs minutes; e's windows are those of e mod reuse_epochs, the shuffle is
    still by `(seed, e)`). `on_curve(step, floor)` is called after each step in `curve_steps` with the
    classifier as it stands (a learning curve in one run; the callback must not train it)."""
    if steps < 1 or batch_windows < 1:
        raise ValueError(f"train_recognition_floor: steps = {steps}, batch_windows = {batch_windows}; expected >= 1")
    if (features == "lifted") != (lifter is not None):
        raise ValueError(f"train_recognition_floor: features {features!r} with lifter {lifter is not None}; "
                         "a lifter is needed for, and only for, features 'lifted'")
    if reuse_epochs is not None and reuse_epochs < 1:
        raise ValueError(f"train_recognition_floor: reuse_epochs = {reuse_epochs}; expected >= 1 or None")
    cpu0 = time.process_time()
    ds = LiftingWindows(train_motions, cfg, train=True, vocab=vocab, seed=seed)
    T = cfg.model.maxlen
    cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def epoch_windows(e: int) -> tuple[torch.Tensor, torch.Tensor]:
        if reuse_epochs is None:
            return _epoch_windows(ds, e, features, lifter)
        if e % reuse_epochs not in cache:
            cache[e % reuse_epochs] = _epoch_windows(ds, e % reuse_epochs, features, lifter)
        return cache[e % reuse_epochs]

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = WindowClassifier(in_features(features, T), len(vocab), width, blocks)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + np.cos(np.pi * min(s, steps) / steps)))
        epoch, pos, feats, targets, order = -1, 0, None, None, None
        loss_value = float("nan")
        net.train()
        meta = {"features": features, "steps": steps, "batch_windows": batch_windows, "lr": lr, "width": width,
                "blocks": blocks, "seed": seed, "window_frames": T, "train_motions": len(train_motions),
                "train_windows": len(ds), "reuse_epochs": reuse_epochs}
        for step in range(1, steps + 1):
            if order is None or pos + batch_windows > len(order):
                epoch += 1
                feats, targets = epoch_windows(epoch)
                order = torch.from_numpy(np.random.default_rng([seed, epoch]).permutation(len(feats)))
                pos = 0
                if len(order) < batch_windows:
                    raise ValueError(f"train_recognition_floor: {len(order)} labelled windows, fewer than "
                                     f"batch_windows = {batch_windows}")
            idx = order[pos:pos + batch_windows]
            pos += batch_windows
            loss = -(targets[idx] * torch.log_softmax(net(feats[idx]), dim=-1)).sum(dim=-1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_value = float(loss.detach())
            if on_curve is not None and step in curve_steps:
                on_curve(step, RecognitionFloor(net, features, T, vocab, dict(
                    meta, step=step, epochs_touched=epoch + 1, loss=loss_value,
                    train_cpu_s=round(time.process_time() - cpu0, 1)), lifter))
                net.train()
    net.eval()
    meta.update(epochs_touched=epoch + 1, final_loss=loss_value, train_cpu_s=round(time.process_time() - cpu0, 1),
                torch_threads=torch.get_num_threads())
    return RecognitionFloor(net, features, T, vocab, meta, lifter)


def score_heldout(floor: RecognitionFloor, heldout: list[Motion], cfg: RunConfig,
                  contexts: tuple[int, ...] = ()) -> dict:
    """Score held-out takes as `evaluate` scores a lifter's recognition: each take's fixed views
    (evaluate's own `_view_samples`: clean 2D, masked joints at 0), its covering windows of `floor.window_frames`, label weights per window
    (and per segment of each `contexts` length, the mean of its windows' logits).

    Returns {"window": recognition summary, "<frames>": summary per context} (`evaluate.recognition_summary`).
    """
    # L4 sibling, imported here so evaluate may import this module; its views are the ones the run is scored on
    from .evaluate import _view_samples, recognition_summary

    vocab, T = floor.vocab, floor.window_frames
    rows: dict[str, tuple[list, list]] = {"window": ([], [])}
    rows.update({str(c): ([], []) for c in contexts})
    for m in heldout:
        frame_vocab = vocab.frame_indices(m)
        wins = [(s, e) for s, e in covering_windows(m.num_frames, T) if e - s == T]
        if not wins:
            continue
        for _, _, _, sample, _ in _view_samples(m, cfg, 0.0, np.random.default_rng(0), []):
            source = sample.y3d if floor.features == "3d" else sample.x2d  # x2d: masked joints already 0
            logits = floor.scores(np.stack([source[s:e] for s, e in wins]))
            for key, (scores, targets) in rows.items():
                segs, seg_scores = (wins, logits) if key == "window" else \
                    pool_window_scores(np.array(wins), logits, m.num_frames, int(key))
                for (s, e), lg in zip(segs, seg_scores):
                    w = vocab.weights(frame_vocab[s:e])
                    if w.sum() > 0:
                        scores.append(lg)
                        targets.append(w)
    return {key: recognition_summary(np.stack(sc), np.stack(tg), vocab) for key, (sc, tg) in rows.items() if sc}
