"""The training loop shared by pretraining and fine-tuning.

Determinism for exact resume: every random draw of step `s` (batch order, cameras, noise, flips,
masks, dropout) is seeded from `(seed, s)`, so the only state a checkpoint must carry is the model,
the optimizer and the step. A run killed at any moment and resumed reproduces an uninterrupted one,
whatever `data.num_workers` (items are pure functions of `(seed, epoch, index)`, see train.data).

Throughput: batches are built by DataLoader workers (pinned, copied with non_blocking on CUDA);
masks are drawn on the model's device; a step never waits for the device. Loss parts, gradient
norms and a non-finite flag stay on the device and are read once per `train.log_every` steps (and
before every checkpoint and validation), so a NaN/inf loss stops training within `log_every`
steps, naming the first bad step, and the last good checkpoint is kept.
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .. import losses as L
from ..config import RunConfig, config_diff, config_hash, to_dict
from ..data.dataset import LiftingWindows, split_motions
from ..data.motion import Motion
from ..masking import mask_batch
from . import distributed as D
from .checkpoint import (
    CKPT_NAME,
    load_checkpoint,
    optimizer_from_tensors,
    remove_stale_temps,
    optimizer_to_tensors,
    prefixed,
    save_checkpoint,
    strip_prefix,
)
from .data import batch_indices, data_fingerprint, load_data, make_train_loader
from .model_io import ModelBundle, build_bundle, build_teacher, bundle_tensors
from .runs import (append_metrics, has_checkpoint, init_run_dir, load_run_config, read_metrics, resolve_run,
                   truncate_metrics)
from .steps import evaluate_windows, padding_mask


class TrainingDiverged(RuntimeError):
    """Raised when the loss becomes NaN/inf; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    stopped_by: str  # "max_steps" | "max_minutes"
    last_val: dict | None
    seconds: float


def _lr_factor(step: int, cfg: RunConfig) -> float:
    o = cfg.optim
    if o.warmup_steps > 0 and step < o.warmup_steps:
        return (step + 1) / o.warmup_steps
    if o.decay == "constant" or cfg.train.max_steps <= o.warmup_steps:
        return 1.0
    frac = min(1.0, (step - o.warmup_steps) / max(1, cfg.train.max_steps - o.warmup_steps))
    return o.min_lr_frac + (1 - o.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * frac))


def _seed_for(seed: int, step: int, salt: int = 0) -> int:
    return (seed * 1_000_003 + step * 7919 + salt) % (2**63 - 1)


def _batch_indices(n_items: int, batch: int, step: int, seed: int, info: D.DistInfo) -> tuple[list[int], int]:
    """This rank's item indices for global step `step` (epoch-wise permutation, drop last)."""
    return batch_indices(n_items, batch, step, seed, info.rank, info.world_size)


def param_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on weight matrices only. Biases, norm scales, the learnable
    temperature (all ndim <= 1) and the positional embeddings (`*_embed` parameters) go in a group
    without decay: shrinking them towards 0 changes what the model computes instead of regularising it."""
    return _decay_split(list(module.named_parameters()), weight_decay)


def _decay_split(named: list[tuple[str, nn.Parameter]], weight_decay: float, **extra) -> list[dict]:
    """`[decay group, no-decay group]` of the trainable parameters in `named` (see `param_groups`);
    `extra` keys (e.g. lr) go into both groups."""
    decay, no_decay = [], []
    for name, p in named:
        if not p.requires_grad:
            continue
        if p.ndim <= 1 or name.rsplit(".", 1)[-1].endswith("_embed"):
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay, **extra},
            {"params": no_decay, "weight_decay": 0.0, **extra}]


def optimizer_groups(bundle: ModelBundle, cfg: RunConfig) -> list[dict]:
    """AdamW groups of a run. `optim.backbone_lr_scale` = 1: `param_groups` of the whole model (two
    groups, the layout of every checkpoint written before the key existed, so they resume). Otherwise
    four: the new parts (motion-embedding head, aligner) at `optim.lr`, then the backbone (DSTformer
    with its 3D head, `lifter.backbone`) at `optim.lr x backbone_lr_scale`, each split into decay /
    no-decay; each group carries `role` ("head" / "backbone"). A frozen backbone (no requires_grad)
    is in no group: it has no optimizer state and AdamW's decoupled weight decay never touches it."""
    o = cfg.optim
    if o.backbone_lr_scale == 1.0:
        return param_groups(bundle.net, o.weight_decay)
    backbone = {id(p) for p in bundle.lifter.backbone.parameters()}
    named = list(bundle.net.named_parameters())
    head = [(n, p) for n, p in named if id(p) not in backbone]
    body = [(n, p) for n, p in named if id(p) in backbone]
    return (_decay_split(head, o.weight_decay, lr=o.lr, role="head")
            + _decay_split(body, o.weight_decay, lr=o.lr * o.backbone_lr_scale, role="backbone"))


