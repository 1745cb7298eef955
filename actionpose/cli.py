"""`actionpose <verb>`: prepare, pretrain, finetune, evaluate, baseline, infer, import-motionbert, ablate, bench, demo.

The CLI only parses arguments, calls the library and prints; every verb's work lives in the library.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

DEBUG_ENV = "ACTIONPOSE_DEBUG"  # =1: let exceptions through with their traceback


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block); `--help` still prints the usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message.splitlines()[0] if message else 'bad arguments'}\n")


def _number(kind: type, lo: float, strict: bool):
    """An argparse `type=` that parses a finite number and checks `value > lo` (strict) or `>= lo`."""
    expect = f"> {lo:g}" if strict else f">= {lo:g}"
    noun = "an integer" if kind is int else "a number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun} {expect}, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number {expect}, got {text!r}")
        if value <= lo if strict else value < lo:
            raise argparse.ArgumentTypeError(f"expected {noun} {expect}, got {text}")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


POSITIVE_INT = _number(int, 0, strict=True)
NONNEG_INT = _number(int, 0, strict=False)
POSITIVE_FLOAT = _number(float, 0.0, strict=True)
NONNEG_FLOAT = _number(float, 0.0, strict=False)


def _add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="", help="prepared data dir (default: the bundled Bandai-Namco subset)")
    p.add_argument("--run", required=True, help="run folder to create (or continue with --resume)")
    p.add_argument("--max-steps", type=POSITIVE_INT, default=None)
    p.add_argument("--max-minutes", type=POSITIVE_FLOAT, default=None,
                   help="wall-clock budget; stops at whichever comes first")
    p.add_argument("--batch-size", type=POSITIVE_INT, default=None)
    p.add_argument("--seed", type=NONNEG_INT, default=None)
    p.add_argument("--resume", action="store_true", help="continue the run's checkpoint exactly")
    p.add_argument("--config", default=None, help="YAML file of config overrides")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override, e.g. optim.lr=1e-3")
    p.add_argument("--device", default=None, choices=["auto", "cuda", "cpu"],
                   help="train.device: auto = CUDA when present (default), else CPU")
    p.add_argument("--workers", type=NONNEG_INT, default=None,
                   help="data.num_workers: processes building batches (0 = in the training process)")
    p.add_argument("--no-progress", action="store_true")


def _overrides(args: argparse.Namespace) -> dict:
    import yaml

    from .config import _merge, parse_override
    over: dict = {}
    if args.config:
        path = Path(args.config)
        try:
            data = yaml.safe_load(path.read_bytes().decode("utf-8")) or {}
        except (OSError, yaml.YAMLError, ValueError, RecursionError) as e:  # ValueError: not UTF-8
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ValueError(f"{path}: cannot read config overrides ({first})") from None
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
    if getattr(args, "device", None) is not None:
        train["device"] = args.device
    if getattr(args, "workers", None) is not None:
        data["num_workers"] = args.workers
    return over


def _check_train_paths(args) -> None:
    """Inputs of pretrain/finetune exist and the run folder can be written, before any work."""
    from .paths import require_existing, require_file, require_writable_dir
    if args.data:
        require_existing(args.data, "prepared data dir")
    if args.config:
        require_file(args.config, "config file")
    from_run = getattr(args, "from_run", None)
    if from_run and from_run != "scratch":
        from .train.runs import resolve_run
        resolve_run(from_run)
    require_writable_dir(args.run, "run folder")


def _same_path(a: str | Path, b: str | Path) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def _prepare_kwargs(args) -> dict:
    """The loader options of `actionpose prepare <kind>`; an option another kind does not take is an error."""
    given = {"cameras": args.cameras, "labels": args.labels, "kp2d": args.kp2d, "split": args.split,
             "joint_map": args.joint_map, "val_subjects": args.val_subjects, "body_model": args.body_model,
             "joint_regressor": args.joint_regressor, "babel": args.babel, "babel_text": args.babel_text,
             "babel_extra": args.babel_extra or None, "workers": args.workers}
    allowed = {"h36m": {"cameras", "labels", "kp2d", "split", "val_subjects"}, "3dhp": {"split"},
               "bvh": {"joint_map", "labels"}, "bandai": set(),
               "amass": {"body_model", "joint_regressor", "babel", "babel_text", "babel_extra", "workers"}}[args.kind]
    wrong = [k for k, v in given.items() if v is not None and k not in allowed]
    if wrong:
        raise ValueError(f"prepare {args.kind}: option(s) {', '.join('--' + k.replace('_', '-') for k in wrong)} "
                         f"do not apply (this kind takes {', '.join('--' + k.replace('_', '-') for k in sorted(allowed)) or 'none'})")
    kw: dict = {}
    if args.kind == "h36m":
        if args.cameras:
            kw["cameras_json"] = args.cameras
        if args.labels:
            kw["with_framewise_labels"] = False if args.labels == "none" else args.labels
        if args.kp2d:
            kw["kp2d"] = args.kp2d
        if args.split:
            kw["split"] = args.split
        if args.val_subjects is not None:
            kw["val_subjects"] = args.val_subjects
    elif args.kind == "3dhp" and args.split:
        kw["split"] = args.split
    elif args.kind == "bvh":
        if args.joint_map:
            kw["joint_map"] = args.joint_map
        if args.labels:
            kw["labels"] = args.labels
    elif args.kind == "amass":
        if not args.body_model:
            raise ValueError("prepare amass: --body-model SMPLH_DIR is required (the SMPL-H model npz files)")
        if args.babel_text and not args.babel:
            raise ValueError("prepare amass: --babel-text needs --babel BABEL_DIR")
        kw.update(body_model=args.body_model, joint_regressor=args.joint_regressor, babel=args.babel,
                  babel_text=args.babel_text or "proc_label", babel_extra=bool(args.babel_extra),
                  workers=args.workers or 1)
    return kw


# What a prepared folder holds (data.cache writes these, the .tmp names only while saving).
_PREPARED_FILES = {"motions.npz", "meta.json", "motions.npz.tmp.npz", "meta.json.tmp"}


def _check_prepare_out(out: Path, overwrite: bool) -> None:
    """An existing non-empty --out needs --overwrite, and even then only a prepared folder is replaced."""
    if not out.is_dir():
        return
    names = sorted(p.name for p in out.iterdir())
    if not names:
        return
    other = [n for n in names if n not in _PREPARED_FILES]
    if not overwrite:
        what = "a prepared data folder" if "meta.json" in names else f"{len(names)} entries, e.g. {names[0]}"
        raise ValueError(f"{out}: --out already exists and is not empty ({what}); pass --overwrite to replace "
                         f"the prepared data in it, or choose a new folder")
    if other:
        raise ValueError(f"{out}: --overwrite replaces a prepared data folder (motions.npz, meta.json) but this "
                         f"folder also holds {len(other)} other entries, e.g. {other[0]}; choose a new folder")


def cmd_prepare(args) -> int:
    from .data.prepare import format_summary, prepare
    from .paths import require_existing, require_writable_dir
    require_existing(args.source, f"{args.kind} source")
    if _same_path(args.source, args.out):
        raise ValueError(f"{args.out}: --out is the --source itself; choose a new folder for the prepared cache")
    require_writable_dir(args.out, "output folder")
    _check_prepare_out(Path(args.out), args.overwrite)
    kw = _prepare_kwargs(args)
    if args.kind == "amass":
        from .data.amass import format_amass_summary, prepare_amass
        for opt, path in (("--body-model", kw["body_model"]), ("--joint-regressor", kw["joint_regressor"]),
                          ("--babel", kw["babel"])):
            if path:
                require_existing(path, opt)
        # AMASS mixes 60-250 Hz captures; the default is Human3.6M's 50 Hz so fine-tuning reads the same rate.
        summary = prepare_amass(Path(args.source), Path(args.out), fps=args.fps or 50.0,
                                progress=not args.no_progress, **kw)
        print(format_amass_summary(summary))
        return 0
    summary = prepare(args.kind, Path(args.source), Path(args.out), fps=args.fps, progress=not args.no_progress,
                      **kw)
    print(format_summary(summary))
    return 0


def _is_main_rank() -> bool:
    """Under torchrun only rank 0 prints the summary."""
    return os.environ.get("RANK", "0") == "0"


def _backbone_overrides(args, over: dict) -> dict:
    """`--freeze-backbone` / `--backbone-lr-scale` into the config overrides (train.freeze_backbone,
    optim.backbone_lr_scale)."""
    if args.freeze_backbone:
        over.setdefault("train", {})["freeze_backbone"] = True
    if args.backbone_lr_scale is not None:
        over.setdefault("optim", {})["backbone_lr_scale"] = args.backbone_lr_scale
    return over


def cmd_pretrain(args) -> int:
    _check_train_paths(args)
    from . import api
    res = api.pretrain(preset=args.preset, variant=args.variant, run=args.run,
                       overrides=_backbone_overrides(args, _overrides(args)),
                       resume=args.resume, init_from=getattr(args, "from_run", None), progress=not args.no_progress)
    if _is_main_rank():
        print(api.format_train_result(res))
    return 0


def cmd_finetune(args) -> int:
    _check_train_paths(args)
    from . import api
    res = api.finetune(from_run=args.from_run, run=args.run, overrides=_overrides(args), resume=args.resume,
                       preset=args.preset, progress=not args.no_progress)
    if _is_main_rank():
        print(api.format_train_result(res))
    return 0


def cmd_evaluate(args) -> int:
    from .evaluate import eval_path, evaluate, format_report
    from .paths import require_existing, require_writable_dir
    if args.data:
        require_existing(args.data, "prepared data dir")
    target = Path(args.out) if args.out else eval_path(args.run)
    require_writable_dir(target if target.suffix != ".json" else target.parent, "folder of eval.json")
    if args.mlp_floor not in ("auto", "none"):
        require_existing(args.mlp_floor, "MLP floor folder")
    report = evaluate(args.run, data=args.data or None, flip=args.flip, split=args.split,
                      noise_sigma=args.noise, write=True, protocol=args.protocol, device=args.device,
                      batch_size=args.batch_size, out=args.out,
                      mlp_floor=None if args.mlp_floor == "none" else args.mlp_floor)
    print(format_report(report))
    print(f"evaluation -> {target}")
    return 0


def cmd_baseline(args) -> int:
    from .baselines import data_identity, train_mlp_floor
    from .evaluate import evaluate_floors, format_report
    from .paths import require_existing, require_writable_dir
    from .train.data import load_data
    if args.data:
        require_existing(args.data, "prepared data dir")
    require_writable_dir(args.out, "MLP floor folder")
    motions, info = load_data(args.data or None)
    name, ident = data_identity(motions, info)

    def progress(step: int, steps: int, loss_m: float) -> None:
        if not args.no_progress and (step % 1000 == 0 or step == steps):
            print(f"  step {step}/{steps}: training MPJPE {loss_m * 1000:.1f} mm", flush=True)
    floor = train_mlp_floor(motions, steps=args.steps, seed=args.seed, data_name=name, data_hash=ident,
                            out=args.out, progress=progress)
    report = evaluate_floors(motions=motions, data_info=info, mlp_floor=floor, out=args.out)
    print(format_report(report))
    print(f"MLP floor ({floor.meta['steps']} steps, {floor.meta['train_cpu_s']:.0f} CPU-s) -> {args.out}; "
          f"use it with `actionpose evaluate --run RUN --mlp-floor {args.out}`")
    return 0


def cmd_infer(args) -> int:
    from .paths import require_file, require_writable_file
    require_file(args.input, "keypoint file")
    require_writable_file(args.output, "output file", (".npz", ".json"))
    if args.html:
        require_writable_file(args.html, "HTML file", (".html", ".htm"))
    for out in filter(None, (args.output, args.html)):
        if _same_path(out, args.input):
            raise ValueError(f"{out}: the output would overwrite the input keypoint file")
    if args.html and _same_path(args.html, args.output):
        raise ValueError(f"{args.html}: --html and --output name the same file")
    from .inference import run_infer_cli  # torch is imported only once the paths are known to be good
    return run_infer_cli(args)


def cmd_import(args) -> int:
    from .api import import_motionbert
    from .paths import require_file, require_writable_dir
    require_file(args.checkpoint, "checkpoint file")
    if args.config_json:
        require_file(args.config_json, "config JSON file")
    require_writable_dir(args.out, "output run folder")
    out = import_motionbert(args.checkpoint, args.out, size=args.size, heads=args.heads, config_json=args.config_json)
    print(f"imported {args.checkpoint} -> run folder {out}")
    return 0


def cmd_bench(args) -> int:
    from .bench import bench, bench_loop, format_bench, format_bench_loop
    if args.reference:
        from .bench_reference import compare_reference
        r = compare_reference(args.preset, batch=args.batch_size or 8, frames=args.frames, steps=args.steps,
                              train=not args.infer)
        print(f"{'training step' if r['train'] else 'inference'} {args.preset} ({r['batch']} x {r['frames']} frames, "
              f"{r['threads']} threads): ours {r['ours_s'] * 1e3:.0f} ms, MotionBERT-style reference "
              f"{r['reference_s'] * 1e3:.0f} ms median -> {r['speedup']:.2f}x (outputs agree to {r['max_abs_diff']:.1e})")
        return 0
    if args.loop:
        res = bench_loop(args.preset, batch_size=args.batch_size, steps=args.steps, workers=args.workers,
                         device=args.device, overrides={"model": {"compile": True}} if args.compile else None)
        print(format_bench_loop(res))
        return 0
    res = bench(args.preset, batch_size=args.batch_size, steps=args.steps, compile=args.compile, device=args.device)
    print(format_bench(res))
    return 0


def _ablate_overrides(args) -> dict:
    """--config/--set/--batch-size for every cell; the budget keys are the ablation's own."""
    ns = argparse.Namespace(config=args.config, set=args.set, max_steps=None, max_minutes=None, seed=None,
                            batch_size=args.batch_size, data="")
    over = {k: v for k, v in _overrides(ns).items() if v != {}}
    taken = [f"train.{k}" for k in ("max_steps", "max_minutes", "seed", "device") if k in over.get("train", {})]
    if taken or "path" in over.get("data", {}):
        raise ValueError(f"--set/--config: {', '.join(taken + (['data.path'] if 'path' in over.get('data', {}) else []))} "
                         "is set by the ablation itself (use --pretrain-steps/--finetune-steps/--seeds/--device/"
                         "--pretrain-data/--target-data)")
    return over


