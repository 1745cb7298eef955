"""The public, task-level API used by the CLI, notebooks and the app."""
from __future__ import annotations

from pathlib import Path

from .config import RunConfig, _merge, from_dict, make_config, to_dict
from .train.checkpoint import save_checkpoint
from .train.loop import TrainResult, train
from .train.runs import init_run_dir, load_run_config, resolve_run


def pretrain_config(preset: str | None = "tiny", variant: str = "actionpose", overrides: dict | None = None,
                    init_from: str | Path | None = None) -> RunConfig:
    """Pretraining config: model preset (None: tiny) + ablation variant + overrides. With `init_from`
    (the run whose backbone starts this one, e.g. an imported MotionBERT checkpoint) the model section
    is that run's -- sizes and input encoding (an imported model reads absolute screen coordinates,
    without the residual lift or the frame embedding) -- so the loaded backbone computes the function it
    was trained for; `preset` must then be None or the source's."""
    if variant == "scratch":
        raise ValueError("variant 'scratch' has no pretraining stage; use `actionpose finetune --from scratch`")
    stage = {"train": {"stage": "pretrain"}}
    if init_from is None:
        return make_config(preset or "tiny", variant, _merge(overrides or {}, stage))
    src_dir = resolve_run(init_from)
    src_model = load_run_config(src_dir).model
    if preset is not None and preset != src_model.preset:
        raise ValueError(f"preset {preset!r} contradicts {src_dir}/config.yaml (model preset {src_model.preset!r}); "
                         "pretraining from a run keeps its architecture: leave the preset out")
    base = {**to_dict(make_config("tiny", variant)), "model": to_dict(src_model)}
    return from_dict(_merge(_merge(base, overrides or {}), stage))


# Fine-tuning starts from a trained model, so it steps more gently than pretraining (MotionBERT: 5e-4
# pretraining, 2e-4 fine-tuning on Human3.6M; the same 0.4 ratio here).
FINETUNE_LR = 2e-4


def finetune_config(from_run: str | Path, overrides: dict | None = None, preset: str | None = None) -> RunConfig:
    """Fine-tuning config: the source run's architecture, alignment and masks off, 3D losses on (+ the
    embedding distillation that keeps recognition), learning rate `FINETUNE_LR` unless overridden."""
    stage = {"train": {"stage": "finetune"}, "align": {"enabled": False}, "optim": {"lr": FINETUNE_LR},
             "mask": {"joint_prob": 0.0, "frame_prob": 0.0, "part_prob": 0.0, "window_prob": 0.0}}
    if str(from_run) == "scratch":
        return make_config(preset or "tiny", "scratch", _merge(stage, overrides or {}))
    src_cfg = load_run_config(resolve_run(from_run))
    if preset and preset != src_cfg.model.preset:
        raise ValueError(f"--preset {preset} contradicts the source run's preset {src_cfg.model.preset!r}")
    base = {"model": to_dict(src_cfg.model), "text": to_dict(src_cfg.text), "variant": src_cfg.variant}
    return from_dict(_merge(_merge(base, stage), overrides or {}))


def _check_resume_schedule(cfg: RunConfig, run: Path, resume: bool) -> None:
    """The cosine learning-rate schedule depends on `train.max_steps`, so resuming an unfinished run
    with another max_steps would change the learning rate of every remaining step: refused. A run that
    reached its max_steps may be extended (its remaining steps then follow the new schedule)."""
    from .train.checkpoint import CKPT_NAME, read_meta
    if not resume or not (run / CKPT_NAME).exists() or not (run / "config.yaml").exists():
        return
    old = load_run_config(run)
    if old.train.max_steps == cfg.train.max_steps or cfg.optim.decay == "constant":
        return
    step = int(read_meta(run / CKPT_NAME).get("step", 0))
    if step < old.train.max_steps:
        raise ValueError(f"{run}/config.yaml: train.max_steps = {old.train.max_steps} but the resume asks for "
                         f"{cfg.train.max_steps}; the run stopped at step {step} and its cosine learning-rate "
                         f"schedule depends on max_steps; resume with --max-steps {old.train.max_steps}")


def _with_device(overrides: dict | None, device: str | None) -> dict | None:
    """`overrides` with `train.device` set (the device is free to change on resume)."""
    if device is None:
        return overrides
    if device not in ("auto", "cuda", "cpu"):
        raise ValueError(f"device = {device!r}: expected auto, cuda or cpu")
    return _merge(overrides or {}, {"train": {"device": device}})


def pretrain(preset: str | None = None, variant: str = "actionpose", run: str | Path = "runs/pretrain",
             overrides: dict | None = None, resume: bool = False, init_from: str | Path | None = None,
             progress: bool = True, motions=None, device: str | None = None) -> TrainResult:
    """Pretrain a lifter on labelled mocap (masked, noisy 2D -> 3D + action-text alignment).
    `preset`: None = tiny, or with `init_from` the source run's architecture (`pretrain_config`; pass the
    same `init_from` when resuming). `device`: "auto" (CUDA when present), "cuda" or "cpu"; None keeps
    `train.device` of the overrides."""
    cfg = pretrain_config(preset, variant, _with_device(overrides, device), init_from=init_from)
    _check_resume_schedule(cfg, Path(run), resume)
    return train(cfg, Path(run), resume=resume, init_from=init_from, progress=progress, motions=motions)


