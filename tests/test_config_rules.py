"""The declarative config validation (config.FIELD_RULES / NAME_RULES / RELATIONS): every field is
covered, and each kind of rule refuses what it should with a message naming the key."""
from __future__ import annotations

import dataclasses
import math

import pytest

from actionpose.config import (
    FIELD_RULES,
    MODEL_PRESETS,
    VARIANTS,
    RunConfig,
    _leaves,
    from_dict,
    make_config,
    parse_override,
    rule_for,
    to_dict,
    validate,
)


def test_every_number_has_a_range_rule():
    """A new int/float field needs a name the conventions know (e.g. *_prob, *_steps, dim_*, w_*)
    or an entry in config.FIELD_RULES; finiteness alone says too little about a number."""
    uncovered = [key for key, value, default in _leaves(RunConfig())
                 if isinstance(default, (int, float, tuple)) and not isinstance(default, bool)
                 and rule_for(key) is None]
    assert uncovered == [], f"add these to config.FIELD_RULES or name them by a NAME_RULES convention: {uncovered}"


def test_rule_table_names_existing_fields():
    keys = {key for key, _, _ in _leaves(RunConfig())}
    assert sorted(set(FIELD_RULES) - keys) == []


def test_defaults_presets_and_variants_pass():
    for preset in MODEL_PRESETS:
        for variant in VARIANTS:
            validate(make_config(preset, variant))


@pytest.mark.parametrize("key, value, expect", [
    ("train.ckpt_every", 0, r"config train.ckpt_every = 0: expected an integer > 0"),
    ("train.log_every", -2, r"train.log_every = -2: expected an integer > 0"),
    ("train.val_every", -1, r"train.val_every = -1: expected an integer >= 0"),
    ("model.num_heads", 0, r"model.num_heads = 0: expected an integer > 0"),
    ("model.maxlen", 0, r"model.maxlen = 0"),
    ("data.batch_size", 0, r"data.batch_size = 0"),
    ("data.num_workers", -1, r"data.num_workers = -1: expected an integer >= 0"),
    ("model.drop_rate", 1.0, r"model.drop_rate = 1.0: expected a number in \[0, 1\)"),
    ("loss.w_velocity", -1.0, r"loss.w_velocity = -1.0: expected a number >= 0"),
    ("noise.gaussian_std", -0.1, r"noise.gaussian_std = -0.1"),
    ("align.temperature_init", 0.0, r"align.temperature_init = 0.0: expected a number > 0"),
    ("optim.lr", math.inf, r"optim.lr = inf: expected a finite number"),
    ("optim.betas", (0.9, 1.0), r"optim.betas = \(0.9, 1.0\): expected a number in \[0, 1\)"),
    ("synth.elevation_deg", (-100.0, 10.0), r"synth.elevation_deg = .*in \[-90, 90\]"),
    ("synth.focal_px", (1200.0, 1100.0), r"synth.focal_px = \(1200.0, 1100.0\): expected a \(low, high\) pair"),
    ("synth.image_size_wh", (0, 100), r"synth.image_size_wh = \(0, 100\): expected an integer > 0"),
    ("train.amp", "fp16", r"train.amp = 'fp16': expected one of 'auto', 'bf16', 'off'"),
    ("train.seed", -5, r"train.seed = -5: expected an integer >= 0"),
])
def test_each_rule_refuses_with_the_key(key, value, expect):
    section, name = key.split(".")
    cfg = make_config()
    setattr(getattr(cfg, section), name, value)
    with pytest.raises(ValueError, match=expect):
        validate(cfg)


def test_types_are_checked_after_construction_too():
    cfg = make_config()
    cfg.model.depth = 2.5
    with pytest.raises(ValueError, match=r"model.depth = 2.5: expected an integer"):
        validate(cfg)
    cfg = make_config()
    cfg.align.enabled = "yes"
    with pytest.raises(ValueError, match=r"align.enabled = 'yes': expected true or false"):
        validate(cfg)


def test_relations():
    with pytest.raises(ValueError, match=r"mask.window_min_frac = 0.5 must be <= mask.window_max_frac = 0.25"):
        make_config(overrides={"mask": {"window_min_frac": 0.5}})
    with pytest.raises(ValueError, match=r"model.dim_feat = 64 must be divisible by model.num_heads = 3"):
        make_config(overrides={"model": {"num_heads": 3}})


def test_yaml_numbers_are_converted_or_named():
    cfg = from_dict({"model": {"depth": 2.0}, "optim": {"lr": 1}})
    assert cfg.model.depth == 2 and isinstance(cfg.model.depth, int)
    assert cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float)
    for data, expect in [({"model": {"depth": 2.5}}, r"config.model.depth: expected an integer, got 2.5"),
                         ({"train": {"seed": 10**400}}, r"config.train.seed: 1000+\.\.\. is too large"),
                         ({"synth": {"focal_px": ["a", 1]}}, r"config.synth.focal_px\[0\]: expected a number, got 'a'"),
                         ({"synth": {"focal_px": [[1], 1]}}, r"config.synth.focal_px\[0\]: expected a number"),
                         ({1: 2}, r"config: unknown key\(s\) 1")]:
        with pytest.raises(ValueError, match=expect):
            from_dict(data)


def test_override_syntax_errors_are_named():
    with pytest.raises(ValueError, match=r"override 'optim.lr=\[1': the value is not valid YAML"):
        parse_override("optim.lr=[1")
    with pytest.raises(ValueError, match=r"override 'optim..lr=1': key 'optim..lr' has an empty part"):
        parse_override("optim..lr=1")


def test_a_valid_edge_value_is_kept():
    cfg = make_config(overrides={"train": {"val_every": 0, "max_minutes": 0.0}, "mask": {"joint_prob": 1.0},
                                 "optim": {"grad_clip": 0.0, "warmup_steps": 0}})
    assert to_dict(cfg)["train"]["val_every"] == 0
    assert dataclasses.asdict(cfg.mask)["joint_prob"] == 1.0