def cmd_ablate(args) -> int:
    from .ablation import AblationSpec, parse_seeds, parse_sweep, run_ablation, to_markdown
    from .paths import require_existing, require_writable_dir
    for opt, path in (("--pretrain-data", args.pretrain_data), ("--target-data", args.target_data),
                      ("--sweep-config", args.sweep_config)):
        if path:
            require_existing(path, "file" if opt == "--sweep-config" else f"prepared data dir ({opt})")
    if args.pretrain_budget is not None or args.finetune_budget is not None:
        raise ValueError("--pretrain-budget/--finetune-budget (minutes) were removed: budgets are step counts "
                         "(--pretrain-steps/--finetune-steps); --estimate-only prints the minutes they take")
    for folder in args.reuse_pretraining:
        require_existing(Path(folder) / "ablation_spec.json", "ablation folder's spec (--reuse-pretraining)")
    require_writable_dir(args.out, "output folder")
    sweep = parse_sweep(args.sweep, args.sweep_config) if (args.sweep or args.sweep_config) else None
    spec = AblationSpec(pretrain_steps=args.pretrain_steps, finetune_steps=args.finetune_steps, out=Path(args.out),
                        seeds=parse_seeds(args.seeds), cells=args.variants, pretrain_data=args.pretrain_data or "",
                        target_data=args.target_data or "", preset=args.preset, overrides=_ablate_overrides(args),
                        device=args.device, flip=args.flip, sweep=sweep, settings=args.setting or None,
                        reuse_pretraining=[Path(p) for p in args.reuse_pretraining],
                        pretrain_lr=args.pretrain_lr,
                        finetune_lr=args.finetune_lr)
    summary = run_ablation(spec, progress=not args.no_progress, log=print, estimate_only=args.estimate_only)
    if not args.estimate_only:
        print(to_markdown(summary))
        stem = "sweep" if sweep else "summary"
        print(f"written: {Path(args.out) / stem}.json, .md, .csv, _paired.csv")
    return 0


