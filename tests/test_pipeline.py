"""The training input pipeline (issue 12): DataLoader workers, device-side masks, sync-free steps,
exact resume whatever the worker count, torch.compile agreement, `bench --loop`, `gpu_check --smoke`."""
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from actionpose import api
from actionpose.config import MaskConfig, make_config
from actionpose.masking import PART_NAMES, mask_batch, window_length_range
from actionpose.skeleton import BODY_PARTS
from actionpose.train.data import batch_indices, check_batch_weights, make_train_loader
from actionpose.train.loop import TrainingDiverged
from actionpose.train.runs import read_metrics

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"model": {"dim_feat": 16, "dim_rep": 32, "depth": 1, "num_heads": 2, "maxlen": 27, "embed_hidden": 32},
         "data": {"batch_size": 4, "stride": 27},
         "train": {"log_every": 1, "val_every": 1000, "ckpt_every": 2, "val_max_windows": 16, "max_steps": 6}}
SMALL_ARGS = ["--set", "model.dim_feat=16", "--set", "model.dim_rep=32", "--set", "model.depth=1",
              "--set", "model.num_heads=2", "--set", "model.maxlen=27", "--set", "model.embed_hidden=32",
              "--set", "data.batch_size=4", "--set", "train.log_every=1", "--set", "train.val_every=1000",
              "--no-progress"]


def _dataset():
    from actionpose.data.dataset import LiftingWindows, split_motions
    from actionpose.train.data import load_data
    cfg = make_config("tiny", "motionbert-style", SMALL)
    motions, _ = load_data("")
    return LiftingWindows(split_motions(motions, "train"), cfg, train=True, seed=7)


def test_batches_are_the_same_whatever_the_worker_count_and_start_step():
    ds = _dataset()
    kw = dict(batch_size=4, seed=7, max_steps=5)
    serial = list(make_train_loader(ds, start_step=0, num_workers=0, **kw))
    parallel = list(make_train_loader(ds, start_step=2, num_workers=2, **kw))
    assert len(serial) == 5 and len(parallel) == 3
    for s, (a, b) in enumerate(zip(serial[2:], parallel), start=2):
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), f"step {s} differs"
        assert a["index"].tolist() == batch_indices(len(ds), 4, s, 7)[0]
    assert not torch.equal(serial[0]["x2d"], serial[1]["x2d"])


def test_a_batch_without_any_valid_joint_is_refused_on_the_cpu():
    batch = {"frame_valid": torch.zeros(2, 5), "joint_valid": torch.ones(2, 17), "index": torch.tensor([3, 9])}
    with pytest.raises(ValueError, match=r"windows \[3, 9\]: every joint is invalid"):
        check_batch_weights(batch)
    batch["frame_valid"][1, 0] = 1
    check_batch_weights(batch)


def _reference_masks(x, cfg, gen):
    """The per-clip formulation masks were first written in (python loop, float64 window starts)."""
    B, T, J, _ = x.shape
    u_joint, u_frame = torch.rand(B, T, J, generator=gen), torch.rand(B, T, generator=gen)
    u_part, which = torch.rand(B, generator=gen), torch.randint(len(PART_NAMES), (B,), generator=gen)
    u_win, u_len, u_start = (torch.rand(B, generator=gen) for _ in range(3))
    mask = (u_joint < cfg.joint_prob) | (u_frame < cfg.frame_prob)[:, :, None]
    lo, hi = window_length_range(T, cfg)
    parts, windows = [], []
    for b in range(B):
        parts.append(PART_NAMES[int(which[b])] if u_part[b] < cfg.part_prob else None)
        if parts[-1]:
            mask[b, :, list(BODY_PARTS[parts[-1]])] = True
        length = lo + min(math.floor(float(u_len[b]) * (hi - lo + 1)), hi - lo)
        start = min(math.floor(float(u_start[b]) * (T - length + 1)), T - length)
        windows.append((start, start + length) if u_win[b] < cfg.window_prob else None)
        if windows[-1]:
            mask[b, start:start + length] = True
    return mask, parts, windows


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_vectorised_masks_equal_the_per_clip_reference(seed):
    g = torch.Generator().manual_seed(100 + seed)
    B, T = 3 + seed, [1, 7, 40, 81][seed]
    x = torch.rand(B, T, 17, 3, generator=g) + 0.1
    cfg = MaskConfig(joint_prob=0.1, frame_prob=0.2, part_prob=0.6, window_prob=0.7)
    xm, rec = mask_batch(x, cfg, torch.Generator().manual_seed(seed))
    mask, parts, windows = _reference_masks(x, cfg, torch.Generator().manual_seed(seed))
    assert torch.equal(rec.mask, mask) and rec.parts == parts and rec.windows == windows
    assert torch.equal(xm, x.masked_fill(mask[..., None], 0.0))


def test_nan_loss_is_caught_within_log_every_steps_naming_the_first_bad_step(tmp_path):
    bad = {**SMALL, "optim": {"lr": 1e30, "grad_clip": 0.0, "warmup_steps": 0},
           "train": {**SMALL["train"], "log_every": 3, "ckpt_every": 1, "max_steps": 12}}
    with pytest.raises(TrainingDiverged) as err:
        api.pretrain("tiny", "motionbert-style", tmp_path / "r", overrides=bad, progress=False)
    first_bad = int(str(err.value).split(" at step ")[1].split()[0])
    saved = json.loads((tmp_path / "r" / "checkpoint.json").read_text())["step"]
    assert saved <= first_bad  # the checkpoint holds only steps before the bad one
    w = load_file(str(tmp_path / "r" / "checkpoint.safetensors"))
    assert all(torch.isfinite(v).all() for k, v in w.items() if k.startswith("lifter."))


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "actionpose.cli", *args]


