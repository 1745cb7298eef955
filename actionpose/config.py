"""Typed configuration (L0): dataclasses, presets, YAML round-trip, validation and hashing.

A run's resolved config is saved as `config.yaml`; `config_hash` keys checkpoints so that resuming
with a different config is refused.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass
class ModelConfig:
    """DSTformer sizes (MotionBERT's constructor names) plus project switches."""

    preset: str = "tiny"
    dim_in: int = 3
    dim_out: int = 3
    dim_feat: int = 64
    dim_rep: int = 128
    depth: int = 3
    num_heads: int = 2
    mlp_ratio: float = 2.0
    num_joints: int = 17
    maxlen: int = 81  # T: frames per clip; the lifter accepts any length <= maxlen
    drop_rate: float = 0.0
    attn_drop_rate: float = 0.0
    drop_path_rate: float = 0.0
    init: str = "reference"  # "reference": MotionBERT's recipe (trunc-normal 0.02, fusion bias 0.5)
    attention: str = "sdpa"  # "sdpa" | "manual"
    compile: bool = False  # torch.compile the backbone
    embed_hidden: int = 256  # motion-embedding MLP hidden width
    # How the motion-embedding head pools rep [B, T, J, D_rep]: "mean" over frames and joints (D_rep
    # features), or "joints": over frames only, the J joints' features concatenated (J*D_rep, the
    # layout of MotionBERT's action head), which keeps which joint moved (left vs right hand), or
    # "joints_delta": "joints" plus each joint's features' trend over the window (a centred ramp over
    # frames), so the head sees which way a feature changes: a body yawing left from heading a to b and
    # one yawing right from b to a pass through the same poses, so their means over frames agree (issue 21),
    # or "joints_delta_heading": that plus the lifted 3D's own heading change and facing
    # (model.lifter.heading_features; the lifted body turns the right way where the features-only head
    # misnames the turn, benchmarks/turn_by_view.py), or "joints_delta_window": "joints_delta" plus the
    # lifted 3D of every frame in time order (model.lifter.window_3d; window classifiers reading the window
    # frame by frame name the walk turns per 9-frame window, benchmarks/recognition_saturation.py).
    embed_pool: str = "joints"
    # What the lifter reads as 2D: "root" subtracts each frame's pelvis (model.lifter.centre_input),
    # so the 3D no longer depends on where the person stands in the image (issue 21: with absolute
    # coordinates ("none", MotionBERT's input, kept for imported checkpoints) a 50 px shift moved the
    # 3D by 36 mm per joint, and evaluation cameras see the subject ~3x further off-centre than
    # training cameras do). "root_scale" also divides the clip by its 2D size and multiplies the 3D
    # output back (model.lifter.clip_scale): the backbone reads and writes O(1) numbers whatever the
    # camera distance, instead of ~0.1-sized coordinates beside a confidence of 1.
    input_center: str = "root_scale"
    # The 3D head predicts a correction to the "flat lift" (the centred 2D x, y at depth 0) instead of
    # the whole pose: in the lifter's units the target's x, y are the 2D's own (weak perspective at the
    # root depth, data.synthesis), so copying them is nearly exact. Measured (issue 21): after 300
    # pretraining steps without it the model erred 27 mm in each of x and y where the copy errs 5-7 mm.
    # Needs a centred input (input_center "root" or "root_scale").
    lift_residual: bool = True
    # A joint-specific embedding of the whole frame added to each joint's token (model.dstformer): the
    # tokens know the pose from the first step instead of after a long plateau (issue 21). Not part of
    # MotionBERT's architecture: imported checkpoints have it off.
    frame_embed: bool = True


MODEL_PRESETS: dict[str, dict[str, Any]] = {
    # tiny (CPU training, tests and the demo): width 64 keeps a 16-clip x 81-frame training step near
    # 1 s on 2 CPU cores (~17 clips/s), so pretraining is meaningful in minutes. Wider GEMMs use the
    # cores better (width 192: ~70 % of the matmul peak vs ~45 % here, benchmarks/README.md) but each
    # step costs ~10x more FLOPs, i.e. ~10x fewer clips per minute: trainability wins for this preset.
    "tiny": dict(dim_feat=64, dim_rep=128, depth=3, num_heads=2, mlp_ratio=2.0, maxlen=81),
    # lite/base are MotionBERT's sizes and architecture (key names, 42.47 M parameters for base), so
    # without the frame embedding, which exists for the tiny CPU preset's learning speed (issue 21).
    "lite": dict(dim_feat=256, dim_rep=512, depth=5, num_heads=8, mlp_ratio=4.0, maxlen=243, frame_embed=False),
    "base": dict(dim_feat=512, dim_rep=512, depth=5, num_heads=8, mlp_ratio=2.0, maxlen=243, frame_embed=False),
}


@dataclass
class NoiseConfig:
    """Detector-like 2D noise applied to synthesised keypoints (screen-normalised units)."""

    enabled: bool = True
    gaussian_std: float = 0.005  # per-joint white noise, ~2.5 px on a 1000 px image
    lowfreq_std: float = 0.01  # smooth per-joint drift (cubic interpolation of sparse knots)
    lowfreq_knots: int = 4
    outlier_prob: float = 0.01  # a joint jumps far (detector swap)
    outlier_std: float = 0.08
    # confidence = exp(-max(|noise| - conf_tolerance, 0) / conf_scale): ~1 for detector-sized errors
    # (<= 10 px on a 1000 px image), ~0.1 for an outlier of 40 px. Mean 0.98 at these defaults
    # (tests/test_synthesis.py), so noisy and GT-2D inputs share one confidence distribution.
    conf_tolerance: float = 0.02
    conf_scale: float = 0.03
    clean_prob: float = 0.25  # fraction of training clips given clean 2D (confidence 1), as at GT-2D test time


@dataclass
class MaskConfig:
    """Corruptions of the 2D input during pretraining; each with its own probability."""

    joint_prob: float = 0.05
    frame_prob: float = 0.10
    part_prob: float = 0.3  # probability a clip gets one whole body part hidden
    window_prob: float = 0.3  # probability a clip gets a time window of U[T/8, T/4] hidden
    window_min_frac: float = 0.125
    window_max_frac: float = 0.25


@dataclass
class SynthConfig:
    """Virtual cameras used to turn 3D mocap into 2D inputs."""

    orthographic_prob: float = 0.2
    distance_mm: tuple[float, float] = (3500.0, 6500.0)
    elevation_deg: tuple[float, float] = (-5.0, 25.0)
    azimuth_deg: tuple[float, float] = (-180.0, 180.0)
    focal_px: tuple[float, float] = (1100.0, 1200.0)
    image_size_wh: tuple[int, int] = (1000, 1000)
    flip_prob: float = 0.5
    fixed_eval_cameras: int = 4  # deterministic cameras for validation/evaluation of mocap
    # Probability that a training clip is filmed the way evaluation and real cameras film people: a
    # camera fixed for the whole take (aimed at the take's centre, standing back by its travel radius)
    # while the subject moves through the frame; otherwise the camera aims at the clip itself.
    take_camera_prob: float = 0.5


@dataclass
class TextConfig:
    model: str = "all-MiniLM-L6-v2"
    template_bandai: str = "a person {content}s in a {style} way"
    template_h36m: str = "a person is {label}"
    cache_dir: str = ""  # empty: ~/.cache/actionpose/text


@dataclass
class AlignConfig:
    enabled: bool = True
    mode: str = "text"  # "text" (InfoNCE to label texts) | "onehot" (cross-entropy over label ids)
    # "full": one entry per content+style sentence ("a person walks in a sad way": the fine-grained
    # label; plain labels such as Human3.6M's are their own full label); "content": content only.
    label_field: str = "full"
    temperature_init: float = 0.07
    learn_temperature: bool = True
    soft_targets: bool = True  # "dark knowledge": soften targets by text-text similarity
    # target = (1 - soft_mix)·onehot + soft_mix·softmax over the *other* labels of text·textᵀ /
    # soft_temperature (model/aligner.py): soft_mix is exactly the mass put off the true sentence
    # (20 %). Measured on the bundled Bandai vocabulary (109 full-label sentences, MiniLM): at 0.05,
    # 5.7 of those 20 points land on the same action in other styles, the rest on similar sentences
    # (0.02: 4.4, 0.1: 4.8). The earlier formula put only 2 % off the true label at the same settings.
    soft_mix: float = 0.2
    soft_temperature: float = 0.05


@dataclass
class LossConfig:
    w_mpjpe: float = 1.0
    w_nmpjpe: float = 0.5
    # Issue 21, measured on a bundled batch at initialisation (backbone gradient norms, `train.grad_diag_every`
    # logs them): MPJPE 1.24, 20·velocity 15.2 -- the clipped step was almost all velocity, and a
    # weight 1 its gradient (0.76) is below the 3D term's. MotionBERT's 20 suits fine-tuning a model that
    # already lifts; here it put the velocity term in charge of training from scratch.
    w_velocity: float = 1.0
    # Measured at initialisation on a bundled batch (backbone gradient norms): MPJPE 0.84, 0.5·N-MPJPE
    # 0.04, 20·velocity 10, 1.0·alignment 23. At 1.0 the alignment term steers the shared backbone ~28x
    # harder than the 3D error (the old ablation's text variant lost to plain masked pretraining);
    # 0.1 keeps it below the velocity term. The embedding head sees only this term, and Adam is
    # invariant to its scale, so recognition still learns at full speed. Issue 21 (velocity now at 1,
    # MPJPE 1.24): 0.1·alignment was 2.69, twice the 3D term; 0.05 makes them about equal.
    w_align: float = 0.05
    # Fine-tuning: keep the pretrained motion embedding (1 - cos to a frozen copy of the source run's
    # model on the same input), so a fine-tuned model still places motions next to their action text.
    # Label-free, so it works on any 3D data. 0 turns it off (the head then drifts with the backbone).
    w_distill: float = 1.0
    # Whether the distillation gradient reaches the backbone. Issue 21: through the backbone it was 4-5x
    # the 3D term with cosine ~ -0.26 to it (it fought the lifting). False (default): the student's
    # embedding is computed from the backbone's representation with the gradient stopped, so the term
    # trains only the embedding head to read the fine-tuned representation the way the teacher read
    # its own; the backbone's update is the 3D loss's alone.
    distill_backbone: bool = False
    # Pretraining: whether the alignment gradient reaches the backbone. False (the ablation's arm D,
    # issue 23): the embedding head reads the representation with the gradient stopped, so the text
    # signal trains the head alone and the backbone's update is the 3D terms' -- it separates "text
    # shapes the features" from "text is merely readable from them". True: the method as published.
    align_backbone: bool = True


@dataclass
class OptimConfig:
    lr: float = 5e-4  # pretraining; fine-tuning defaults to FINETUNE_LR (api.finetune_config)
    # Applied to weight matrices only: biases, norms, positional embeddings and the learnable
    # temperature are in a no-decay group (decaying them biases the model rather than regularising it).
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 50
    decay: str = "cosine"  # "cosine" | "constant"
    min_lr_frac: float = 0.05
    grad_clip: float = 1.0
    # Learning rate of the backbone (the DSTformer with its 3D head: the part an imported MotionBERT
    # checkpoint supplies) as a fraction of `lr`; the new parts (motion-embedding head, aligner) keep
    # `lr`. Below 1 a pretrained backbone moves gently while the freshly initialised head learns at
    # full speed. Both follow the same warmup/decay schedule. 1 = one rate for everything (two AdamW
    # groups, exactly as before the key existed); see `train.freeze_backbone` to stop it entirely.
    backbone_lr_scale: float = 1.0


@dataclass
class DataConfig:
    path: str = ""  # prepared data dir; empty = the bundled Bandai-Namco subset
    stride: int = 27  # frames between consecutive training windows
    batch_size: int = 16  # clips per step per process (GPU users: --batch-size 32+)
    num_workers: int = 0
    train_split: str = "train"
    val_split: str = "val"


@dataclass
class TrainConfig:
    stage: str = "pretrain"  # "pretrain" | "finetune"
    max_steps: int = 2000
    max_minutes: float = 0.0  # wall-clock budget (0 = none); stops at whichever comes first
    seed: int = 0
    log_every: int = 10
    # Every this many steps (at a log step), the training log also records each loss term's gradient
    # norm on the backbone and its cosine to the 3D (MPJPE) term's gradient: one extra backward pass
    # per term, so not at every log step on a CPU. 0 = off. Not used under DDP.
    grad_diag_every: int = 50
    val_every: int = 200
    ckpt_every: int = 100
    val_max_windows: int = 256
    amp: str = "auto"  # "auto" (bf16 on CUDA, fp32 on CPU) | "bf16" | "off"
    device: str = "auto"
    # Pretraining: the backbone (DSTformer + its 3D head) gets no gradient and no optimizer state, so
    # its weights stay bit-exact (e.g. MotionBERT's released ones) and only the motion-embedding head
    # and the aligner learn the text alignment; the 3D terms are still computed and logged. Needs the
    # alignment on (otherwise nothing would train).
    freeze_backbone: bool = False


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    mask: MaskConfig = field(default_factory=MaskConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    text: TextConfig = field(default_factory=TextConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    variant: str = "actionpose"


# Pretraining variants of the ablation (issue: baselines as configs). Each is a set of overrides.
VARIANTS: dict[str, dict[str, Any]] = {
    "actionpose": {},
    "scratch": {"variant": "scratch"},
    "motionbert-style": {"align": {"enabled": False}, "mask": {"part_prob": 0.0, "window_prob": 0.0}},
    "onehot": {"align": {"mode": "onehot", "soft_targets": False}},
    "no-part-mask": {"mask": {"part_prob": 0.0}},
    "no-window-mask": {"mask": {"window_prob": 0.0}},
}

def to_dict(cfg: Any) -> dict:
    """Dataclass -> plain dict (tuples become lists, for YAML)."""
    def conv(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        return v
    return conv(cfg)


def _scalar(key: str, default: Any, val: Any) -> Any:
    """A YAML scalar as the type of `default` (ints must be integral), or a one-line error naming `key`."""
    if isinstance(default, bool):
        if not isinstance(val, bool):
            raise ValueError(f"{key}: expected true/false, got {val!r}")
        return val
    if isinstance(default, (int, float)):
        if isinstance(val, bool) or not isinstance(val, (int, float)):
            raise ValueError(f"{key}: expected a number, got {val!r}")
        try:
            num = float(val)
        except OverflowError:
            raise ValueError(f"{key}: {str(val)[:12]}... is too large; expected a finite number") from None
        if isinstance(default, float):
            return num
        if not num.is_integer():
            raise ValueError(f"{key}: expected an integer, got {val!r}")
        return int(val)
    if not isinstance(val, str):
        raise ValueError(f"{key}: expected a string, got {val!r}")
    return val


def _build(cls: type, data: dict, where: str) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; expected some of {', '.join(fields)}")
    kwargs = {}
    defaults = cls()
    for name, val in data.items():
        default = getattr(defaults, name)
        key = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(default):
            kwargs[name] = _build(type(default), val, key)
        elif isinstance(default, tuple):
            if not isinstance(val, (list, tuple)) or len(val) != len(default):
                raise ValueError(f"{key}: expected a list of {len(default)} values, got {val!r}")
            kwargs[name] = tuple(_scalar(f"{key}[{i}]", d, v) for i, (d, v) in enumerate(zip(default, val)))
        elif isinstance(default, (bool, int, float, str)):
            kwargs[name] = _scalar(key, default, val)
        else:
            kwargs[name] = val
    return cls(**kwargs)


# ------------------------------------------------------------------------------------ validation
# Every field is checked here, in one place. Each number must be finite (an integer for int fields);
# its range comes from FIELD_RULES ("section.field"), else from the first naming convention in
# NAME_RULES that matches the field's name; a new field is therefore covered by its name, and gets an
# entry in FIELD_RULES only when the convention does not say what it needs. Relations between two
# fields are in RELATIONS. Strings are checked only where FIELD_RULES lists their choices.


@dataclass(frozen=True)
class Rule:
    """What a field may hold: numbers within [lo, hi] (either bound open), or one of `choices`;
    `ordered` for a (low, high) pair whose low must not exceed its high."""

    text: str  # the expectation, as an error states it
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple = ()
    ordered: bool = False

    def ok(self, v: Any) -> bool:
        if self.choices:
            return v in self.choices
        if isinstance(v, str):
            return True
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            return False
        return not (self.hi is not None and (v >= self.hi if self.hi_open else v > self.hi))


def _choice(*options: str) -> Rule:
    return Rule(f"one of {', '.join(repr(o) for o in options)}", choices=options)


FINITE = Rule("a finite number")
POSITIVE = Rule("a number > 0", lo=0, lo_open=True)
NON_NEGATIVE = Rule("a number >= 0", lo=0)
PROBABILITY = Rule("a probability in [0, 1]", lo=0, hi=1)
UNIT_OPEN = Rule("a number in [0, 1)", lo=0, hi=1, hi_open=True)
POSITIVE_RANGE = Rule("a (low, high) pair with 0 < low <= high", lo=0, lo_open=True, ordered=True)
ANGLE_RANGE = Rule("a (low, high) pair of degrees with low <= high", lo=-360, hi=360, ordered=True)

FIELD_RULES: dict[str, Rule] = {
    "model.init": _choice("reference", "torch"),
    "model.attention": _choice("sdpa", "manual"),
    "model.embed_pool": _choice("mean", "joints", "joints_delta", "joints_delta_heading", "joints_delta_window"),
    "model.input_center": _choice("root_scale", "root", "none"),
    "model.mlp_ratio": POSITIVE,
    "noise.conf_scale": POSITIVE,
    "noise.lowfreq_knots": NON_NEGATIVE,  # fewer than 2 knots: no low-frequency drift
    "synth.elevation_deg": Rule("a (low, high) pair of degrees in [-90, 90] with low <= high", lo=-90, hi=90,
                                ordered=True),
    "synth.image_size_wh": POSITIVE,
    "align.mode": _choice("text", "onehot"),
    "align.label_field": _choice("content", "full"),
    "align.soft_mix": PROBABILITY,
    "optim.betas": UNIT_OPEN,
    "optim.decay": _choice("cosine", "constant"),
    "optim.weight_decay": NON_NEGATIVE,
    "optim.grad_clip": NON_NEGATIVE,  # 0 = no clipping
    "optim.backbone_lr_scale": Rule("a number > 0 (to stop the backbone, set train.freeze_backbone)", lo=0,
                                    lo_open=True),
    "train.stage": _choice("pretrain", "finetune"),
    "train.seed": NON_NEGATIVE,
    "train.val_every": NON_NEGATIVE,  # 0 = no validation
    "train.grad_diag_every": NON_NEGATIVE,  # 0 = no gradient diagnostics
    "train.amp": _choice("auto", "bf16", "off"),
    "train.device": _choice("auto", "cuda", "cpu"),
    "variant": _choice(*VARIANTS),
}

NAME_RULES: tuple[tuple[str, Rule], ...] = (  # fnmatch patterns on the field name, first match wins
    ("*_prob", PROBABILITY), ("*_frac", PROBABILITY), ("*_rate", UNIT_OPEN),
    ("*_workers", NON_NEGATIVE), ("*_steps", NON_NEGATIVE), ("*_minutes", NON_NEGATIVE),
    ("*_std", NON_NEGATIVE), ("*_tolerance", NON_NEGATIVE), ("w_*", NON_NEGATIVE),
    ("dim_*", POSITIVE), ("num_*", POSITIVE), ("*_size", POSITIVE), ("*_every", POSITIVE),
    ("*_windows", POSITIVE), ("*_cameras", POSITIVE), ("*_hidden", POSITIVE), ("maxlen", POSITIVE),
    ("depth", POSITIVE), ("stride", POSITIVE), ("lr", POSITIVE), ("*temperature*", POSITIVE),
    ("*_mm", POSITIVE_RANGE), ("*_px", POSITIVE_RANGE), ("*_deg", ANGLE_RANGE),
)

# (fields, holds(values...), message with the values as {0}, {1}, ...)
RELATIONS: tuple[tuple[tuple[str, ...], Any, str], ...] = (
    (("mask.window_min_frac", "mask.window_max_frac"), lambda lo, hi: lo <= hi,
     "config mask.window_min_frac = {0} must be <= mask.window_max_frac = {1}"),
    (("model.dim_feat", "model.num_heads"), lambda d, h: d % h == 0,
     "config model.dim_feat = {0} must be divisible by model.num_heads = {1}"),
    (("model.lift_residual", "model.input_center"), lambda r, c: not r or c != "none",
     "config model.lift_residual = {0} needs a centred input, but model.input_center = {1!r}; "
     "set model.input_center=root_scale or model.lift_residual=false"),
    (("train.freeze_backbone", "optim.backbone_lr_scale"), lambda f, s: not f or s == 1.0,
     "config train.freeze_backbone = {0} leaves the backbone no learning rate, but optim.backbone_lr_scale = {1}; "
     "choose one of them"),
    (("train.freeze_backbone", "train.stage", "align.enabled", "loss.w_align"),
     lambda f, stage, a, w: not f or (stage == "pretrain" and a and w > 0),
     "config train.freeze_backbone = {0} would train nothing here (train.stage = {1!r}, align.enabled = {2}, "
     "loss.w_align = {3}): only the alignment's embedding head and aligner learn with a frozen backbone; "
     "use it for pretraining with the alignment on"),
)


def rule_for(key: str) -> Rule | None:
    """The rule of field `key` ("section.field"): its FIELD_RULES entry, else its naming convention."""
    if key in FIELD_RULES:
        return FIELD_RULES[key]
    name = key.rsplit(".", 1)[-1]
    return next((r for pattern, r in NAME_RULES if fnmatch.fnmatchcase(name, pattern)), None)


def _leaves(obj: Any, prefix: str = ""):
    """(key, value, default) for every non-dataclass field, recursively."""
    defaults = type(obj)()
    for f in dataclasses.fields(obj):
        value, default = getattr(obj, f.name), getattr(defaults, f.name)
        if dataclasses.is_dataclass(default):
            yield from _leaves(value, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", value, default


def _check_field(key: str, value: Any, default: Any) -> None:
    rule = rule_for(key)
    items, kinds = (value, default) if isinstance(default, tuple) else ((value,), (default,))
    if isinstance(default, tuple) and (not isinstance(value, tuple) or len(value) != len(default)):
        raise ValueError(f"config {key} = {value!r}: expected {len(default)} values")
    for v, d in zip(items, kinds):
        if v is None or d is None:  # an optional field left unset
            continue
        if isinstance(d, bool):
            if not isinstance(v, bool):
                raise ValueError(f"config {key} = {value!r}: expected true or false")
        elif isinstance(d, (int, float)):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"config {key} = {value!r}: expected a number")
            if isinstance(d, int) and not isinstance(v, int):
                raise ValueError(f"config {key} = {value!r}: expected an integer")
            if not math.isfinite(v):
                raise ValueError(f"config {key} = {value!r}: expected a finite number"
                                 + (f", {rule.text}" if rule is not None else ""))
        elif isinstance(d, str) and not isinstance(v, str):
            raise ValueError(f"config {key} = {value!r}: expected a string")
        if rule is not None and not isinstance(d, bool) and not rule.ok(v):
            expected = rule.text.replace("a number", "an integer", 1) if isinstance(d, int) else rule.text
            raise ValueError(f"config {key} = {value!r}: expected {expected}")
    if rule is not None and rule.ordered and isinstance(value, tuple) and list(value) != sorted(value):
        raise ValueError(f"config {key} = {value!r}: expected {rule.text}")


def validate(cfg: RunConfig) -> RunConfig:
    """Check every field against its rule (see FIELD_RULES / NAME_RULES) and RELATIONS; raises a
    one-line ValueError naming the key, its value and what was expected."""
    values = {}
    for key, value, default in _leaves(cfg):
        _check_field(key, value, default)
        values[key] = value
    for keys, holds, message in RELATIONS:
        args = [values[k] for k in keys]
        if not holds(*args):
            raise ValueError(message.format(*args))
    return cfg


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def from_dict(data: dict) -> RunConfig:
    return validate(_build(RunConfig, data, "config"))


def make_config(preset: str = "tiny", variant: str = "actionpose", overrides: dict | None = None) -> RunConfig:
    """Resolve a model preset + ablation variant + user overrides into a validated RunConfig."""
    if preset not in MODEL_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {', '.join(MODEL_PRESETS)}")
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    data = {"model": dict(MODEL_PRESETS[preset], preset=preset), "variant": variant}
    data = _merge(data, VARIANTS[variant])
    data["variant"] = variant
    if overrides:
        data = _merge(data, overrides)
    return from_dict(data)


def load_yaml(path: str | Path) -> RunConfig:
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such config file") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot read the config file ({e.strerror or type(e).__name__})") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a UTF-8 text file (byte {e.start}); expected YAML") from None
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path}: not valid YAML ({first})") from None
    try:
        return from_dict(_with_legacy(data or {}))
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def _with_legacy(data: Any) -> Any:
    """A saved config with every `_LEGACY_WHEN_ABSENT` key it lacks set to its legacy value."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for key, value in _LEGACY_WHEN_ABSENT.items():
        section, name = key.split(".")
        sec = out.get(section)
        if isinstance(sec, dict) and name not in sec:
            out[section] = {**sec, name: value}
    return out


def save_yaml(cfg: RunConfig, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))


def parse_override(expr: str) -> dict:
    """`"optim.lr=1e-3"` -> `{"optim": {"lr": 0.001}}` (value parsed as YAML)."""
    if "=" not in expr:
        raise ValueError(f"override {expr!r}: expected KEY=VALUE, e.g. optim.lr=1e-3")
    key, val = expr.split("=", 1)
    out: dict = {}
    cur = out
    parts = key.strip().split(".")
    if not all(p.strip() for p in parts):
        raise ValueError(f"override {expr!r}: key {key.strip()!r} has an empty part; expected e.g. optim.lr=1e-3")
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    try:
        value = yaml.safe_load(val)
    except (yaml.YAMLError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"override {expr!r}: the value is not valid YAML ({first})") from None
    if isinstance(value, str):  # YAML 1.1 reads "1e-3" (no dot) as a string; it is a number here
        try:
            value = float(value) if value.strip().lower() not in ("nan", "inf", "-inf", "+inf") else value
        except ValueError:
            pass
    cur[parts[-1]] = value
    return out


# Keys that may change between a run and its resumption without changing what is computed.
_RESUME_FREE = {"train.max_steps", "train.max_minutes", "train.log_every", "train.val_every", "train.grad_diag_every",
                "train.ckpt_every", "train.device", "data.num_workers", "data.path"}


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


# Keys added after runs (and committed ablation records) existed, with the default that reproduces
# what those runs computed: hashed only when set to something else, so older hashes stay valid.
_HASHED_WHEN_SET: dict[str, Any] = {"model.embed_pool": "mean", "model.input_center": "none", "model.lift_residual": False,
                                     "model.frame_embed": False,
                                     "synth.take_camera_prob": 0.0, "loss.distill_backbone": True,
                                     "loss.align_backbone": True, "optim.backbone_lr_scale": 1.0,
                                     "train.freeze_backbone": False}
# A saved config.yaml written before such a key existed computed the legacy value, whatever today's
# default is: load_yaml fills it in from here (a new run gets the dataclass default).
_LEGACY_WHEN_ABSENT: dict[str, Any] = {"model.embed_pool": "mean", "model.input_center": "none", "model.lift_residual": False,
                                       "model.frame_embed": False,
                                       "synth.take_camera_prob": 0.0, "loss.distill_backbone": True,
                                       "loss.align_backbone": True, "optim.backbone_lr_scale": 1.0,
                                       "train.freeze_backbone": False}


def config_hash(cfg: RunConfig) -> str:
    """Hash of everything that determines the computation (budget/logging keys excluded)."""
    flat = {k: v for k, v in _flatten(to_dict(cfg)).items()
            if k not in _RESUME_FREE and not (k in _HASHED_WHEN_SET and v == _HASHED_WHEN_SET[k])}
    return hashlib.sha256(json.dumps(flat, sort_keys=True).encode()).hexdigest()[:16]


def config_diff(a: RunConfig, b: RunConfig, ignore_resume_free: bool = True) -> list[str]:
    """Keys whose values differ, as `key: a -> b` strings."""
    fa, fb = _flatten(to_dict(a)), _flatten(to_dict(b))
    keys = sorted(set(fa) | set(fb))
    return [f"{k}: {fa.get(k)!r} -> {fb.get(k)!r}" for k in keys
            if fa.get(k) != fb.get(k) and not (ignore_resume_free and k in _RESUME_FREE)]
