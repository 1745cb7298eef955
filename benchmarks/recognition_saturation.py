"""Where window recognition of the turns saturates: learning curves of window classifiers on three inputs.

    python benchmarks/recognition_saturation.py run --run demo --data prepared/bandai --features lifted --seed 0
    python benchmarks/recognition_saturation.py table          # merges the parts into saturation.json, table.md, curve.png

Issue 21 asks each left/right action, `walk-turn-*` included, to be named in >= 60 % of held-out 9-frame
windows, and, where a target is out of reach, for the curve where it saturates. This measures that curve
for what a window carries, not for one head: a `WindowClassifier` (`actionpose.recognition_floor`) is
trained on the run's training windows (its config: T, random cameras, noise, flips with mirrored labels)
from three inputs -- the lifter's 2D (the floor), the ground-truth 3D (the oracle) and the run's own lifted
3D (frozen; "what any head reading this lifter's 3D could name") -- and scored on the bundled held-out
takes exactly as `evaluate` scores the run (4 fixed cameras, GT 2D, no flip; per window, over 81-frame
segments and whole takes) at `CURVE_STEPS` along one cosine schedule of `max(CURVE_STEPS)` steps.
The first `REUSE_EPOCHS` epochs of windows are rendered (and lifted) once and cycled.

One process per (input, seed) writes `parts/<input>_s<seed>.json`, so the parts can run side by side on
single threads; `table` adds the run's own rows (`benchmarks/results/recognition_context/context.json`)
for its current checkpoint, which must hold the lifter the parts read (`evaluate.lifter_sha256`): a run
whose embedding head was re-fitted on the frozen lifter is compared with the same curves.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from actionpose.baselines import training_motions
from actionpose.data.dataset import split_motions
from actionpose.data.prepare import bundled_data_dir
from actionpose.evaluate import checkpoint_sha256, lifter_sha256
from actionpose.recognition_context import CONTEXT_FRAMES, WHOLE_TAKE
from actionpose.recognition_floor import FEATURES, score_heldout, train_recognition_floor
from actionpose.train.checkpoint import read_meta
from actionpose.train.data import load_data
from actionpose.train.model_io import load_bundle
from actionpose.train.runs import resolve_run

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "recognition_saturation"
CONTEXT_RESULTS = ROOT / "benchmarks" / "results" / "recognition_context" / "context.json"
CURVE_STEPS = (500, 1000, 2000, 4000, 8000)
REUSE_EPOCHS = 4
TURNS = ("walk-turn-left", "walk-turn-right")
TARGET_PCT = 60.0
NAMES = {"2d": "2D floor (the lifter's input)", "3d": "3D oracle (ground-truth 3D)",
         "lifted": "lifted-3D probe (the run's own 3D, frozen)"}
SCOPES = {"window": "window", str(CONTEXT_FRAMES): f"{CONTEXT_FRAMES} frames", str(WHOLE_TAKE): "whole take"}


def measure(run: str, data: str | None, features: str, seed: int) -> dict:
    """One learning curve: the classifier on `features`, seed `seed`, scored at every `CURVE_STEPS` step."""
    torch.set_num_threads(1)
    bundle, cfg, meta = load_bundle(run)
    motions, info = load_data(data or bundled_data_dir())
    train = training_motions(motions, cfg, str(info.get("path", "data")))
    held = split_motions(load_data(bundled_data_dir())[0], "val")
    points = []

    def score(step: int, floor) -> None:
        t0 = time.process_time()
        res = score_heldout(floor, held, cfg, (CONTEXT_FRAMES, WHOLE_TAKE))
        point = {"step": step, "train_cpu_s": floor.meta["train_cpu_s"], "epochs_touched": floor.meta["epochs_touched"],
                 "loss": floor.meta["loss"], "score_cpu_s": round(time.process_time() - t0, 1),
                 "scopes": {label: {"units": res[key]["clips"], "top1_pct": res[key]["content_top1_pct"],
                                    "per_action": res[key]["per_content_top1_pct"]}
                            for key, label in SCOPES.items()}}
        points.append(point)
        w = point["scopes"]["window"]
        print(f"{features} seed {seed} step {step}: window top-1 {w['top1_pct']:.1f} %, turns "
              + " / ".join(f"{w['per_action'][a]:.0f}" for a in TURNS)
              + f" ({point['train_cpu_s']:.0f} CPU-s)", flush=True)

    floor = train_recognition_floor(train, cfg, bundle.vocab, features=features, steps=max(CURVE_STEPS), seed=seed,
                                    lifter=bundle if features == "lifted" else None, reuse_epochs=REUSE_EPOCHS,
                                    curve_steps=CURVE_STEPS, on_curve=score)
    return {"run": run, "run_step": meta.get("step"), "run_checkpoint_sha256": checkpoint_sha256(resolve_run(run)),
            "lifter_sha256": lifter_sha256(resolve_run(run)), "features": features, "seed": seed, "frames_per_window": cfg.model.maxlen,
            "train_data": str(info.get("path", "bundled")), "train_motions": len(train),
            "heldout": f"{len(held)} bundled held-out takes x {cfg.synth.fixed_eval_cameras} fixed cameras",
            "meta": {k: v for k, v in floor.meta.items() if k != "loss"}, "points": points}


def _run_rows(run: str, sha: str) -> list[dict]:
    for r in json.loads(CONTEXT_RESULTS.read_text())["results"]:
        if r["run"] == run and r["checkpoint_sha256"] == sha:
            return r["rows"]
    raise SystemExit(f"{CONTEXT_RESULTS}: no rows for run {run!r} with checkpoint {sha[:12]}; rerun recognition_context.py")


def annotate_lifter(out: Path) -> int:
    """Record the lifter digest in parts measured before parts carried it, when they were measured on the
    run's current checkpoint (so the digest is the one their lifted-3D probe read); returns how many."""
    n = 0
    for path in sorted((out / "parts").glob("*.json")):
        part = json.loads(path.read_text())
        if "lifter_sha256" in part:
            continue
        run_dir = resolve_run(part["run"])
        if checkpoint_sha256(run_dir) != part["run_checkpoint_sha256"]:
            raise SystemExit(f"{path}: measured on checkpoint {part['run_checkpoint_sha256'][:12]}, the run now holds "
                             "another; its lifter cannot be named from here")
        part["lifter_sha256"] = lifter_sha256(run_dir)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(part, indent=1) + "\n")
        tmp.replace(path)
        n += 1
    return n