def test_sigkill_with_workers_then_resume_matches_a_serial_run(tmp_path):
    args = ["pretrain", "--preset", "tiny", "--max-steps", "24", "--set", "train.ckpt_every=3", *SMALL_ARGS]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ref = subprocess.run(_cli(*args, "--workers", "0", "--run", str(tmp_path / "ref")), env=env,
                         capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr[-2000:]
    run = tmp_path / "killed"
    proc = subprocess.Popen(_cli(*args, "--workers", "2", "--run", str(run)), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:
        ck = run / "checkpoint.json"
        if ck.exists() and json.loads(ck.read_text())["step"] >= 6:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = json.loads((run / "checkpoint.json").read_text())["step"]
    assert killed_at < 24, "the run finished before it could be killed; make it longer"
    res = subprocess.run(_cli(*args, "--workers", "2", "--run", str(run), "--resume"), env=env,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    a, b = load_file(str(tmp_path / "ref" / "checkpoint.safetensors")), load_file(str(run / "checkpoint.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        if k.startswith("lifter.") or k.startswith("optim."):
            assert torch.equal(a[k], b[k]), f"{k} differs after resume (killed at step {killed_at})"
    la = [(r["step"], r["loss"], r["grad_norm"]) for r in read_metrics(tmp_path / "ref") if r["split"] == "train"]
    lb = [(r["step"], r["loss"], r["grad_norm"]) for r in read_metrics(run) if r["split"] == "train"]
    assert la == lb and len(la) == 24


def test_bench_loop_times_the_loop_beside_the_model_only_step():
    from actionpose.bench import bench_loop, format_bench_loop
    r = bench_loop("tiny", batch_size=4, steps=2, warmup=1, workers=1, device="cpu", rounds=1,
                   overrides={"model": SMALL["model"]}, tune_allocator=False)
    assert len(r["model_only_s"]) == 2 and len(r["loop_s"]) == 1 and r["workers"] == 1
    assert r["loop_clips_per_s"] == pytest.approx(4 * 2 / min(r["loop_s"]))
    assert r["ratio"] == pytest.approx(min(r["model_only_s"]) / min(r["loop_s"]))
    assert r["flops_per_step"] > 0 and 0 < r["model_only_utilisation"] < 1.5
    text = format_bench_loop(r)
    assert "ratio loop / model-only" in text and "load average" in text


def test_reference_formulation_computes_our_function_and_is_timed():
    from actionpose.bench_reference import compare_reference
    r = compare_reference("tiny", {"dim_feat": 16, "dim_rep": 32, "depth": 2, "num_heads": 2, "maxlen": 27},
                          batch=2, frames=27, steps=1, rounds=1)
    assert r["max_abs_diff"] < 1e-5 and r["ours_s"] > 0 and r["reference_s"] > 0
    assert r["speedup"] == pytest.approx(r["reference_s"] / r["ours_s"])


@pytest.mark.slow  # ~40 s on 2 idle cores (inductor compiles the forward and backward graphs)
def test_compiled_training_agrees_with_eager(tmp_path):
    over = {**SMALL, "train": {**SMALL["train"], "max_steps": 3}}
    api.pretrain("tiny", "motionbert-style", tmp_path / "eager", overrides=over, progress=False)
    api.pretrain("tiny", "motionbert-style", tmp_path / "comp", progress=False,
                 overrides={**over, "model": {**SMALL["model"], "compile": True}})
    a = load_file(str(tmp_path / "eager" / "checkpoint.safetensors"))
    b = load_file(str(tmp_path / "comp" / "checkpoint.safetensors"))
    for k in (k for k in a if k.startswith("lifter.")):
        assert torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5), k
    la = [r["loss"] for r in read_metrics(tmp_path / "eager") if r["split"] == "train"]
    lb = [r["loss"] for r in read_metrics(tmp_path / "comp") if r["split"] == "train"]
    assert la == pytest.approx(lb, rel=1e-4)


def test_gpu_check_smoke_runs_every_section_on_cpu(tmp_path):
    out = tmp_path / "smoke.json"
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--smoke", "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    r = json.loads(out.read_text())
    assert r["smoke"] is True and r["failed"] == []
    for name in ("cuda_tests", "bf16_vs_fp32", "sdpa_fused", "train_lite", "train_base", "eval", "ddp"):
        assert r[name]["ok"] is True, name
    assert 0 < r["bf16_vs_fp32"]["y3d"]["rel_l2"] < 0.05  # bf16 really ran (not identical) and stays close
    assert r["bf16_vs_fp32"]["y3d"]["dtype_under_autocast"] == "float32"
    assert any("flash" in k for k in r["sdpa_fused"]["kernels"]["padding_mask"])
    assert r["eval"]["frames"] == 6000 and r["ddp"]["ranks_agree"] is True
    assert r["train_lite"]["loop_clips_per_s"] > 0
