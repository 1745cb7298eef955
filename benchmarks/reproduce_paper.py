"""Reproduce the paper's operating point on a GPU: AMASS + BABEL -> pretrain -> fine-tune on Human3.6M
-> evaluate (protocol #1 / #2 under both protocols) and MPI-INF-3DHP, printed beside the paper's figures.

    python benchmarks/reproduce_paper.py --work WORK --amass AMASS_DIR --body-model SMPLH_DIR \
        [--joint-regressor J_regressor_h36m.npy] --babel BABEL_DIR --h36m H36M_DIR [--kp2d sh|cpn] \
        [--3dhp 3DHP_DIR] [--from-motionbert CKPT.bin [--backbone full|lower-lr|frozen] | --scratch]
        [--estimate-only]

Stages (each skipped when its output is complete, a training stage resumed from its checkpoint, so
re-running the same command continues after an interruption): prepare AMASS+BABEL, Human3.6M and
3DHP; import MotionBERT's released backbone (when given); pretrain (preset `base`, or the imported
model's architecture and input encoding; `--backbone` says how its backbone learns there: `full` at
the same rate as the new embedding head and aligner, `lower-lr` at `--backbone-lr-scale` times it,
`frozen` not at all, bit-exact, so only the alignment head learns); fine-tune on
Human3.6M; evaluate Human3.6M under `--protocol actionpose` and `--protocol motionbert` (flip TTA);
fine-tune on the 3DHP training file when present and evaluate 3DHP with its ground-truth 2D (else the
Human3.6M model is evaluated cross-dataset and the table says so). Before any work it prints the
pending stages and a GPU-hour estimate from timed training steps of the chosen preset on this device.

`--smoke` runs the same stages on tiny fixture folders (tiny preset, a few steps, CPU): the test suite
does so (tests/test_reproduce_paper.py). Its numbers say nothing about the method.
Step counts and batch size are this script's choice (the paper's schedule is not published in the
sources consulted); they are printed with the estimate and stored in WORK/reproduce.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# The paper's figures (ActionPose / LangPose, arXiv 2409.00449, abstract): MPJPE, protocol #1.
PAPER = {"h36m_detected_mpjpe_mm": 36.7, "3dhp_gt_mpjpe_mm": 15.5}
DEFAULTS = {"pretrain_steps": 100_000, "finetune_steps": 60_000, "finetune_3dhp_steps": 20_000, "batch_size": 32}
SMOKE = {"pretrain_steps": 2, "finetune_steps": 2, "finetune_3dhp_steps": 2, "batch_size": 4}
# How the pretraining stage trains MotionBERT's imported backbone (train.freeze_backbone / optim.backbone_lr_scale).
BACKBONE_MODES = ("full", "lower-lr", "frozen")
SMOKE_MODEL = {"dim_feat": 16, "dim_rep": 32, "depth": 1, "num_heads": 2, "maxlen": 27, "embed_hidden": 32}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", required=True, help="folder for prepared data, runs and reproduce.json (resumable)")
    p.add_argument("--amass", required=True)
    p.add_argument("--body-model", required=True)
    p.add_argument("--joint-regressor", default=None)
    p.add_argument("--babel", required=True)
    p.add_argument("--babel-text", default="proc_label", choices=["proc_label", "raw_label", "act_cat"])
    p.add_argument("--h36m", required=True, help="Human3.6M folder (VideoPose3D npz or 3d-pose-baseline layout)")
    p.add_argument("--kp2d", default="sh", help="2D detections for Human3.6M: sh (paper-style detected) or cpn")
    p.add_argument("--3dhp", dest="mpi3dhp", default=None, help="MPI-INF-3DHP folder or data_test_3dhp.npz")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--from-motionbert", default=None, help="MotionBERT's released checkpoint to start the backbone from")
    g.add_argument("--scratch", action="store_true", help="pretrain from random initialisation (default)")
    p.add_argument("--motionbert-heads", type=int, default=None,
                   help="attention heads of a MotionBERT checkpoint of a non-released size (released: inferred)")
    p.add_argument("--backbone", default="full", choices=list(BACKBONE_MODES),
                   help="with --from-motionbert, how the imported backbone is pretrained: full (one learning "
                        "rate), lower-lr (x --backbone-lr-scale), frozen (only the alignment head and aligner learn)")
    p.add_argument("--backbone-lr-scale", type=float, default=0.1,
                   help="the backbone's learning rate / the head's, with --backbone lower-lr (default 0.1)")
    p.add_argument("--pretrain-steps", type=int, default=None)
    p.add_argument("--finetune-steps", type=int, default=None)
    p.add_argument("--finetune-3dhp-steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    p.add_argument("--workers", type=int, default=4, help="AMASS conversion processes")
    p.add_argument("--estimate-only", action="store_true")
    p.add_argument("--smoke", action="store_true", help="tiny preset, a few CPU steps, on fixture folders")
    args = p.parse_args(argv)
    if args.backbone != "full" and not args.from_motionbert:
        p.error(f"--backbone {args.backbone} needs --from-motionbert (a backbone from scratch is trained in full)")
    if args.backbone == "lower-lr" and not 0 < args.backbone_lr_scale < 1:
        p.error(f"--backbone-lr-scale {args.backbone_lr_scale}: expected a number in (0, 1) with --backbone lower-lr")
    return args


def backbone_overrides(args) -> dict:
    """Config keys of the `--backbone` choice for the pretraining stage that starts from MotionBERT."""
    if not args.from_motionbert or args.backbone == "full":
        return {}
    if args.backbone == "frozen":
        return {"train": {"freeze_backbone": True}}
    return {"optim": {"backbone_lr_scale": float(args.backbone_lr_scale)}}


def backbone_label(args) -> str:
    if not args.from_motionbert:
        return "scratch"
    if args.backbone == "lower-lr":
        return f"lower-lr x{args.backbone_lr_scale:g}"
    return args.backbone


def _steps(args) -> dict:
    base = SMOKE if args.smoke else DEFAULTS
    return {k: getattr(args, k) if getattr(args, k) is not None else v for k, v in base.items()}


def _overrides(args, steps: int, data: Path, model: bool = False) -> dict:
    """Data, budget and device keys of a training stage; `model`: also the smoke model's sizes (only a
    stage that builds a new model: one started from a run keeps that run's architecture)."""
    over = {"data": {"path": str(data), "batch_size": _steps(args)["batch_size"]},
            "train": {"max_steps": int(steps), "device": "cpu" if args.smoke else args.device}}
    if args.smoke:
        if model:
            over["model"] = dict(SMOKE_MODEL)
        over["data"]["stride"] = 27
        over["train"].update(log_every=1, val_every=1000, ckpt_every=1, val_max_windows=8)
    return over


