"""Running the powered ablation (issue 23) from its declared design file; safe to kill and resume.

Layout under `out`:

    design.json                   the design's identity + data fingerprints (a re-run must match)
    floors/mlp/                   the MLP floor trained on the low-data set (floor.json written last)
    floors/readouts.json          every view readout of the three floors (same views, same masks)
    <cell>/seed<k>/pretrain/      a normal run folder (arms only) + ablation_cell.json when finished
    <cell>/seed<k>/finetune/      the low-data fine-tune + eval.json (floors inside) + ablation_cell.json
    <cell>/seed<k>/cell.json      gate verdict + every readout, per take; written last (atomic)
    summary.json / summary.md     `powered_report.build_powered_summary` of every finished cell

A cell holding cell.json is skipped; a stage holding ablation_cell.json is skipped; an unfinished
stage resumes bit-exactly from its checkpoint (the training loop). Seeds run seed-major, so a run cut
short has complete pairs. Several processes may share one --out (claims, `claim.py`).
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Callable

from ..api import finetune, finetune_config, pretrain, pretrain_config
from ..baselines import MLPFloor, load_mlp_floor, mean_depth_floor, flat_lift, train_mlp_floor, FLAT, MEAN_DEPTH, MLP
from ..config import _merge, config_hash, make_config
from ..evaluate import evaluate
from ..train.checkpoint import atomic_write_text
from ..train.model_io import load_bundle
from .arms import ARMS, SCRATCH, arm_overrides, check_same_finetune_loss, check_text_only, BASE_VARIANT
from .claim import claim
from .design import PoweredDesign
from .gate import gate_record
from .powered_data import PoweredData, load_powered_data
from .readouts import (VIEW_READOUTS, fit_ridge_probe, model_predictor, recognition, retrieval, take_windows,
                       heldout_views, view_readouts, zero_shot)
from .runner import _checked_done, _checkpoint_step, _every, _strip_locked, _write_done, read_done

DESIGN_RECORD = "design.json"
CELL_RECORD = "cell.json"
RECORD_FORMAT = "actionpose.ablation.powered-cell/1"
Log = Callable[[str], None]
# view readouts of the design -> the key `view_readouts` computes
_VIEW_KEYS = {"low_data": "mpjpe", "masked_limb": "masked_limb", "masked_window": "masked_window",
              "depth_sign": "depth_sign"}


def _device(device: str) -> str:
    if device == "auto":
        import torch
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def pretrain_overrides(design: PoweredDesign, arm: str, seed: int, device: str) -> dict:
    P = design.budgets.pretrain_steps
    budget = {"train": {"max_steps": P, "seed": seed, "device": device, "val_every": P,
                        "ckpt_every": min(1000, _every(P, 10))}, "optim": {"lr": design.budgets.pretrain_lr}}
    return _merge(arm_overrides(design.overrides, arm), budget)


def finetune_overrides(design: PoweredDesign, seed: int, device: str) -> dict:
    """One fine-tuning config for every cell: the design's common overrides (minus the keys fine-tuning
    sets itself), its `finetune_overrides`, the budget; no validation (the test takes are evaluate's)."""
    F = design.budgets.finetune_steps
    budget = {"train": {"max_steps": F, "seed": seed, "device": device, "val_every": 0,
                        "ckpt_every": min(1000, _every(F, 10))}, "optim": {"lr": design.budgets.finetune_lr}}
    return _merge(_merge(_strip_locked(design.overrides), design.finetune_overrides), budget)


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def check_design(design: PoweredDesign, data: PoweredData, out: Path) -> dict:
    """Write design.json on the first run; refuse a re-run whose design identity or data differ."""
    out.mkdir(parents=True, exist_ok=True)
    ident = {"design": design.identity(), "data_fingerprints": data.fingerprints()}
    path = out / DESIGN_RECORD
    if path.exists():
        old = json.loads(path.read_text())
        if old.get("identity") != ident:
            keys = [k for k in set(old.get("identity", {}).get("design", {})) | set(ident["design"])
                    if old.get("identity", {}).get("design", {}).get(k) != ident["design"].get(k)]
            if old.get("identity", {}).get("data_fingerprints") != ident["data_fingerprints"]:
                keys.append("data_fingerprints")
            raise ValueError(f"{path}: this folder holds another design (differs in {', '.join(sorted(keys))}); "
                             "run the same design file to continue it, or use a new --out")
        return old
    rec = {"format": "actionpose.ablation.powered-design/1", "identity": ident, "name": design.name,
           "design_file": design.path, "protocol": data.description,
           "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    atomic_write_text(path, json.dumps(rec, indent=1))
    return rec


def mlp_floor(design: PoweredDesign, data: PoweredData, out: Path, log: Log | None = None) -> MLPFloor:
    """The MLP floor of the low-data set (trained once per --out; floor.json is written last)."""
    d = out / "floors" / "mlp"
    if (d / "floor.json").exists():
        return load_mlp_floor(d)
    if log:
        log(f"[floors] MLP floor: {design.budgets.mlp_floor_steps} steps on the low-data set -> {d}")
    cfg = make_config(design.preset, BASE_VARIANT, design.overrides)
    return train_mlp_floor(data.low_data, cfg, steps=design.budgets.mlp_floor_steps, seed=0,
                           data_name=f"{data.description['data']} low-data set", out=d)


def floor_readouts(design: PoweredDesign, data: PoweredData, floor: MLPFloor, views, out: Path) -> dict:
    """Every view readout of the three floors on the test views (computed once, floors/readouts.json)."""
    path = out / "floors" / "readouts.json"
    if path.exists():
        return json.loads(path.read_text())
    cfg = make_config(design.preset, BASE_VARIANT, design.overrides)
    depth = mean_depth_floor(data.low_data, cfg, source="low-data set")
    fps = float(data.test[0].fps)
    res = {}
    for name, f in ((FLAT, flat_lift), (MEAN_DEPTH, depth), (MLP, floor)):
        vr = view_readouts(f, views, VIEW_READOUTS, fps, design.readouts)
        res[name] = {k: {"takes": vr[v], "actions": data.test_actions()} for k, v in _VIEW_KEYS.items()}
        res[name]["probe"] = res[name]["low_data"]  # a floor has no pretrained features: its clean MPJPE
    rec = {"floors": res, "mlp_floor": floor.describe()}
    atomic_write_text(path, json.dumps(rec))
    return rec


def _stage_pretrain(design, arm, seed, data, out, device, log) -> tuple[Path, dict]:
    d = out / arm / f"seed{seed}" / "pretrain"
    over = pretrain_overrides(design, arm, seed, device)
    h = config_hash(pretrain_config(design.preset, BASE_VARIANT, over))
    done = _checked_done(d, h)
    if done is None:
        start = _checkpoint_step(d)
        if log:
            log(f"[{arm} seed {seed}] pretrain {'from step ' + str(start) + ' of ' if start else ''}"
                f"{design.budgets.pretrain_steps} steps -> {d}")
        c0 = time.process_time()
        res = pretrain(design.preset, BASE_VARIANT, d, overrides=over, resume=True, progress=False,
                       motions=data.pretrain)
        done = _write_done(d, {"cell": arm, "seed": seed, "stage": "pretrain", "steps": res.step, "config_hash": h,
                               "steps_trained": res.step - start, "train_seconds": res.seconds,
                               "cpu_seconds": time.process_time() - c0})
    return d, done


def _stage_finetune(design, cell, seed, data, init, out, device, log) -> tuple[Path, dict]:
    d = out / cell / f"seed{seed}" / "finetune"
    over = finetune_overrides(design, seed, device)
    preset = design.preset if init == "scratch" else None
    h = config_hash(finetune_config(init, over, preset))
    done = _checked_done(d, h)
    if done is None:
        start = _checkpoint_step(d)
        if log:
            log(f"[{cell} seed {seed}] low-data fine-tune {'from step ' + str(start) + ' of ' if start else ''}"
                f"{design.budgets.finetune_steps} steps on {len(data.low_data)} takes -> {d}")
        c0 = time.process_time()
        res = finetune(init, d, overrides=over, resume=True, preset=preset, progress=False, motions=data.low_data)
        done = _write_done(d, {"cell": cell, "seed": seed, "stage": "finetune", "steps": res.step, "config_hash": h,
                               "steps_trained": res.step - start, "train_seconds": res.seconds,
                               "cpu_seconds": time.process_time() - c0})
    return d, done


def run_cell(design: PoweredDesign, data: PoweredData, views, floor: MLPFloor, cell: str, seed: int, out: Path,
             device: str = "cpu", log: Log | None = None) -> dict:
    """Both stages, the evaluation with floors, the gate and every readout of one cell × seed."""
    path = out / cell / f"seed{seed}" / CELL_RECORD
    if path.exists():
        return json.loads(path.read_text())
    dev = _device(device)
    batch = design.protocol.eval_batch
    pre_dir = pre = None
    if cell != SCRATCH:
        pre_dir, pre = _stage_pretrain(design, cell, seed, data, out, device, log)
    ft_dir, ft = _stage_finetune(design, cell, seed, data, "scratch" if pre_dir is None else pre_dir, out, device, log)
    times: dict[str, float] = {}
    c0 = time.process_time()
    rep = evaluate(ft_dir, motions=data.eval_motions, data_info=data.info, split="test", flip=False, device=dev,
                   mlp_floor=floor, write=True, batch_size=batch)
    times["evaluate"] = time.process_time() - c0
    s = rep.summary.set_index("metric")["value"]
    floors = rep.floors.to_dict(orient="records")
    gate = gate_record([r for r in floors if r["note"] == "floor"], float(s["MPJPE"]),
                       rep.header.get("trained_vs_floor"), design.gate["mlp_margin_mm"])
    actions = data.test_actions()
    readouts: dict = {}
    c0 = time.process_time()
    fps = float(data.test[0].fps)
    wanted = tuple(v for k, v in _VIEW_KEYS.items() if k in design.readouts)
    if wanted:
        bundle, cfg, _ = load_bundle(ft_dir)
        vr = view_readouts(model_predictor(bundle.net, cfg.model.maxlen, dev, batch), views, wanted, fps,
                           design.readouts)
        for k, v in _VIEW_KEYS.items():
            if v in vr:
                readouts[k] = {"takes": vr[v], "actions": actions}
    times["view_readouts"] = time.process_time() - c0
    if pre_dir is not None:
        bundle, cfg, _ = load_bundle(pre_dir)
        if "probe" in design.readouts:
            c0 = time.process_time()
            p = design.readouts["probe"]
            probe, info = fit_ridge_probe(bundle.lifter, data.pool, cfg, alpha=p["ridge_alpha"],
                                          windows=int(p["fit_windows"]), frames_per_window=int(p["frames_per_window"]),
                                          seed=design.protocol.view_seed)
            vr = view_readouts(model_predictor(probe, cfg.model.maxlen, dev, batch), views, ("mpjpe",), fps)
            readouts["probe"] = {"takes": vr["mpjpe"], "actions": actions, "fit": info}
            times["probe"] = time.process_time() - c0
        c0 = time.process_time()
        text_space = bundle.aligner is not None and bundle.aligner.cfg.mode == "text"
        no_text = "one-hot labels have no text space: zero-shot recognition and text retrieval are impossible"
        if {"recognition", "retrieval"} & set(design.readouts):
            wins = take_windows(bundle, cfg, data.heldout, dev, batch)
            if "recognition" in design.readouts:
                readouts["recognition"] = {"takes": recognition(bundle, wins),
                                           "actions": {w["take"]: w["action"] for w in wins},
                                           "chance_pct": 100.0 / len(bundle.vocab.contents)}
            if "retrieval" in design.readouts:
                readouts["retrieval"] = retrieval(cfg, wins) if text_space else {"n/a": no_text}
        if "zero_shot" in design.readouts:
            if text_space and data.zero_shot:
                zw = take_windows(bundle, cfg, data.zero_shot, dev, batch)
                z = zero_shot(bundle, cfg, zw, design.protocol.zero_shot_actions)
                acts = {w["take"]: w["action"] for w in zw}
                readouts["zero_shot"] = {"takes": z["generalised"], "actions": acts, "chance_pct": z["chance_pct"]["generalised"]}
                readouts["zero_shot_unseen"] = {"takes": z["unseen_only"], "actions": acts,
                                                "chance_pct": z["chance_pct"]["unseen_only"]}
            else:
                readouts["zero_shot"] = {"n/a": no_text if not text_space else "no zero-shot takes"}
        times["embedding_readouts"] = time.process_time() - c0
    rec = {"format": RECORD_FORMAT, "cell": cell, "seed": seed, "gate": gate, "floors": floors,
           "eval": {"mpjpe_mm": float(s["MPJPE"]), "p_mpjpe_mm": float(s["P-MPJPE"]),
                    "per_action_mpjpe_mm": {str(k): float(v) for k, v in rep.per_action["mpjpe_mm"].items()},
                    "header": {k: rep.header.get(k) for k in ("dataset", "split", "2d_source", "aggregation",
                                                              "sequences", "views", "frames")}},
           "pretrain": pre, "finetune": ft, "readouts": readouts, "cpu_seconds": times,
           "design_hash": _hash(design.identity())}
    atomic_write_text(path, json.dumps(rec))
    if log:
        log(f"[{cell} seed {seed}] MPJPE {rec['eval']['mpjpe_mm']:.1f} mm; gate "
            f"{'passed' if gate['passed'] else 'NOT passed: ' + '; '.join(gate['reasons'])}")
    return rec


def check_design_rules(design: PoweredDesign) -> None:
    """The design's own guarantees, before any work: arms differ only in text, one fine-tuning loss."""
    check_text_only(design.preset, design.overrides, [a for a in ARMS if a in design.arms])
    check_same_finetune_loss(design.finetune_overrides, design.overrides, design.scratch)


def run_design(design: PoweredDesign, out: str | Path, *, device: str = "auto", seeds: list[int] | None = None,
               cells: list[str] | None = None, log: Log | None = None) -> dict:
    """Run every unfinished cell × seed of `design` (seed-major; `seeds` / `cells` select a part; the
    tuning seeds are the sweep's and never run here), then write the summary of all finished cells."""
    from .powered_report import build_powered_summary, write_powered_summary
    out = Path(out)
    check_design_rules(design)
    run_seeds = design.seeds if seeds is None else seeds
    bad = [s for s in run_seeds if s not in design.seeds]
    if bad:
        raise ValueError(f"--seeds {bad[0]}: not a seed of the design {design.path} ({design.seeds}); tuning seeds "
                         "belong to the sweep and are never part of the reported comparison")
    run_cells = design.cells if cells is None else [c for c in design.cells if c in cells]
    data = load_powered_data(design)
    check_design(design, data, out)
    floor = mlp_floor(design, data, out, log)
    cfg = make_config(design.preset, BASE_VARIANT, design.overrides)
    views = heldout_views(data.test, cfg)
    floor_readouts(design, data, floor, views, out)
    for seed in run_seeds:
        for cell in run_cells:
            with claim(out / cell / f"seed{seed}") as mine:
                if mine:
                    run_cell(design, data, views, floor, cell, seed, out, device, log)
                elif log:
                    log(f"[{cell} seed {seed}] skipped: another process is running it")
    summary = build_powered_summary(out, design)
    write_powered_summary(out, summary)
    return summary


def finished_cells(out: str | Path, design: PoweredDesign) -> list[dict]:
    """Every cell.json under `out` for the design's cells and seeds (tuning seeds excluded)."""
    recs = []
    for cell in design.cells:
        for seed in design.seeds:
            p = Path(out) / cell / f"seed{seed}" / CELL_RECORD
            if p.exists():
                recs.append(json.loads(p.read_text()))
    return recs


def pending(design: PoweredDesign, out: str | Path) -> dict:
    """Stages and cells left to run (for the estimate)."""
    out = Path(out)
    todo = {"pretrain_steps": 0, "finetune_steps": 0, "cells": 0}
    for seed in design.seeds:
        for cell in design.cells:
            base = out / cell / f"seed{seed}"
            if (base / CELL_RECORD).exists():
                continue
            todo["cells"] += 1
            if cell != SCRATCH and read_done(base / "pretrain") is None:
                todo["pretrain_steps"] += design.budgets.pretrain_steps - min(_checkpoint_step(base / "pretrain"),
                                                                              design.budgets.pretrain_steps)
            if read_done(base / "finetune") is None:
                todo["finetune_steps"] += design.budgets.finetune_steps - min(_checkpoint_step(base / "finetune"),
                                                                              design.budgets.finetune_steps)
    return todo