def collect(out: Path) -> dict:
    """Merge `out/parts/*.json` into one result with per-input means over seeds."""
    parts = [json.loads(p.read_text()) for p in sorted((out / "parts").glob("*.json"))]
    if not parts:
        raise SystemExit(f"{out / 'parts'}: no parts; run `recognition_saturation.py run` first")
    runs = {(p["run"], p.get("lifter_sha256", "")) for p in parts}
    if len(runs) != 1 or "" in {r[1] for r in runs}:
        raise SystemExit(f"{out / 'parts'}: parts from several runs or lifters {sorted(runs)} (or without a lifter "
                         "digest: `annotate` them on the checkpoint that measured them); expected one")
    run, lifter = runs.pop()
    # The run's own rows are its current checkpoint's, which must hold the lifter the lifted-3D probe read
    # (its embedding head may since have been re-fitted: that is what these curves are compared with).
    run_dir = resolve_run(run)
    if lifter_sha256(run_dir) != lifter:
        raise SystemExit(f"{run_dir}: its lifter is not the one the parts measured ({lifter[:12]}); re-run the parts")
    sha = checkpoint_sha256(run_dir)
    run_step = read_meta(run_dir / "checkpoint.safetensors").get("step")
    curves = {}
    for f in FEATURES:
        mine = sorted((p for p in parts if p["features"] == f), key=lambda p: p["seed"])
        if not mine:
            continue
        rows = []
        for i, step in enumerate(CURVE_STEPS):
            pts = [p["points"][i] for p in mine if len(p["points"]) > i]
            if len(pts) != len(mine):
                continue
            row = {"step": step, "seeds": [p["seed"] for p in mine]}
            for scope in SCOPES.values():
                row[scope] = {"top1_pct": float(np.mean([q["scopes"][scope]["top1_pct"] for q in pts])),
                              "top1_pct_per_seed": [q["scopes"][scope]["top1_pct"] for q in pts]}
                for a in TURNS:
                    vals = [q["scopes"][scope]["per_action"][a] for q in pts]
                    row[scope][a] = float(np.mean(vals))
                    row[scope][a + "_per_seed"] = vals
            rows.append(row)
        curves[f] = {"seeds": [p["seed"] for p in mine], "rows": rows,
                     "train_cpu_s": [p["meta"]["train_cpu_s"] for p in mine]}
    run_rows = _run_rows(run, sha)
    return {"run": run, "run_step": run_step, "run_checkpoint_sha256": sha, "lifter_sha256": lifter,
            "parts_checkpoint_sha256": sorted({p["run_checkpoint_sha256"] for p in parts}),
            "frames_per_window": parts[0]["frames_per_window"], "train_data": parts[0]["train_data"],
            "heldout": parts[0]["heldout"], "curve_steps": list(CURVE_STEPS), "reuse_epochs": REUSE_EPOCHS,
            "target_pct": TARGET_PCT, "curves": curves,
            "run_rows": [{"scope": r["context"], "top1_pct": r["top1_pct"],
                          **{a: r["per_action"][a] for a in TURNS}} for r in run_rows],
            "protocol": ("window classifiers (recognition_floor.WindowClassifier, 144 windows a step, Adam 1e-3 "
                         f"cosine to 0 over {max(CURVE_STEPS)} steps, one CPU thread) trained on the run's training "
                         f"windows (the first {REUSE_EPOCHS} epochs cycled), scored at {list(CURVE_STEPS)} on the "
                         "bundled held-out takes x 4 fixed virtual cameras, GT 2D, no flip; action top-1 over 24 "
                         "actions; a segment's score is the mean of its windows' logits")}