def _trained_steps(run: Path) -> int | None:
    f = run / "checkpoint.json"
    return int(json.loads(f.read_text()).get("step", 0)) if f.is_file() else None


def estimate_gpu_hours(args, steps: dict) -> dict:
    """Median time of a few timed training steps of the preset on this device x the pending steps."""
    from actionpose.bench import bench
    preset = "tiny" if args.smoke else "base"
    r = bench(preset, batch_size=steps["batch_size"], steps=2, warmup=1, infer=False,
              device="cpu" if args.smoke else args.device,
              overrides=dict(SMOKE_MODEL) if args.smoke else None)
    per_step = r["train"]["time_s_median"]
    total = steps["pretrain_steps"] + steps["finetune_steps"] + (steps["finetune_3dhp_steps"] if args.mpi3dhp else 0)
    return {"device": r.get("device", args.device), "preset": preset, "seconds_per_step": per_step,
            "training_steps": total, "hours": per_step * total / 3600.0,
            "note": "training steps only (model step timed by actionpose.bench, backbone trained); data "
                    "preparation, the data pipeline and evaluation come on top"
                    + ("; a frozen backbone skips its backward pass, so pretraining takes less"
                       if args.from_motionbert and args.backbone == "frozen" else "")}


def plan(args, work: Path) -> list[tuple[str, bool]]:
    """(stage, done) in order."""
    prepared = work / "prepared"
    runs = work / "runs"
    st = _steps(args)
    out = [("prepare amass+babel", (prepared / "amass" / "meta.json").is_file()),
           ("prepare h36m", (prepared / "h36m" / "meta.json").is_file())]
    if args.mpi3dhp:
        out.append(("prepare 3dhp", (prepared / "3dhp" / "meta.json").is_file()))
    if args.from_motionbert:
        out.append(("import motionbert", (runs / "motionbert" / "checkpoint.json").is_file()))
    out.append(("pretrain", (_trained_steps(runs / "pretrain") or 0) >= st["pretrain_steps"]))
    out.append(("finetune h36m", (_trained_steps(runs / "finetune_h36m") or 0) >= st["finetune_steps"]))
    out.append(("evaluate h36m", (work / "eval_h36m_actionpose.json").is_file()
                and (work / "eval_h36m_motionbert.json").is_file()))
    if args.mpi3dhp:
        out.append(("3dhp", (work / "eval_3dhp.json").is_file()))
    return out