def cmd_ablate_curve(args) -> int:
    from .ablation import first_step_reaching, pretraining_curve, run_curve, write_curve
    from .ablation.curve import curve_markdown
    from .paths import require_writable_dir
    require_writable_dir(args.out, "output folder")
    if args.runs:
        import pandas as pd
        curve = pd.concat([pretraining_curve(r) for r in args.runs], ignore_index=True)
        write_curve(curve, args.out, args.top1, note=f"Read from the run(s) {', '.join(args.runs)}.")
    else:
        if args.pretrain_steps is None:
            raise ValueError("ablate-curve: give --pretrain-steps (to train the curve runs) or --runs RUN ...")
        ns = argparse.Namespace(config=args.config, set=args.set, batch_size=args.batch_size)
        curve = run_curve(args.pretrain_steps, args.out, args.every, variants=args.variants.split(","),
                          seed=args.seed, preset=args.preset, pretrain_data=args.pretrain_data or "",
                          target_data=args.target_data or "", overrides=_ablate_overrides(ns), device=args.device,
                          top1_pct=args.top1, progress=not args.no_progress, log=print)
    print(curve_markdown(curve, args.top1))
    step = first_step_reaching(curve, args.top1)
    print(f"written: {Path(args.out) / 'curve.csv'}, curve.md; suggested P: {step if step is not None else 'none yet'}")
    return 0