def table(res: dict) -> str:
    head = ["input", "steps", "action top-1 (24), window", "walk-turn-left, window", "walk-turn-right, window",
            "walk-turn L / R, 81 frames", "walk-turn L / R, whole take"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for f, curve in res["curves"].items():
        seeds = ", ".join(str(s) for s in curve["seeds"])
        for row in curve["rows"]:
            w = row["window"]
            lines.append("| " + " | ".join([
                f"{NAMES[f]}, seeds {seeds}", str(row["step"]), f"{w['top1_pct']:.1f} %",
                f"{w[TURNS[0]]:.0f} ({', '.join(f'{v:.0f}' for v in w[TURNS[0] + '_per_seed'])})",
                f"{w[TURNS[1]]:.0f} ({', '.join(f'{v:.0f}' for v in w[TURNS[1] + '_per_seed'])})",
                " / ".join(f"{row[SCOPES[str(CONTEXT_FRAMES)]][a]:.0f}" for a in TURNS),
                " / ".join(f"{row[SCOPES[str(WHOLE_TAKE)]][a]:.0f}" for a in TURNS)]) + " |")
    by = {r["scope"]: r for r in res["run_rows"]}
    T = res["frames_per_window"]
    win, seg, whole = by[f"window ({T} frames)"], by[f"{CONTEXT_FRAMES} frames"], by["whole take"]
    lines.append("| " + " | ".join([f"`{res['run']}`'s own recognition (step {res['run_step']})", "—",
                                    f"{win['top1_pct']:.1f} %", f"{win[TURNS[0]]:.0f}", f"{win[TURNS[1]]:.0f}",
                                    f"{seg[TURNS[0]]:.0f} / {seg[TURNS[1]]:.0f}",
                                    f"{whole[TURNS[0]]:.0f} / {whole[TURNS[1]]:.0f}"]) + " |")
    return "\n".join(lines) + "\n"


def plot(res: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    colours = {"2d": "tab:grey", "3d": "tab:green", "lifted": "tab:blue"}
    by = {r["scope"]: r for r in res["run_rows"]}
    own = by[f"window ({res['frames_per_window']} frames)"]
    for ax, turn in zip(axes, TURNS):
        for f, curve in res["curves"].items():
            steps = [r["step"] for r in curve["rows"]]
            ax.plot(steps, [r["window"][turn] for r in curve["rows"]], "o-", color=colours[f], label=NAMES[f])
            for k in range(len(curve["seeds"])):
                ax.plot(steps, [r["window"][turn + "_per_seed"][k] for r in curve["rows"]], ".", color=colours[f],
                        alpha=0.4)
        ax.axhline(res["target_pct"], color="tab:red", ls="--", lw=1, label="issue 21 target")
        ax.axhline(own[turn], color="black", ls=":", lw=1, label=f"`{res['run']}` itself")
        ax.set_xscale("log")
        ax.set_xticks(list(res["curve_steps"]), [f"{s:,}" for s in res["curve_steps"]])
        ax.minorticks_off()
        ax.set_xlabel("classifier training steps (144 windows each)")
        ax.set_title(f"{turn}: top-1 per {res['frames_per_window']}-frame window")
    axes[0].set_ylabel("held-out top-1 (%)")
    axes[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="one learning curve: one input, one seed")
    r.add_argument("--run", default="demo")
    r.add_argument("--data", default=None, help="the run's training data (default: the bundled subset)")
    r.add_argument("--features", choices=FEATURES, required=True)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", default=str(OUT))
    t = sub.add_parser("table", help="merge the parts into saturation.json, table.md and curve.png")
    t.add_argument("--out", default=str(OUT))
    a = sub.add_parser("annotate", help="add the lifter digest to parts measured on the run's current checkpoint")
    a.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.cmd == "run":
        res = measure(args.run, args.data, args.features, args.seed)
        (out / "parts").mkdir(parents=True, exist_ok=True)
        part = out / "parts" / f"{args.features}_s{args.seed}.json"
        tmp = part.with_suffix(".tmp")
        tmp.write_text(json.dumps(res, indent=1) + "\n")
        tmp.replace(part)  # never a half-written part
        return 0
    if args.cmd == "annotate":
        print(f"{annotate_lifter(out)} part(s) annotated")
        return 0
    res = collect(out)
    (out / "saturation.json").write_text(json.dumps(res, indent=1) + "\n")
    (out / "table.md").write_text(table(res))
    plot(res, out / "curve.png")
    print(table(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