def _train(stage: str, fn, run: Path, steps: int, log) -> None:
    done = _trained_steps(run)
    if done is not None and done >= steps:
        log(f"[{stage}] done ({done} steps), skipped")
        return
    resume = done is not None
    log(f"[{stage}] {'resuming at step ' + str(done) if resume else 'starting'} -> {steps} steps: {run}")
    fn(resume)


def run(args, log=print) -> dict:
    from actionpose import api
    from actionpose.data.amass import prepare_amass
    from actionpose.data.prepare import prepare
    from actionpose.evaluate import evaluate
    work = Path(args.work)
    prepared, runs = work / "prepared", work / "runs"
    st = _steps(args)
    pending = [s for s, done in plan(args, work) if not done]
    est = estimate_gpu_hours(args, st)
    log(f"reproduce_paper: stages pending: {', '.join(pending) or 'none'}")
    log(f"  steps: pretrain {st['pretrain_steps']}, fine-tune H36M {st['finetune_steps']}"
        + (f", fine-tune 3DHP {st['finetune_3dhp_steps']}" if args.mpi3dhp else "")
        + f", batch {st['batch_size']} ({'smoke' if args.smoke else 'this script’s choice'}); "
        + f"init {'motionbert' if args.from_motionbert else 'scratch'}, backbone {backbone_label(args)}")
    log(f"  estimate: {est['hours']:.2f} h on {est['device']} ({est['seconds_per_step'] * 1e3:.0f} ms per "
        f"{est['preset']} step x {est['training_steps']} steps; {est['note']})")
    if args.estimate_only:
        return {"estimate": est, "pending": pending}
    t0 = time.perf_counter()
    fps = 50.0  # Human3.6M's rate: every stage reads the same rate (fine-tuning refuses another)
    if not (prepared / "amass" / "meta.json").is_file():
        log("[prepare amass+babel]")
        prepare_amass(args.amass, prepared / "amass", args.body_model, joint_regressor=args.joint_regressor,
                      fps=fps, babel=args.babel, babel_text=args.babel_text, workers=args.workers, progress=not args.smoke)
    if not (prepared / "h36m" / "meta.json").is_file():
        log("[prepare h36m]")
        prepare("h36m", args.h36m, prepared / "h36m", fps=None, progress=False, kp2d=args.kp2d, val_subjects="none")
    if args.mpi3dhp and not (prepared / "3dhp" / "meta.json").is_file():
        log("[prepare 3dhp]")
        prepare("3dhp", args.mpi3dhp, prepared / "3dhp", fps=fps, progress=False)
    init = None
    if args.from_motionbert:
        if not (runs / "motionbert" / "checkpoint.json").is_file():
            log("[import motionbert]")
            api.import_motionbert(args.from_motionbert, runs / "motionbert", heads=args.motionbert_heads)
        init = runs / "motionbert"
    # From MotionBERT the model is the imported one (its size and absolute-coordinate input: preset None),
    # and `--backbone` decides how its backbone learns beside the new alignment head; on resume the same
    # `init_from` rebuilds the same config (the weights then come from the run's own checkpoint).
    preset = None if init is not None else ("tiny" if args.smoke else "base")
    pre_over = _overrides(args, st["pretrain_steps"], prepared / "amass", model=init is None)
    for section, keys in backbone_overrides(args).items():
        pre_over.setdefault(section, {}).update(keys)
    _train("pretrain", lambda resume: api.pretrain(
        preset, "actionpose", runs / "pretrain", overrides=pre_over, resume=resume, init_from=init,
        progress=not args.smoke), runs / "pretrain", st["pretrain_steps"], log)
    _train("finetune h36m", lambda resume: api.finetune(
        runs / "pretrain", runs / "finetune_h36m", overrides=_overrides(args, st["finetune_steps"], prepared / "h36m"),
        resume=resume, progress=not args.smoke), runs / "finetune_h36m", st["finetune_steps"], log)
    results: dict = {}
    device = "cpu" if args.smoke else ("cuda" if args.device in ("auto", "cuda") and _has_cuda() else "cpu")
    for protocol in ("actionpose", "motionbert"):
        out = work / f"eval_h36m_{protocol}.json"
        if not out.is_file():
            log(f"[evaluate h36m, protocol {protocol}]")
            evaluate(runs / "finetune_h36m", prepared / "h36m", flip=True, protocol=protocol, device=device,
                     out=out, mlp_floor=None)
        results[f"h36m_{protocol}"] = _figures(out)
    if args.mpi3dhp:
        out = work / "eval_3dhp.json"
        has_train = any(m.get("meta", {}).get("split") == "train" for m in
                        json.loads((prepared / "3dhp" / "meta.json").read_text())["motions"])
        model = runs / "finetune_h36m"
        if has_train:
            _train("finetune 3dhp", lambda resume: api.finetune(
                runs / "pretrain", runs / "finetune_3dhp",
                overrides=_overrides(args, st["finetune_3dhp_steps"], prepared / "3dhp"), resume=resume,
                progress=not args.smoke), runs / "finetune_3dhp", st["finetune_3dhp_steps"], log)
            model = runs / "finetune_3dhp"
        if not out.is_file():
            log(f"[evaluate 3dhp with {model.name}]")
            evaluate(model, prepared / "3dhp", flip=True, device=device, out=out, mlp_floor=None)
        results["3dhp"] = {**_figures(out), "model": model.name,
                           "setting": "fine-tuned on 3DHP train" if has_train
                           else "cross-dataset: the Human3.6M model (no data_train_3dhp.npz given)"}
    summary = {"paper": PAPER, "measured": results, "steps": st, "estimate": est, "smoke": bool(args.smoke),
               "kp2d": args.kp2d, "init": "motionbert" if args.from_motionbert else "scratch",
               "backbone": backbone_label(args),
               "seconds": round(time.perf_counter() - t0, 1)}
    (work / "reproduce.json").write_text(json.dumps(summary, indent=1))
    log(format_table(summary))
    return summary


