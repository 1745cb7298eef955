"""The device check of issue 12: is the GPU path correct and fast? One command, one JSON.

    python benchmarks/gpu_check.py                 # on a CUDA machine, < 8 minutes
    python benchmarks/gpu_check.py --smoke         # the same code paths on CPU, small sizes, < 2 minutes

Sections (each recorded with ok / error, so one failure does not hide the others):
  cuda_tests    the tests marked `cuda` (tests/test_gpu.py), run by pytest in a subprocess
  bf16_vs_fp32  the lifter's outputs under bf16 autocast against fp32 (same weights, same input)
  sdpa_fused    spatial and temporal attention, forward + backward in bf16, with SDPA restricted to the
                fused backends (flash, memory-efficient): the math fallback would raise; the kernels
                that ran are listed from the profiler
  train_<preset> the real training loop (`actionpose.bench.bench_loop`, lite and base): clips/s and
                the share of the same-run bf16 matmul peak
  eval          evaluation throughput at Human3.6M test-set size (~550k frames, flip, lite, bf16)
  ddp           `torchrun` over the visible GPUs (2 gloo processes on CPU with --smoke): ranks agree
Writes benchmarks/results/gpu_check_<device>_<date>.json (or --out) with everything and the GPU name.
Exit status 1 when a section failed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
H36M_TEST_FRAMES = 550_000  # Human3.6M test set (S9, S11, 4 cameras) is ~543k frames at 50 fps
# A model small enough for --smoke on 2 CPU cores, with every code path of the presets.
SMOKE_MODEL = {"dim_feat": 32, "dim_rep": 32, "depth": 1, "num_heads": 2, "maxlen": 27, "embed_hidden": 32}


def section(results: dict, name: str):
    """Decorator: run the section, store its dict (+ seconds) or its error under `name`."""
    def wrap(fn):
        t0 = time.perf_counter()
        try:
            out = fn()
            results[name] = {"ok": True, **out}
        except Exception as e:  # noqa: BLE001 - a failed section is recorded, the others still run
            results[name] = {"ok": False, "error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
                             "traceback": traceback.format_exc()[-3000:]}
        results[name]["seconds"] = time.perf_counter() - t0
        state = "ok" if results[name]["ok"] else "FAILED: " + results[name]["error"]
        print(f"[gpu_check] {name}: {state} ({results[name]['seconds']:.1f} s)", flush=True)
        return fn
    return wrap


def run_cuda_tests(timeout_s: int) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", "tests/test_gpu.py"]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    tail = (res.stdout + res.stderr).strip().splitlines()
    summary = tail[-1] if tail else ""
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|error|errors|deselected)", summary)}
    if res.returncode not in (0, 5):  # 5: nothing collected/selected
        raise RuntimeError(f"pytest -m cuda exited {res.returncode}: {summary}")
    return {"summary": summary, "counts": counts, "returncode": res.returncode}


def _lifter(preset: str, smoke: bool, device: torch.device):
    from actionpose.config import MODEL_PRESETS, ModelConfig
    from actionpose.model.lifter import build_lifter
    kw = dict(MODEL_PRESETS[preset], preset=preset)
    if smoke:
        kw.update(SMOKE_MODEL)
    torch.manual_seed(0)
    cfg = ModelConfig(**kw)
    return build_lifter(cfg, text_dim=64).to(device), cfg


def _inputs(B: int, T: int, device: torch.device, seed: int = 0) -> torch.Tensor:
    """Plausible normalised 2D: a random pose near the origin moving smoothly, confidence in (0.5, 1)."""
    g = torch.Generator().manual_seed(seed)
    pose = 0.3 * torch.randn(B, 1, 17, 2, generator=g)
    drift = 0.02 * torch.randn(B, T, 17, 2, generator=g).cumsum(dim=1)
    conf = 0.5 + 0.5 * torch.rand(B, T, 17, 1, generator=g)
    return torch.cat([pose + drift, conf], dim=-1).to(device)


def bf16_vs_fp32(device: torch.device, smoke: bool) -> dict:
    net, cfg = _lifter("lite", smoke, device)
    net.eval()
    x = _inputs(4, cfg.maxlen, device)
    with torch.no_grad():
        ref = net(x)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            low = net(x)
    out = {}
    for key in ("y3d", "motion_emb"):
        a, b = ref[key].float(), low[key].float()
        out[key] = {"dtype_under_autocast": str(low[key].dtype).replace("torch.", ""),
                    "rel_l2": float((b - a).norm() / a.norm()), "max_abs": float((b - a).abs().max()),
                    "ref_rms": float(a.pow(2).mean().sqrt())}
    # bf16 keeps 8 bits of mantissa: ~0.4 % per rounding; a few % after the backbone is expected.
    if not out["y3d"]["rel_l2"] < 0.05:
        raise AssertionError(f"bf16 y3d differs from fp32 by {out['y3d']['rel_l2']:.3%} (relative L2), expected < 5 %")
    if out["y3d"]["dtype_under_autocast"] != "float32":
        raise AssertionError("the 3D head's output is not fp32 under autocast")
    out["preset"] = "smoke" if smoke else "lite"
    return out


def sdpa_fused(device: torch.device, smoke: bool) -> dict:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    backends = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION] if device.type == "cuda" \
        else [SDPBackend.FLASH_ATTENTION]  # CPU: the fused CPU flash kernel
    net, cfg = _lifter("base", smoke, device)
    net.train()
    B, T = (2, cfg.maxlen)
    x = _inputs(B, T, device)
    fv = torch.ones(B, T, device=device)
    fv[1, T - T // 3:] = 0  # a padded clip: temporal attention gets a key mask
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    cases = {}
    kernels: set[str] = set()
    for name, mask in (("unmasked", None), ("padding_mask", fv)):
        with sdpa_kernel(backends), profile(activities=acts) as prof:
            with torch.autocast(device.type, dtype=torch.bfloat16):
                out = net(x, mask)
            out["y3d"].float().square().mean().backward()
            if device.type == "cuda":
                torch.cuda.synchronize()
        names = {e.key for e in prof.key_averages()}
        used = sorted(n for n in names if re.search(r"flash|efficient|fmha|cutlass", n, re.I))
        math_ops = sorted(n for n in names if "_scaled_dot_product_attention_math" in n)
        if math_ops:
            raise AssertionError(f"{name}: the math attention path ran ({', '.join(math_ops)})")
        if not used:
            raise AssertionError(f"{name}: no fused attention kernel in the profile")
        kernels.update(used)
        cases[name] = used
        net.zero_grad(set_to_none=True)
    # Inside sdpa_kernel(backends) the math backend is disabled: a call that needed it would have
    # raised "No available kernel" above, and the profile shows which fused kernels ran.
    return {"backends_allowed": [b.name for b in backends], "kernels": cases,
            "axes": ["spatial [B*T, heads, J, d]", "temporal [B, J*heads, T, d]"]}


def train_throughput(preset: str, device: torch.device, smoke: bool, batch: int, steps: int, workers: int) -> dict:
    from actionpose.bench import bench_loop
    over = {"model": SMOKE_MODEL} if smoke else None
    r = bench_loop(preset, batch_size=batch, steps=steps, warmup=1 if smoke else 3, workers=workers,
                   device=device.type, overrides=over, rounds=1)
    keep = ("batch", "seq_len", "workers", "amp", "model_only_clips_per_s", "loop_clips_per_s", "ratio",
            "flops_per_step", "peak_flops_per_s", "peak_dtype", "model_only_utilisation", "loop_utilisation",
            "data_s_per_batch", "loadavg_start", "loadavg_end")
    return {k: r.get(k) for k in keep}


def eval_throughput(device: torch.device, smoke: bool) -> dict:
    from actionpose.model.sequence import predict_sequence
    net, cfg = _lifter("lite", smoke, device)
    total = 6_000 if smoke else H36M_TEST_FRAMES
    n_seq = 4 if smoke else 60  # sequence lengths like H36M's test takes (~9k frames each)
    lengths = [total // n_seq + (1 if i < total % n_seq else 0) for i in range(n_seq)]
    seqs = [_inputs(1, n, torch.device("cpu"), seed=i)[0].numpy() for i, n in enumerate(lengths)]
    per_batch = 16 if smoke else 256
    _sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        predict_sequence(net, seqs[0][: cfg.maxlen * 2], cfg.maxlen, flip=True, device=device)  # warm-up
        _sync()
        t0 = time.perf_counter()
        frames = 0
        for s in seqs:
            pred = predict_sequence(net, s, cfg.maxlen, flip=True, device=device, windows_per_batch=per_batch,
                                    stride=cfg.maxlen)
            frames += pred.y3d.shape[0]
            if not np.isfinite(pred.y3d).all():
                raise AssertionError("non-finite 3D output in evaluation")
        _sync()
        seconds = time.perf_counter() - t0
    return {"frames": frames, "sequences": n_seq, "flip": True, "stride": cfg.maxlen, "windows_per_batch": per_batch,
            "amp": "bf16" if device.type == "cuda" else "fp32", "eval_seconds": seconds, "frames_per_s": frames / seconds,
            "target_seconds": 120, "meets_target": seconds <= 120 if not smoke else None}


def ddp(device: torch.device, smoke: bool, timeout_s: int) -> dict:
    n = 2 if device.type == "cpu" else max(1, torch.cuda.device_count())
    run = Path(tempfile.mkdtemp(prefix="gpu_check_ddp_")) / "run"
    small = [f"--set=model.{k}={v}" for k, v in SMOKE_MODEL.items()] if smoke else []
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(n), "--master_port", "29541", "--",
           str(Path(sys.executable).parent / "actionpose"), "pretrain", "--preset", "tiny", "--variant", "motionbert-style",
           "--max-steps", "4", "--run", str(run), "--device", device.type, "--workers", "1", "--no-progress",
           "--set=train.val_every=1000", "--set=train.log_every=2", "--set=data.batch_size=4", *small]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
    if res.returncode != 0:
        raise RuntimeError(f"torchrun exited {res.returncode}: {(res.stderr or res.stdout).strip().splitlines()[-1:]}")
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    checks = [r for r in recs if r.get("split") == "ddp_check"]
    train = [r for r in recs if r.get("split") == "train"]
    out = {"processes": n, "backend": "nccl" if device.type == "cuda" else "gloo", "steps": train[-1]["step"] if train else 0,
           "clips_per_s_last_log": train[-1].get("clips_per_s") if train else None}
    if n > 1:
        if not checks or checks[-1]["ranks_agree"] is not True:
            raise AssertionError(f"DDP ranks disagree: {checks[-1] if checks else 'no ddp_check record'}")
        out["ranks_agree"] = True
    else:
        out["note"] = "one visible GPU: torchrun ran a single process (no cross-rank check possible)"
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="CPU, small sizes: the same code paths in < 2 minutes")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/gpu_check_<device>_<date>.json)")
    ap.add_argument("--skip", default="", help="comma list of sections to skip")
    args = ap.parse_args(argv)
    smoke = args.smoke
    if not smoke and not torch.cuda.is_available():
        print("gpu_check: no CUDA device visible; run with --smoke for the CPU version", file=sys.stderr)
        return 2
    device = torch.device("cpu" if smoke else "cuda")
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    t_start = time.perf_counter()
    results: dict = {
        "smoke": smoke, "device": str(device), "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() and not smoke else None,
        "gpu_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "loadavg": list(os.getloadavg()),
    }
    torch.backends.cuda.matmul.allow_tf32 = True
    plan = [
        ("cuda_tests", lambda: run_cuda_tests(60 if smoke else 150)),
        ("bf16_vs_fp32", lambda: bf16_vs_fp32(device, smoke)),
        ("sdpa_fused", lambda: sdpa_fused(device, smoke)),
        ("train_lite", lambda: train_throughput("lite", device, smoke, 4 if smoke else 32, 2 if smoke else 10,
                                                1 if smoke else 8)),
        ("train_base", lambda: train_throughput("base", device, smoke, 4 if smoke else 16, 2 if smoke else 10,
                                                1 if smoke else 8)),
        ("eval", lambda: eval_throughput(device, smoke)),
        ("ddp", lambda: ddp(device, smoke, 120 if smoke else 180)),
    ]
    for name, fn in plan:
        if name in skip:
            results[name] = {"ok": None, "skipped": True}
            continue
        section(results, name)(fn)
    results["total_seconds"] = time.perf_counter() - t_start
    failed = [k for k, v in results.items() if isinstance(v, dict) and v.get("ok") is False]
    results["failed"] = failed
    if args.out:
        out = Path(args.out)
    else:
        tag = "smoke" if smoke else re.sub(r"[^A-Za-z0-9]+", "-", results["gpu"] or "cuda").strip("-").lower()
        out = ROOT / "benchmarks" / "results" / f"gpu_check_{tag}_{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"[gpu_check] {len(failed)} section(s) failed{': ' + ', '.join(failed) if failed else ''}; "
          f"{results['total_seconds']:.0f} s; -> {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
