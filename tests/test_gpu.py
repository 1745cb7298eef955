"""Tests that need CUDA (marker `cuda`; skipped without a GPU). `benchmarks/gpu_check.py` runs them."""
import pytest
import torch

from actionpose.config import MaskConfig, make_config
from actionpose.masking import mask_batch

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

SMALL = {"model": {"dim_feat": 32, "dim_rep": 32, "depth": 1, "num_heads": 2, "maxlen": 27, "embed_hidden": 32},
         "data": {"batch_size": 4, "stride": 27}, "train": {"device": "cuda", "seed": 3}}


def _ctx(variant="motionbert-style"):
    from actionpose.data.dataset import LiftingWindows, split_motions
    from actionpose.train import distributed as D
    from actionpose.train.data import load_data, make_train_loader
    from actionpose.train.loop import step_context
    from actionpose.train.model_io import build_bundle
    cfg = make_config("tiny", variant, SMALL)
    motions, _ = load_data("")
    train_m = split_motions(motions, "train")
    dev = torch.device("cuda")
    bundle = build_bundle(cfg, train_m, device=dev)
    ds = LiftingWindows(train_m, cfg, train=True, vocab=bundle.vocab if cfg.align.enabled else None, seed=3)
    loader = make_train_loader(ds, batch_size=4, seed=3, start_step=0, max_steps=4, num_workers=2, pin_memory=True)
    return step_context(cfg, bundle, D.DistInfo(), dev), loader


def test_train_step_never_syncs_with_the_host():
    from actionpose.train.loop import to_device, train_step
    ctx, loader = _ctx()
    batches = list(loader)
    assert batches[0]["x2d"].is_pinned()
    batch, fv = to_device(batches[0], ctx.device)
    train_step(ctx, batch, fv, 0)  # first step: allocations, cuBLAS handles
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for s, b in enumerate(batches[1:], start=1):
            batch, fv = to_device(b, ctx.device)
            loss, parts, gnorm = train_step(ctx, batch, fv, s)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(loss).item() and gnorm.item() > 0
    assert ctx.amp_dtype == torch.bfloat16


def test_masks_on_the_gpu_are_deterministic_and_match_their_rates():
    x = torch.rand(64, 81, 17, 3, device="cuda") + 0.1
    cfg = MaskConfig(joint_prob=0.05, frame_prob=0.1, part_prob=0.5, window_prob=0.5)
    a = mask_batch(x, cfg, torch.Generator(device="cuda").manual_seed(5))
    b = mask_batch(x, cfg, torch.Generator(device="cuda").manual_seed(5))
    assert torch.equal(a[1].mask, b[1].mask) and a[1].mask.is_cuda
    assert torch.all(a[0][a[1].mask] == 0)
    assert abs(a[1].joint_mask.float().mean().item() - 0.05) < 0.01
    assert 0.3 < sum(p is not None for p in a[1].parts) / 64 < 0.7


def test_bf16_output_of_the_head_is_fp32_and_close():
    from actionpose.model.lifter import build_lifter
    cfg = make_config("lite", "actionpose").model
    net = build_lifter(cfg, text_dim=64).cuda().eval()
    x = torch.rand(2, 243, 17, 3, device="cuda") - 0.5
    with torch.no_grad():
        ref = net(x)["y3d"]
        with torch.autocast("cuda", dtype=torch.bfloat16):
            low = net(x)["y3d"]
    assert low.dtype == torch.float32
    assert ((low - ref).norm() / ref.norm()).item() < 0.05
