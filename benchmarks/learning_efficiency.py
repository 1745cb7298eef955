"""Learning efficiency: validation MPJPE against training steps, frames seen and CPU-seconds, for the
DSTformer demo recipe (pretraining -> fine-tuning) and the per-frame MLP floor, on the same windows.

    .venv/bin/python benchmarks/learning_efficiency.py --runs build/demo3 --data prepared/bandai \
        --out benchmarks/results/learning_efficiency

- **Windows**: the validation windows the training loop scores (`LiftingWindows(val split, the
  pretraining run's config, train=False)`, the first `train.val_max_windows`: fixed cameras, GT 2D).
  The script re-scores the fine-tuned run's last checkpoint on them and stops if it does not reproduce
  the logged value, so both curves are provably on the same frames.
- **DSTformer curve**: the `split == "val"` records of `RUNS/pretrain/metrics.jsonl`, then those of
  `RUNS/finetune/metrics.jsonl` (steps counted on from the pretraining's last step).
- **MLP curve**: `baselines.train_mlp_floor` with the pretraining run's data, cameras and noise
  (the shipped floor's recipe: 5,000 steps x 256 frames), scored every `--mlp-every` steps.
- **CPU-seconds**: process CPU time on ONE thread, measured in this process: the MLP's cumulative
  training time (frame rendering included) at each point; for the DSTformer, steps x the CPU cost of
  one training step of each stage (data, masks, forward, teacher, backward, AdamW; the mean of
  `--cost-steps` steps after 2 warm-up steps). Ratios within one run, as the project's speed rules ask.

Writes `curve.json` (all points + costs + provenance), `curve.png` and `table.md` (for the README).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from actionpose import baselines as B
from actionpose.data.dataset import LiftingWindows, split_motions
from actionpose.train.data import load_data, make_train_loader
from actionpose.train.model_io import build_bundle, build_teacher, load_bundle
from actionpose.train.runs import load_run_config
from actionpose.train.steps import evaluate_windows
from actionpose.train import distributed as D
from actionpose.train.loop import step_context, to_device, train_step


def val_records(run_dir: Path) -> list[dict]:
    """The validation records of a run's metrics.jsonl, in step order."""
    recs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return sorted((r for r in recs if r.get("split") == "val"), key=lambda r: r["step"])


def window_mpjpe_mm(predict, ds: LiftingWindows) -> float:
    """MPJPE (mm, root-relative, every valid joint of every real frame) of `predict(x2d [T,17,3]) -> y3d`
    over the windows of `ds`: the measure `train.steps.evaluate_windows` logs for the lifter."""
    err_sum, n = 0.0, 0.0
    for i in range(len(ds)):
        it = ds[i]
        pred = np.asarray(predict(it["x2d"]), np.float64)
        pred = pred - pred[:, :1]
        err = np.linalg.norm((pred - it["y3d"]) * it["mm_per_unit"][:, None, None], axis=-1)
        mask = it["frame_valid"][:, None] * it["joint_valid"][None, :]
        err_sum += float((err * mask).sum())
        n += float(mask.sum())
    return err_sum / max(n, 1.0)