def group_lrs(opt: torch.optim.Optimizer) -> dict[str, float]:
    """The current learning rate of each `role` of `optimizer_groups` (empty for the two-group layout)."""
    return {g["role"]: g["lr"] for g in opt.param_groups if "role" in g}


@dataclass
class StepContext:
    """What one optimisation step needs: the model (and its DDP wrapper), optimizer, schedule,
    frozen teacher (fine-tuning distillation), device, autocast dtype (None = fp32)."""
    cfg: RunConfig
    bundle: ModelBundle
    ddp_model: nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    params: list
    teacher: nn.Module | None
    device: torch.device
    amp_dtype: torch.dtype | None
    info: D.DistInfo


def amp_dtype_for(cfg: RunConfig, device: torch.device) -> torch.dtype | None:
    """bf16 autocast for the backbone when `train.amp` is bf16, or auto on CUDA; None = fp32."""
    return torch.bfloat16 if (cfg.train.amp == "bf16" or (cfg.train.amp == "auto" and device.type == "cuda")) else None


def step_context(cfg: RunConfig, bundle: ModelBundle, info: D.DistInfo, device: torch.device,
                 teacher: nn.Module | None = None) -> StepContext:
    """Wrap the model for DDP (when distributed) and build AdamW (`optimizer_groups`: decay / no-decay,
    and a lower backbone rate when `optim.backbone_lr_scale` < 1) and the schedule at step 0 (`train`
    then loads a checkpoint's optimizer state and fast-forwards it). A frozen backbone
    (`train.freeze_backbone`, requires_grad off in `build_bundle`) is outside the optimizer, and DDP
    registers only parameters that require a gradient, so it neither all-reduces nor waits for it."""
    # DDP wraps lifter AND aligner (`TrainModule`): the aligner's learned temperature takes its gradient
    # from the loss outside forward, and without the all-reduce each rank kept its own temperature and
    # clipped the shared gradient by its own norm, so the ranks' weights drifted apart.
    model = bundle.net
    ddp_model: nn.Module = model
    if info.enabled:
        # A pretraining head that no loss reads (alignment off or weighted 0) gets no gradient. (A frozen
        # backbone implies the alignment is on, config RELATIONS, so every registered parameter gets one.)
        aligning = cfg.train.stage == "pretrain" and cfg.align.enabled and cfg.loss.w_align > 0
        unused = cfg.train.stage == "pretrain" and bundle.lifter.motion_head is not None and not aligning
        if aligning and cfg.align.mode == "onehot" and bundle.aligner is not None:
            # "onehot" scores with its classifier: the temperature (text logits only) never gets a gradient,
            # and DDP stopped at the second step waiting for it. find_unused_parameters cannot help: it
            # would mark the classifier, used by the loss outside forward, ready twice. So DDP ignores the
            # temperature; it stays at its initial value on every rank (AdamW skips it: no gradient).
            nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
                model, ["aligner.log_temperature"])
        ddp_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=unused)
    params = [p for p in bundle.trainable_parameters()]
    opt = torch.optim.AdamW(optimizer_groups(bundle, cfg), lr=cfg.optim.lr, betas=cfg.optim.betas)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, cfg))
    return StepContext(cfg, bundle, ddp_model, opt, sched, params, teacher, device, amp_dtype_for(cfg, device), info)