def _check_finetune_fps(from_run: str | Path, cfg: RunConfig, motions) -> None:
    """The source run's frame rate (recorded with its training data) must be the fine-tuning data's,
    as at evaluation: a model of T frames at 30 fps fed 50 fps data sees motion 5/3 too slow."""
    if str(from_run) == "scratch":
        return
    from .data.cache import META_NAME, read_info
    from .data.prepare import bundled_data_dir
    from .train.checkpoint import CKPT_NAME, read_meta
    from .train.data import check_same_fps
    src = resolve_run(from_run)
    if not (src / CKPT_NAME).exists():
        return  # reported where the checkpoint is loaded
    run_fps = (read_meta(src / CKPT_NAME).get("data") or {}).get("fps")
    if motions is not None:
        rates = {float(m.fps) for m in motions}
        data_fps, where = (rates.pop() if len(rates) == 1 else None), "fine-tuning motions"
    else:
        path = Path(cfg.data.path) if cfg.data.path else bundled_data_dir()
        if not (path / META_NAME).is_file():
            return  # not a prepared folder: load_data says so
        data_fps, where = read_info(path).get("fps"), str(path)
    check_same_fps(run_fps, data_fps, where, run=str(from_run),
                   verb=" (or fine-tune from a run trained at the data's rate)")


def finetune(from_run: str | Path, run: str | Path, overrides: dict | None = None, resume: bool = False,
             preset: str | None = None, progress: bool = True, motions=None, device: str | None = None) -> TrainResult:
    """Fine-tune a pretrained run (or `'scratch'`) with 3D losses on target data.
    `device`: "auto" (CUDA when present), "cuda" or "cpu"; None keeps `train.device` of the overrides.
    Data at another frame rate than the source run was trained at is refused (as `evaluate` does)."""
    cfg = finetune_config(from_run, _with_device(overrides, device), preset)
    _check_finetune_fps(from_run, cfg, motions)
    _check_resume_schedule(cfg, Path(run), resume)
    init = None if str(from_run) == "scratch" else resolve_run(from_run)
    return train(cfg, Path(run), resume=resume, init_from=init, progress=progress, motions=motions)


def best_validation(run: str | Path) -> dict | None:
    """The validation record (metrics.jsonl, split "val") with the lowest MPJPE, plus `validations`
    (how many there are); None when the run was never validated."""
    from .train.runs import read_metrics
    vals = [r for r in read_metrics(Path(run)) if r.get("split") == "val" and r.get("mpjpe_mm") is not None]
    if not vals:
        return None
    best = min(vals, key=lambda r: (r["mpjpe_mm"], r["step"]))
    return {**best, "validations": len(vals)}


def format_train_result(res: TrainResult) -> str:
    lines = [f"run {res.run_dir}: {res.step} steps in {res.seconds / 60:.1f} min (stopped by {res.stopped_by})"]
    if res.last_val:
        v = res.last_val
        s = f"  held-out windows: MPJPE {v['mpjpe_mm']:.1f} mm (protocol #1, root-relative, {v['windows']} windows)"
        if "top1" in v:
            s += f"; recognition top-1 {v['top1']:.1%} / top-5 {v['top5']:.1%} (chance {v['chance_top1']:.1%})"
        lines.append(s)
        best = best_validation(res.run_dir)
        if best is not None and best["validations"] > 1:
            lines.append(f"  best validation: MPJPE {best['mpjpe_mm']:.1f} mm at step {best['step']} "
                         f"({best['validations']} validations in metrics.jsonl)")
    return "\n".join(lines)


def _check_config_json(path: Path) -> None:
    """A MotionBERT-style sizes file: a JSON object whose size fields are numbers, num_heads a positive integer."""
    import json
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as e:
        raise ValueError(f"{path}: cannot read the config JSON ({e.strerror or type(e).__name__})") from None
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{path}: not valid JSON ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of constructor sizes, got a {type(data).__name__}")
    sizes = ("dim_in", "dim_out", "dim_feat", "dim_rep", "depth", "num_heads", "mlp_ratio", "num_joints", "maxlen")
    for key, val in ((k, data[k]) for k in sizes if k in data):
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not val == val or abs(val) == float("inf"):
            raise ValueError(f"{path}: field {key} = {val!r}, expected a finite number")
    heads = data.get("num_heads")
    if not (isinstance(heads, int) and heads > 0):
        raise ValueError(f"{path}: field num_heads = {heads!r}, expected a positive integer")


def import_motionbert(checkpoint: str | Path, out: str | Path, size: str | None = None,
                      heads: int | None = None, config_json: str | Path | None = None) -> Path:
    """A released MotionBERT DSTformer checkpoint -> a normal run folder (safetensors + config)."""
    from .model.lifter import build_lifter
    from .model.motionbert import import_checkpoint
    from .train.checkpoint import check_finite
    if config_json is not None:
        _check_config_json(Path(config_json))
    model_cfg, backbone_sd, provenance = import_checkpoint(Path(checkpoint), size=size, heads=heads, config_json=config_json)
    check_finite(backbone_sd, str(checkpoint))
    lifter = build_lifter(model_cfg, None)
    lifter.backbone.load_state_dict(backbone_sd, strict=True)
    cfg = make_config("tiny", "motionbert-style")
    cfg.model = model_cfg
    cfg = from_dict(to_dict(cfg))
    out = Path(out)
    if (out / "checkpoint.safetensors").exists():
        raise FileExistsError(f"{out}: already holds a checkpoint; choose a new --out")
    init_run_dir(out, cfg)
    meta = {"preset": model_cfg.preset, "variant": "imported", "vocab": [], "vocab_field": "", "sentences": [],
            "frozen_align": False, "align_mode": "text", "text_model": "", "step": 0, "stage": "imported",
            "config_hash": "", "provenance": provenance}
    tensors = {f"lifter.{k}": v for k, v in lifter.state_dict().items()}
    save_checkpoint(out, tensors, meta)
    return out
