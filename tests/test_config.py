import pytest

from actionpose.config import (
    VARIANTS, config_diff, config_hash, load_yaml, make_config, parse_override, save_yaml, to_dict,
)


def test_presets_resolve_and_round_trip(tmp_path):
    for preset in ("tiny", "lite", "base"):
        cfg = make_config(preset)
        save_yaml(cfg, tmp_path / "c.yaml")
        again = load_yaml(tmp_path / "c.yaml")
        assert to_dict(again) == to_dict(cfg)
        assert config_hash(again) == config_hash(cfg)
    assert make_config("base").model.dim_feat == 512


def test_variants_switch_what_they_claim():
    assert not make_config(variant="motionbert-style").align.enabled
    assert make_config(variant="motionbert-style").mask.part_prob == 0.0
    assert make_config(variant="onehot").align.mode == "onehot"
    assert make_config(variant="no-part-mask").mask.part_prob == 0.0
    assert make_config(variant="no-window-mask").mask.window_prob == 0.0
    assert make_config(variant="no-window-mask").mask.part_prob > 0
    assert set(VARIANTS) >= {"scratch", "motionbert-style", "actionpose", "onehot", "no-part-mask", "no-window-mask"}


def test_unknown_key_is_refused(tmp_path):
    (tmp_path / "bad.yaml").write_text("optim:\n  lrr: 0.1\n")
    with pytest.raises(ValueError, match=r"bad.yaml.*unknown key\(s\) lrr"):
        load_yaml(tmp_path / "bad.yaml")


@pytest.mark.parametrize("key", ["joint_prob", "frame_prob", "part_prob", "window_prob"])
def test_probability_out_of_range(key):
    with pytest.raises(ValueError, match=f"mask.{key}.*probability"):
        make_config(overrides={"mask": {key: 1.5}})


def test_wrong_type_named():
    with pytest.raises(ValueError, match="config.optim.lr: expected a number"):
        make_config(overrides={"optim": {"lr": "fast"}})


def test_override_parsing_and_diff():
    over = parse_override("optim.lr=0.001")
    a = make_config()
    b = make_config(overrides=over)
    assert b.optim.lr == 0.001
    assert config_diff(a, b) == ["optim.lr: 0.0005 -> 0.001"]
    assert config_hash(a) != config_hash(b)
    # budget keys do not change the computation's identity
    c = make_config(overrides={"train": {"max_steps": 5}})
    assert config_hash(a) == config_hash(c) and config_diff(a, c) == []
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_override("optim.lr")