def to_device(cpu_batch: dict[str, torch.Tensor], device: torch.device
              ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """`(batch on device, frame_valid on device or None)`. The padding decision (`padding_mask`) is
    taken on the CPU batch, so it costs no device sync; copies are non-blocking (pinned memory)."""
    fv = padding_mask(cpu_batch)
    nb = device.type == "cuda"
    batch = {k: v.to(device, non_blocking=nb) for k, v in cpu_batch.items()}
    return batch, (None if fv is None else batch["frame_valid"])


def term_gradients(terms: dict[str, torch.Tensor], params: list[torch.Tensor], reference: str = "mpjpe"
                   ) -> dict[str, torch.Tensor]:
    """Per-term gradient diagnostics on `params` (the backbone): for each weighted term `k`,
    `gnorm_k` = ‖∂(w_k·L_k)/∂θ‖ and `gcos_k` = its cosine to the `reference` term's gradient (the 3D
    error). A term whose norm dwarfs the 3D term's, or whose cosine is negative, steers the shared
    backbone away from lifting. The graph is kept (the step's own backward follows). Device tensors."""
    flat: dict[str, torch.Tensor] = {}
    for name, term in terms.items():
        grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
        flat[name] = torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1).float()
                                for g, p in zip(grads, params)])
    out = {f"gnorm_{k}": v.norm() for k, v in flat.items()}
    ref = flat.get(reference)
    if ref is not None:
        for k, v in flat.items():
            if k != reference:
                out[f"gcos_{k}"] = torch.nn.functional.cosine_similarity(v, ref, dim=0)
    return out


