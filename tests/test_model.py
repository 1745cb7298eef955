"""DSTformer backbone and lifter: shapes, lengths, attention paths, compile, reference sizes, init."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch

from actionpose.config import MODEL_PRESETS, ModelConfig, make_config
from actionpose.model.dstformer import DSTformer
from actionpose.model.lifter import BACKBONE_PREFIX, build_lifter, count_parameters

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "motionbert"
SMALL = {"dim_feat": 32, "dim_rep": 48, "depth": 2, "num_heads": 4, "mlp_ratio": 2.0, "maxlen": 27}


def small_cfg(**kw) -> ModelConfig:
    return ModelConfig(**{**SMALL, **kw})


def reference_keys(name: str) -> tuple[dict[str, tuple[int, ...]], int]:
    """Key -> shape from the fixture listing, and the parameter count its header states."""
    path = FIXTURES / f"state_dict_keys_{name}.txt"
    if not path.exists():
        pytest.skip(f"fixture {path} not available")
    lines = path.read_text().splitlines()
    params = int(re.search(r"params=(\d+)", lines[0]).group(1))
    shapes = {}
    for line in lines[1:]:
        if line.strip():
            key, shape = line.split("\t")
            shapes[key] = tuple(int(s) for s in shape.strip("()").split(",") if s.strip())
    return shapes, params


def test_lifter_output_shapes_and_unit_embedding():
    torch.manual_seed(0)
    lifter = build_lifter(small_cfg(embed_hidden=16), text_dim=10).eval()
    out = lifter(torch.randn(3, 27, 17, 3))
    assert out["y3d"].shape == (3, 27, 17, 3)
    assert out["rep"].shape == (3, 27, 17, 48)
    assert out["motion_emb"].shape == (3, 10)
    assert torch.allclose(out["motion_emb"].norm(dim=-1), torch.ones(3), atol=1e-6)
    assert "motion_emb" not in build_lifter(small_cfg(), text_dim=None)(torch.randn(1, 5, 17, 3))


def test_joint_pooling_head_keeps_which_joint_moved():
    """embed_pool="joints": frames averaged per joint, joints concatenated (J*D_rep inputs); a padded
    clip embeds like its real frames; swapping two joints' features changes the embedding, which a
    mean over joints cannot see."""
    torch.manual_seed(0)
    lifter = build_lifter(small_cfg(embed_hidden=16, embed_pool="joints"), text_dim=10).eval()
    head = lifter.motion_head
    assert head.fc1.in_features == 17 * 48
    rep = torch.randn(2, 9, 17, 48)
    manual = torch.nn.functional.normalize(head.fc2(torch.nn.functional.gelu(head.fc1(rep.mean(1).flatten(1)))), dim=-1)
    assert torch.allclose(head(rep), manual, atol=1e-6)
    padded = torch.cat([rep, rep[:, -1:].expand(2, 4, 17, 48) * 0 + 7.0], dim=1)  # 4 junk frames
    fv = torch.cat([torch.ones(2, 9), torch.zeros(2, 4)], dim=1)
    assert torch.allclose(head(padded, fv), head(rep), atol=1e-6)
    swapped = rep.clone()
    swapped[:, :, [13, 16]] = rep[:, :, [16, 13]]  # left and right wrist features exchanged
    assert (head(swapped) - head(rep)).abs().max() > 1e-3
    mean_head = build_lifter(small_cfg(embed_hidden=16, embed_pool="mean"), text_dim=10).eval().motion_head
    assert mean_head.fc1.in_features == 48
    assert torch.allclose(mean_head(swapped), mean_head(rep), atol=1e-6)
    with pytest.raises(ValueError, match="model.embed_pool = 'max'"):
        build_lifter(small_cfg(embed_pool="max"), text_dim=10)


def test_trend_pooling_head_tells_a_motion_from_its_time_reversal():
    """embed_pool="joints_delta": the joints' means and their trends over real frames (2*J*D_rep inputs);
    `frame_trend` written out on a ramp; the reversed clip has the same mean and the opposite trend, so
    only this head embeds it differently; padding frames change nothing."""
    from actionpose.model.lifter import frame_trend
    torch.manual_seed(0)
    head = build_lifter(small_cfg(embed_hidden=16, embed_pool="joints_delta"), text_dim=10).eval().motion_head
    assert head.fc1.in_features == 2 * 17 * 48
    ramp = torch.arange(9.0)[None, :, None, None].expand(1, 9, 17, 48) * 0.5 + 3.0  # rises 0.5 per frame
    c = torch.arange(9.0) - 4.0
    torch.testing.assert_close(frame_trend(ramp), torch.full((1, 17, 48), 0.5 * float((c * c).sum() / c.abs().sum())))
    torch.testing.assert_close(frame_trend(torch.full((1, 9, 17, 48), 2.0)), torch.zeros(1, 17, 48))
    assert frame_trend(torch.randn(1, 1, 17, 48)).abs().max() == 0  # one frame: no trend
    rep = torch.randn(2, 9, 17, 48)
    rev = rep.flip(1)
    torch.testing.assert_close(frame_trend(rev), -frame_trend(rep))
    manual = torch.nn.functional.normalize(head.fc2(torch.nn.functional.gelu(head.fc1(
        torch.cat([rep.mean(1).flatten(1), frame_trend(rep).flatten(1)], 1)))), dim=-1)
    torch.testing.assert_close(head(rep), manual)
    assert (head(rev) - head(rep)).abs().max() > 1e-3
    joints = build_lifter(small_cfg(embed_hidden=16, embed_pool="joints"), text_dim=10).eval().motion_head
    torch.testing.assert_close(joints(rev), joints(rep))
    padded = torch.cat([rep, torch.full((2, 4, 17, 48), 7.0)], dim=1)
    fv = torch.cat([torch.ones(2, 9), torch.zeros(2, 4)], dim=1)
    torch.testing.assert_close(head(padded, fv), head(rep))


def _body_turning(heading_deg: list[float] | torch.Tensor) -> torch.Tensor:
    """`[1, T, 17, 3]` a body (pelvis at 0, hips, thorax placed; other joints at the pelvis) whose forward
    direction is (sin h, 0, cos h) in camera coordinates (x right, y down, z forward)."""
    h = torch.deg2rad(torch.as_tensor(heading_deg, dtype=torch.float32))
    left = torch.stack([-torch.cos(h), torch.zeros_like(h), torch.sin(h)], dim=1)  # the body's left
    y = torch.zeros(len(h), 17, 3)
    y[:, 4], y[:, 1] = 0.1 * left, -0.1 * left  # l_hip, r_hip
    y[:, 8] = torch.tensor([0.0, -0.5, 0.0])  # thorax above the pelvis (y down)
    return y[None]


def test_heading_features_read_the_turn_off_the_3d():
    """heading_features: net turn (a left turn is negative), its trend, sin / cos of the mean heading;
    across the +-180 degree seam the turn stays 30 degrees, not -330; padding frames change nothing; the
    time reversal turns the other way."""
    import math
    from actionpose.model.lifter import body_heading, heading_features
    left = _body_turning(torch.linspace(10.0, -50.0, 9))
    torch.testing.assert_close(body_heading(left)[0, [0, -1]], torch.deg2rad(torch.tensor([10.0, -50.0])))
    f = heading_features(left)
    assert f.shape == (1, 4)
    assert f[0, 0].item() == pytest.approx(math.radians(-60.0), abs=1e-5)
    assert f[0, 1].item() < 0
    hs = torch.deg2rad(torch.linspace(10.0, -50.0, 9))
    torch.testing.assert_close(f[0, 2:], torch.stack([hs.sin().mean(), hs.cos().mean()]))  # facing
    torch.testing.assert_close(heading_features(left.flip(1))[:, :2], -f[:, :2])
    seam = heading_features(_body_turning(torch.linspace(165.0, 195.0, 9)))
    assert seam[0, 0].item() == pytest.approx(math.radians(30.0), abs=1e-5)
    padded = torch.cat([left, torch.randn(1, 4, 17, 3)], dim=1)
    fv = torch.cat([torch.ones(1, 9), torch.zeros(1, 4)], dim=1)
    torch.testing.assert_close(heading_features(padded, fv), f)
    assert heading_features(left[:, :1])[0, :2].abs().max() == 0  # one frame: no turn


def test_heading_head_embeds_a_left_and_a_right_turn_apart_and_trains_the_head_only():
    """embed_pool="joints_delta_heading": the same backbone features with the 3D turning left or right
    embed differently (the features-only trend head cannot: it never sees the 3D); no gradient reaches
    the 3D through the head; the head refuses to run without the 3D; a lifter with it runs end to end."""
    torch.manual_seed(0)
    lifter = build_lifter(small_cfg(embed_hidden=16, embed_pool="joints_delta_heading"), text_dim=10).eval()
    head = lifter.motion_head
    assert head.needs_3d and head.fc1.in_features == 2 * 17 * 48 and head.heading.in_features == 4
    rep = torch.randn(1, 9, 17, 48)
    y_left = _body_turning(torch.linspace(0.0, -60.0, 9)).requires_grad_(True)
    y_right = _body_turning(torch.linspace(-60.0, 0.0, 9))
    e_left, e_right = head(rep, None, y_left), head(rep, None, y_right)
    assert (e_left - e_right).abs().max() > 1e-4
    torch.testing.assert_close(e_left.norm(dim=-1), torch.ones(1))
    e_left.sum().backward()
    assert y_left.grad is None
    with pytest.raises(ValueError, match="pass y3d"):
        head(rep)
    out = lifter(torch.randn(2, 9, 17, 3))
    assert out["motion_emb"].shape == (2, 10) and not build_lifter(
        small_cfg(embed_hidden=16, embed_pool="joints_delta"), text_dim=10).motion_head.needs_3d



def test_window_head_reads_the_lifted_3d_frame_by_frame_and_trains_the_head_only():
    """embed_pool="joints_delta_window": `window_3d` is each frame's 3D about its root in time order, padded
    frames zero, scaled; a window and its time reversal (same poses, other order) embed apart; no gradient
    reaches the 3D; a lifter with it runs end to end and the head is sized by the model's maxlen."""
    from actionpose.model.lifter import WINDOW_3D_SCALE, window_3d
    y = torch.randn(2, 5, 17, 3)
    w = window_3d(y, 7).reshape(2, 7, 17, 3) / WINDOW_3D_SCALE
    torch.testing.assert_close(w[:, :5], y - y[:, :, :1])
    assert w[:, 5:].abs().max() == 0 and w[:, :, 0].abs().max() == 0
    fv = torch.tensor([[1.0, 1.0, 1.0, 0.0, 0.0]] * 2)
    assert window_3d(y, 7, fv).reshape(2, 7, 17, 3)[:, 3:].abs().max() == 0
    with pytest.raises(ValueError, match="8 frames, more than the head's maxlen 7"):
        window_3d(torch.randn(1, 8, 17, 3), 7)
    torch.manual_seed(0)
    cfg = small_cfg(embed_hidden=16, embed_pool="joints_delta_window")
    lifter = build_lifter(cfg, text_dim=10).eval()
    head = lifter.motion_head
    assert head.needs_3d and head.window.in_features == cfg.maxlen * 51
    rep = torch.zeros(1, 9, 17, 48)  # features that say nothing: only the 3D's order can tell the two apart
    y_fwd = _body_turning(torch.linspace(0.0, -60.0, 9)).requires_grad_(True)
    e_fwd, e_rev = head(rep, None, y_fwd), head(rep, None, y_fwd.detach().flip(1))
    assert (e_fwd - e_rev).abs().max() > 1e-4
    e_fwd.sum().backward()
    assert y_fwd.grad is None
    with pytest.raises(ValueError, match="'joints_delta_window' reads the lifter's 3D: pass y3d"):
        head(rep)
    assert lifter(torch.randn(2, 9, 17, 3))["motion_emb"].shape == (2, 10)

