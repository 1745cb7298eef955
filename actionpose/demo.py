"""The demo run (L5): a tiny pretrained + fine-tuned model trained with the project's own commands on
the bundled data, small enough to ship with the package (the app and notebooks use it on a fresh
clone). `actionpose demo` reproduces it from scratch and prints its evaluation.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from .api import finetune, format_train_result, pretrain
from .evaluate import evaluate, format_report
from .train.checkpoint import load_checkpoint, save_checkpoint
from .train.runs import demo_run_dir

# The demo's schedule, in steps so it is reproducible (sized to about 6 + 3 minutes on 2 CPU cores).
DEMO_PRETRAIN_STEPS = 600
DEMO_FINETUNE_STEPS = 300
DEMO_OVERRIDES = {"train": {"val_every": 100, "ckpt_every": 50, "log_every": 10}}
SHIPPED_FILES = ("config.yaml", "metrics.jsonl", "eval.json", "embeddings.npz")


def export_run(src: Path, dest: Path) -> Path:
    """Copy a run folder without optimizer state (weights + bookkeeping only) for shipping."""
    src, dest = Path(src), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tensors, meta = load_checkpoint(src)
    keep = {k: v for k, v in tensors.items() if not k.startswith("optim.")}
    meta = {**meta, "optim": None, "exported_from": str(src)}
    save_checkpoint(dest, keep, meta)
    for name in SHIPPED_FILES:
        if (src / name).exists():
            shutil.copy2(src / name, dest / name)
    return dest


def build_demo(out: Path, pretrain_steps: int = DEMO_PRETRAIN_STEPS, finetune_steps: int = DEMO_FINETUNE_STEPS,
               progress: bool = True, install: bool = False) -> str:
    """Pretrain then fine-tune the tiny preset on the bundled data (fixed step counts, so the demo is
    reproducible); evaluate on the held-out takes with flip TTA; write `out/pretrain`,
    `out/finetune` and the shippable `out/demo_run` (optionally installed into the package)."""
    from .embeddings import extract_embeddings
    out = Path(out)
    over_p = {**DEMO_OVERRIDES, "train": {**DEMO_OVERRIDES["train"], "max_steps": pretrain_steps}}
    res_p = pretrain("tiny", "actionpose", out / "pretrain", overrides=over_p, progress=progress,
                     resume=(out / "pretrain" / "checkpoint.safetensors").exists())
    over_f = {**DEMO_OVERRIDES, "train": {**DEMO_OVERRIDES["train"], "max_steps": finetune_steps}}
    res_f = finetune(out / "pretrain", out / "finetune", overrides=over_f, progress=progress,
                     resume=(out / "finetune" / "checkpoint.safetensors").exists())
    report = evaluate(out / "finetune", flip=True)
    extract_embeddings(out / "finetune", views_per_sequence=1)
    dest = export_run(out / "finetune", out / "demo_run")
    if install:
        target = demo_run_dir()
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(dest, target)
    return "\n".join([format_train_result(res_p), format_train_result(res_f), "", format_report(report),
                      f"\nshippable run folder: {dest}" + (f" (installed to {demo_run_dir()})" if install else "")])
