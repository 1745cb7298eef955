"""`actionpose <verb>`: prepare, pretrain, finetune, evaluate, infer, import-motionbert, ablate, bench, demo.

The CLI only parses arguments, calls the library and prints; every verb's work lives in the library.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="", help="prepared data dir (default: the bundled Bandai-Namco subset)")
    p.add_argument("--run", required=True, help="run folder to create (or continue with --resume)")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget; stops at whichever comes first")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--resume", action="store_true", help="continue the run's checkpoint exactly")
    p.add_argument("--config", default=None, help="YAML file of config overrides")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override, e.g. optim.lr=1e-3")
    p.add_argument("--no-progress", action="store_true")


def _overrides(args: argparse.Namespace) -> dict:
    import yaml

    from .config import _merge, parse_override
    over: dict = {}
    if args.config:
        path = Path(args.config)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ValueError(f"{path}: cannot read config overrides ({str(e).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of config sections")
        over = _merge(over, data)
    for expr in args.set:
        over = _merge(over, parse_override(expr))
    train = over.setdefault("train", {})
    data = over.setdefault("data", {})
    if args.max_steps is not None:
        train["max_steps"] = args.max_steps
    if args.max_minutes is not None:
        train["max_minutes"] = args.max_minutes
    if args.seed is not None:
        train["seed"] = args.seed
    if args.batch_size is not None:
        data["batch_size"] = args.batch_size
    if args.data:
        data["path"] = str(args.data)
    return over


def cmd_prepare(args) -> int:
    from .data.prepare import format_summary, prepare
    summary = prepare(args.kind, Path(args.source), Path(args.out), fps=args.fps, progress=not args.no_progress)
    print(format_summary(summary))
    return 0


def _is_main_rank() -> bool:
    """Under torchrun only rank 0 prints the summary."""
    import os
    return os.environ.get("RANK", "0") == "0"


def cmd_pretrain(args) -> int:
    from . import api
    res = api.pretrain(preset=args.preset, variant=args.variant, run=args.run, overrides=_overrides(args),
                       resume=args.resume, init_from=getattr(args, "from_run", None), progress=not args.no_progress)
    if _is_main_rank():
        print(api.format_train_result(res))
    return 0


def cmd_finetune(args) -> int:
    from . import api
    res = api.finetune(from_run=args.from_run, run=args.run, overrides=_overrides(args), resume=args.resume,
                       preset=args.preset, progress=not args.no_progress)
    if _is_main_rank():
        print(api.format_train_result(res))
    return 0


def cmd_evaluate(args) -> int:
    from .evaluate import evaluate, format_report
    report = evaluate(args.run, data=args.data or None, flip=args.flip, split=args.split,
                      noise_sigma=args.noise, write=True)
    print(format_report(report))
    return 0


def cmd_infer(args) -> int:
    from .inference import run_infer_cli
    return run_infer_cli(args)


def cmd_import(args) -> int:
    from .api import import_motionbert
    out = import_motionbert(args.checkpoint, args.out, size=args.size, heads=args.heads, config_json=args.config_json)
    print(f"imported {args.checkpoint} -> run folder {out}")
    return 0


def cmd_bench(args) -> int:
    from .bench import bench, format_bench
    res = bench(args.preset, batch_size=args.batch_size, steps=args.steps, compile=args.compile)
    print(format_bench(res))
    return 0


def cmd_ablate(args) -> int:
    from .ablation import AblationSpec, run_ablation
    spec = AblationSpec(pretrain_minutes=args.pretrain_budget, finetune_minutes=args.finetune_budget,
                        seeds=args.seeds, pretrain_data=args.pretrain_data or "", target_data=args.target_data or "",
                        out=Path(args.out), preset=args.preset, variants=args.variants.split(",") if args.variants else None)
    table = run_ablation(spec, progress=not args.no_progress)
    print(table)
    return 0


def cmd_demo(args) -> int:
    from .demo import build_demo
    print(build_demo(Path(args.out), pretrain_steps=args.pretrain_steps, finetune_steps=args.finetune_steps,
                     progress=not args.no_progress, install=args.install))
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="actionpose", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="verb", required=True)

    p = sub.add_parser("prepare", help="turn a dataset into a fast-loading cache")
    p.add_argument("kind", choices=["bandai", "h36m", "3dhp"])
    p.add_argument("--source", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--fps", type=float, default=None, help="resample to this frame rate")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("pretrain", help="action-text pretraining (masked, noisy 2D -> 3D + alignment)")
    p.add_argument("--preset", default="tiny", choices=["tiny", "lite", "base"])
    p.add_argument("--variant", default="actionpose",
                   choices=["actionpose", "motionbert-style", "onehot", "no-part-mask", "no-window-mask"])
    p.add_argument("--from", dest="from_run", default=None, help="initialise the backbone from this run (e.g. an imported MotionBERT)")
    _add_train_args(p)
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("finetune", help="3D regression on target data (no labels)")
    p.add_argument("--from", dest="from_run", required=True, help="a pretraining run folder, 'demo', or 'scratch'")
    p.add_argument("--preset", default=None, help="model preset (only with --from scratch; default tiny)")
    _add_train_args(p)
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser("evaluate", help="protocol tables on held-out data (writes eval.json)")
    p.add_argument("--run", required=True)
    p.add_argument("--data", default="")
    p.add_argument("--split", default=None, help="split to evaluate (default: val for mocap, test for H36M/3DHP)")
    p.add_argument("--flip", action="store_true", help="flip test-time augmentation")
    p.add_argument("--noise", type=float, default=0.0, help="synthetic 2D noise sigma (screen units) for mocap data")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("infer", help="2D keypoint file -> 3D + action scores")
    p.add_argument("--run", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--format", default="auto", choices=["auto", "coco17", "h36m17"])
    p.add_argument("--image-size", type=int, nargs=2, metavar=("W", "H"), default=None)
    p.add_argument("--fps", type=float, default=None, help="frame rate of the input (resampled to the model's)")
    p.add_argument("--html", default=None, help="also write a self-contained plotly animation")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--scale-mm", type=float, default=None, help="mm per normalised unit, if known, to also output mm")
    p.set_defaults(func=cmd_infer)

    p = sub.add_parser("import-motionbert", help="import a released MotionBERT checkpoint as a run folder")
    p.add_argument("checkpoint")
    p.add_argument("--out", required=True)
    p.add_argument("--size", default=None, choices=["base", "lite"])
    p.add_argument("--heads", type=int, default=None, help="attention heads (not inferable from shapes; base/lite use 8)")
    p.add_argument("--config-json", default=None, help="MotionBERT-style constructor sizes (JSON), for non-released sizes")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("bench", help="speed/memory/utilisation benchmark")
    p.add_argument("--preset", default="tiny", choices=["tiny", "lite", "base"])
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--compile", action="store_true")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("ablate", help="pretrain variants, fine-tune each on a target, compare")
    p.add_argument("--pretrain-budget", type=float, required=True, help="minutes of pretraining per variant")
    p.add_argument("--finetune-budget", type=float, required=True, help="minutes of fine-tuning per variant")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--pretrain-data", default="")
    p.add_argument("--target-data", default="")
    p.add_argument("--out", required=True)
    p.add_argument("--preset", default="tiny")
    p.add_argument("--variants", default=None, help="comma list (default: all)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_ablate)

    p = sub.add_parser("demo", help="reproduce the bundled demo run from scratch and print its evaluation")
    p.add_argument("--out", default="runs/demo-repro")
    p.add_argument("--pretrain-steps", type=int, default=600)
    p.add_argument("--finetune-steps", type=int, default=300)
    p.add_argument("--install", action="store_true", help="also replace the demo run shipped in the package")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_demo)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        # Bad input: one line, no traceback.
        print(f"actionpose {args.verb}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