def _window_shape(text: str) -> tuple[int, int]:
    from .demo import parse_window
    try:
        return parse_window(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"--window: {e}") from None


def cmd_demo(args) -> int:
    from .demo import build_demo
    from .paths import require_writable_dir
    require_writable_dir(args.out, "output folder")
    print(build_demo(Path(args.out), pretrain_steps=args.pretrain_steps, finetune_steps=args.finetune_steps,
                     data=args.data or None, progress=not args.no_progress, window=args.window, seed=args.seed,
                     head_steps=args.head_steps))
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="actionpose", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="verb", required=True)

    p = sub.add_parser("prepare", help="turn a dataset into a fast-loading cache")
    p.add_argument("kind", choices=["bandai", "h36m", "3dhp", "bvh", "amass"])
    p.add_argument("--source", required=True, help="dataset folder / file; bvh: a folder, one .bvh or an archive; "
                                                    "amass: the AMASS folder (<dataset>/<subject>/<take>.npz)")
    p.add_argument("--out", required=True)
    p.add_argument("--fps", type=POSITIVE_FLOAT, default=None, help="resample to this frame rate")
    p.add_argument("--cameras", default=None,
                   help="h36m: calibration file, the JSON or a 3d-pose-baseline cameras.h5 (default: the JSON shipped "
                        "in the package for the npz layout, --source/cameras.h5 for the 3d-pose-baseline folder)")
    p.add_argument("--labels", default=None,
                   help="h36m: framewise labels npz (default: shipped; 'none' for no labels); "
                        "bvh: CSV file,label[,split] of per-file action labels")
    p.add_argument("--kp2d", default=None, metavar="auto|none|gt|cpn|sh|sh_pt|detectron|FILE|NAME=FILE",
                   help="h36m: the 2D keypoints. auto (default): npz layout, the first present of cpn, gt, sh, "
                        "detectron, sh_pt (the 2D files present and the one taken are reported); folder layout, "
                        "sh_pt then sh. none: 3D only. gt: ground-truth 2D (the 3D projected; no detector error). "
                        "cpn: CPN detections fine-tuned on Human3.6M. sh: Stacked Hourglass fine-tuned on "
                        "Human3.6M (data_2d_h36m_sh_ft_h36m.npz or StackedHourglassFineTuned240/). sh_pt: Stacked "
                        "Hourglass pretrained on MPII (data_2d_h36m_sh_pt_mpii.npz or the stock StackedHourglass/ "
                        "folder). detectron: Detectron fine-tuned on Human3.6M. FILE: a detections npz in the "
                        "VideoPose3D layout (SH, CPN or your own). NAME=FILE: the same, labelled NAME "
                        "(e.g. sh=my_hourglass.npz)")
    p.add_argument("--split", default=None, choices=["train", "test", "all"],
                   help="h36m: subjects of this split; 3dhp: which file(s) (default all)")
    p.add_argument("--val-subjects", default=None, metavar="S8|S1,S5|none",
                   help="h36m: training subjects held out as the validation split that fine-tuning reports "
                        "(default S8; never S9/S11); none = all five train, as published")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the prepared data in an existing --out (without it a non-empty --out is refused)")
    p.add_argument("--joint-map", default=None,
                   help="bvh: JSON/YAML map of the 17 Human3.6M joints to your BVH joint names "
                        "(default: the Bandai-Namco map)")
    p.add_argument("--body-model", default=None, metavar="SMPLH_DIR",
                   help="amass: the SMPL-H model (folder with <gender>/model.npz as AMASS distributes it, or "
                        "SMPLH_<GENDER>.npz, or one .npz for every gender); never a .pkl")
    p.add_argument("--joint-regressor", default=None, metavar="J_regressor_h36m.npy",
                   help="amass: Human3.6M joint regressor [17, V] applied to the mesh vertices (MotionBERT's "
                        "way); without it the SMPL-H joints are mapped and the head top estimated")
    p.add_argument("--babel", default=None, metavar="BABEL_DIR",
                   help="amass: BABEL's label folder (train.json, val.json[, test.json]) joined by feat_p; "
                        "BABEL's train/val split is kept")
    p.add_argument("--babel-text", default=None, choices=["proc_label", "raw_label", "act_cat"],
                   help="amass + --babel: which BABEL text becomes the action label (default proc_label)")
    p.add_argument("--babel-extra", action="store_true",
                   help="amass + --babel: add the extra annotators' labels (extra_train.json / extra_val.json)")
    p.add_argument("--workers", type=POSITIVE_INT, default=None, help="amass: processes converting files (default 1)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("pretrain", help="action-text pretraining (masked, noisy 2D -> 3D + alignment)")
    p.add_argument("--preset", default=None, choices=["tiny", "lite", "base"],
                   help="model size (default tiny; with --from the source run's architecture)")
    p.add_argument("--variant", default="actionpose",
                   choices=["actionpose", "motionbert-style", "onehot", "no-part-mask", "no-window-mask"])
    p.add_argument("--from", dest="from_run", default=None,
                   help="initialise the backbone from this run (e.g. an imported MotionBERT), keeping its "
                        "architecture and input encoding; pass it again with --resume")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--freeze-backbone", action="store_true",
                   help="train.freeze_backbone: the backbone (with its 3D head) stays bit-exact; only the "
                        "embedding head and aligner learn the alignment")
    g.add_argument("--backbone-lr-scale", type=POSITIVE_FLOAT, default=None, metavar="X",
                   help="optim.backbone_lr_scale: the backbone learns at X times the learning rate of the "
                        "new embedding head and aligner (e.g. 0.1 from a pretrained backbone; default 1)")
    _add_train_args(p)
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("finetune", help="3D regression on target data (no labels)")
    p.add_argument("--from", dest="from_run", required=True,
                   help="a run folder (e.g. from pretrain or import-motionbert), 'demo-pretrain' (the shipped "
                        "pretraining run), 'demo' (the shipped fine-tuned run) or 'scratch' (random initialisation)")
    p.add_argument("--preset", default=None, help="model preset (only with --from scratch; default tiny)")
    _add_train_args(p)
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser("evaluate", help="protocol tables on held-out data (writes eval.json)")
    p.add_argument("--run", required=True)
    p.add_argument("--data", default="")
    p.add_argument("--split", default=None, help="split to evaluate (default: val for mocap, test for H36M/3DHP)")
    p.add_argument("--flip", action="store_true", help="flip test-time augmentation")
    p.add_argument("--noise", type=NONNEG_FLOAT, default=0.0, help="synthetic 2D noise sigma (screen units) for mocap data")
    p.add_argument("--protocol", default="actionpose", choices=["actionpose", "motionbert"],
                   help="actionpose: camera-frame mm, every frame once; motionbert: MotionBERT's H36M evaluation exactly")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps")
    p.add_argument("--batch-size", type=POSITIVE_INT, default=8, help="windows per forward pass")
    p.add_argument("--out", default=None, help="eval.json path or folder (default: the run folder; for the shipped "
                                                "demo run ./runs/demo/ or $ACTIONPOSE_HOME/runs/demo/)")
    p.add_argument("--mlp-floor", default="auto",
                   help="MLP floor folder (from `actionpose baseline`) printed beside the model; 'auto': the shipped "
                        "one when present and trained on this data; 'none': only the no-learning floors")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("baseline", help="train the per-frame MLP floor (in steps) and print it beside the "
                                        "no-learning floors on the held-out takes")
    p.add_argument("--out", required=True, help="folder for the MLP floor (checkpoint.safetensors, floor.json, eval.json)")
    p.add_argument("--data", default="", help="prepared data dir (default: the bundled subset)")
    p.add_argument("--steps", type=POSITIVE_INT, default=5000,
                   help="Adam steps of 256 frames (default 5000: about one CPU-minute on one thread)")
    p.add_argument("--seed", type=NONNEG_INT, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_baseline)

    p = sub.add_parser("infer", help="2D keypoint file -> 3D + action scores")
    p.add_argument("--run", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--format", default="auto", choices=["auto", "coco17", "h36m17"])
    p.add_argument("--image-size", type=POSITIVE_INT, nargs=2, metavar=("W", "H"), default=None)
    p.add_argument("--fps", type=POSITIVE_FLOAT, default=None, help="frame rate of the input (resampled to the model's)")
    p.add_argument("--html", default=None, help="also write a self-contained plotly animation")
    p.add_argument("--top-k", type=POSITIVE_INT, default=5)
    p.add_argument("--scale-mm", type=POSITIVE_FLOAT, default=None, help="mm per normalised unit, if known, to also output mm")
    p.add_argument("--flip", action="store_true", help="flip test-time augmentation (average with the mirrored input)")
    p.add_argument("--person", type=NONNEG_INT, default=None,
                   help="a file with several people: keep the K-th entry of each frame (file order)")
    p.add_argument("--fill-gaps", type=NONNEG_INT, default=0, metavar="N",
                   help="accept missing frames and interpolate joints missing for at most N frames")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps")
    p.add_argument("--batch-size", type=POSITIVE_INT, default=8, help="windows per forward pass")
    p.set_defaults(func=cmd_infer)

    p = sub.add_parser("import-motionbert", help="import a released MotionBERT checkpoint as a run folder")
    p.add_argument("checkpoint")
    p.add_argument("--out", required=True)
    p.add_argument("--size", default=None, choices=["base", "lite"])
    p.add_argument("--heads", type=POSITIVE_INT, default=None, help="attention heads (not inferable from shapes; base/lite use 8)")
    p.add_argument("--config-json", default=None, help="MotionBERT-style constructor sizes (JSON), for non-released sizes")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("bench", help="speed/memory/utilisation benchmark")
    p.add_argument("--preset", default="tiny", choices=["tiny", "lite", "base"])
    p.add_argument("--batch-size", type=POSITIVE_INT, default=None)
    p.add_argument("--steps", type=POSITIVE_INT, default=5)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--loop", action="store_true",
                   help="time the real training loop (data pipeline + step) beside the model-only step")
    p.add_argument("--workers", type=NONNEG_INT, default=None, help="--loop: data workers (default 1 on CPU, 4 on CUDA)")
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    p.add_argument("--reference", action="store_true",
                   help="CPU: our DSTformer against the MotionBERT-style formulation, same weights, interleaved")
    p.add_argument("--frames", type=POSITIVE_INT, default=81, help="--reference: frames per clip")
    p.add_argument("--infer", action="store_true", help="--reference: time inference instead of training steps")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("ablate", help="pretrain variants, fine-tune each on a target, compare (resumable)")
    p.add_argument("--pretrain-steps", type=POSITIVE_INT, required=True, help="P: pretraining steps of every pretrained cell")
    p.add_argument("--finetune-steps", type=POSITIVE_INT, required=True,
                   help="F: fine-tuning steps of every cell (scratch (P+F) trains P + F)")
    p.add_argument("--seeds", default="1", help="a count (3 = seeds 0,1,2) or a comma list (0,1,2; one seed: 5,)")
    p.add_argument("--variants", default=None,
                   help="comma list of cells (default: all): scratch, scratch-F, scratch-PF, motionbert-style, "
                        "actionpose, onehot, no-part-mask, no-window-mask")
    p.add_argument("--pretrain-data", default="", help="prepared Bandai-Namco dir (default: the bundled subset)")
    p.add_argument("--target-data", default="",
                   help="prepared target dir, e.g. Human3.6M (fine-tune on its train split, evaluate on test)")
    p.add_argument("--out", required=True, help="ablation folder; re-running the same command continues it")
    p.add_argument("--preset", default="tiny", choices=["tiny", "lite", "base"])
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    p.add_argument("--batch-size", type=POSITIVE_INT, default=None)
    p.add_argument("--pretrain-lr", type=POSITIVE_FLOAT, default=None,
                   help="learning rate of every pretraining stage (default: the library's, 5e-4)")
    p.add_argument("--finetune-lr", type=POSITIVE_FLOAT, default=None,
                   help="learning rate of every fine-tuning stage, scratch rows included (default 2e-4)")
    p.add_argument("--flip", action="store_true", help="flip test-time augmentation at evaluation")
    p.add_argument("--config", default=None, help="YAML file of config overrides for every cell")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override for every cell")
    p.add_argument("--sweep", action="append", default=[], metavar="KEY=V1,V2",
                   help="method-tuning mode: pretraining settings to compare (axes combine as a grid), scored "
                        "on a validation part of the fine-tuning data, never on the reported held-out takes")
    p.add_argument("--sweep-config", default=None, help="YAML {setting name: {config overrides}} for the sweep")
    p.add_argument("--setting", action="append", default=[], metavar="NAME",
                   help="run only this sweep setting (repeatable; e.g. more seeds of the chosen one); the "
                        "summary still covers every finished cell")
    p.add_argument("--reuse-pretraining", action="append", default=[], metavar="DIR",
                   help="another ablation folder: copy its finished pretraining stages that are identical to one "
                        "of this command's (same pretraining data, config hash and seed) instead of retraining")
    p.add_argument("--estimate-only", action="store_true", help="print the pending work and its estimated minutes")
    p.add_argument("--pretrain-budget", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--finetune-budget", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_ablate)

    p = sub.add_parser("ablate-curve", help="pretraining curve (recognition top-1, MPJPE vs step) to choose P")
    p.add_argument("--out", required=True)
    p.add_argument("--pretrain-steps", type=POSITIVE_INT, default=None, help="budget of each curve run")
    p.add_argument("--every", type=POSITIVE_INT, default=100, help="validate every N steps")
    p.add_argument("--variants", default="actionpose", help="comma list of pretraining variants")
    p.add_argument("--runs", nargs="+", default=None, help="read these pretraining runs instead of training")
    p.add_argument("--top1", type=POSITIVE_FLOAT, default=50.0, help="recognition target (%%) for the suggested P")
    p.add_argument("--seed", type=NONNEG_INT, default=0)
    p.add_argument("--pretrain-data", default="")
    p.add_argument("--target-data", default="")
    p.add_argument("--preset", default="tiny", choices=["tiny", "lite", "base"])
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    p.add_argument("--batch-size", type=POSITIVE_INT, default=None)
    p.add_argument("--config", default=None)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_ablate_curve)

    p = sub.add_parser("demo", help="rebuild the shipped runs demo-pretrain and demo from scratch and print their evaluation")
    p.add_argument("--out", default="runs/demo-repro", help="folder for both stages (re-run to resume)")
    p.add_argument("--data", default="", help="prepared training data (default: the bundled subset); "
                                             "evaluation always uses the bundled held-out takes")
    # The defaults are the recipe's own constants (a hard-coded 2000 here once extended a finished
    # 1,200-step pretraining run when its build was re-run to evaluate it).
    from .demo import DEMO_BATCH, DEMO_FINETUNE_STEPS, DEMO_HEAD_STEPS, DEMO_MAXLEN, DEMO_PRETRAIN_STEPS
    p.add_argument("--pretrain-steps", type=POSITIVE_INT, default=DEMO_PRETRAIN_STEPS)
    p.add_argument("--finetune-steps", type=POSITIVE_INT, default=DEMO_FINETUNE_STEPS)
    p.add_argument("--head-steps", type=NONNEG_INT, default=DEMO_HEAD_STEPS,
                   help="steps of the third stage, the embedding head re-fitted on the frozen fine-tuned lifter (0: none)")
    p.add_argument("--window", type=_window_shape, default=(DEMO_MAXLEN, DEMO_BATCH), metavar="TxB",
                   help=f"frames per window x windows per step (default {DEMO_MAXLEN}x{DEMO_BATCH}, the recipe's)")
    p.add_argument("--seed", type=NONNEG_INT, default=0, help="training seed of both stages (the shipped runs: 0)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_demo)
    return ap


@contextmanager
def _one_line_warnings(verb: str):
    """Warnings printed as `actionpose <verb>: warning: <first line>` instead of source excerpts."""
    old = warnings.formatwarning

    def fmt(message, category, filename, lineno, line=None) -> str:
        text = str(message).strip()
        return f"actionpose {verb}: warning: {text.splitlines()[0] if text else category.__name__}\n"
    warnings.formatwarning = fmt
    try:
        yield
    finally:
        warnings.formatwarning = old


def one_line(e: BaseException) -> str:
    """An exception as one line: our errors (ValueError / OSError) already name the file and field;
    any other class is prefixed with its name."""
    text = str(e).strip()
    line = text.splitlines()[0].strip() if text else ""
    if line and isinstance(e, (ValueError, OSError)):
        return line
    return f"{type(e).__name__}: {line}" if line else type(e).__name__


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")
    try:
        with _one_line_warnings(args.verb):
            return args.func(args)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"actionpose {args.verb}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - every failure reaches the user as one line, exit code 2
        if debug:
            raise
        hint = "" if isinstance(e, (ValueError, OSError)) else f" (unexpected error; rerun with {DEBUG_ENV}=1 for the traceback)"
        print(f"actionpose {args.verb}: error: {one_line(e)}{hint}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
