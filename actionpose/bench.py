"""Throughput benchmark of the lifter: training steps and single-clip inference.

FLOPs are *counted* (torch.utils.flop_counter: matmuls and attention, forward and backward), not
estimated, and divided by the best matmul throughput measured in the same process on GEMMs shaped
like the model's own, so the utilisation says how much of the machine's matmul speed the model
turns into useful work (everything that is not a matmul — norms, GELU, softmax, copies, Python
overhead — shows up as lost utilisation).
"""
from __future__ import annotations

import ctypes
import dataclasses
import os
import platform
import resource
import statistics
import threading
import time
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode, mm_flop, sdpa_flop_count

from .config import MODEL_PRESETS, ModelConfig
from .model.lifter import build_lifter, count_parameters

_aten = torch.ops.aten


def _sdpa_flop(q, k, v, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(q, k, v)


def _sdpa_backward_flop(grad_out, q, k, v, *args, out_shape=None, **kwargs) -> int:
    # Algorithmic backward FLOPs (4 matmuls: dV, dP, dQ, dK) as for the explicit formulation; the
    # flash kernels' recomputation of the scores is extra work, not progress, so it is not counted
    # (PyTorch's own formula counts it, which would flatter SDPA against the manual path).
    b, h, s_q, d = q
    s_k, d_v = k[2], v[3]
    return 2 * b * h * (s_q * s_k * d_v * 2 + s_q * s_k * d * 2)


def _addmm_inplace_flop(self_shape, a_shape, b_shape, *args, out_shape=None, **kwargs) -> int:
    return mm_flop(a_shape, b_shape)


# Counted beyond PyTorch's registry: the CPU flash-attention kernels SDPA dispatches to on CPU
# (unknown to the counter, so attention would count as zero) and in-place `addmm_` (used by the
# q/k/v projection's backward to accumulate its three GEMMs).
_EXTRA_FLOP_FORMULAS = {
    _aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_flop,
    _aten._scaled_dot_product_flash_attention_for_cpu_backward: _sdpa_backward_flop,
    _aten._scaled_dot_product_flash_attention_backward: _sdpa_backward_flop,
    _aten._scaled_dot_product_efficient_attention_backward: _sdpa_backward_flop,
    _aten.addmm_: _addmm_inplace_flop,
}


def count_flops(fn) -> int:
    """FLOPs of the matmuls and attention executed by `fn()` (eager mode)."""
    with FlopCounterMode(display=False, custom_mapping=_EXTRA_FLOP_FORMULAS) as counter:
        fn()
    return int(counter.get_total_flops())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def _heap_in_use_fn():
    """`() -> bytes` of heap memory in use (glibc mallinfo2: allocated chunks + mmapped blocks),
    which, unlike RSS, drops when memory is freed even if the allocator keeps it; None if the C
    library has no mallinfo2 (then RSS is used)."""
    try:
        fn = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2

    def in_use() -> int:
        info = fn()
        return int(info.uordblks + info.hblkhd)
    return in_use


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _PeakMemory:
    """Peak memory of one step above its starting level. GPU: the CUDA allocator's peak. CPU: heap
    bytes in use (or RSS without glibc), sampled every millisecond by a thread — torch's CPU
    allocations are invisible to tracemalloc, and ru_maxrss is a process-wide high-water mark.
    The sampling thread competes with the compute threads, so probed steps are never timed."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak = 0
        self.measure = _heap_in_use_fn() or _rss_bytes

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base = torch.cuda.memory_allocated(self.device)
            return self
        self.base = self.peak = self.measure()
        self._stop = threading.Event()

        def poll():
            while not self._stop.wait(0.001):
                self.peak = max(self.peak, self.measure())

        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, self.measure())
        self.bytes = max(0, self.peak - self.base)
        return False


def matmul_peak(shapes: list[tuple[int, int, int]], device: torch.device, reps: int = 5,
                dtype: torch.dtype = torch.float32) -> dict:
    """Best FLOP/s over GEMMs `[M, K] @ [K, N]` of the given shapes and `dtype` (fp32 by default;
    bf16 for a model that runs under bf16 autocast), best of `reps` each.

    The best, not the mean: a busy machine only ever lowers a sample, and an underestimated peak
    would flatter the utilisation."""
    best, best_shape = 0.0, None
    for M, K, N in shapes:
        a = torch.randn(M, K, device=device, dtype=dtype)
        b = torch.randn(K, N, device=device, dtype=dtype)
        a @ b  # warm-up: first call pays for packing buffers and thread start-up
        for _ in range(reps):
            _sync(device)
            t0 = time.perf_counter()
            a @ b
            _sync(device)
            rate = 2.0 * M * K * N / (time.perf_counter() - t0)
            if rate > best:
                best, best_shape = rate, (M, K, N)
    return {"flops_per_s": best, "shape": best_shape}


def _model_gemm_shapes(cfg: ModelConfig, tokens: int) -> list[tuple[int, int, int]]:
    """The GEMMs the model's Linear layers run on `tokens` rows (forward orientation)."""
    C, hidden = cfg.dim_feat, int(cfg.dim_feat * cfg.mlp_ratio)
    return [(tokens, C, C), (tokens, C, hidden), (tokens, hidden, C), (tokens, C, cfg.dim_rep)]


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _time_steps(step, steps: int, warmup: int, device: torch.device,
                shapes: list[tuple[int, int, int]]) -> tuple[list[float], int, dict]:
    """Run two untimed steps (the second under the memory probe), `warmup` more, then `steps`
    timed ones; measure the
    matmul peak before, halfway through and after the timed steps and keep the best, so that a
    burst of load from elsewhere cannot depress the peak alone (and flatter the utilisation).

    Memory is probed on an untimed step only: the probe's sampling thread, waking every 2 ms,
    would steal a core from OpenMP's worker threads (2 threads on 2 cores) and slow every op
    that waits at a barrier — it cost ~10 % of a step when it ran during the timed ones."""
    step()  # the first step allocates optimizer state and packing buffers: probe the steady state
    with _PeakMemory(device) as mem:
        step()
    for _ in range(warmup):
        step()
    peaks = [matmul_peak(shapes, device)]
    _sync(device)
    times = []
    for i in range(steps):
        if i == steps // 2 and steps > 1:
            peaks.append(matmul_peak(shapes, device))
        t0 = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    peaks.append(matmul_peak(shapes, device))
    return times, mem.bytes, max(peaks, key=lambda p: p["flops_per_s"])


def _mpjpe(y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (y - target).norm(dim=-1).mean()


def tune_cpu_allocator() -> bool:
    """Keep freed memory in the process (glibc `mallopt`) instead of returning it to the OS.

    Activations of a few MB are freed and re-allocated every step; by default glibc hands such
    blocks back (mmap / heap trimming), so every step pays tens of thousands of page faults — on
    2 cores that cost ~10 % of an eager training step. Process-wide and irreversible, so it is
    opt-in: the benchmark and CPU training call it; resident memory then stays at its peak.
    Returns False where it does not apply (not glibc).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    ok = libc.mallopt(M_MMAP_THRESHOLD, 1 << 30) or libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
    return bool(ok and libc.mallopt(M_TRIM_THRESHOLD, (1 << 31) - 1))


def bench(preset: str = "tiny", batch_size: int | None = None, seq_len: int | None = None,
          steps: int = 5, compile: bool = False, warmup: int = 2, infer_steps: int | None = None,
          train: bool = True, infer: bool = True, attention: str = "sdpa", device: str = "auto",
          overrides: dict | None = None, tune_allocator: bool = True) -> dict[str, Any]:
    """Time training steps (forward + backward + AdamW, MPJPE loss, `batch_size` clips of `seq_len`
    frames) and inference of one clip (eval, no_grad, B = 1, T = the preset's maxlen).

    FLOPs are counted once on an eager twin (compiled code hides its ops from the counter; the
    arithmetic is the same). Returns plain numbers (seconds, FLOPs, FLOP/s, bytes) for `format_bench`.
    """
    if preset not in MODEL_PRESETS:
        raise ValueError(f"bench preset = {preset!r}: expected one of {', '.join(MODEL_PRESETS)}")
    cfg = ModelConfig(**dict(MODEL_PRESETS[preset], preset=preset, attention=attention, **(overrides or {})))
    dev = _resolve_device(device)
    T = seq_len or cfg.maxlen
    if not 1 <= T <= cfg.maxlen:
        raise ValueError(f"bench seq_len = {T}: expected 1..{cfg.maxlen} (the preset's maxlen)")
    B = batch_size or _DEFAULT_BATCH.get(preset, 1)
    if B < 1 or steps < 1 or warmup < 0:
        raise ValueError(f"bench batch_size = {B}, steps = {steps}, warmup = {warmup}: "
                         "expected batch_size >= 1, steps >= 1, warmup >= 0")
    infer_steps = infer_steps or steps
    tuned = tune_cpu_allocator() if (tune_allocator and dev.type == "cpu") else False
    torch.manual_seed(0)
    eager = build_lifter(cfg, text_dim=None).to(dev)
    model = eager
    if compile:
        model = build_lifter(dataclasses.replace(cfg, compile=True), text_dim=None).to(dev)
        model.load_state_dict(eager.state_dict())
    J = cfg.num_joints
    result: dict[str, Any] = {
        "preset": preset, "device": str(dev), "attention": attention, "compile": compile,
        "params_backbone": count_parameters(model), "threads": torch.get_num_threads(),
        "torch": torch.__version__, "cpu": _cpu_name(), "allocator_tuned": tuned,
        "model": dataclasses.asdict(cfg),
    }

    def first_call(fn) -> float:  # compilation happens on the first call of each graph
        t0 = time.perf_counter()
        fn()
        _sync(dev)
        return time.perf_counter() - t0

    if infer:
        x1 = torch.randn(1, cfg.maxlen, J, 3, device=dev)
        model.eval()
        eager.eval()
        with torch.no_grad():
            flops = count_flops(lambda: eager(x1))
            if compile:
                result["compile_infer_s"] = first_call(lambda: model(x1))
            times, mem_bytes, peak = _time_steps(lambda: model(x1), infer_steps, warmup, dev,
                                                 _model_gemm_shapes(cfg, cfg.maxlen * J))
        result["infer"] = _summary(times, flops, peak, mem_bytes, batch=1, seq_len=cfg.maxlen)
        result["infer"]["state_bytes"] = _state_bytes(model, None)

    if train:
        x = torch.randn(B, T, J, 3, device=dev)
        target = torch.randn(B, T, J, 3, device=dev)
        model.train()
        eager.train()
        opt = _adamw(model)

        def step():
            opt.zero_grad(set_to_none=True)
            _mpjpe(model(x)["y3d"], target).backward()
            opt.step()

        flops = count_flops(lambda: _mpjpe(eager(x)["y3d"], target).backward())
        eager.zero_grad(set_to_none=True)
        if compile:
            result["compile_train_s"] = first_call(step)
        times, mem_bytes, peak = _time_steps(step, steps, warmup, dev, _model_gemm_shapes(cfg, B * T * J))
        result["train"] = _summary(times, flops, peak, mem_bytes, batch=B, seq_len=T)
        result["train"]["state_bytes"] = _state_bytes(model, opt)
    # One machine peak for the whole run: the best GEMM rate seen in any phase (phases use
    # different GEMM sizes; the larger ones usually run faster, which is the honest denominator).
    best = max((result[k] for k in ("infer", "train") if k in result), key=lambda r: r["peak_flops_per_s"])
    for k in ("infer", "train"):
        if k in result:
            r = result[k]
            r["phase_peak_flops_per_s"] = r["peak_flops_per_s"]
            r["peak_flops_per_s"], r["peak_shape"] = best["peak_flops_per_s"], best["peak_shape"]
            r["utilisation"] = r["flops_per_s"] / r["peak_flops_per_s"]
            r["utilisation_best"] = r["flops"] / r["time_s_min"] / r["peak_flops_per_s"]
    result["maxrss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return result


# Default batch per preset: tiny as CPU training runs it (DataConfig.batch_size); the larger
# presets at the smallest batch that keeps their GEMMs large (a CPU step takes seconds).
_DEFAULT_BATCH = {"tiny": 16, "lite": 2, "base": 1}


def _state_bytes(model: torch.nn.Module, opt: torch.optim.Optimizer | None) -> int:
    """Bytes held between steps: parameters (+ optimizer state)."""
    n = sum(p.numel() * p.element_size() for p in model.parameters())
    if opt is not None:
        n += sum(v.numel() * v.element_size() for st in opt.state.values() for v in st.values()
                 if isinstance(v, torch.Tensor))
    return n


def _adamw(model: torch.nn.Module) -> torch.optim.Optimizer:
    try:  # the fused kernel updates all parameters in one pass (CPU support since torch 2.4)
        return torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(model.parameters(), lr=1e-4)


def _summary(times: list[float], flops: int, peak: dict, mem_bytes: int, batch: int, seq_len: int) -> dict:
    med = statistics.median(times)
    achieved = flops / med
    return {
        "batch": batch, "seq_len": seq_len, "steps": len(times),
        "time_s_median": med, "time_s_min": min(times), "time_s_max": max(times),
        "clips_per_s": batch / med, "flops": flops, "flops_per_s": achieved,
        "peak_flops_per_s": peak["flops_per_s"], "peak_shape": peak["shape"],
        "utilisation": achieved / peak["flops_per_s"],
        "utilisation_best": flops / min(times) / peak["flops_per_s"], "peak_mem_bytes": mem_bytes,
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def format_bench(result: dict) -> str:
    """Human-readable multi-line summary of a `bench` result."""
    header = (f"preset {result['preset']} ({result['params_backbone']:,} backbone params), "
              f"device {result['device']} [{result['cpu']}, {result['threads']} threads], torch {result['torch']}, "
              f"attention {result['attention']}, compile {result['compile']}, "
              f"allocator tuned {result.get('allocator_tuned', False)}")
    lines = [header]
    comp = [f"{result[k]:.1f} s {what}" for k, what in (("compile_infer_s", "inference graph"),
                                                      ("compile_train_s", "training graph")) if k in result]
    if comp:
        lines.append("  compile (first call): " + ", ".join(comp))
    for name, label in (("train", "training step"), ("infer", "inference clip")):
        r = result.get(name)
        if not r:
            continue
        lines.append(
            f"  {label} (B={r['batch']}, T={r['seq_len']}): {r['time_s_median'] * 1e3:.1f} ms median "
            f"[{r['time_s_min'] * 1e3:.1f}–{r['time_s_max'] * 1e3:.1f}] over {r['steps']}, "
            f"{r['clips_per_s']:.2f} clips/s, {r['flops'] / 1e9:.2f} GFLOP counted, "
            f"{r['flops_per_s'] / 1e9:.1f} GFLOP/s = {100 * r['utilisation']:.0f} % (best step "
            f"{100 * r['utilisation_best']:.0f} %) of matmul peak "
            f"{r['peak_flops_per_s'] / 1e9:.1f} GFLOP/s; memory: {r['state_bytes'] / 2**20:.0f} MiB state "
            f"+ {r['peak_mem_bytes'] / 2**20:.0f} MiB peak within a step")
    return "\n".join(lines)


# -- the training loop, data pipeline included ----------------------------------------------------

def bench_loop(preset: str = "tiny", batch_size: int | None = None, steps: int = 20, warmup: int = 3,
               workers: int | None = None, device: str = "auto", variant: str = "actionpose",
               overrides: dict | None = None, motions=None, rounds: int = 2, count: bool = True,
               tune_allocator: bool = True) -> dict[str, Any]:
    """Time the real training loop (DataLoader with `workers` processes + copy to the device +
    `train.loop.train_step`: masks, forward, losses, backward, clipping, AdamW) beside the same step
    on one fixed batch already on the device ("model-only"), on the bundled data (or `motions`).

    The two alternate (`rounds` × [model-only, loop], then model-only once more) so that load from
    other processes hits both alike; each phase runs `warmup` untimed then `steps` timed steps, and
    each loop phase starts a fresh loader (worker start-up falls in its warm-up). clips/s of a phase
    = batch · steps / wall time (the device synchronised at the end only, as in training). Reports
    the ratio loop / model-only (the best phase of each), the data work per batch measured alone, counted FLOPs per step
    and the utilisation against the matmul peak (bf16 GEMMs under bf16 autocast, else fp32)
    measured in the same run, plus the load average."""
    from .config import _merge, make_config
    from .data.dataset import LiftingWindows, split_motions
    from .train import distributed as D
    from .train.data import batch_indices, collate_items, load_data, make_train_loader
    from .train.loop import step_context, to_device, train_step
    from .train.model_io import build_bundle

    dev = _resolve_device(device)
    if workers is None:
        workers = 1 if dev.type == "cpu" else 4
    if steps < 1 or warmup < 0 or rounds < 1 or workers < 0:
        raise ValueError(f"bench_loop steps = {steps}, warmup = {warmup}, rounds = {rounds}, workers = {workers}: "
                         "expected steps >= 1, warmup >= 0, rounds >= 1, workers >= 0")
    over = _merge(overrides or {}, {"train": {"stage": "pretrain", "device": dev.type, "seed": 0},
                                    "data": {"num_workers": workers}})
    if batch_size is not None:
        over = _merge(over, {"data": {"batch_size": batch_size}})
    cfg = make_config(preset, variant, over)
    B = cfg.data.batch_size
    tuned = tune_cpu_allocator() if (tune_allocator and dev.type == "cpu") else False
    load_start = os.getloadavg()
    if motions is None:
        motions, _ = load_data(cfg.data.path)
    train_m = split_motions(motions, cfg.data.train_split)
    if not train_m:
        raise ValueError(f"bench_loop: no motions in split {cfg.data.train_split!r} of the data")
    info = D.DistInfo()
    torch.manual_seed(0)
    bundle = build_bundle(cfg, train_m, device=dev)
    ctx = step_context(cfg, bundle, info, dev)
    aligning = cfg.align.enabled
    ds = LiftingWindows(train_m, cfg, train=True, vocab=bundle.vocab if aligning else None, seed=0,
                        noise=cfg.noise.enabled)

    # Data work alone (what the workers take off the training thread), in this process.
    t0 = time.perf_counter()
    n_data = 3
    for s in range(n_data):
        idx, epoch = batch_indices(len(ds), B, s, 0)
        ds.set_epoch(epoch)
        cpu_batch = collate_items([ds[i] for i in idx])
    data_s = (time.perf_counter() - t0) / n_data
    fixed, fixed_fv = to_device(cpu_batch, dev)
    _sync(dev)

    step_no = [0]

    def model_phase() -> float:
        for _ in range(warmup):
            train_step(ctx, fixed, fixed_fv, step_no[0])
            step_no[0] += 1
        _sync(dev)
        t = time.perf_counter()
        for _ in range(steps):
            train_step(ctx, fixed, fixed_fv, step_no[0])
            step_no[0] += 1
        _sync(dev)
        return time.perf_counter() - t

    def loop_phase() -> float:
        loader = make_train_loader(ds, batch_size=B, seed=0, start_step=step_no[0], max_steps=step_no[0] + warmup + steps,
                                   num_workers=workers, pin_memory=dev.type == "cuda")
        it = iter(loader)
        for _ in range(warmup):
            batch, fv = to_device(next(it), dev)
            train_step(ctx, batch, fv, step_no[0])
            step_no[0] += 1
        _sync(dev)
        t = time.perf_counter()
        for _ in range(steps):
            batch, fv = to_device(next(it), dev)
            train_step(ctx, batch, fv, step_no[0])
            step_no[0] += 1
        _sync(dev)
        elapsed = time.perf_counter() - t
        del it
        return elapsed

    model_s, loop_s = [], []
    for _ in range(rounds):
        model_s.append(model_phase())
        loop_s.append(loop_phase())
    model_s.append(model_phase())

    amp = ctx.amp_dtype
    flops = None
    if count and not cfg.model.compile:  # compiled code hides its ops from the counter
        flops = count_flops(lambda: train_step(ctx, fixed, fixed_fv, step_no[0]))
    T = cfg.model.maxlen
    peak = matmul_peak(_model_gemm_shapes(cfg.model, B * T * cfg.model.num_joints), dev,
                       dtype=amp if amp is not None else torch.float32)
    best_model, best_loop = min(model_s), min(loop_s)
    res: dict[str, Any] = {
        "preset": preset, "device": str(dev), "batch": B, "seq_len": T, "workers": workers, "steps": steps,
        "rounds": rounds, "amp": str(amp).replace("torch.", "") if amp is not None else "fp32",
        "compile": bool(cfg.model.compile), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "cpu": _cpu_name(), "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
        "allocator_tuned": tuned, "data_s_per_batch": data_s,
        "model_only_s": model_s, "loop_s": loop_s,
        "model_only_clips_per_s": B * steps / best_model, "loop_clips_per_s": B * steps / best_loop,
        "ratio": best_model / best_loop,
        "ratio_median": statistics.median(model_s) / statistics.median(loop_s),
        "flops_per_step": flops, "peak_flops_per_s": peak["flops_per_s"], "peak_shape": peak["shape"],
        "peak_dtype": str(amp if amp is not None else torch.float32).replace("torch.", ""),
        "loadavg_start": list(load_start), "loadavg_end": list(os.getloadavg()),
    }
    if flops:
        res["model_only_utilisation"] = flops * steps / best_model / peak["flops_per_s"]
        res["loop_utilisation"] = flops * steps / best_loop / peak["flops_per_s"]
    return res


def format_bench_loop(r: dict) -> str:
    """Human-readable summary of a `bench_loop` result."""
    where = r["gpu"] or f"{r['cpu']}, {r['threads']} threads"
    lines = [f"training loop, preset {r['preset']} on {r['device']} [{where}], torch {r['torch']}, {r['amp']}, "
             f"compile {r['compile']}, batch {r['batch']} x {r['seq_len']} frames, {r['workers']} data worker(s)",
             f"  model-only step (fixed batch on the device): {r['model_only_clips_per_s']:.2f} clips/s "
             f"(best of {len(r['model_only_s'])} phases of {r['steps']} steps)",
             f"  training loop (DataLoader + copy + step):    {r['loop_clips_per_s']:.2f} clips/s "
             f"(best of {len(r['loop_s'])} phases)",
             f"  ratio loop / model-only: {100 * r['ratio']:.1f} % (medians: {100 * r['ratio_median']:.1f} %); "
             f"data work alone {1e3 * r['data_s_per_batch']:.0f} ms per batch"]
    if r.get("flops_per_step"):
        lines.append(f"  {r['flops_per_step'] / 1e9:.2f} GFLOP per step counted; utilisation of the "
                     f"{r['peak_dtype']} matmul peak {r['peak_flops_per_s'] / 1e9:.1f} GFLOP/s: model-only "
                     f"{100 * r['model_only_utilisation']:.0f} %, loop {100 * r['loop_utilisation']:.0f} %")
    lines.append(f"  load average {r['loadavg_start'][0]:.2f} at start, {r['loadavg_end'][0]:.2f} at end")
    return "\n".join(lines)
