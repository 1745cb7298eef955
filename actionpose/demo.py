"""The demo runs (L5): a tiny model pretrained with action text, then fine-tuned, small enough to ship
with the package so the app and notebooks show the method on a fresh clone.

Two shipped runs, accepted by every `--run`: `demo-pretrain` (masked, noisy 2D -> 3D + action-text
alignment) and `demo` (fine-tuned from it on 3D only, the embedding kept by distillation; then its
embedding head re-fitted with action text on the frozen lifter, so its 3D is the fine-tuned model's).
`actionpose demo` rebuilds both with the recipe below and prints their evaluation on the bundled
held-out takes (GT 2D, 4 fixed virtual cameras, no flip). `--data` trains on a prepared folder
instead of the bundled subset (the shipped runs were trained on the full Bandai-Namco archives, whose
held-out split contains every bundled held-out take); evaluation always uses the bundled held-out takes.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import torch

from .api import finetune, format_train_result, pretrain
from .data.prepare import bundled_data_dir
from .evaluate import checkpoint_sha256, evaluate, format_report
from .train.checkpoint import ROW_SCALE_SUFFIX, load_checkpoint, quantize_rows, save_checkpoint
from .train.runs import FINETUNE_LOG

# The demo recipe, in steps so it is reproducible. A step (B 144 x T 9, tiny preset) costs ~1.5 CPU-s on
# one thread, a fine-tuning step ~2 (it also runs the frozen teacher's forward pass); measured by
# benchmarks/learning_efficiency.py, which also shows the curve these budgets stop on.
# Pretraining 2,400 steps (was 1,200): on the bundled held-out takes demo-pretrain went from 45.9 to 38.8 mm
# and its action top-1 from 71.7 to 76.1 % (one seed each; README "The shipped runs").
DEMO_PRETRAIN_STEPS = 2400
DEMO_FINETUNE_STEPS = 1800
# The tiny model takes a larger step than the library default (5e-4, MotionBERT's for base/lite);
# fine-tuning keeps the same 0.4 ratio as api.FINETUNE_LR.
DEMO_PRETRAIN_LR = 1e-3
DEMO_FINETUNE_LR = 4e-4
# Window shape T frames x B windows per step (1,296 frames per step at every shape). Issue 21: at a fixed
# step budget more, shorter windows learned faster than 81-frame context (benchmarks/window_shape_probe.py,
# 300 steps from scratch, 2 seeds: T 81 59.8, T 27 53.7, T 9 47.8 mm), and in the full recipe then (1,200 +
# 1,800 steps, one seed; README) T 9 gave demo 30.6 mm against 36.2 at T 27 (T 81, 1,200 + 1,500: 44.2),
# with action recognition kept (pretraining top-1 71.7 % at T 9, 67.7 % at T 27, 61.4 % at T 81).
DEMO_MAXLEN = 9
DEMO_BATCH = 144
DEMO_TRAIN = {"val_every": 200, "ckpt_every": 100, "log_every": 10, "val_max_windows": 256}
# Issue 21: the embedding head pools each joint's mean *and* its trend over the window's frames. The mean
# alone is blind to the order of frames, so a body yawing left from heading a to b and one yawing right
# from b to a looked alike to it; the lift itself turned the right way in every held-out take and view
# (benchmarks/turn_by_view.py). Full recipe, seed 0, bundled held-out takes over 81-frame segments:
# walk-turn left / right 70 / 59 % -> 66 / 75 % in demo, 3D unchanged (30.6 -> 30.4 mm; README).
DEMO_EMBED_POOL = "joints_delta"
# Issue 21, third stage: the fine-tuned lifter is frozen (`train.freeze_backbone`: its 3D stays bit-exact) and
# a fresh embedding head is trained with the pretraining step (lr, window shape, text alignment against the
# same vocabulary) on the labelled training windows without masks. The head also reads the lifted 3D of every
# frame in time order (`joints_delta_window`): the mean-and-trend summary could not name the walk turns in a
# 9-frame window, while cheap classifiers reading the window frame by frame could (README "Where window
# recognition of the turns saturates"; benchmarks/head_refit.py measured both heads, 2 seeds each).
DEMO_HEAD_STEPS = 4000
DEMO_HEAD_EMBED_POOL = "joints_delta_window"
_NO_MASKS = {"joint_prob": 0.0, "frame_prob": 0.0, "part_prob": 0.0, "window_prob": 0.0}
# What the exported `demo` records as its stage: its 3D was fine-tuned, its head re-fitted after.
HEAD_STAGE = "finetune + head re-fit"
SHIPPED_FILES = ("config.yaml", "metrics.jsonl")
# Shipped weights are stored in float16 (the pair must fit the package's 10 MB budget); loading upcasts
# them to float32 (`checkpoint.load_checkpoint`), and the shipped eval.json / embeddings are computed
# from the exported (rounded) weights, so every shipped number describes exactly the shipped files.
SHIPPED_WEIGHTS_DTYPE = torch.float16
# Tensors this small (scalars such as the learned temperature) stay float32: rounding them saves nothing.
_HALF_MIN_NUMEL = 1024
# Matrices this large are stored as int8 rows with one float32 scale per row (`checkpoint.quantize_rows`):
# only the embedding head's first layer (256 x 4,352 with the trend-pooling head, 2.2 MB in float16),
# which alone would push the pair past 10 MB. Its rounding is measured like the float16's: every shipped
# number comes from the exported files.
_INT8_MIN_NUMEL = 2 ** 18


def parse_window(text: str) -> tuple[int, int]:
    """`"TxB"` (e.g. `"9x144"`) -> (T frames, B windows per step), both positive; ValueError otherwise."""
    try:
        t, b = (int(v) for v in text.lower().split("x"))
    except ValueError:
        t = b = 0
    if t <= 0 or b <= 0:
        raise ValueError(f"expected TxB with two positive integers (e.g. 9x144), got {text!r}")
    return t, b


def demo_overrides(stage: str, steps: int, data: str | Path | None = None,
                   window: tuple[int, int] = (DEMO_MAXLEN, DEMO_BATCH), seed: int = 0,
                   embed_pool: str | None = None) -> dict:
    """Config overrides of one demo stage (`"pretrain"`, `"finetune"` or `"head"`: the pretraining step on
    a frozen lifter, masks off, run with `api.pretrain(init_from=...)`); `window` = (T frames, B windows
    per step), with windows overlapping by two thirds (stride T // 3) at every T; `seed` of training;
    `embed_pool` the head's kind (default: the recipe's for that stage)."""
    if stage not in ("pretrain", "finetune", "head"):
        raise ValueError(f"demo stage {stage!r}: expected pretrain, finetune or head")
    lr = DEMO_FINETUNE_LR if stage == "finetune" else DEMO_PRETRAIN_LR
    pool = embed_pool or (DEMO_HEAD_EMBED_POOL if stage == "head" else DEMO_EMBED_POOL)
    t, b = (int(v) for v in window)
    over = {"train": {**DEMO_TRAIN, "max_steps": int(steps), "seed": int(seed)}, "optim": {"lr": lr},
            "model": {"maxlen": t, "embed_pool": pool}, "data": {"batch_size": b, "stride": max(1, t // 3)}}
    if stage == "head":
        over["train"]["freeze_backbone"] = True
        over["mask"] = dict(_NO_MASKS)
    if data:
        over["data"]["path"] = str(data)
    return over


def export_run(src: Path, dest: Path, name: str, started_from: str | None = None,
               weights_dtype: torch.dtype | None = SHIPPED_WEIGHTS_DTYPE, int8_min_numel: int = _INT8_MIN_NUMEL,
               lineage: list[dict] | None = None, stage: str | None = None,
               extra_files: dict[str, Path] | None = None) -> Path:
    """Copy a run folder for shipping: weights without optimizer state (float32 tensors of at least
    `_HALF_MIN_NUMEL` elements stored as `weights_dtype`, matrices of at least `int8_min_numel` as int8
    rows with per-row scales; None keeps everything float32), bookkeeping files, and a
    config whose `data.path` is empty (the user's clone has the bundled data, not the trainer's folder;
    `data.path` does not enter the config hash). `started_from` renames the source run (e.g. to the
    shipped name `demo-pretrain`) so the shipped pair points at each other, not at the trainer's disk.
    `lineage` (the stages that made these weights, `run_lineage`), `stage` (the stage name to record
    instead of the last training stage's) and `extra_files` ({name in dest: source file}) describe a run
    built in several stages."""
    from .config import load_yaml, save_yaml
    src, dest = Path(src), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tensors, meta = load_checkpoint(src)
    keep = {k: v for k, v in tensors.items() if not k.startswith("optim.")}
    int8_rows = []
    if weights_dtype is not None:
        int8_rows = sorted(k for k, v in keep.items()
                           if v.dtype == torch.float32 and v.ndim == 2 and v.numel() >= int8_min_numel)
        for k in int8_rows:
            keep[k], keep[k + ROW_SCALE_SUFFIX] = quantize_rows(keep[k])
        keep = {k: (v.to(weights_dtype) if v.dtype == torch.float32 and v.numel() >= _HALF_MIN_NUMEL else v)
                for k, v in keep.items()}
    meta = {**meta, "optim": None, "exported_as": name, "trained_on": (meta.get("data") or {}).get("path", ""),
            "stored_dtype": str(weights_dtype or torch.float32).replace("torch.", ""), "int8_rows": int8_rows}
    meta["data"] = _without_trainer_paths(meta.get("data") or {})
    if started_from and meta.get("started_from"):
        meta["started_from"] = {**meta["started_from"], "run": started_from}
    if lineage is not None:
        meta["lineage"] = lineage
    if stage is not None:
        meta["stage"] = stage
    save_checkpoint(dest, keep, meta)
    for fname in SHIPPED_FILES:
        if (src / fname).exists():
            shutil.copy2(src / fname, dest / fname)
    for fname, path in (extra_files or {}).items():
        shutil.copy2(path, dest / fname)
    cfg = load_yaml(dest / "config.yaml")
    cfg.data.path = ""
    save_yaml(cfg, dest / "config.yaml")
    return dest


def run_lineage(stages: list[tuple[str, Path, str]]) -> list[dict]:
    """[(stage, run folder, shipped name or "")] -> one record per stage: its name, step, the sha256 of its
    float32 training checkpoint and the folder's shipped name ("" = not shipped), in training order."""
    from .train.checkpoint import CKPT_NAME, read_meta
    return [{"stage": stage, "shipped_as": name, "step": int(read_meta(Path(run_dir) / CKPT_NAME).get("step", 0)),
             "checkpoint_sha256": checkpoint_sha256(run_dir)} for stage, run_dir, name in stages]


def _without_trainer_paths(data: dict) -> dict:
    """The data record of a shipped checkpoint with the trainer's folders reduced to file names: the
    user's clone has neither the trainer's disk nor its relative layout."""
    src = str(data.get("source_path") or "")
    if not src:
        return data
    out = {**data, "source_path": Path(src).name}
    if isinstance(data.get("issues"), list):
        out["issues"] = [str(i).replace(src.rstrip("/") + "/", "") for i in data["issues"]]
    return out


def build_demo(out: Path, pretrain_steps: int = DEMO_PRETRAIN_STEPS, finetune_steps: int = DEMO_FINETUNE_STEPS,
               data: str | Path | None = None, progress: bool = True,
               window: tuple[int, int] = (DEMO_MAXLEN, DEMO_BATCH), seed: int = 0,
               head_steps: int = DEMO_HEAD_STEPS) -> str:
    """Pretrain, fine-tune, then re-fit the embedding head on the frozen fine-tuned lifter (`head_steps`;
    0 skips the third stage) of the tiny preset (fixed step counts); write the shippable folders
    `out/demo-pretrain` and `out/demo` (float16 weights), then evaluate those exported folders on the
    bundled held-out takes and extract their embeddings (to install them into a source checkout:
    `benchmarks/ship_demo.py`). Re-running the same command resumes an interrupted build."""
    from .embeddings import extract_embeddings
    out = Path(out)
    p_dir, f_dir, h_dir = out / "pretrain", out / "finetune", out / "head"
    results = [pretrain("tiny", "actionpose", p_dir, overrides=demo_overrides("pretrain", pretrain_steps, data, window, seed),
                        progress=progress, resume=(p_dir / "checkpoint.safetensors").exists())]
    results.append(finetune(p_dir, f_dir, overrides=demo_overrides("finetune", finetune_steps, data, window, seed),
                            progress=progress, resume=(f_dir / "checkpoint.safetensors").exists()))
    dest_p = export_run(p_dir, out / "demo-pretrain", "demo-pretrain")
    if head_steps > 0:
        # The head stage is a pretraining step on the frozen lifter, so `pretrain(init_from=...)` runs it.
        results.append(pretrain(run=h_dir, overrides=demo_overrides("head", head_steps, data, window, seed),
                                init_from=f_dir, progress=progress, resume=(h_dir / "checkpoint.safetensors").exists()))
        lineage = run_lineage([("pretrain", p_dir, "demo-pretrain"), ("finetune", f_dir, ""), ("head re-fit", h_dir, "demo")])
        dest_f = export_run(h_dir, out / "demo", "demo", started_from="demo (fine-tuning stage, not shipped)",
                            lineage=lineage, stage=HEAD_STAGE, extra_files={FINETUNE_LOG: f_dir / "metrics.jsonl"})
    else:
        dest_f = export_run(f_dir, out / "demo", "demo", started_from="demo-pretrain")
    bundled = bundled_data_dir()  # evaluation: the bundled held-out takes, whatever the training data
    reports = []
    for run_dir in (dest_p, dest_f):
        reports.append(evaluate(run_dir, data=bundled, flip=False))
        extract_embeddings(run_dir, data=bundled, views_per_sequence=1, half_storage=True)
    return "\n".join([*(format_train_result(r) for r in results), "",
                      "== demo-pretrain ==", format_report(reports[0]), "", "== demo ==", format_report(reports[1]),
                      f"\nshippable run folders: {dest_p}, {dest_f}"])
