"""Does the DSTformer learn faster per step from more, shorter windows? (issue 21's "sequence length for
CPU throughput" lever, measured at a fixed step budget and a fixed number of frames per step.)

    python benchmarks/window_shape_probe.py --data prepared/bandai --out build/window_probe --steps 300 \
        --seeds 0 1 [--shape 81x16 27x48]

Each cell fine-tunes the tiny preset from scratch (3D losses only: no masks, no text; the demo's
fine-tuning recipe otherwise) for exactly `--steps` steps at T frames x B windows (1,296 frames per step
for both default shapes; `data.stride` = T / 3, so windows overlap alike), then is evaluated through
`evaluate` on the bundled held-out takes (GT 2D, 4 fixed cameras, per-action MPJPE, floors beside).
A killed probe resumes (finished cells are skipped, unfinished runs resume exactly). Writes
`OUT/probe.json` and prints a table: mean and per-seed MPJPE, paired difference per seed.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from actionpose import api
from actionpose.data.prepare import bundled_data_dir
from actionpose.demo import parse_window
from actionpose.evaluate import evaluate


def cell(out: Path, data: str, t: int, b: int, seed: int, steps: int, lr: float) -> dict:
    run = out / f"T{t}xB{b}_seed{seed}"
    done = run / "probe_cell.json"
    if done.exists():
        return json.loads(done.read_text())
    over = {"model": {"maxlen": t}, "data": {"batch_size": b, "stride": max(1, t // 3), "path": data},
            "train": {"max_steps": steps, "seed": seed, "val_every": 0, "ckpt_every": 50, "log_every": 10,
                      "grad_diag_every": 0},
            "optim": {"lr": lr}}
    api.finetune("scratch", run, overrides=over, progress=False,
                 resume=(run / "checkpoint.safetensors").exists())
    rep = evaluate(run, data=bundled_data_dir(), flip=False, mlp_floor="auto")
    summ = rep.summary.set_index("metric")["value"]
    rec = {"T": t, "B": b, "seed": seed, "steps": steps, "frames_per_step": t * b,
           "mpjpe_mm": float(summ["MPJPE"]), "p_mpjpe_mm": float(summ["P-MPJPE"]),
           "floors": rep.floors[rep.floors["note"] == "floor"][["predictor", "mpjpe_mm", "p_mpjpe_mm"]].to_dict("records")}
    done.write_text(json.dumps(rec, indent=1))
    return rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--shape", nargs="+", default=["81x16", "27x48"], help="TxB per cell")
    ap.add_argument("--lr", type=float, default=1e-3)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shapes = [parse_window(s) for s in args.shape]
    recs = [cell(out, args.data, t, b, seed, args.steps, args.lr) for seed in args.seeds for t, b in shapes]
    (out / "probe.json").write_text(json.dumps(recs, indent=1))
    print(f"{args.steps} steps, tiny preset from scratch, fine-tuning recipe (3D only); bundled held-out takes, "
          "GT 2D, per-action MPJPE / P-MPJPE mm")
    for t, b in shapes:
        rows = [r for r in recs if (r["T"], r["B"]) == (t, b)]
        per = ", ".join(f"seed {r['seed']}: {r['mpjpe_mm']:.1f} / {r['p_mpjpe_mm']:.1f}" for r in rows)
        mean = sum(r["mpjpe_mm"] for r in rows) / len(rows)
        print(f"T {t:3d} x B {b:3d}: mean {mean:.1f} mm ({per})")
    if len(shapes) == 2:
        a, c = shapes
        diffs = [next(r["mpjpe_mm"] for r in recs if (r["T"], r["B"], r["seed"]) == (*c, s))
                 - next(r["mpjpe_mm"] for r in recs if (r["T"], r["B"], r["seed"]) == (*a, s)) for s in args.seeds]
        print(f"paired difference ({c[0]}x{c[1]} - {a[0]}x{a[1]}) per seed: " + ", ".join(f"{d:+.1f}" for d in diffs))
    floors = recs[0]["floors"]
    print("floors (same frames): " + ", ".join(f"{f['predictor']} {f['mpjpe_mm']:.1f}" for f in floors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
