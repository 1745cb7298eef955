"""Re-fit a run's embedding head on its frozen lifter: is the turns' per-window miss the head's training?

    python benchmarks/head_refit.py --from demo --data prepared/bandai --seed 0 --steps 4000 --out build/headfit/s0
    python benchmarks/recognition_context.py --runs "head refit seed 0=build/headfit/s0" --out DIR

Issue 21 (README "Where window recognition of the turns saturates"): cheap window classifiers trained to
8,000 steps name both walk turns in >= 60 % of 9-frame windows, `demo`'s own head in 49 / 48 %. This
trains a fresh embedding head on the frozen, fine-tuned lifter of `--from` with the demo recipe's third
stage (`actionpose.demo.demo_overrides("head")`: `train.freeze_backbone`, so the backbone and its 3D head
stay bit-exact and the 3D costs nothing; the pretraining step's learning rate, window shape and text
alignment against the same vocabulary; no masks) for `--steps` steps, on the windows the lifter was
fine-tuned on (random and take-fixed cameras, detector-like noise, flips with mirrored labels).
`--embed-pool` picks the head: the recipe's `joints_delta_window` (reads the lifted 3D frame by frame)
by default, `joints_delta` (the mean-and-trend head the fine-tuned demo had) to compare.
Resumable: run the same command again after an interruption.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from actionpose.api import pretrain
from actionpose.demo import demo_overrides


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="from_run", default="demo")
    ap.add_argument("--data", default=None, help="the labelled training data (default: the bundled subset)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--embed-pool", default=None, help="the new head's model.embed_pool (default: the demo recipe's third stage's)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    pretrain(run=out, overrides=demo_overrides("head", args.steps, args.data, seed=args.seed, embed_pool=args.embed_pool), init_from=args.from_run,
             progress=False, resume=(out / "checkpoint.safetensors").exists())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