def _has_cuda() -> bool:
    import torch
    return torch.cuda.is_available()


def _figures(eval_json: Path) -> dict:
    """MPJPE / P-MPJPE (mm) and the 2D source of one eval.json."""
    e = json.loads(eval_json.read_text())
    vals = {r["metric"]: r["value"] for r in e.get("summary", [])}
    h = e.get("header", {})
    return {"mpjpe_mm": vals.get("MPJPE"), "p_mpjpe_mm": vals.get("P-MPJPE"), "2d_source": h.get("2d_source"),
            "protocol": h.get("protocol"), "frames": h.get("frames"), "flip": h.get("flip_tta")}


def _mm(x) -> str:
    return f"{x:.1f}" if isinstance(x, (int, float)) else "-"


def format_table(summary: dict) -> str:
    m = summary["measured"]
    rows = [("Human3.6M, detected 2D, protocol #1 (MPJPE)", PAPER["h36m_detected_mpjpe_mm"],
             m.get("h36m_motionbert", {}).get("mpjpe_mm"), m.get("h36m_actionpose", {}).get("mpjpe_mm")),
            ("Human3.6M, detected 2D, protocol #2 (P-MPJPE)", None,
             m.get("h36m_motionbert", {}).get("p_mpjpe_mm"), m.get("h36m_actionpose", {}).get("p_mpjpe_mm"))]
    if "3dhp" in m:
        rows.append((f"MPI-INF-3DHP, GT 2D, MPJPE ({m['3dhp']['setting']})", PAPER["3dhp_gt_mpjpe_mm"],
                     None, m["3dhp"].get("mpjpe_mm")))
    head = f"{'figure':<60} {'paper':>7} {'ours (motionbert protocol)':>27} {'ours (actionpose protocol)':>27}"
    lines = ["", head, "-" * len(head)]
    for name, paper, mb, ap in rows:
        lines.append(f"{name:<60} {_mm(paper):>7} {_mm(mb):>27} {_mm(ap):>27}")
    lines.append(f"mm; '-' = not in the paper's abstract (other tables not found in the sources consulted) or not "
                 f"measured. 2D: {m.get('h36m_actionpose', {}).get('2d_source', '?')}; flip TTA; "
                 f"{summary['init']} init (backbone: {summary.get('backbone', 'full')}); steps {summary['steps']}")
    if summary["smoke"]:
        lines.append("SMOKE RUN on fixtures: these numbers say nothing about the method.")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