def test_variable_length_and_maxlen_error():
    torch.manual_seed(0)
    model = DSTformer(**SMALL).eval()
    x = torch.randn(2, 27, 17, 3)
    with torch.no_grad():
        y_short = model(x[:, :9])
        assert y_short.shape == (2, 9, 17, 3)
        # a shorter clip is not a prefix of the longer one's output (attention sees all frames),
        # but it is the same function of its own frames as a batch of one
        assert torch.allclose(model(x[:1, :9]), y_short[:1], atol=1e-6)
    with pytest.raises(ValueError, match=r"T = 28 frames exceeds model.maxlen = 27"):
        model(torch.randn(1, 28, 17, 3))
    with pytest.raises(ValueError, match=r"expected shape \[B, T, 17, 3\], got \[1, 9, 16, 3\]"):
        model(torch.randn(1, 9, 16, 3))


def test_get_representation_matches_forward():
    torch.manual_seed(0)
    model = DSTformer(**SMALL).eval()
    x = torch.randn(2, 11, 17, 3)
    with torch.no_grad():
        y, rep = model(x, return_rep=True)
        assert torch.equal(rep, model.get_representation(x))
        assert torch.allclose(y, model.head(rep))
    assert rep.abs().max() <= 1.0  # tanh representation


@pytest.mark.parametrize("train", [False, True])
def test_sdpa_equals_manual_attention(train):
    torch.manual_seed(0)
    a = DSTformer(**SMALL, attention="sdpa")
    b = DSTformer(**SMALL, attention="manual")
    b.load_state_dict(a.state_dict())
    a.train(train)
    b.train(train)
    x = torch.randn(2, 27, 17, 3)
    ya, ra = a(x, return_rep=True)
    yb, rb = b(x, return_rep=True)
    assert (ya - yb).abs().max() <= 1e-5 and (ra - rb).abs().max() <= 1e-5
    if train:
        (ya.square().sum() + ra.sum()).backward()
        (yb.square().sum() + rb.sum()).backward()
        for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
            scale = pa.grad.abs().max().clamp(min=1.0)  # fp32 sums: compare relative to magnitude
            assert (pa.grad - pb.grad).abs().max() <= 1e-5 * scale, name


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    lifter = build_lifter(small_cfg(init="torch", embed_hidden=8), text_dim=6)
    out = lifter(torch.randn(2, 9, 17, 3))
    (out["y3d"].square().mean() + out["motion_emb"].sum()).backward()
    no_grad = [n for n, p in lifter.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    # temp_embed rows beyond T = 9 legitimately get no gradient; everything else must
    assert no_grad == []
    assert lifter.backbone.temp_embed.grad[:, 9:].abs().sum() == 0


def test_dropout_and_drop_path_only_in_training():
    torch.manual_seed(0)
    model = DSTformer(**SMALL, drop_rate=0.1, attn_drop_rate=0.1, drop_path_rate=0.2)
    x = torch.randn(2, 9, 17, 3)
    model.train()
    assert not torch.allclose(model(x), model(x))
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_reference_init_recipe():
    torch.manual_seed(0)
    model = DSTformer(dim_feat=256, dim_rep=256, depth=2, num_heads=4, maxlen=81, init="reference")
    w = model.blocks_st[0].mlp_s.fc1.weight
    assert abs(w.std().item() - 0.02) < 0.002 and w.abs().max() < 0.15
    assert abs(model.temp_embed.std().item() - 0.02) < 0.002
    assert abs(model.pos_embed.std().item() - 0.02) < 0.004
    for m in model.modules():
        if isinstance(m, torch.nn.LayerNorm):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
    assert torch.all(model.blocks_ts[1].attn_t.qkv.bias == 0)
    for fuse in model.ts_attn:
        assert torch.all(fuse.weight == 0) and torch.all(fuse.bias == 0.5)
    with pytest.raises(ValueError, match="model.init = 'xavier'"):
        DSTformer(**SMALL, init="xavier")


def test_bad_config_values_are_named():
    with pytest.raises(ValueError, match="model.attention = 'flash'"):
        build_lifter(small_cfg(attention="flash"))
    with pytest.raises(ValueError, match="model.dim_feat = 30 must be divisible by model.num_heads = 4"):
        build_lifter(small_cfg(dim_feat=30))
    with pytest.raises(ValueError, match="model.depth = 0"):
        build_lifter(small_cfg(depth=0))


@pytest.mark.parametrize("size", ["base", "lite"])
def test_reference_sizes_key_names_shapes_and_count(size):
    shapes, params = reference_keys(size)
    cfg = ModelConfig(**MODEL_PRESETS[size])
    with torch.device("meta"):  # full-size models without allocating or initialising weights
        lifter = build_lifter(cfg, text_dim=384)
    sd = lifter.backbone.state_dict()
    assert list(sd) == list(shapes)  # same names, same order as the reference
    assert {k: tuple(v.shape) for k, v in sd.items()} == shapes
    assert count_parameters(lifter) == params == sum(v.numel() for v in sd.values())
    if size == "base":
        assert params == 42_466_317
    assert count_parameters(lifter, backbone_only=False) > params  # + motion-embedding head
    # the lifter's own keys map onto the reference by stripping the prefix
    backbone_keys = [k[len(BACKBONE_PREFIX):] for k in lifter.state_dict() if k.startswith(BACKBONE_PREFIX)]
    assert backbone_keys == list(shapes)


def test_tiny_preset_builds_and_runs():
    cfg = make_config("tiny").model
    lifter = build_lifter(cfg, text_dim=384).eval()
    with torch.no_grad():
        out = lifter(torch.randn(1, cfg.maxlen, 17, 3))
    assert out["y3d"].shape == (1, cfg.maxlen, 17, 3)


def test_autocast_bf16_forward_and_backward():
    # the training loop autocasts to bf16 on GPU; CPU autocast exercises the same code paths
    torch.manual_seed(0)
    lifter = build_lifter(small_cfg(embed_hidden=8), text_dim=6)
    x = torch.randn(2, 9, 17, 3)
    ref = lifter(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = lifter(x)
        loss = out["y3d"].float().square().mean() + out["motion_emb"].float().sum()
    loss.backward()
    assert (out["y3d"].float() - ref["y3d"]).abs().max() < 0.05
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in lifter.parameters())


def test_flop_count_is_the_same_for_both_attention_paths():
    from actionpose.bench import count_flops
    x = torch.randn(2, 27, 17, 3)
    counts = []
    for impl in ("sdpa", "manual"):
        torch.manual_seed(0)
        model = DSTformer(**SMALL, attention=impl)
        counts.append((count_flops(lambda m=model: m(x)), count_flops(lambda m=model: m(x).sum().backward())))
    assert counts[0] == counts[1]
    C, hidden, tokens, T, J = 32, 64, 2 * 27 * 17, 27, 17
    linear = 2 * tokens * (C * 3 * C + C * C + 2 * C * hidden)  # per attention + MLP pair
    attn_t, attn_s = 4 * tokens * T * C, 4 * tokens * J * C
    # (the stream fusion's matrix-vector products are not counted: PyTorch's counter skips mv)
    embed_head = 2 * tokens * (3 * C + C * 48 + 48 * 3)
    assert counts[0][0] == 2 * 2 * (2 * linear + attn_t + attn_s) + embed_head


def test_bench_smoke():
    from actionpose.bench import bench, format_bench
    res = bench("tiny", batch_size=2, seq_len=9, steps=1, warmup=0,
                overrides=SMALL, tune_allocator=False)
    for phase in ("train", "infer"):
        r = res[phase]
        assert r["flops"] > 0 and r["time_s_median"] > 0 and 0 < r["utilisation"] < 2
    assert "training step (B=2, T=9)" in format_bench(res)
    with pytest.raises(ValueError, match="bench seq_len = 99"):
        bench("tiny", seq_len=99, overrides=SMALL)


def _compiler_available() -> bool:
    return shutil.which("g++") is not None or shutil.which("c++") is not None


@pytest.mark.slow
@pytest.mark.skipif(not _compiler_available(), reason="torch.compile on CPU needs a C++ compiler")
def test_compiled_equals_eager():
    # ~15-30 s on 2 CPU cores (inductor compiles C++ kernels); cached on disk for later runs.
    torch.manual_seed(0)
    eager = build_lifter(small_cfg(), text_dim=None).eval()
    compiled = build_lifter(small_cfg(compile=True), text_dim=None).eval()
    compiled.load_state_dict(eager.state_dict())
    assert list(compiled.state_dict()) == list(eager.state_dict())  # no `_orig_mod.` prefixes
    x = torch.randn(2, 27, 17, 3)
    with torch.no_grad():
        a, b = eager(x), compiled(x)
    assert (a["y3d"] - b["y3d"]).abs().max() <= 1e-5
    assert (a["rep"] - b["rep"]).abs().max() <= 1e-5
