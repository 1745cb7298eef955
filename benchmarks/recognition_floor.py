"""Recognition floors beside a run's recognition: a cheap window classifier on the same windows, 2D and 3D.

    python benchmarks/recognition_floor.py --run demo --data prepared/bandai --seeds 0 1 \
        --out benchmarks/results/recognition_floor

For each input (`FLOOR_FEATURES`: the lifter's 2D, and the ground-truth 3D as an oracle) and
seed, a `WindowClassifier` is trained for `--steps` steps on the windows the run was trained on (the run's
config: its T, random cameras, noise, flips with mirrored labels; `--data`: its training data) with the
run's label vocabulary, then scored on the run's held-out takes (the bundled ones unless `--heldout`)
as `evaluate` scores the run: fixed views, GT 2D, no flip, per window and over 81-frame segments and the
whole take. The run's own figures are read from `benchmarks/results/recognition_context/context.json`
(checked against the run's checkpoint hash) so both stand in one table.

Writes `floor.json` (every number, per seed) and `table.md` (for the README).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from actionpose.baselines import training_motions
from actionpose.data.dataset import split_motions
from actionpose.data.prepare import bundled_data_dir
from actionpose.evaluate import checkpoint_sha256
from actionpose.recognition_context import CONTEXT_FRAMES, WHOLE_TAKE
from actionpose.recognition_floor import score_heldout, train_recognition_floor
from actionpose.train.data import load_data
from actionpose.train.model_io import load_bundle
from actionpose.train.runs import resolve_run

ROOT = Path(__file__).resolve().parents[1]
CONTEXT_RESULTS = ROOT / "benchmarks" / "results" / "recognition_context" / "context.json"
CONTEXTS = (CONTEXT_FRAMES, WHOLE_TAKE)
SCOPES = ("window", str(CONTEXT_FRAMES), str(WHOLE_TAKE))
LEFT_RIGHT = ("wave-left-hand", "wave-right-hand", "raise-up-left-hand", "raise-up-right-hand",
              "walk-turn-left", "walk-turn-right")
FLOOR_FEATURES = ("2d", "3d")  # the lifted-3D probe needs a lifter per run: benchmarks/recognition_saturation.py
NAMES = {"2d": "2D window floor (the lifter's input)", "3d": "3D window oracle (ground-truth 3D)"}


def _scope_label(scope: str, T: int) -> str:
    return {"window": f"window ({T} frames)", str(CONTEXT_FRAMES): f"{CONTEXT_FRAMES} frames",
            str(WHOLE_TAKE): "whole take"}[scope]


def _compact(summary: dict) -> dict:
    return {"units": summary["clips"], "top1_pct": summary["content_top1_pct"],
            "per_action": summary["per_content_top1_pct"]}


def _run_rows(run: str, T: int) -> list[dict] | None:
    """The run's recognition rows from the committed recognition-context results, if they are this run's."""
    if not CONTEXT_RESULTS.exists():
        return None
    sha = checkpoint_sha256(resolve_run(run))
    for r in json.loads(CONTEXT_RESULTS.read_text())["results"]:
        if r["run"] == run and r["checkpoint_sha256"] == sha:
            keep = {f"window ({T} frames)", f"{CONTEXT_FRAMES} frames", "whole take"}
            return [{"scope": row["context"], "units": row["units"], "top1_pct": row["top1_pct"],
                     "per_action": row["per_action"]} for row in r["rows"] if row["context"] in keep]
    return None


def measure(run: str, data: str | None, heldout: str | None, seeds: list[int], steps: int) -> dict:
    torch.set_num_threads(1)
    bundle, cfg, meta = load_bundle(run)
    motions, info = load_data(data or bundled_data_dir())
    train = training_motions(motions, cfg, str(info.get("path", "data")))
    held_motions, _ = load_data(heldout or bundled_data_dir())
    split = "test" if any(m.meta.get("split") == "test" for m in held_motions) else "val"
    held = split_motions(held_motions, split)
    T = cfg.model.maxlen
    floors = []
    for features in FLOOR_FEATURES:
        for seed in seeds:
            floor = train_recognition_floor(train, cfg, bundle.vocab, features=features, steps=steps, seed=seed)
            res = score_heldout(floor, held, cfg, CONTEXTS)
            floors.append({"features": features, "seed": seed, "meta": floor.meta,
                           "scopes": {_scope_label(s, T): _compact(res[s]) for s in SCOPES}})
            print(f"{features} seed {seed}: " + ", ".join(f"{k} {v['top1_pct']:.1f} %"
                                                          for k, v in floors[-1]["scopes"].items()), flush=True)
    return {"run": run, "run_step": meta.get("step"), "run_checkpoint_sha256": checkpoint_sha256(resolve_run(run)),
            "frames_per_window": T, "train_data": str(info.get("path", "bundled")), "train_motions": len(train),
            "heldout": f"{len(held)} takes of split {split!r} ({'bundled' if not heldout else heldout})",
            "floors": floors, "run_rows": _run_rows(run, T)}


def table(res: dict) -> str:
    head = ["predictor", "scored over", "action top-1 (24)"] + list(LEFT_RIGHT)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    T = res["frames_per_window"]
    for features in FLOOR_FEATURES:
        rows = [f for f in res["floors"] if f["features"] == features]
        seeds = ", ".join(str(f["seed"]) for f in rows)
        for scope in (_scope_label(s, T) for s in SCOPES):
            top1 = [f["scopes"][scope]["top1_pct"] for f in rows]
            per = [[f["scopes"][scope]["per_action"].get(a, np.nan) for f in rows] for a in LEFT_RIGHT]
            lines.append("| " + " | ".join([f"{NAMES[features]}, seeds {seeds}", scope,
                                           f"{np.mean(top1):.1f} % ({', '.join(f'{t:.1f}' for t in top1)})"]
                                          + [f"{np.nanmean(p):.0f}" for p in per]) + " |")
    for row in res["run_rows"] or []:
        lines.append("| " + " | ".join([f"`{res['run']}` (step {res['run_step']})", row["scope"], f"{row['top1_pct']:.1f} %"]
                                       + [f"{row['per_action'][a]:.0f}" if a in row["per_action"] else "—"
                                          for a in LEFT_RIGHT]) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="demo")
    ap.add_argument("--data", default=None, help="the run's training data (default: the bundled subset)")
    ap.add_argument("--heldout", default=None, help="prepared data whose held-out split is scored (default: bundled)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--out", default="benchmarks/results/recognition_floor")
    ap.add_argument("--rows-only", action="store_true",
                    help="keep the committed floors (they read the run's training windows, not its weights) and "
                         "refresh the run's own rows for its current checkpoint")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.rows_only:
        res = json.loads((out / "floor.json").read_text())
        _, cfg, meta = load_bundle(args.run)
        if cfg.model.maxlen != res["frames_per_window"]:
            raise SystemExit(f"{args.run}: T = {cfg.model.maxlen}, the floors read {res['frames_per_window']}-frame windows")
        res.update(run=args.run, run_step=meta.get("step"), run_checkpoint_sha256=checkpoint_sha256(resolve_run(args.run)),
                   run_rows=_run_rows(args.run, cfg.model.maxlen))
    else:
        res = measure(args.run, args.data, args.heldout, args.seeds, args.steps)
        res["protocol"] = ("held-out takes x 4 fixed virtual cameras, GT 2D, no flip; action top-1 over 24 actions "
                           "(top sentence's action, any style); a segment's score is the mean of its windows' logits; "
                           f"floors: {args.steps} Adam steps x 144 windows, one CPU thread")
    out.mkdir(parents=True, exist_ok=True)
    (out / "floor.json").write_text(json.dumps(res, indent=1) + "\n")
    (out / "table.md").write_text(table(res))
    print(table(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
