"""Re-fit a run's embedding head on its frozen lifter: is the turns' per-window miss the head's training?

    python benchmarks/head_refit.py --from demo --data prepared/bandai --seed 0 --steps 4000 --out build/headfit/s0
    python benchmarks/recognition_context.py --runs "head refit seed 0=build/headfit/s0" --out DIR

Issue 21 (README "Where window recognition of the turns saturates"): cheap window classifiers trained to
8,000 steps name both walk turns in >= 60 % of 9-frame windows, `demo`'s own head in 49 / 48 %. This
trains a fresh embedding head (by default of the same kind, the demo recipe's `model.embed_pool`;
`--embed-pool joints_delta_window` for one that also reads the lifted 3D frame by frame) on the frozen,
fine-tuned lifter of `--from` (`train.freeze_backbone`: the backbone and its 3D head stay bit-exact, so
the 3D costs nothing) with the demo recipe's pretraining step (learning rate, window shape, text
alignment against the same vocabulary) for `--steps` steps, on the windows the lifter was fine-tuned
on: no masks (random and take-fixed cameras, detector-like noise, flips with mirrored labels).
Resumable: run the same command again after an interruption.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from actionpose.api import pretrain
from actionpose.demo import demo_overrides

NO_MASKS = {"joint_prob": 0.0, "frame_prob": 0.0, "part_prob": 0.0, "window_prob": 0.0}


def refit_overrides(steps: int, data: str | None, seed: int, embed_pool: str | None = None) -> dict:
    """The demo pretraining recipe's overrides with the backbone frozen and the masks off; `embed_pool`
    replaces the recipe's head kind (e.g. "joints_delta_window", which reads the window in time order)."""
    over = demo_overrides("pretrain", steps, data, seed=seed)
    if embed_pool is not None:
        over["model"]["embed_pool"] = embed_pool
    over["train"]["freeze_backbone"] = True
    over["mask"] = dict(NO_MASKS)
    return over


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="from_run", default="demo")
    ap.add_argument("--data", default=None, help="the labelled training data (default: the bundled subset)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--embed-pool", default=None, help="the new head's model.embed_pool (default: the demo recipe's)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    pretrain(run=out, overrides=refit_overrides(args.steps, args.data, args.seed, args.embed_pool), init_from=args.from_run,
             progress=False, resume=(out / "checkpoint.safetensors").exists())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
