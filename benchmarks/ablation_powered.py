"""The powered ablation of issue 23: run a declared design, estimate its cost, fill the README block.

    python benchmarks/ablation_powered.py run --design benchmarks/ablation_design.yaml --out results/ablation-powered
        [--seeds 0,1] [--cells A,B] [--device cpu]       # resumable: run it again after a kill
    python benchmarks/ablation_powered.py tune --design benchmarks/ablation_design.yaml --out results/ablation-tuning \
        --pretrain-steps 450 --finetune-steps 180 [--cells A,scratch]   # the tuning seeds, never reported
    python benchmarks/ablation_powered.py estimate --design benchmarks/ablation_design.yaml --steps 20 \
        --out /tmp/ablation-estimate                     # one arm cell + the scratch cell at 20 steps, timed
    python benchmarks/ablation_powered.py readme [--summary benchmarks/results/ablation/powered/summary.json] [--check]
    python benchmarks/ablation_powered.py collect results/ablation-powered   # -> benchmarks/results/ablation/powered/

The estimate runs the design's real data, model and readouts with its step budgets replaced by
`--steps`, measures CPU seconds per pretraining / fine-tuning step and every fixed cost (evaluation,
readouts, floors), and extrapolates to the design's budgets, arms and seeds (single-threaded
processes: CPU seconds = core seconds).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SUMMARY = ROOT / "benchmarks" / "results" / "ablation" / "powered" / "summary.json"
BLOCK = ("<!-- ablation-powered:start -->", "<!-- ablation-powered:end -->")


def _list(text: str | None, kind=str):
    return None if not text else [kind(x) for x in text.split(",") if x.strip()]


def _run(design, args, what: str) -> int:
    from actionpose.ablation.powered import run_design
    summary = run_design(design, args.out, device=args.device, seeds=_list(args.seeds, int), cells=_list(args.cells),
                         log=lambda s: print(s, flush=True))
    print(f"{summary['finished_cells']} finished {what}; summary: {Path(args.out) / 'summary.md'}")
    return 0


def cmd_run(args) -> int:
    from actionpose.ablation.design import load_design
    return _run(load_design(args.design), args, "cell(s)")


def cmd_tune(args) -> int:
    """The design on its tuning seeds at other step budgets: the sweep that picks the budget (e.g. the
    smallest that passes the gate) on seeds never reported."""
    from actionpose.ablation.design import load_design, tuning_design
    design = tuning_design(load_design(args.design), args.pretrain_steps, args.finetune_steps)
    return _run(design, args, f"tuning cell(s) at {design.budgets.pretrain_steps} + "
                              f"{design.budgets.finetune_steps} steps")


def estimate(design, out: Path, steps: int, arm: str = "B") -> dict:
    """Time one `arm` cell and one scratch cell (seed 0) at `steps` steps per stage; extrapolate."""
    from actionpose.ablation.arms import SCRATCH
    from actionpose.ablation.powered import run_design
    small = dataclasses.replace(design, budgets=dataclasses.replace(design.budgets, pretrain_steps=steps,
                                                                    finetune_steps=steps))
    c0 = time.process_time()
    run_design(small, out, device="cpu", seeds=[design.seeds[0]], cells=[arm, SCRATCH] if design.scratch else [arm])
    total = time.process_time() - c0
    cells = {c: json.loads((out / c / f"seed{design.seeds[0]}" / "cell.json").read_text())
             for c in ([arm, SCRATCH] if design.scratch else [arm])}
    floor = json.loads((out / "floors" / "mlp" / "floor.json").read_text())
    a = cells[arm]
    s_pre = a["pretrain"]["cpu_seconds"] / steps
    s_ft = sum(c["finetune"]["cpu_seconds"] for c in cells.values()) / (steps * len(cells))
    fixed_arm = sum(a["cpu_seconds"].values())
    fixed_scratch = sum(cells[SCRATCH]["cpu_seconds"].values()) if design.scratch else 0.0
    in_cells = sum(sum(c["cpu_seconds"].values()) + (c.get("pretrain") or {}).get("cpu_seconds", 0.0)
                   + c["finetune"]["cpu_seconds"] for c in cells.values())
    once = max(0.0, total - in_cells - floor["train_cpu_s"])  # data loading, floors' readouts, summary
    floor_s = floor["train_cpu_s"] / floor["steps"] * design.budgets.mlp_floor_steps
    B = design.budgets
    n_seeds, n_arms = len(design.seeds), len(design.arms)
    per_arm = B.pretrain_steps * s_pre + B.finetune_steps * s_ft + fixed_arm
    per_scratch = B.finetune_steps * s_ft + fixed_scratch if design.scratch else 0.0
    total_s = n_seeds * (n_arms * per_arm + per_scratch) + floor_s + once
    return {"measured_with_steps": steps, "cpu_s_per_pretrain_step": s_pre, "cpu_s_per_finetune_step": s_ft,
            "fixed_cpu_s_per_arm_cell": fixed_arm, "fixed_cpu_s_per_scratch_cell": fixed_scratch,
            "fixed_breakdown_arm": a["cpu_seconds"], "mlp_floor_cpu_s": floor_s, "once_cpu_s": once,
            "per_arm_cell_core_hours": per_arm / 3600, "per_scratch_cell_core_hours": per_scratch / 3600,
            "cells": n_seeds * (n_arms + int(design.scratch)), "total_core_hours": total_s / 3600,
            "budgets": dataclasses.asdict(B), "seeds": n_seeds, "arms": design.arms,
            "measured_at": time.strftime("%Y-%m-%d %H:%M"), "threads": 1}


def cmd_estimate(args) -> int:
    from actionpose.ablation.design import load_design
    design = load_design(args.design)
    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.keep:
        shutil.rmtree(out)
    est = estimate(design, out, args.steps, args.arm)
    text = json.dumps(est, indent=1)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)
    print(f"estimate: {est['total_core_hours']:.2f} core-hours for {est['cells']} cells "
          f"({est['per_arm_cell_core_hours'] * 60:.1f} core-min per arm cell, "
          f"{est['cpu_s_per_pretrain_step']:.2f} / {est['cpu_s_per_finetune_step']:.2f} CPU-s per pretraining / "
          "fine-tuning step)")
    return 0


def readme_block(summary: dict | None) -> str:
    """The README's results block: the summary's tables, or that the design has not run yet."""
    if summary is None:
        return ("**Results: not yet run.** The design above is declared; `benchmarks/results/ablation/powered/` "
                "will hold its summary (`summary.json`, `summary.md`) and this block is generated from it "
                "(`python benchmarks/ablation_powered.py readme`).")
    from actionpose.ablation.powered_report import to_markdown_powered
    md = to_markdown_powered(summary)
    return md.split("\n", 2)[2].replace("\n## ", "\n#### ").strip()  # drop the title; nest the headings


def cmd_readme(args) -> int:
    from actionpose.ablation.powered_report import load_powered_summary
    summary = load_powered_summary(args.summary) if Path(args.summary).exists() else None
    readme = Path(args.readme)
    text = readme.read_text()
    if BLOCK[0] not in text or BLOCK[1] not in text:
        print(f"error: {readme}: no {BLOCK[0]} ... {BLOCK[1]} block")
        return 2
    new = re.sub(re.escape(BLOCK[0]) + r".*?" + re.escape(BLOCK[1]),
                 lambda _: f"{BLOCK[0]}\n{readme_block(summary)}\n{BLOCK[1]}", text, flags=re.S)
    if args.check:
        if new != text:
            print(f"{readme}: the powered-ablation block differs from {args.summary}; run "
                  "`python benchmarks/ablation_powered.py readme`")
            return 1
        return 0
    readme.write_text(new)
    print(f"{readme}: powered-ablation block written from {args.summary if summary else '(no summary: not yet run)'}")
    return 0


def cmd_collect(args) -> int:
    """Copy design.json, summary.*, floors/readouts.json and every cell.json (never checkpoints)."""
    out, dest = Path(args.out), Path(args.dest)
    if not (out / "summary.json").exists():
        print(f"error: {out / 'summary.json'}: missing (run `ablation_powered.py run ... --out {out}` first)")
        return 2
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("design.json", "summary.json", "summary.md"):
        shutil.copy2(out / name, dest / name)
    n = 0
    for rec in [out / "floors" / "readouts.json", out / "floors" / "mlp" / "floor.json",
                *sorted(out.glob("*/seed*/cell.json")), *sorted(out.glob("*/seed*/*/ablation_cell.json"))]:
        if rec.exists():
            target = dest / rec.relative_to(out)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(rec, target)
            n += 1
    print(f"{out} -> {dest}: summary + {n} records")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("run", help="run (or continue) a declared design")
    p.add_argument("--design", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", help="a comma list of the design's seeds to run now (default: all)")
    p.add_argument("--cells", help="a comma list of cells to run now (default: all), e.g. A,B,scratch")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("tune", help="run the design's tuning seeds at other step budgets (never reported)")
    p.add_argument("--design", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--pretrain-steps", type=int, default=None)
    p.add_argument("--finetune-steps", type=int, default=None)
    p.add_argument("--seeds", help="a comma list of the design's tuning seeds (default: all)")
    p.add_argument("--cells", help="a comma list of cells, e.g. A,scratch")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("estimate", help="time one cell at a small step count and extrapolate to the design")
    p.add_argument("--design", required=True)
    p.add_argument("--out", required=True, help="a scratch folder for the timing cells (emptied first)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--arm", default="B")
    p.add_argument("--json", help="also write the estimate here")
    p.add_argument("--keep", action="store_true", help="do not empty --out first")
    p.set_defaults(func=cmd_estimate)
    p = sub.add_parser("readme", help="write the README's powered-ablation block from summary.json")
    p.add_argument("--summary", default=str(DEFAULT_SUMMARY))
    p.add_argument("--readme", default=str(ROOT / "README.md"))
    p.add_argument("--check", action="store_true")
    p.set_defaults(func=cmd_readme)
    p = sub.add_parser("collect", help="copy a finished run's records into benchmarks/results/ablation/powered/")
    p.add_argument("out")
    p.add_argument("--dest", default=str(DEFAULT_SUMMARY.parent))
    p.set_defaults(func=cmd_collect)
    args = ap.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
