"""Torch datasets of lifter windows built from `Motion` records.

Every random choice of an item (camera, noise, flip) is drawn from a generator seeded by
`(seed, epoch, index)`, so an item is a pure function of those three numbers: a resumed run sees
exactly the batches an uninterrupted one would, with no data-loader state to checkpoint.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ..config import RunConfig
from ..skeleton import ROOT
from .motion import Motion
from .synthesis import (
    Sample,
    View,
    add_noise,
    encode_sample,
    fixed_views,
    flip_sample,
    random_view,
    synthesize,
    trajectory_radius_mm,
)
from .windows import pad_to_length, window_starts

if TYPE_CHECKING:  # the vocabulary lives in text/; the dataset only calls its methods
    from ..text.vocab import LabelVocab


def sequence_views(motion: Motion, cfg: RunConfig) -> list[tuple[View, str | None]]:
    """Deterministic views for validation/evaluation: the real cameras (with the camera name of any
    2D keypoints) when the source has them, else `cfg.synth.fixed_eval_cameras` virtual ones."""
    if motion.cameras:
        return [(View(c), c.name if c.name in motion.kp2d_px else None) for c in motion.cameras]
    root = motion.joints3d_world_mm[:, ROOT]
    centre = root.mean(axis=0)
    return [(v, None) for v in fixed_views(cfg.synth, centre, radius_mm=trajectory_radius_mm(root, centre))]


def make_sample(motion: Motion, view: View, kp_camera: str | None, start: int = 0, end: int | None = None) -> Sample:
    """Frames `[start, end)` of `motion` seen through `view`; uses the source's 2D when `kp_camera`."""
    joints = motion.joints3d_world_mm[start:end].astype(np.float64)
    if kp_camera is None:
        return synthesize(joints, view, motion.joint_valid)
    from .synthesis import render
    x_cam, _ = render(joints, view)
    kp = motion.kp2d_px[kp_camera][start:end]
    sample = encode_sample(x_cam, kp[..., :2].astype(np.float64), kp[..., 2].astype(np.float64), view)
    # A joint the detector missed (score 0: NaN in the file, or a joint it never gives, like SH's nose)
    # enters the model as (0, 0, 0), the encoding of a synthetic invalid joint -- not as a point at the
    # image corner its placeholder coordinates would normalise to.
    sample.x2d[kp[..., 2] <= 0] = 0.0
    return sample


class LiftingWindows(torch.utils.data.Dataset):
    """Fixed-length windows for training (`train=True`: random views, noise, flips) or validation
    (deterministic views, clean 2D).

    Training draws, per item: a view; with probability `noise.clean_prob` clean 2D (confidence 1,
    as GT-2D evaluation feeds), else detector-like noise; a horizontal flip with probability
    `synth.flip_prob`, which mirrors the label too (left <-> right, `LabelVocab.mirror_weights`).

    Items: x2d `[T, 17, 3]`, y3d `[T, 17, 3]`, mm_per_unit `[T]`, frame_valid `[T]`, joint_valid `[17]`,
    flipped (1 when mirrored), label_weights `[L]` (when a vocabulary is given), has_label, index.
    """

    def __init__(self, motions: list[Motion], cfg: RunConfig, *, train: bool, vocab: LabelVocab | None = None,
                 noise: bool | None = None, seed: int = 0, max_windows: int | None = None):
        self.motions = motions
        self.cfg = cfg
        self.train = train
        self.vocab = vocab
        self.noise = cfg.noise.enabled if noise is None else noise
        self.seed = seed
        self.epoch = 0
        self.length = cfg.model.maxlen
        self.padded_motions = [m.name for m in motions if m.num_frames < self.length]
        self._frame_labels = [vocab.frame_indices(m) for m in motions] if vocab else None
        stride = cfg.data.stride if train else self.length
        items: list[tuple[int, int, int]] = []  # (motion, start, view index or -1 for random)
        for mi, m in enumerate(motions):
            starts = [0] if m.num_frames < self.length else window_starts(m.num_frames, self.length, stride, m.name)
            if train:
                items += [(mi, s, -1) for s in starts]
            else:
                n_views = len(m.cameras) if m.cameras else cfg.synth.fixed_eval_cameras
                items += [(mi, s, v) for s in starts for v in range(n_views)]
        if max_windows is not None and len(items) > max_windows:
            # Evenly spaced subset: deterministic and spread over all takes.
            pick = np.linspace(0, len(items) - 1, max_windows).round().astype(int)
            items = [items[i] for i in pick]
        self.items = items
        self._views: dict[int, list] = {}

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _eval_views(self, mi: int):
        if mi not in self._views:
            self._views[mi] = sequence_views(self.motions[mi], self.cfg)
        return self._views[mi]

    def __getitem__(self, index: int) -> dict:
        mi, start, vi = self.items[index]
        m = self.motions[mi]
        end = min(start + self.length, m.num_frames)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if vi < 0:
            if m.cameras:
                cam_idx = int(rng.integers(len(m.cameras)))
                cam = m.cameras[cam_idx]
                view, kp_cam = View(cam), (cam.name if cam.name in m.kp2d_px else None)
            else:
                # A camera fixed for the take (as evaluation and real cameras: the subject moves through
                # the frame), or one aimed at this clip.
                p_take = self.cfg.synth.take_camera_prob
                whole = p_take > 0 and rng.random() < p_take  # no draw at 0: older runs replay exactly
                root = m.joints3d_world_mm[:, ROOT] if whole else m.joints3d_world_mm[start:end, ROOT]
                centre = root.mean(axis=0)
                view, kp_cam = random_view(rng, self.cfg.synth, centre, trajectory_radius_mm(root, centre)), None
        else:
            view, kp_cam = self._eval_views(mi)[vi]
        sample = make_sample(m, view, kp_cam, start, end)
        x2d = sample.x2d
        if self.train and self.noise and kp_cam is None and rng.random() >= self.cfg.noise.clean_prob:
            x2d = add_noise(x2d, rng, self.cfg.noise)
        sample = Sample(x2d, sample.y3d, sample.mm_per_unit)
        flipped = bool(self.train and rng.random() < self.cfg.synth.flip_prob)
        if flipped:
            sample = flip_sample(sample)
        n = sample.x2d.shape[0]
        frame_valid = np.zeros(self.length, dtype=np.float32)
        frame_valid[:n] = 1.0
        item = {
            "x2d": pad_to_length(sample.x2d, self.length),
            "y3d": pad_to_length(sample.y3d, self.length),
            "mm_per_unit": pad_to_length(sample.mm_per_unit, self.length),
            "frame_valid": frame_valid,
            "joint_valid": m.joint_valid.astype(np.float32),
            "flipped": np.float32(flipped),
            "index": index,
        }
        if self.vocab is not None:
            fl = pad_to_length(self._frame_labels[mi][start:end], self.length)[:n]
            w = self.vocab.weights(fl)
            if flipped:
                w = self.vocab.mirror_weights(w)
            item["label_weights"] = w
            item["has_label"] = np.float32(w.sum() > 0)
        return item


def split_motions(motions: list[Motion], split: str) -> list[Motion]:
    """Motions whose `meta['split']` equals `split` ('train', 'val', 'test')."""
    return [m for m in motions if m.meta.get("split") == split]
