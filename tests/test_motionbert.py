"""MotionBERT checkpoint import: numerical parity with the reference fixtures and one-line errors."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from actionpose.model.lifter import build_lifter
from actionpose.model.motionbert import (
    check_and_map,
    import_checkpoint,
    infer_size,
    load_reference_state_dict,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "motionbert"
CONFIG_JSON = FIXTURES / "dstformer_tiny_config.json"
SOURCES = ["dstformer_tiny_state_dict.safetensors", "dstformer_tiny_checkpoint_layout.bin"]


class NotATensor:
    """A custom class: safe loading (weights_only) must refuse to unpickle it."""


@pytest.fixture(scope="module")
def io():
    z = np.load(FIXTURES / "dstformer_tiny_io.npz")
    return {k: torch.from_numpy(z[k]) for k in z.files}


@pytest.fixture(scope="module")
def reference_sd():
    return load_file(str(FIXTURES / "dstformer_tiny_state_dict.safetensors"))


def _lifter(path: Path, attention: str, compile: bool = False):
    cfg, sd, _ = import_checkpoint(path, config_json=CONFIG_JSON)
    cfg.attention, cfg.compile = attention, compile
    lifter = build_lifter(cfg, text_dim=None).eval()
    lifter.backbone.load_state_dict(sd, strict=True)
    return lifter


def _assert_parity(lifter, io):
    with torch.no_grad():
        out = lifter(io["x"])
        out9 = lifter(io["x_first9"])
    assert (out["y3d"] - io["y"]).abs().max() <= 1e-5
    assert (out["rep"] - io["rep"]).abs().max() <= 1e-5
    assert (out9["y3d"] - io["y_first9"]).abs().max() <= 1e-5


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("attention", ["sdpa", "manual"])
def test_parity_with_reference_outputs(source, attention, io):
    _assert_parity(_lifter(FIXTURES / source, attention), io)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                    reason="torch.compile on CPU needs a C++ compiler")
def test_parity_compiled(io):
    # One compiled model serves T = 27 and T = 9 (dynamic shapes after the first recompile).
    _assert_parity(_lifter(FIXTURES / SOURCES[1], "sdpa", compile=True), io)


def test_checkpoint_layout_equals_safetensors(reference_sd):
    sd = load_reference_state_dict(FIXTURES / SOURCES[1])  # `module.` prefixes stripped
    assert list(sd) == list(reference_sd.keys()) or set(sd) == set(reference_sd)
    assert all(torch.equal(sd[k], reference_sd[k]) for k in reference_sd)


def test_infer_size_and_heads(reference_sd):
    cfg = infer_size(reference_sd, config_json=CONFIG_JSON)
    want = json.loads(CONFIG_JSON.read_text())
    for k, v in want.items():
        assert getattr(cfg, k) == v, k
    assert infer_size(reference_sd, heads=8).num_heads == 8  # explicit override wins
    with pytest.raises(ValueError, match="num_heads cannot be inferred"):
        infer_size(reference_sd)
    with pytest.raises(ValueError, match="heads = 5 must be a positive divisor of dim_feat = 32"):
        infer_size(reference_sd, heads=5)


def test_released_base_size_is_recognised():
    lines = (FIXTURES / "state_dict_keys_base.txt").read_text().splitlines()[1:]
    with torch.device("meta"):  # shapes only: no 170 MB allocation
        sd = {k: torch.empty(*eval(s)) for k, s in (ln.split("\t") for ln in lines if ln.strip())}
    cfg = infer_size(sd)
    assert (cfg.preset, cfg.dim_feat, cfg.dim_rep, cfg.depth, cfg.num_heads, cfg.mlp_ratio, cfg.maxlen) == \
        ("base", 512, 512, 5, 8, 2.0, 243)
    mapped = check_and_map(sd, cfg)
    assert sum(t.numel() for t in mapped.values()) == 42_466_317


def test_provenance(tmp_path):
    path = FIXTURES / SOURCES[1]
    cfg, sd, prov = import_checkpoint(path, heads=4)
    assert prov["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert prov["source"] == str(path.resolve()) and prov["size"] == cfg.preset == "imported"
    assert prov["params"] == sum(t.numel() for t in sd.values())
    with pytest.raises(ValueError, match="size 'base' has dim_feat = 512"):
        import_checkpoint(path, size="base")


# ------------------------------------------------------------------------------ bad inputs


def test_other_architecture_is_refused(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.weight": torch.zeros(10, 512)}, path)
    with pytest.raises(ValueError, match=r"resnet.pth: not a MotionBERT DSTformer state dict \(missing "):
        import_checkpoint(path, heads=4)


def test_missing_and_extra_keys_are_listed(tmp_path, reference_sd):
    sd = dict(reference_sd)
    del sd["blocks_ts.1.norm2_t.bias"]
    sd["blocks_ts.1.extra.weight"] = torch.zeros(3)
    path = tmp_path / "keys.safetensors"
    save_file(sd, str(path))
    with pytest.raises(ValueError, match=r"missing 1 key\(s\): blocks_ts.1.norm2_t.bias; "
                                         r"unexpected 1 key\(s\): blocks_ts.1.extra.weight"):
        import_checkpoint(path, heads=4)


def test_wrong_shape_is_named(tmp_path, reference_sd):
    sd = dict(reference_sd)
    sd["blocks_st.0.attn_t.qkv.weight"] = torch.zeros(96, 31)
    path = tmp_path / "shape.safetensors"
    save_file(sd, str(path))
    with pytest.raises(ValueError, match=r"blocks_st.0.attn_t.qkv.weight has shape \[96, 31\], expected \[96, 32\]"):
        import_checkpoint(path, heads=4)


def test_optimizer_only_file(tmp_path):
    path = tmp_path / "optim.bin"
    torch.save({"epoch": 3, "optimizer": {"state": {0: {"exp_avg": torch.zeros(2)}}, "param_groups": [{"lr": 1e-3}]}},
               path)
    with pytest.raises(ValueError, match="optim.bin: holds optimizer state only"):
        load_reference_state_dict(path)


def test_custom_class_pickle_is_refused(tmp_path, reference_sd):
    path = tmp_path / "custom.bin"
    torch.save({"model_pos": dict(reference_sd), "args": NotATensor()}, path)
    with pytest.raises(ValueError, match=r"custom.bin: refused by safe loading \(torch.load weights_only=True\)"):
        load_reference_state_dict(path)


@pytest.mark.parametrize("source", SOURCES)
def test_truncated_file(tmp_path, source):
    data = (FIXTURES / source).read_bytes()
    path = tmp_path / f"cut{Path(source).suffix}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_reference_state_dict(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.bin: no such checkpoint file"):
        load_reference_state_dict(tmp_path / "nope.bin")


def test_errors_are_one_line(tmp_path, reference_sd):
    sd = dict(reference_sd)
    sd["head.weight"] = torch.zeros(3, 47)
    path = tmp_path / "bad.safetensors"
    save_file(sd, str(path))
    with pytest.raises(ValueError) as err:
        import_checkpoint(path, heads=4)
    assert "\n" not in str(err.value)