def train_step(ctx: StepContext, batch: dict[str, torch.Tensor], fv: torch.Tensor | None, step: int,
               diagnose: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """One optimisation step at global step `step`: masks (pretraining) drawn on the model's device
    from a generator seeded by `(seed, step, rank)`, forward (bf16 autocast for the backbone when
    enabled; head and losses in fp32), `losses.total_loss`, backward, gradient clipping, AdamW,
    schedule. Returns device tensors `(loss, parts, grad_norm)`; nothing here waits for the device.
    `diagnose`: also put `term_gradients` (per-term backbone gradient norms and cosines) into parts.

    Masks: a CPU device uses a CPU generator (the masks of every earlier version of this loop); on
    CUDA the generator lives on the GPU (Philox), so the masks differ from a CPU run's but are
    equally a pure function of `(seed, step, rank)`."""
    cfg, info, device = ctx.cfg, ctx.info, ctx.device
    ctx.bundle.lifter.train()
    torch.manual_seed(_seed_for(cfg.train.seed, step, info.rank))  # dropout / drop-path
    if cfg.train.stage == "pretrain":
        gen = torch.Generator(device=device).manual_seed(_seed_for(cfg.train.seed, step, 17 + info.rank))
        x_in, _ = mask_batch(batch["x2d"], cfg.mask, gen)
    else:
        x_in = batch["x2d"]
    # Fine-tuning's distillation trains the embedding head only unless loss.distill_backbone.
    head_only = ctx.teacher is not None and not cfg.loss.distill_backbone
    # Pretraining with loss.align_backbone off: the alignment trains the embedding head only.
    head_only = head_only or (cfg.train.stage == "pretrain" and cfg.align.enabled and not cfg.loss.align_backbone)
    with torch.autocast(device.type, dtype=ctx.amp_dtype, enabled=ctx.amp_dtype is not None):
        out = ctx.ddp_model(x_in, fv, detach_embedding=True) if head_only else ctx.ddp_model(x_in, fv)
        t_emb = None
        if ctx.teacher is not None:
            with torch.no_grad():
                t_emb = ctx.teacher(x_in, fv)["motion_emb"]
    aligning = cfg.train.stage == "pretrain" and cfg.align.enabled
    terms: dict[str, torch.Tensor] | None = {} if diagnose else None
    loss, parts = L.total_loss(out, batch, cfg.loss, aligner=ctx.bundle.aligner if aligning else None,
                               teacher_emb=t_emb, terms_out=terms)
    if diagnose and len(terms) > 0:
        backbone = [p for p in ctx.bundle.lifter.backbone.parameters() if p.requires_grad]
        if backbone:  # a frozen backbone (train.freeze_backbone) has no gradient to diagnose
            parts = {**parts, **term_gradients(terms, backbone)}
    ctx.opt.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.optim.grad_clip > 0:
        gnorm = torch.nn.utils.clip_grad_norm_(ctx.params, cfg.optim.grad_clip).detach()
    else:
        gnorm = torch.full((), float("nan"), device=device)
    ctx.opt.step()
    ctx.sched.step()
    return loss.detach(), parts, gnorm


class _Monitor:
    """Per-step device values kept until the next read-out: non-finite flags (with each step's batch
    windows, for the error message), the sum of losses since the last log (`loss_mean`)."""

    def __init__(self):
        self.flags: list[tuple[int, list[int], torch.Tensor, torch.Tensor]] = []
        self.loss_sum: torch.Tensor | None = None
        self.n = 0

    def add(self, step: int, idx: list[int], loss: torch.Tensor) -> None:
        self.flags.append((step, idx, ~torch.isfinite(loss), loss))
        self.loss_sum = loss.float() if self.loss_sum is None else self.loss_sum + loss.float()
        self.n += 1

    def check(self, run_dir: Path, last_saved: int) -> None:
        """Raise TrainingDiverged naming the first step (since the last check) whose loss was not finite."""
        if not self.flags:
            return
        bad = torch.stack([f for _, _, f, _ in self.flags]).nonzero()
        if bad.numel():
            step, idx, _, loss = self.flags[int(bad[0, 0])]
            raise TrainingDiverged(
                f"{run_dir}: loss is {loss.item()} at step {step} (batch windows {idx[:8]}"
                f"{'...' if len(idx) > 8 else ''}); the last good checkpoint (step {last_saved}) is kept")
        self.flags.clear()

    def take_mean(self) -> float:
        mean = float(self.loss_sum) / max(self.n, 1) if self.loss_sum is not None else float("nan")
        self.loss_sum, self.n = None, 0
        return mean


def train(cfg: RunConfig, run_dir: Path, *, resume: bool = False, init_from: Path | None = None,
          motions: list[Motion] | None = None, progress: bool = True) -> TrainResult:
    """Train (pretrain or finetune per `cfg.train.stage`) into `run_dir`.

    `init_from`: a run folder whose backbone (and, for fine-tuning, frozen aligner) initialises the
    model. `resume`: continue the checkpoint in `run_dir` exactly; refused if the config differs.
    """
    info, device = D.setup(cfg.train.device)
    try:
        return _train(cfg, Path(run_dir), resume, init_from, motions, progress, info, device)
    finally:
        D.teardown(info)


def _train(cfg, run_dir, resume, init_from, motions, progress, info, device) -> TrainResult:
    t_start = time.time()
    if motions is None:
        motions, data_info = load_data(cfg.data.path)
    else:
        data_info = {"source": "in-memory"}
    train_m = split_motions(motions, cfg.data.train_split)
    val_m = split_motions(motions, cfg.data.val_split)
    if not train_m:
        raise ValueError(f"data {cfg.data.path or 'bundled'}: no motions in split {cfg.data.train_split!r}")
    if not val_m and cfg.train.val_every > 0 and info.is_main:
        splits = sorted({str(m.meta.get('split')) for m in motions})
        print(f"warning: data {cfg.data.path or 'bundled'}: no motions in validation split {cfg.data.val_split!r} "
              f"(splits present: {', '.join(splits)}); this run is not validated (set data.val_split)")
    data_hash = data_fingerprint(motions)

    # Resume bookkeeping first: a mismatched config must be refused before any work.
    start_step, ckpt_tensors, ckpt_meta = 0, None, None
    if resume and has_checkpoint(run_dir):
        old = load_run_config(run_dir)
        diff = config_diff(old, cfg)
        if diff:
            raise ValueError(f"{run_dir}/config.yaml: cannot resume with a different config; differing keys: "
                             + "; ".join(diff[:8]))
        ckpt_tensors, ckpt_meta = load_checkpoint(run_dir)
        if ckpt_meta.get("config_hash") != config_hash(cfg):
            raise ValueError(f"{run_dir}/checkpoint.safetensors: config hash {ckpt_meta.get('config_hash')} "
                             f"does not match the run's config ({config_hash(cfg)})")
        if ckpt_meta.get("data_hash") and ckpt_meta["data_hash"] != data_hash:
            raise ValueError(f"{run_dir}/checkpoint.safetensors: trained on data {ckpt_meta['data_hash']}, "
                             f"but data.path {cfg.data.path or '(bundled)'} holds {data_hash}; resume with the same data")
        start_step = int(ckpt_meta["step"])
    elif has_checkpoint(run_dir) and not resume:
        raise FileExistsError(f"{run_dir}: already holds a checkpoint; pass --resume to continue it or choose a new --run")

    torch.manual_seed(cfg.train.seed)  # the initialisation is part of the run's identity
    bundle = build_bundle(cfg, train_m, init_from=init_from, device=device,
                          resume=(ckpt_tensors, ckpt_meta) if ckpt_tensors is not None else None)
    if info.is_main:
        init_run_dir(run_dir, cfg)
        if resume:
            truncate_metrics(run_dir, start_step)
            remove_stale_temps(run_dir)  # a kill between write and rename leaves .<file>.*.tmp behind
    D.barrier(info)

    # Fine-tuning keeps the pretrained motion embedding by distilling it from a frozen copy of the
    # source model (label-free, see LossConfig.w_distill); the source is recorded in the checkpoint.
    started_from = _source_record(init_from, ckpt_meta)
    teacher = None
    if (cfg.train.stage == "finetune" and cfg.loss.w_distill and bundle.lifter.motion_head is not None
            and started_from is not None):
        teacher = build_teacher(_check_source(started_from, run_dir), device)
    ctx = step_context(cfg, bundle, info, device, teacher)
    opt, sched = ctx.opt, ctx.sched
    if ckpt_tensors is not None and any(k.startswith("optim.") for k in ckpt_tensors):
        optimizer_from_tensors(opt, ckpt_tensors, ckpt_meta["optim"])
    # The schedule is a pure function of the step: fast-forward it instead of storing its state.
    for g in opt.param_groups:
        g["lr"] = g["initial_lr"] * _lr_factor(start_step, cfg)
    sched.last_epoch = start_step

    use_vocab = bundle.vocab if cfg.train.stage == "pretrain" and cfg.align.enabled else None
    train_ds = LiftingWindows(train_m, cfg, train=True, vocab=use_vocab, seed=cfg.train.seed,
                              noise=cfg.noise.enabled)
    val_ds = (LiftingWindows(val_m, cfg, train=False, vocab=bundle.vocab, seed=cfg.train.seed,
                             max_windows=cfg.train.val_max_windows) if val_m else None)
    if info.is_main and train_ds.padded_motions:
        print(f"note: {len(train_ds.padded_motions)} take(s) shorter than {cfg.model.maxlen} frames are padded "
              f"(last frame repeated, excluded from the loss): {', '.join(train_ds.padded_motions[:5])}")

    bar = None
    if progress and info.is_main:
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.train.max_steps, initial=start_step, desc=f"{cfg.train.stage} {run_dir.name}",
                   dynamic_ncols=True)

    step = start_step
    # A resumed run's validation at its checkpoint step was logged before that checkpoint was written (the
    # loop validates, then saves), so it describes these weights: re-running a finished run must not log
    # it again.
    last_val = next((r for r in reversed(read_metrics(run_dir)) if r.get("split") == "val"
                     and r.get("step") == start_step), None) if start_step else None
    stopped_by = "max_steps"
    last_saved = start_step
    t_log = time.time()
    clips_since = 0
    monitor = _Monitor()
    last: tuple | None = None  # (loss, parts, grad_norm) of the latest step, device tensors

    def checkpoint(at_step: int) -> None:
        nonlocal last_saved
        monitor.check(run_dir, last_saved)  # never save weights a non-finite step has touched
        if info.is_main:
            tensors = bundle_tensors(bundle)
            opt_t, opt_s = optimizer_to_tensors(opt)
            tensors.update(opt_t)
            meta = bundle.meta(cfg)
            meta.update(step=at_step, config_hash=config_hash(cfg), data_hash=data_hash,
                        data=data_info, optim=opt_s, stage=cfg.train.stage, started_from=started_from)
            save_checkpoint(run_dir, tensors, meta)
        last_saved = at_step
        D.barrier(info)

    loader = make_train_loader(train_ds, batch_size=cfg.data.batch_size, seed=cfg.train.seed, start_step=start_step,
                               max_steps=cfg.train.max_steps, num_workers=cfg.data.num_workers,
                               pin_memory=device.type == "cuda", rank=info.rank, world_size=info.world_size)
    batches = iter(loader)
    while step < cfg.train.max_steps:
        if cfg.train.max_minutes > 0 and (not info.enabled or step % cfg.train.log_every == 0):
            # Under DDP the decision is broadcast (a sync), so it is taken at log intervals only.
            over = (time.time() - t_start) / 60.0 >= cfg.train.max_minutes
            if D.broadcast_flag(info, over, device if device.type == "cuda" else None):
                stopped_by = "max_minutes"
                break
        cpu_batch = next(batches)
        idx = cpu_batch["index"].tolist()
        batch, fv = to_device(cpu_batch, device)
        diag_every = cfg.train.grad_diag_every
        diagnose = (bool(diag_every) and not info.enabled and (step + 1) % cfg.train.log_every == 0
                    and ((step + 1) // cfg.train.log_every) % max(1, diag_every // cfg.train.log_every) == 0)
        loss, parts, gnorm = train_step(ctx, batch, fv, step, diagnose=diagnose)
        monitor.add(step, idx, loss)
        last = (loss, parts, gnorm)
        step += 1
        clips_since += len(idx) * info.world_size

        if step % cfg.train.log_every == 0 or step == cfg.train.max_steps:
            monitor.check(run_dir, last_saved)
            if info.is_main:
                loss_t, parts_t, gnorm_t = last
                names = list(parts_t)
                values = torch.stack([loss_t.float(), gnorm_t.float(), *(parts_t[k].float() for k in names)]).tolist()
                dt = max(time.time() - t_log, 1e-9)
                rec = {"step": step, "split": "train", "loss": values[0], "lr": opt.param_groups[0]["lr"],
                       "grad_norm": values[1], "clips_per_s": clips_since / dt, **dict(zip(names, values[2:])),
                       "loss_mean": monitor.take_mean()}
                if "backbone" in (lrs := group_lrs(opt)):  # optim.backbone_lr_scale != 1
                    rec["lr_backbone"] = lrs["backbone"]
                append_metrics(run_dir, rec)
                if bar is not None:
                    bar.set_postfix(loss=f"{rec['loss']:.4f}", clips_s=f"{rec['clips_per_s']:.0f}")
                t_log, clips_since = time.time(), 0
            else:
                monitor.take_mean()
        if bar is not None:
            bar.update(1)
        if val_ds is not None and cfg.train.val_every > 0 and step % cfg.train.val_every == 0:
            monitor.check(run_dir, last_saved)
            last_val = _validate(bundle, val_ds, cfg, device, run_dir, step, info)
        if step % cfg.train.ckpt_every == 0:
            checkpoint(step)
    del batches  # stops the loader's workers

    if bar is not None:
        bar.close()
    if info.enabled:
        _check_ranks_agree(bundle.net, info, device, run_dir, step)
    monitor.check(run_dir, last_saved)
    if last_saved != step or not has_checkpoint(run_dir):
        checkpoint(step)
    if val_ds is not None and cfg.train.val_every > 0 and (last_val is None or last_val.get("step") != step):
        last_val = _validate(bundle, val_ds, cfg, device, run_dir, step, info)
    return TrainResult(run_dir, step, stopped_by, last_val, time.time() - t_start)


def _source_record(init_from: Path | None, ckpt_meta: dict | None) -> dict | None:
    """Which run this one started from (path + checkpoint sha256), kept across resumes."""
    if ckpt_meta is not None:
        return ckpt_meta.get("started_from")
    if init_from is None:
        return None
    src = resolve_run(init_from)
    digest = hashlib.sha256((src / CKPT_NAME).read_bytes()).hexdigest()
    return {"run": str(src), "checkpoint_sha256": digest}


def _check_source(started_from: dict, run_dir: Path) -> Path:
    """The source run of a resumed fine-tune must be the same checkpoint it started from."""
    src = Path(started_from["run"])
    ckpt = src / CKPT_NAME
    if not ckpt.exists():
        raise FileNotFoundError(f"{run_dir}: started from {src}, whose checkpoint is gone; "
                                "the distillation teacher cannot be rebuilt")
    if hashlib.sha256(ckpt.read_bytes()).hexdigest() != started_from["checkpoint_sha256"]:
        raise ValueError(f"{ckpt}: changed since {run_dir} started from it (sha256 differs); cannot resume exactly")
    return src


def _check_ranks_agree(model: nn.Module, info: D.DistInfo, device, run_dir: Path, step: int) -> None:
    """After DDP training every rank must hold identical weights; gather checksums and verify."""
    import torch.distributed as dist
    with torch.no_grad():
        vec = torch.cat([p.detach().float().reshape(-1) for p in model.parameters()])
        mine = torch.stack([vec.sum(), (vec * vec).sum(), vec[::7].sum(), vec[1::5].abs().sum()])
    gathered = [torch.zeros_like(mine) for _ in range(info.world_size)]
    dist.all_gather(gathered, mine)
    agree = all(torch.equal(g, gathered[0]) for g in gathered)
    if info.is_main:
        append_metrics(run_dir, {"step": step, "split": "ddp_check", "world_size": info.world_size,
                                 "ranks_agree": bool(agree), "checksums": [g.tolist() for g in gathered]})
    if not agree:
        raise RuntimeError(f"{run_dir}: DDP ranks hold different weights after step {step}")


def _validate(bundle: ModelBundle, val_ds: LiftingWindows, cfg: RunConfig, device, run_dir: Path,
              step: int, info: D.DistInfo) -> dict | None:
    if not info.is_main:
        D.barrier(info)
        return None
    res = evaluate_windows(bundle, val_ds, device, batch_size=max(8, cfg.data.batch_size))
    rec = {"step": step, "split": "val", **res}
    append_metrics(run_dir, rec)
    D.barrier(info)
    return rec


__all__ = ["train", "TrainResult", "TrainingDiverged", "param_groups", "optimizer_groups", "group_lrs", "StepContext", "step_context", "train_step",
           "to_device", "amp_dtype_for", "to_dict", "prefixed", "strip_prefix"]
