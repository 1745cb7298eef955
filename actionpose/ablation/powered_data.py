"""The powered ablation's data protocol (issue 23): which takes each stage and readout sees.

From one Bandai-Namco folder (datasets 1 and 2), as declared in the design's `protocol`:

    pretrain     dataset-2 'train' + 'val' takes minus every take of the zero-shot actions ('train'
                 trains; 'val' gives the pretraining curve's recognition)
    heldout      dataset-2 'val' takes of the pretraining actions: recognition (e) and retrieval (f)
    zero_shot    dataset-2 'val' takes of the zero-shot actions (never seen, nor their label text)
    pool         every dataset-1 take that is not a test take, split 'train' (the probe's fit data,
                 the mean-depth floor's data)
    low_data     `low_data_fraction` of each pool action with >= `low_data_min_takes` takes (at least
                 one take each, first by name): the low-data fine-tuning set (b), and the MLP floor's
    test         the declared test takes, split 'test', each with the 4 fixed evaluation cameras +
                 `training_like_views` perspective cameras drawn as training draws them (a camera
                 fixed for the take, `data.synthesis.random_view`), seeded by (view_seed, take index)

Fine-tuning never sees a test take; pretraining never sees a dataset-1 take or a zero-shot action.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..config import make_config
from ..data.dataset import split_motions
from ..data.motion import Motion
from ..data.synthesis import fixed_views, random_view, trajectory_radius_mm
from ..skeleton import ROOT
from ..train.data import data_fingerprint, load_data
from .design import PoweredDesign


def action_of(m: Motion) -> str:
    return str(m.meta.get("content") or m.meta.get("action") or m.name)


@dataclass
class PoweredData:
    pretrain: list[Motion]
    heldout: list[Motion]
    zero_shot: list[Motion]
    pool: list[Motion]
    low_data: list[Motion]
    test: list[Motion]
    info: dict
    description: dict

    @property
    def eval_motions(self) -> list[Motion]:
        """What `evaluate` gets for a low-data cell: its training takes (split 'train': the mean-depth
        floor's data) and the test takes (split 'test')."""
        return self.low_data + self.test

    def fingerprints(self) -> dict:
        return {k: data_fingerprint(getattr(self, k)) for k in ("pretrain", "heldout", "zero_shot", "pool",
                                                                "low_data", "test")}

    def test_actions(self) -> dict[str, str]:
        return {m.name: action_of(m) for m in self.test}


def _with_split(motions: list[Motion], split: str) -> list[Motion]:
    return [dataclasses.replace(m, meta={**m.meta, "split": split}) for m in motions]


def low_data_subset(pool: list[Motion], fraction: float, min_takes: int) -> list[Motion]:
    """`fraction` of each action's takes (rounded, at least 1; first by name) for every action with at
    least `min_takes` takes in `pool`; actions with fewer are left out."""
    by_action: dict[str, list[Motion]] = {}
    for m in sorted(pool, key=lambda m: m.name):
        by_action.setdefault(action_of(m), []).append(m)
    out = []
    for a in sorted(by_action):
        takes = by_action[a]
        if len(takes) >= min_takes:
            out += takes[:max(1, int(round(fraction * len(takes))))]
    return out


def test_cameras(m: Motion, index: int, n_training_like: int, seed: int, cfg) -> list:
    """The 4 fixed evaluation cameras of `m` (as `sequence_views` places them) + `n_training_like`
    perspective cameras drawn like training's take-fixed cameras, named fixed-k / train-like-k."""
    root = m.joints3d_world_mm[:, ROOT]
    centre = root.mean(axis=0)
    radius = trajectory_radius_mm(root, centre)
    cams = [dataclasses.replace(v.camera, name=f"fixed-{k}")
            for k, v in enumerate(fixed_views(cfg.synth, centre, radius_mm=radius))]
    rng = np.random.default_rng([seed, index])
    cams += [dataclasses.replace(random_view(rng, cfg.synth, centre, radius).camera, name=f"train-like-{k}")
             for k in range(n_training_like)]
    return cams


def load_powered_data(design: PoweredDesign) -> PoweredData:
    """Split the design's Bandai-Namco folder as the module doc says; refuses an unbalanced or unknown
    test set with a one-line error naming the design file and field."""
    p = design.protocol
    motions, info = load_data(p.pretrain_data or None)
    where = p.pretrain_data or "the bundled Bandai-Namco subset"
    ds1 = [m for m in motions if m.meta.get("dataset") == 1]
    ds2 = [m for m in motions if m.meta.get("dataset") == 2]
    if not ds1 or not ds2:
        raise ValueError(f"{where}: the powered ablation needs Bandai-Namco datasets 1 and 2 (motion meta field 'dataset')")
    zs = set(p.zero_shot_actions)
    ds2_actions = {action_of(m) for m in ds2}
    unknown = sorted(zs - ds2_actions)
    if unknown:
        raise ValueError(f"{design.path}: field protocol.zero_shot_actions holds {unknown[0]!r}, not an action of "
                         f"dataset-2 ({', '.join(sorted(ds2_actions))})")
    pretrain = [m for m in ds2 if action_of(m) not in zs and m.meta.get("split") in ("train", "val")]
    heldout = [m for m in split_motions(ds2, "val") if action_of(m) not in zs]
    zero_shot = [m for m in split_motions(ds2, "val") if action_of(m) in zs]
    if zs and not zero_shot:
        raise ValueError(f"{where}: no held-out ('val') dataset-2 take of the zero-shot actions {sorted(zs)}")
    by_name = {m.name: m for m in ds1}
    missing = [n for n in p.test_takes if n not in by_name]
    if missing:
        raise ValueError(f"{design.path}: field protocol.test_takes holds {missing[0]!r}, not a dataset-1 take of {where}")
    test_raw = [by_name[n] for n in p.test_takes]
    counts: dict[str, int] = {}
    for m in test_raw:
        counts[action_of(m)] = counts.get(action_of(m), 0) + 1
    if min(counts.values()) < p.min_test_takes_per_action or len(set(counts.values())) != 1:
        raise ValueError(f"{design.path}: field protocol.test_takes is not balanced: takes per action "
                         f"{dict(sorted(counts.items()))}; expected the same number (>= "
                         f"{p.min_test_takes_per_action}) for every action")
    cfg = make_config(design.preset, "actionpose", design.overrides)
    test = [dataclasses.replace(m, cameras=test_cameras(m, i, p.training_like_views, p.view_seed, cfg),
                                meta={**m.meta, "split": "test"}) for i, m in enumerate(test_raw)]
    test_names = set(p.test_takes)
    pool = _with_split([m for m in ds1 if m.name not in test_names], "train")
    low = low_data_subset(pool, p.low_data_fraction, p.low_data_min_takes)
    if not low:
        raise ValueError(f"{design.path}: field protocol.low_data_min_takes = {p.low_data_min_takes}: no pool action "
                         "has that many takes, so the low-data set is empty")
    desc = {
        "data": where,
        "pretrain": f"dataset-2 train takes minus the zero-shot actions ({len(split_motions(pretrain, 'train'))} takes)",
        "zero_shot_actions": sorted(zs),
        "heldout": f"dataset-2 val takes of the pretraining actions ({len(heldout)} takes)",
        "zero_shot": f"dataset-2 val takes of {', '.join(sorted(zs)) or '(none)'} ({len(zero_shot)} takes)",
        "pool": f"dataset-1 minus the test takes ({len(pool)} takes)",
        "low_data": f"{len(low)} takes: {p.low_data_fraction:g} of each pool action with >= {p.low_data_min_takes} "
                    f"takes, first by name",
        "test": f"{len(test)} dataset-1 takes, {len(counts)} actions x {next(iter(counts.values()))} takes; "
                f"views: 4 fixed + {p.training_like_views} training-like cameras per take; clean GT 2D",
        "test_actions": dict(sorted(counts.items())),
    }
    return PoweredData(pretrain, heldout, zero_shot, pool, low, test, info, desc)


def balanced_test_takes(motions: list[Motion], per_action: int, min_takes: int) -> list[str]:
    """The declared rule that wrote the design's test set: for every dataset-1 action with at least
    `min_takes` takes, `per_action` takes whose styles rotate with the action (action k, sorted, takes
    the styles at positions k, k+1, ... of its sorted style list), so no style is held out everywhere."""
    by_action: dict[str, list[Motion]] = {}
    for m in sorted((m for m in motions if m.meta.get("dataset") == 1), key=lambda m: m.name):
        by_action.setdefault(action_of(m), []).append(m)
    out = []
    for k, a in enumerate(a for a in sorted(by_action) if len(by_action[a]) >= min_takes):
        by_style: dict[str, list[Motion]] = {}
        for m in by_action[a]:
            by_style.setdefault(str(m.meta.get("style", "")), []).append(m)
        styles = sorted(by_style)
        out += [by_style[styles[(k + i) % len(styles)]][0].name for i in range(min(per_action, len(styles)))]
    return out