def step_cost_cpu_s(cfg, train_m, n_steps: int, teacher_run: Path | None = None) -> float:
    """Mean process CPU seconds (one thread) of one training step of `cfg`'s stage, data included."""
    info, device = D.setup("cpu")
    torch.manual_seed(cfg.train.seed)
    bundle = build_bundle(cfg, train_m, init_from=teacher_run, device=device, resume=None)
    teacher = build_teacher(teacher_run, device) if teacher_run is not None and cfg.loss.w_distill else None
    ctx = step_context(cfg, bundle, info, device, teacher)
    vocab = bundle.vocab if cfg.train.stage == "pretrain" and cfg.align.enabled else None
    ds = LiftingWindows(train_m, cfg, train=True, vocab=vocab, seed=cfg.train.seed, noise=cfg.noise.enabled)
    loader = iter(make_train_loader(ds, batch_size=cfg.data.batch_size, seed=cfg.train.seed, start_step=0,
                                    max_steps=n_steps + 2, num_workers=0))
    spent = 0.0
    for s in range(n_steps + 2):
        t0 = time.process_time()
        batch, fv = to_device(next(loader), device)
        train_step(ctx, batch, fv, s)
        if s >= 2:
            spent += time.process_time() - t0
    return spent / n_steps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", required=True, help="the --out folder of `actionpose demo` (holds pretrain/, finetune/)")
    ap.add_argument("--data", required=True, help="the prepared data the runs were trained on")
    ap.add_argument("--out", default="benchmarks/results/learning_efficiency")
    ap.add_argument("--mlp-steps", type=int, default=B.DEFAULT_STEPS)
    ap.add_argument("--mlp-every", type=int, default=250)
    ap.add_argument("--cost-steps", type=int, default=8)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    runs, out = Path(args.runs), Path(args.out)
    p_dir, f_dir = runs / "pretrain", runs / "finetune"
    p_cfg, f_cfg = load_run_config(p_dir), load_run_config(f_dir)
    motions, info = load_data(args.data)
    train_m, val_m = split_motions(motions, p_cfg.data.train_split), split_motions(motions, p_cfg.data.val_split)
    ds = LiftingWindows(val_m, p_cfg, train=False, seed=p_cfg.train.seed, max_windows=p_cfg.train.val_max_windows)

    # 1. The windows are the logged ones: re-score the fine-tuned run's last checkpoint.
    f_val = val_records(f_dir)
    bundle, _, meta = load_bundle(f_dir)
    rescored = evaluate_windows(bundle, ds, torch.device("cpu"))["mpjpe_mm"]
    logged = [r for r in f_val if r["step"] == int(meta["step"])]
    if not logged or abs(logged[0]["mpjpe_mm"] - rescored) > 0.05:
        print(f"error: {f_dir}: re-scored {rescored:.3f} mm at step {meta['step']}, logged "
              f"{logged[0]['mpjpe_mm'] if logged else 'nothing'}; not the same windows")
        return 2
    print(f"windows check: {len(ds)} windows, fine-tuned run re-scored {rescored:.2f} mm (logged "
          f"{logged[0]['mpjpe_mm']:.2f})")

    # 2. CPU cost of one step of each DSTformer stage (one thread, this process).
    cost_p = step_cost_cpu_s(p_cfg, train_m, args.cost_steps)
    cost_f = step_cost_cpu_s(f_cfg, train_m, args.cost_steps, teacher_run=p_dir)
    print(f"DSTformer CPU-s per step: pretraining {cost_p:.3f}, fine-tuning {cost_f:.3f}")

    # 3. The MLP floor's curve on the same windows, with its cumulative CPU time.
    mlp_points: list[dict] = []
    cpu0 = time.process_time()
    scoring = [0.0]

    def on_checkpoint(step: int, net) -> None:
        t0 = time.process_time()
        training_cpu_s = t0 - cpu0 - scoring[0]  # the curve's own scoring is not training time
        mm = window_mpjpe_mm(lambda x: net(torch.from_numpy(x)).numpy(), ds)
        scoring[0] += time.process_time() - t0
        mlp_points.append({"step": step, "frames_seen": step * 256, "cpu_s": round(training_cpu_s, 1),
                           "val_mpjpe_mm": round(mm, 2)})
        print(f"MLP step {step}: {mm:.2f} mm")

    B.train_mlp_floor(motions, p_cfg, steps=args.mlp_steps, seed=0, batch_frames=256,
                      on_checkpoint=on_checkpoint, checkpoint_every=args.mlp_every)

    # 4. The DSTformer curve.
    # Fine-tuning started from the pretraining checkpoint's step (not necessarily its max_steps).
    p_val, p_steps = val_records(p_dir), int(json.loads((p_dir / "checkpoint.json").read_text())["step"])
    frames_per_step = p_cfg.data.batch_size * p_cfg.model.maxlen
    dst_points = [{"stage": "pretrain", "step": r["step"], "frames_seen": r["step"] * frames_per_step,
                   "cpu_s": round(r["step"] * cost_p, 1), "val_mpjpe_mm": round(r["mpjpe_mm"], 2),
                   "content_top1": r.get("content_top1")} for r in p_val]
    dst_points += [{"stage": "finetune", "step": p_steps + r["step"], "frames_seen": (p_steps + r["step"]) * frames_per_step,
                    "cpu_s": round(p_steps * cost_p + r["step"] * cost_f, 1), "val_mpjpe_mm": round(r["mpjpe_mm"], 2),
                    "content_top1": r.get("content_top1")} for r in f_val]
    result = {"windows": {"split": p_cfg.data.val_split, "count": len(ds), "frames_per_window": p_cfg.model.maxlen,
                          "2d": "GT (projected), fixed validation cameras", "data": str(info.get("path", args.data))},
              "compute": f"process CPU time, 1 thread, torch {torch.__version__}",
              "dstformer": {"runs": str(runs), "preset": p_cfg.model.preset, "cpu_s_per_step": {"pretrain": cost_p, "finetune": cost_f},
                            "frames_per_step": frames_per_step, "points": dst_points},
              "mlp_floor": {"steps": args.mlp_steps, "batch_frames": 256, "points": mlp_points}}
    out.mkdir(parents=True, exist_ok=True)
    (out / "curve.json").write_text(json.dumps(result, indent=1))
    (out / "table.md").write_text(table(result))
    plot(result, out / "curve.png")
    print(table(result))
    return 0


def table(result: dict) -> str:
    """Markdown: each predictor's validation MPJPE at its logged budgets (a subset for the README)."""
    lines = ["| predictor | stage | steps | frames seen | CPU-s (1 thread) | val MPJPE (mm) |", "|---|---|---|---|---|---|"]
    mlp = result["mlp_floor"]["points"]
    for p in [q for q in mlp if q["step"] in (250, 1000, 2500) or q is mlp[-1]]:
        lines.append(f"| MLP floor | - | {p['step']:,} | {p['frames_seen']:,} | {p['cpu_s']:.0f} | {p['val_mpjpe_mm']:.1f} |")
    dst = result["dstformer"]["points"]
    keep = [q for q in dst if q["step"] % 600 == 0 or q is dst[-1] or q["step"] == dst[0]["step"]]
    for p in keep:
        lines.append(f"| DSTformer tiny | {p['stage']} | {p['step']:,} | {p['frames_seen']:,} | {p['cpu_s']:.0f} | "
                     f"{p['val_mpjpe_mm']:.1f} |")
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    mlp, dst = result["mlp_floor"]["points"], result["dstformer"]["points"]
    for ax, key, label in ((axes[0], "frames_seen", "training frames seen"), (axes[1], "cpu_s", "CPU-seconds (1 thread)")):
        ax.plot([p[key] for p in mlp], [p["val_mpjpe_mm"] for p in mlp], "o-", label="per-frame MLP floor")
        for stage, style in (("pretrain", "s-"), ("finetune", "^-")):
            pts = [p for p in dst if p["stage"] == stage]
            ax.plot([p[key] for p in pts], [p["val_mpjpe_mm"] for p in pts], style, label=f"DSTformer tiny: {stage}")
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("validation MPJPE (mm)")
        ax.grid(alpha=0.3)
    axes[0].legend()
    w = result["windows"]
    fig.suptitle(f"{w['count']} validation windows x {w['frames_per_window']} frames ({w['2d']}); "
                 f"{result['compute']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
