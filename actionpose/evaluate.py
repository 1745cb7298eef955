"""Protocol tables for a trained run on held-out data (L4). Returns DataFrames; never prints.

Every frame of every held-out sequence is predicted exactly once in the result: sequences are cut
into overlapping windows of the model's T frames and the overlapping predictions are averaged
(`model.sequence.predict_sequence`). Predictions and ground truth are root-relative and
de-normalised to millimetres with the per-frame factor of the 2D/3D encoding (data.synthesis).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import metrics as M
from . import protocol_motionbert as MB
from . import baselines as B
from .baselines import MLPFloor
from .clips import offscreen_frame_fraction
from .data.dataset import make_sample, sequence_views, split_motions

from .data.motion import Motion
from .data.synthesis import Sample, add_noise
from .embeddings import checkpoint_provenance
from .model.sequence import predict_sequence
from .recognition_context import CONTEXT_FRAMES, POOLING, pool_window_scores
from .text.vocab import LabelVocab
from .skeleton import H36M17_NAMES
from .train.data import check_same_fps, load_data
from .train.model_io import load_bundle
from .train.runs import resolve_run, write_json

DATASET_NAMES = {"bandai": "Bandai-Namco", "h36m": "Human3.6M", "3dhp": "MPI-INF-3DHP"}
# What each protocol scores (named in every report header).
PROTOCOLS = {
    "actionpose": "root-relative camera-frame 3D in mm (pelvis), every frame of every held-out view once "
                  "(overlapping windows averaged)",
    "motionbert": "MotionBERT's H36M evaluation: 2.5D image-space target x 2.5d factor, non-overlapping "
                  "clips of T frames (tail frames dropped), S9 Greeting / SittingDown 1 / Waiting 1 excluded "
                  "(actionpose.protocol_motionbert)",
}
EVAL_NAME = "eval.json"


@dataclass
class EvalReport:
    header: dict
    summary: pd.DataFrame
    per_action: pd.DataFrame
    per_joint: pd.DataFrame
    recognition: dict = field(default_factory=dict)
    per_sequence: pd.DataFrame | None = None
    # The floors beside the model, measured on the same frames (`baselines`): one row per predictor
    # (flat lift, flat + mean depth, MLP floor when one is available, model) with MPJPE / P-MPJPE mm.
    floors: pd.DataFrame | None = None

    def to_dict(self) -> dict:
        return {
            "header": self.header,
            "summary": self.summary.to_dict(orient="records"),
            "per_action": self.per_action.reset_index().to_dict(orient="records"),
            "per_joint": self.per_joint.reset_index().to_dict(orient="records"),
            "recognition": self.recognition,
            "per_sequence": None if self.per_sequence is None else self.per_sequence.to_dict(orient="records"),
            "floors": None if self.floors is None else self.floors.to_dict(orient="records"),
        }


def _action_of(m: Motion) -> str:
    return str(m.meta.get("action") or m.meta.get("content") or m.name)


def _dataset_kind(motions: list[Motion], info: dict) -> str:
    kind = info.get("kind") or info.get("source") or (motions[0].source if motions else "")
    for k in DATASET_NAMES:
        if str(kind).startswith(k):
            return k
    return str(kind)


def _check_compatible(run_meta: dict, info: dict, motions: list[Motion], where: str) -> None:
    skel = info.get("skeleton", "h36m17")
    if skel != "h36m17":
        raise ValueError(f"{where}: data skeleton {skel!r}, the run expects 'h36m17'")
    fps = info.get("fps") or (motions[0].fps if motions else None)
    check_same_fps((run_meta.get("data") or {}).get("fps"), fps, where)
    if info.get("has_3d") is False:
        raise ValueError(f"{where}: this data has no 3D ground truth; only inference is possible (`actionpose infer`)")


def evaluate(run: str | Path, data: str | Path | None = None, *, flip: bool = False, split: str | None = None,
             noise_sigma: float = 0.0, motions: list[Motion] | None = None, data_info: dict | None = None,
             write: bool = True, device: str = "cpu", seed: int = 0, max_sequences: int | None = None,
             progress=None, protocol: str = "actionpose", batch_size: int = 8,
             out: str | Path | None = None, mlp_floor: str | Path | MLPFloor | None = "auto",
             recognition_contexts: tuple[int, ...] = (CONTEXT_FRAMES,)) -> EvalReport:
    """Evaluate `run` on the held-out split of `data` (default: the data the run was trained on).

    recognition_contexts: segment lengths (frames) over which recognition is also scored when the run's
    windows are shorter (`recognition_context`); `CONTEXT_FRAMES` gives `recognition["context"]`, and
    every length lands in `recognition["by_context"]` (a length beyond a take scores the whole take).

    `progress(done, total)` (optional) is called after each sequence. The header records when the
    evaluation was made and which checkpoint (step, config hash, sha256) it evaluated; per-sequence
    rows carry the view index, style, worst frame, per-joint MPJPE and the off-screen frame fraction.

    protocol: "actionpose" (default) or "motionbert" (Human3.6M only, `protocol_motionbert`).
    MPI-INF-3DHP metrics are pooled over all valid frames, as the literature reports them; the
    per-sequence values are the breakdown (`per_action`, one row per sequence). A camera whose 2D
    detections are missing is skipped (listed in `header["cameras_without_2d"]`), never replaced by
    projected ground truth. `device` / `batch_size`: where and how many windows at once the model runs.
    `eval.json` goes to `out`, else the run folder, or for a run shipped inside the package to
    `user_eval_path(run)` (the package is never written to).

    Floors (`baselines`, protocol actionpose): the flat lift, flat + mean depth of the data's training
    split, and an MLP floor, scored on exactly the model's frames -> `report.floors` and
    `header["trained_vs_floor"]` (False: the model loses to flat + mean depth on MPJPE). `mlp_floor`:
    a folder from `actionpose baseline` (or an `MLPFloor`), None for none, "auto" (default) for the
    shipped `actionpose/assets/mlp_floor/` when present and trained on this very data."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"evaluate: unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    run_dir = resolve_run(run)
    bundle, cfg, meta = load_bundle(run_dir, torch.device(device))
    if motions is None:
        src = data if data else (cfg.data.path or None)
        motions, data_info = load_data(src)
    data_info = dict(data_info or {})
    where = str(data_info.get("path", data or "data"))
    _check_compatible(meta, data_info, motions, where)
    if split is None:
        split = "test" if any(m.meta.get("split") == "test" for m in motions) else "val"
    held = split_motions(motions, split)
    if not held:
        raise ValueError(f"{where}: no motions in split {split!r}")
    if max_sequences:
        held = held[:max_sequences]
    kind = _dataset_kind(motions, data_info)
    if protocol == "motionbert":
        report = _evaluate_motionbert(bundle, cfg, meta, run_dir, held, kind, split, flip, device, batch_size, where)
        if write:
            write_eval(run_dir, report.to_dict(), out)
        return report
    vocab = bundle.vocab
    rng = np.random.default_rng(seed)
    cameras_without_2d: list[str] = []

    preds, gts, valids, actions, seq_rows = [], [], [], [], []
    rec_scores, rec_targets = [], []
    # recognition over longer segments than the run's windows: frames -> (score rows, label weights)
    contexts = sorted({int(c) for c in recognition_contexts if int(c) > cfg.model.maxlen})
    ctx_rows: dict[int, tuple[list, list]] = {c: ([], []) for c in contexts}
    babel_embs, babel_cats = [], []  # BABEL-60/120 recognition (data.babel), one row per window
    sources = set()
    floor_predictors, floors_info = _floor_predictors(motions, cfg, data_info, mlp_floor, flip, where)
    floor_scores = _FloorScores(floor_predictors)
    for done, m in enumerate(held):
        if progress is not None and done:
            progress(done, len(held))
        frame_vocab = vocab.frame_indices(m) if vocab is not None else None
        for view_index, view, kp_cam, sample, valid in _view_samples(m, cfg, noise_sigma, rng, cameras_without_2d):
            sources.add(m.kp2d_source if kp_cam else (f"synthetic-noise-{noise_sigma:g}" if noise_sigma > 0 else "gt (projected)"))
            pred = predict_sequence(bundle.net, sample.x2d, cfg.model.maxlen, flip=flip, device=device,
                                    windows_per_batch=batch_size)
            scale = sample.mm_per_unit[:, None, None]
            pred_mm, gt_mm = pred.y3d * scale, sample.y3d * scale
            floor_scores.add(sample)
            preds.append(pred_mm)
            gts.append(gt_mm)
            valids.append(valid)
            actions += [_action_of(m)] * len(pred_mm)
            err = np.linalg.norm(pred_mm - gt_mm, axis=-1)
            per_frame = (err * valid).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)
            per_frame = np.where(valid.any(axis=1), per_frame, -1.0)
            per_joint = (err * valid).sum(axis=0) / np.maximum(valid.sum(axis=0), 1)
            seq_rows.append({"sequence": m.name, "view": view.camera.name, "view_index": view_index,
                             "action": _action_of(m), "style": str(m.meta.get("style") or ""),
                             "frames": len(pred_mm), "mpjpe_mm": float((err * valid).sum() / max(valid.sum(), 1)),
                             "worst_frame": int(per_frame.argmax()), "worst_frame_mm": float(per_frame.max()),
                             "offscreen_pct": 100.0 * offscreen_frame_fraction(sample.x2d, view.camera.image_size_wh),
                             "per_joint_mm": [round(float(x), 2) for x in per_joint]})
            if m.meta.get("babel") and pred.motion_emb is not None:
                babel_embs.append(pred.motion_emb)
                babel_cats += _babel_window_cats(m, pred.windows)
            if frame_vocab is not None and pred.logits is not None:
                for (s, e), lg in zip(pred.windows, pred.logits):
                    w = vocab.weights(frame_vocab[s:e])
                    if w.sum() > 0:
                        rec_scores.append(lg)
                        rec_targets.append(w)
                for c, (c_scores, c_targets) in ctx_rows.items():
                    for (s, e), lg in zip(*pool_window_scores(pred.windows, pred.logits, len(pred_mm), c)):
                        w = vocab.weights(frame_vocab[s:e])
                        if w.sum() > 0:
                            c_scores.append(lg)
                            c_targets.append(w)
    pred_all = np.concatenate(preds)
    gt_all = np.concatenate(gts)
    valid_all = np.concatenate(valids)
    acts = np.array(actions)
    # Frames flagged invalid by the dataset (3DHP test) leave every metric, not just their joints.
    keep = valid_all.any(axis=1)
    pred_all, gt_all, valid_all, acts = pred_all[keep], gt_all[keep], valid_all[keep], acts[keep]
    two_d = ", ".join(sorted(sources))
    context = {"dataset": DATASET_NAMES.get(kind, kind), "split": split, "2d_source": two_d,
               "frames_per_window": cfg.model.maxlen, "flip_tta": flip}
    context["protocol_name"] = protocol
    # MPI-INF-3DHP: pooled over all valid frames (as published); elsewhere the mean of per-action means.
    summary_acts = None if kind == "3dhp" else acts
    rows = []
    for res in (M.mpjpe(pred_all, gt_all, valid_all, summary_acts, context=context),
                M.p_mpjpe(pred_all, gt_all, valid_all, summary_acts, context=context),
                M.n_mpjpe(pred_all, gt_all, valid_all, summary_acts, context=context)):
        rows.append(_row(res))
    # Velocity needs contiguous sequences: compute per sequence, frame-weighted.
    vel = [M.mpjve(p, g, v) for p, g, v in zip(preds, gts, valids) if len(p) > 1 and v.any(axis=1).all()]
    if vel:
        n = np.array([r.protocol["frames"] for r in vel], dtype=float)
        rows.append({"metric": "MPJVE", "value": float(np.sum([r.value for r in vel] * n) / n.sum()),
                     "unit": "mm/frame", "protocol": "velocity", "aggregation": "per frame", "joints": vel[0].protocol["joints"]})
    if kind == "3dhp":
        for joints in ("pck14", "all17"):
            rows.append(_row(M.pck(pred_all, gt_all, 150.0, joints=joints, valid=valid_all, context=context)))
            rows.append(_row(M.auc(pred_all, gt_all, joints=joints, valid=valid_all, context=context)))
    summary = pd.DataFrame(rows)

    per_action = _per_action_table(pred_all, gt_all, valid_all, acts, context)
    pj = M.mpjpe_per_joint(pred_all, gt_all, valid_all, context=context)
    per_joint = pd.DataFrame({"mpjpe_mm": pd.Series(pj.breakdown)}).reindex(
        [n for n in H36M17_NAMES if n in pj.breakdown])
    per_joint.index.name = "joint"

    recognition = {}
    if rec_scores:
        recognition = recognition_summary(np.stack(rec_scores), np.stack(rec_targets), vocab)
        recognition["windows"] = recognition.pop("clips")
        by_context = {}
        for c, (c_scores, c_targets) in ctx_rows.items():
            if c_scores:
                r = recognition_summary(np.stack(c_scores), np.stack(c_targets), vocab)
                by_context[str(c)] = {"frames": c, "segments": r.pop("clips"), "pooling": POOLING.format(frames=c), **r}
        if str(CONTEXT_FRAMES) in by_context:
            recognition["context"] = by_context[str(CONTEXT_FRAMES)]
        if set(by_context) - {str(CONTEXT_FRAMES)}:
            recognition["by_context"] = by_context
    if babel_embs and bundle.aligner is not None and bundle.aligner.cfg.mode == "text":
        recognition["babel"] = babel_recognition(bundle, cfg, np.concatenate(babel_embs), babel_cats)
    _warn_skipped(cameras_without_2d, where)
    header = {
        "run": str(run_dir), "protocol": protocol, "protocol_description": PROTOCOLS[protocol],
        "dataset": context["dataset"], "split": split, "2d_source": two_d,
        "cameras_without_2d": cameras_without_2d,
        "frames_per_window": cfg.model.maxlen, "windows": "overlapping, averaged; every frame once",
        "flip_tta": flip,
        "aggregation": ("pooled over all valid frames (per-sequence values in per_action)" if kind == "3dhp"
                        else "per action (mean over actions of per-action means)"),
        "sequences": len(held), "views": len(seq_rows), "frames": int(len(pred_all)),
        "seed": seed, "compute": f"{device} ({platform.processor() or platform.machine()}, torch {torch.__version__})",
        "preset": cfg.model.preset, "variant": cfg.variant, "step": meta.get("step"),
        "made_at": _dt.datetime.now().isoformat(timespec="seconds"),
        "checkpoint": checkpoint_provenance(run_dir, meta),
        "checkpoint_sha256": checkpoint_sha256(run_dir), "code_version": code_version(),
    }
    s_val = summary.set_index("metric")["value"]
    floors = floor_scores.table(keep, gt_all, valid_all, acts, summary_acts, context, floors_info,
                                model=("model", f"{cfg.model.preset} {cfg.variant}, step {meta.get('step')}",
                                       float(s_val["MPJPE"]), float(s_val["P-MPJPE"])))
    header["floors"] = floors_info
    header["trained_vs_floor"] = floors_info.get("trained_vs_floor")
    if progress is not None:
        progress(len(held), len(held))
    report = EvalReport(header, summary, per_action, per_joint, recognition, pd.DataFrame(seq_rows), floors)
    if write:
        write_eval(run_dir, report.to_dict(), out)
    return report


def recognition_summary(scores: np.ndarray, targets: np.ndarray, vocab) -> dict:
    """Top-1 / top-5 of score rows `[N, L]` against label weights `[N, L]`: over the vocabulary's
    entries and at action (content) level, where the top sentence's action counts whatever its style."""
    t1 = M.topk_accuracy(scores, targets, 1, labels=vocab.keys)
    t5 = M.topk_accuracy(scores, targets, 5)
    cs, ct = vocab.content_scores(scores), vocab.content_weights(targets)
    c1 = M.topk_accuracy(cs, ct, 1, labels=vocab.contents)
    c5 = M.topk_accuracy(cs, ct, 5)
    return {"top1_pct": t1.value, "top5_pct": t5.value, "clips": t1.protocol["clips"],
            "labels": len(vocab.keys), "chance_top1_pct": 100.0 / len(vocab.keys),
            "vocab_field": vocab.field, "per_class_top1_pct": t1.breakdown,
            "content_top1_pct": c1.value, "content_top5_pct": c5.value,
            "contents": len(vocab.contents), "content_chance_top1_pct": 100.0 / len(vocab.contents),
            "per_content_top1_pct": c1.breakdown}


BABEL_RULE = ("window-centre frame's action categories (BABEL's start_t <= t < end_t); several: the most "
              "frequent in BABEL; windows with none in the class set are left out")


def _babel_window_cats(m: Motion, windows) -> list[set[str]]:
    """The BABEL action categories at the centre frame of each window `(start, end)` of motion `m`."""
    from .data.babel import act_cats_at
    centres = np.array([(s + e - 1) // 2 for s, e in windows], dtype=np.int64)
    return act_cats_at(m.meta["babel"], centres, m.fps)


def babel_recognition(bundle, cfg, motion_emb: np.ndarray, cats: list[set[str]]) -> dict:
    """Top-1 / top-5 over the BABEL-60 and BABEL-120 class sets (`data.babel.CLASS_SETS`), scored as the
    model scores any text: each class is its sentence (`text.templates`), compared by the aligner with
    the window's motion embedding `motion_emb [W, D]` (`BABEL_RULE` picks the target)."""
    from .data.babel import CLASS_SETS
    from .text.cache import embed_texts
    from .text.templates import label_to_sentence
    out: dict = {"rule": BABEL_RULE}
    for name, classes in CLASS_SETS.items():
        index = {c: i for i, c in enumerate(classes)}
        rows = [(w, min(index[c] for c in cs if c in index)) for w, cs in enumerate(cats) if any(c in index for c in cs)]
        if not rows:
            out[name] = {"windows": 0, "classes": len(classes)}
            continue
        keep = np.array([w for w, _ in rows])
        target = np.array([t for _, t in rows])
        text_emb = embed_texts([label_to_sentence(c, cfg.text) for c in classes], cfg.text)
        with torch.no_grad():
            scores = bundle.aligner.score_texts(torch.as_tensor(motion_emb[keep]),
                                                torch.as_tensor(text_emb)).cpu().numpy()
        t1 = M.topk_accuracy(scores, target, 1)
        t5 = M.topk_accuracy(scores, target, 5)
        out[name] = {"top1_pct": t1.value, "top5_pct": t5.value, "windows": int(len(keep)),
                     "classes": len(classes), "classes_present": int(len(np.unique(target))),
                     "chance_top1_pct": 100.0 / len(classes)}
    return out


def _masked(sample: Sample) -> Sample:
    """Joints with confidence 0 (missed or absent detections) -> x = y = 0: the masked-joint
    encoding the lifter is trained with, not the image corner that pixel (0, 0) normalises to."""
    x2d = sample.x2d.copy()
    x2d[x2d[..., 2] <= 0] = 0.0
    return Sample(x2d, sample.y3d, sample.mm_per_unit)


def _expects_2d(m: Motion) -> bool:
    """The motion comes with 2D detections (for some cameras, maybe none usable): a camera without them
    is skipped, never scored on 2D projected from the ground truth."""
    return bool(m.kp2d_px) or bool(m.meta.get("kp2d_missing_cameras"))


def _warn_skipped(cameras_without_2d: list[str], where: str) -> None:
    if cameras_without_2d:
        warnings.warn(f"{where}: {len(cameras_without_2d)} camera view(s) without 2D detections skipped (not "
                      f"replaced by projected ground truth): {', '.join(cameras_without_2d[:6])}"
                      + (" ..." if len(cameras_without_2d) > 6 else ""), stacklevel=3)


def _view_samples(m: Motion, cfg, noise_sigma: float, rng: np.random.Generator, cameras_without_2d: list[str]):
    """The held-out views of one motion, as every predictor (model and floors) is scored on them:
    yields (view index, view, 2D camera name or None, masked `Sample` (+ noise when asked),
    valid `[T, 17]`). A camera without 2D detections is skipped and recorded, never filled with
    projected ground truth."""
    for view_index, (view, kp_cam) in enumerate(sequence_views(m, cfg)):
        if _expects_2d(m) and kp_cam is None:
            cameras_without_2d.append(f"{m.name}:{view.camera.name}")
            continue
        sample = _masked(make_sample(m, view, kp_cam))
        if kp_cam is None and noise_sigma > 0:
            sample = Sample(add_noise(sample.x2d, rng, _noise_cfg(noise_sigma)), sample.y3d, sample.mm_per_unit)
        valid = np.broadcast_to(m.joint_valid, sample.y3d.shape[:2]).copy()
        fv = m.meta.get("valid_frames")
        if fv is not None:
            valid &= np.asarray(fv, dtype=bool)[:, None]
        yield view_index, view, kp_cam, sample, valid


def _floor_predictors(motions: list[Motion], cfg, data_info: dict, mlp_floor, flip: bool, where: str
                      ) -> tuple[dict, dict]:
    """The floors to score beside a model: {name: predictor `x2d [T, 17, 3]` -> `y3d [T, 17, 3]`}
    and their description for the header. The mean depth comes from the training split of the
    evaluated data, else of the run's training data (`cfg.data.path`); never from held-out data."""
    info: dict = {"flip_tta": flip}
    preds: dict = {B.FLAT: B.flat_lift}
    train = split_motions(motions, cfg.data.train_split)
    source = f"{where} split {cfg.data.train_split}"
    missing = f"no motions in training split {cfg.data.train_split!r} of {where}"
    if not train:  # e.g. only the held-out motions were passed in (the app): the run's training data
        try:
            run_motions, run_info = load_data(cfg.data.path or None)
        except (OSError, ValueError) as e:
            missing += f"; the run's training data is unreadable ({str(e).splitlines()[0]})"
        else:
            train = split_motions(run_motions, cfg.data.train_split)
            source = f"{run_info.get('path', cfg.data.path)} split {cfg.data.train_split} (the run's training data)"
            missing += f" nor of the run's training data {run_info.get('path', cfg.data.path)}"
    if train:
        depth = B.mean_depth_floor(train, cfg, source=source)
        preds[B.MEAN_DEPTH] = depth
        info["mean_depth"] = depth.to_dict()
    else:
        info["mean_depth"] = {"missing": missing}
    floor = None
    if isinstance(mlp_floor, MLPFloor):
        floor = mlp_floor
    elif isinstance(mlp_floor, str) and mlp_floor == "auto":
        shipped = B.shipped_mlp_floor_dir()
        if shipped is None:
            info["mlp_floor"] = {"missing": "none given and none shipped (train one: `actionpose baseline --out DIR`)"}
        else:
            candidate = B.load_mlp_floor(shipped)
            name, ident = B.data_identity(motions, data_info)
            # The shipped floor was trained on the full Bandai-Namco training split, which holds none of
            # the bundled held-out takes (as for the shipped demo runs): valid on its own data or the bundled.
            if candidate.meta.get("data_hash") == ident or name == "bundled":
                floor = candidate
            else:
                info["mlp_floor"] = {"missing": f"the shipped MLP floor ({shipped}) was trained on other data "
                                                "than this evaluation's; pass mlp_floor=DIR"}
    elif mlp_floor is not None and mlp_floor is not False:
        floor = B.load_mlp_floor(mlp_floor)
    else:
        info["mlp_floor"] = {"missing": "not asked for (mlp_floor=None)"}
    if floor is not None:
        preds[B.MLP] = floor
        info["mlp_floor"] = {k: v for k, v in floor.meta.items() if k not in ("config", "mean_depth")}
        info["mlp_floor"]["description"] = floor.describe()
    if flip:
        preds = {k: B.with_flip(f) for k, f in preds.items()}
    return preds, info


class _FloorScores:
    """Accumulates each floor's predictions (mm) on the views the model is scored on."""

    def __init__(self, predictors: dict):
        self.predictors = predictors
        self.preds_mm: dict[str, list[np.ndarray]] = {k: [] for k in predictors}

    def add(self, sample: Sample) -> None:
        scale = sample.mm_per_unit[:, None, None]
        for name, f in self.predictors.items():
            self.preds_mm[name].append(np.asarray(f(sample.x2d), dtype=np.float64) * scale)

    def table(self, keep, gt_all, valid_all, acts, summary_acts, context, info: dict, model=None) -> pd.DataFrame:
        """Rows: each floor (+ `model` = (name, training, MPJPE mm, P-MPJPE mm)); columns predictor,
        training, mpjpe_mm, p_mpjpe_mm, note. Fills info["per_action_mpjpe_mm"] and
        info["trained_vs_floor"] (model MPJPE < flat + mean depth MPJPE; None without that floor)."""
        rows, per_action = [], {}
        training = dict(B.FLOOR_TRAINING)
        if B.MLP in self.predictors:
            training[B.MLP] = info["mlp_floor"]["description"]
        for name in self.predictors:
            pred = np.concatenate(self.preds_mm[name])[keep]
            r1 = M.mpjpe(pred, gt_all, valid_all, summary_acts, context=context)
            r2 = M.p_mpjpe(pred, gt_all, valid_all, summary_acts, context=context)
            rows.append({"predictor": name, "training": training[name], "mpjpe_mm": r1.value,
                         "p_mpjpe_mm": r2.value, "note": "floor"})
            per_action[name] = M.mpjpe(pred, gt_all, valid_all, acts, context=context).breakdown
        info["per_action_mpjpe_mm"] = per_action
        verdict = None
        if model is not None:
            name, how, mpjpe_mm, p_mpjpe_mm = model
            floor = next((r["mpjpe_mm"] for r in rows if r["predictor"] == B.MEAN_DEPTH), None)
            verdict = None if floor is None else bool(mpjpe_mm < floor)
            rows.append({"predictor": name, "training": how, "mpjpe_mm": mpjpe_mm, "p_mpjpe_mm": p_mpjpe_mm,
                         "note": B.NOT_TRAINED if verdict is False else ""})
        info["trained_vs_floor"] = verdict
        return pd.DataFrame(rows)


def evaluate_floors(data: str | Path | None = None, *, mlp_floor: str | Path | MLPFloor | None = None,
                    cfg=None, split: str | None = None, flip: bool = False, noise_sigma: float = 0.0,
                    seed: int = 0, motions: list[Motion] | None = None, data_info: dict | None = None,
                    max_sequences: int | None = None, out: str | Path | None = None) -> EvalReport:
    """The floors alone on the held-out split of `data` (default: the bundled subset), through the same
    views, masking, metrics and aggregation as `evaluate`. `cfg` (cameras, training split) defaults to
    the MLP floor's training config, else `make_config()`. The report's summary / per-action /
    per-joint tables are the best learned floor's (MLP floor when given, else flat + mean depth);
    `report.floors` lists every floor. `eval.json` goes to `out` when given."""
    from .config import make_config
    if isinstance(mlp_floor, (str, Path)) and not isinstance(mlp_floor, MLPFloor):
        mlp_floor = B.load_mlp_floor(mlp_floor)
    if cfg is None:
        cfg = B.floor_config(mlp_floor) if mlp_floor is not None else make_config()
    if motions is None:
        motions, data_info = load_data(data)
    data_info = dict(data_info or {})
    where = str(data_info.get("path", data or "data"))
    if split is None:
        split = "test" if any(m.meta.get("split") == "test" for m in motions) else "val"
    held = split_motions(motions, split)
    if not held:
        raise ValueError(f"{where}: no motions in split {split!r}")
    if max_sequences:
        held = held[:max_sequences]
    kind = _dataset_kind(motions, data_info)
    predictors, info = _floor_predictors(motions, cfg, data_info, mlp_floor, flip, where)
    scores = _FloorScores(predictors)
    rng = np.random.default_rng(seed)
    cameras_without_2d: list[str] = []
    gts, valids, actions, sources, views = [], [], [], set(), 0
    for m in held:
        for _, _, kp_cam, sample, valid in _view_samples(m, cfg, noise_sigma, rng, cameras_without_2d):
            sources.add(m.kp2d_source if kp_cam else (f"synthetic-noise-{noise_sigma:g}" if noise_sigma > 0 else "gt (projected)"))
            scores.add(sample)
            gts.append(sample.y3d * sample.mm_per_unit[:, None, None])
            valids.append(valid)
            actions += [_action_of(m)] * len(valid)
            views += 1
    _warn_skipped(cameras_without_2d, where)
    if not gts:
        raise ValueError(f"{where}: no held-out view with 2D in split {split!r}")
    gt_all, valid_all, acts = np.concatenate(gts), np.concatenate(valids), np.array(actions)
    keep = valid_all.any(axis=1)
    gt_all, valid_all, acts = gt_all[keep], valid_all[keep], acts[keep]
    two_d = ", ".join(sorted(sources))
    context = {"dataset": DATASET_NAMES.get(kind, kind), "split": split, "2d_source": two_d,
               "frames_per_window": 1, "flip_tta": flip, "protocol_name": "actionpose"}
    summary_acts = None if kind == "3dhp" else acts
    floors = scores.table(keep, gt_all, valid_all, acts, summary_acts, context, info)
    best = B.MLP if B.MLP in predictors else (B.MEAN_DEPTH if B.MEAN_DEPTH in predictors else B.FLAT)
    pred_all = np.concatenate(scores.preds_mm[best])[keep]
    summary = pd.DataFrame([_row(M.mpjpe(pred_all, gt_all, valid_all, summary_acts, context=context)),
                            _row(M.p_mpjpe(pred_all, gt_all, valid_all, summary_acts, context=context)),
                            _row(M.n_mpjpe(pred_all, gt_all, valid_all, summary_acts, context=context))])
    per_action = _per_action_table(pred_all, gt_all, valid_all, acts, context)
    pj = M.mpjpe_per_joint(pred_all, gt_all, valid_all, context=context)
    per_joint = pd.DataFrame({"mpjpe_mm": pd.Series(pj.breakdown)}).reindex(
        [n for n in H36M17_NAMES if n in pj.breakdown])
    per_joint.index.name = "joint"
    floor_meta = mlp_floor.meta if mlp_floor is not None else {}
    header = {
        "run": f"floors ({best}{'' if mlp_floor is None or mlp_floor.path is None else ': ' + str(mlp_floor.path)})",
        "checkpoint_sha256": checkpoint_sha256(mlp_floor.path) if mlp_floor is not None and mlp_floor.path else "",
        "protocol": "actionpose", "protocol_description": PROTOCOLS["actionpose"],
        "dataset": context["dataset"], "split": split, "2d_source": two_d, "cameras_without_2d": cameras_without_2d,
        "frames_per_window": 1, "windows": "per frame (the floors see one frame at a time)", "flip_tta": flip,
        "aggregation": ("pooled over all valid frames" if kind == "3dhp"
                        else "per action (mean over actions of per-action means)"),
        "sequences": len(held), "views": views, "frames": int(len(gt_all)), "seed": seed,
        "compute": f"cpu ({platform.processor() or platform.machine()}, torch {torch.__version__})",
        "preset": "floor", "variant": best, "step": floor_meta.get("steps"),
        "made_at": _dt.datetime.now().isoformat(timespec="seconds"), "code_version": code_version(),
        "floors": info, "trained_vs_floor": None,
    }
    report = EvalReport(header, summary, per_action, per_joint, {}, None, floors)
    if out is not None:
        write_eval(Path(out), report.to_dict(), out)
    return report


def _evaluate_motionbert(bundle, cfg, meta: dict, run_dir: Path, held: list[Motion], kind: str, split: str,
                         flip: bool, device: str, batch_size: int, where: str) -> EvalReport:
    """`protocol_motionbert` steps 1-8 on the held-out Human3.6M motions (see that module)."""
    if kind != "h36m":
        raise ValueError(f"{where}: protocol 'motionbert' is MotionBERT's Human3.6M evaluation; this data is {kind!r}")
    from .data.synthesis import render
    T = int(cfg.model.maxlen)
    excluded = sorted({m.name for m in held if m.name in MB.EXCLUDED_SEQUENCES})
    results, sources, no_2d, seq_rows = [], set(), [], []
    for m in held:
        if m.name in MB.EXCLUDED_SEQUENCES:
            continue
        for view, kp_cam in sequence_views(m, cfg):
            if _expects_2d(m) and kp_cam is None:
                no_2d.append(f"{m.name}:{view.camera.name}")
                continue
            if not m.cameras:
                raise ValueError(f"{where}: motion {m.name!r} has no camera; the motionbert protocol needs calibrated cameras")
            sample = _masked(make_sample(m, view, kp_cam))
            sources.add(m.kp2d_source if kp_cam else "gt (projected)")
            x_cam, _ = render(m.joints3d_world_mm.astype(np.float64), view)
            target_px, factor = MB.image_25d_target(x_cam, view.camera.f, view.camera.c)
            clips = MB.clip_indices(m.num_frames, T)
            # The clips laid end to end, cut back into exactly those clips (stride T), batch_size at a time.
            joined = sample.x2d[np.concatenate(clips)]
            pred = predict_sequence(bundle.net, joined, T, flip=flip, device=device, stride=T,
                                    windows_per_batch=batch_size)
            y = MB.denormalize(pred.y3d, view.camera.image_size_wh)
            preds = [y[k * T:(k + 1) * T] for k in range(len(clips))]
            r = MB.score_video(m.name, view.camera.name, _action_of(m), m.num_frames, clips, preds, target_px, factor)
            results.append(r)
            seq_rows.append({"sequence": m.name, "view": view.camera.name, "action": r.action,
                             "frames": int(r.covered.sum()), "frames_not_covered": int((~r.covered).sum()),
                             "mpjpe_mm": float(np.nanmean(r.mpjpe_mm)) if r.covered.any() else float("nan"),
                             "p_mpjpe_mm": float(np.nanmean(r.p_mpjpe_mm)) if r.covered.any() else float("nan")})
    res = MB.summarize(results)
    two_d = ", ".join(sorted(sources))
    agg = "per action (mean over actions of per-action frame means)"
    summary = pd.DataFrame([
        {"metric": "MPJPE", "value": res["mpjpe_mm"], "unit": "mm", "protocol": "motionbert #1",
         "aggregation": agg, "joints": "all 17"},
        {"metric": "P-MPJPE", "value": res["p_mpjpe_mm"], "unit": "mm", "protocol": "motionbert #2",
         "aggregation": agg, "joints": "all 17"},
    ])
    per_action = pd.DataFrame(res["per_action"]).T[["mpjpe_mm", "p_mpjpe_mm", "frames"]]
    per_action.index.name = "action"
    per_action.loc["Average"] = [res["mpjpe_mm"], res["p_mpjpe_mm"], per_action["frames"].sum()]
    per_action = per_action.astype({"mpjpe_mm": float, "p_mpjpe_mm": float, "frames": int})
    _warn_skipped(no_2d, where)
    per_joint = pd.DataFrame({"mpjpe_mm": pd.Series(dtype=float)})
    per_joint.index.name = "joint"
    header = {
        "run": str(run_dir), "protocol": "motionbert", "protocol_description": PROTOCOLS["motionbert"],
        "dataset": DATASET_NAMES.get(kind, kind), "split": split, "2d_source": two_d,
        "cameras_without_2d": no_2d, "frames_per_window": T,
        "windows": f"non-overlapping clips of {T} frames, frames after the last full clip not evaluated",
        "flip_tta": flip, "aggregation": agg, "excluded_sequences": excluded,
        "frames_not_covered": res["frames_not_covered"],
        "sequences": len(held) - len(excluded), "views": len(results), "frames": res["frames_evaluated"],
        "seed": 0, "compute": f"{device} ({platform.processor() or platform.machine()}, torch {torch.__version__})",
        "preset": cfg.model.preset, "variant": cfg.variant, "step": meta.get("step"),
        "made_at": _dt.datetime.now().isoformat(timespec="seconds"),
        "checkpoint": checkpoint_provenance(run_dir, meta),
        "checkpoint_sha256": checkpoint_sha256(run_dir), "code_version": code_version(),
    }
    return EvalReport(header, summary, per_action, per_joint, {}, pd.DataFrame(seq_rows))


# ------------------------------------------------------------------ where eval.json lives, staleness

def _package_dir() -> Path:
    return Path(__file__).resolve().parent


def user_eval_path(run: str | Path) -> Path:
    """Where `evaluate` writes the eval.json of a run shipped inside the package (never the package):
    `$ACTIONPOSE_HOME/runs/<name>/eval.json`, or `./runs/<name>/eval.json` when that is unset."""
    from .train.runs import shipped_name
    run_dir = resolve_run(run)
    home = Path(os.environ.get("ACTIONPOSE_HOME") or ".")
    name = shipped_name(run_dir) or run_dir.name
    return home / "runs" / name / EVAL_NAME


def _is_shipped(run_dir: Path) -> bool:
    try:
        Path(run_dir).resolve().relative_to(_package_dir())
        return True
    except ValueError:
        return False


def eval_path(run: str | Path) -> Path:
    """The eval.json `evaluate(run)` writes and the app reads: the run folder's, or for a run shipped in
    the package, `user_eval_path(run)`."""
    run_dir = resolve_run(run)
    return user_eval_path(run_dir) if _is_shipped(run_dir) else run_dir / EVAL_NAME


def write_eval(run_dir: Path, obj: dict, out: str | Path | None = None) -> Path:
    """Write an evaluation to `out` (a file or folder), else to `eval_path(run_dir)`."""
    if out is not None:
        path = Path(out)
        path = path / EVAL_NAME if path.suffix != ".json" else path
    else:
        path = eval_path(run_dir)
    if _is_shipped(path.parent):
        raise ValueError(f"{path}: inside the installed package, which is read-only; pass out= elsewhere")
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json(path.parent, path.name, obj)


def checkpoint_sha256(run_dir: str | Path) -> str:
    """Full sha256 (hex) of the run's checkpoint.safetensors ("" when absent)."""
    import hashlib
    ckpt = Path(run_dir) / "checkpoint.safetensors"
    if not ckpt.exists():
        return ""
    h = hashlib.sha256()
    with open(ckpt, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def lifter_sha256(run_dir: str | Path) -> str:
    """sha256 (hex) of the run's lifter as loaded: the backbone with its 3D head (`lifter.backbone.*`),
    float32, names and values in name order. Two runs with this digest lift every input to the same 3D,
    whatever their embedding heads (e.g. `demo` before and after its head stage)."""
    import hashlib

    from .train.checkpoint import load_checkpoint
    from .train.runs import resolve_run
    tensors, _ = load_checkpoint(resolve_run(run_dir))
    h = hashlib.sha256()
    for k in sorted(k for k in tensors if k.startswith("lifter.backbone.")):
        h.update(k.encode())
        h.update(tensors[k].detach().to(torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def code_version() -> str:
    """The package version, plus the git commit (and '-dirty') when running from a checkout."""
    from . import __version__
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=_package_dir(),
                             capture_output=True, text=True, timeout=5)
        rev = out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        rev = ""
    return f"{__version__}+git.{rev}" if rev else __version__


def load_eval(run: str | Path) -> dict | None:
    """The stored evaluation of `run` (`eval_path(run)`), or None when there is none."""
    path = eval_path(run)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: unreadable evaluation ({e})") from None


def eval_is_stale(run: str | Path) -> bool | None:
    """True when the stored evaluation of `run` was made from another checkpoint than the one the run
    holds now (or does not record which); False when it matches; None when there is no evaluation."""
    ev = load_eval(run)
    if ev is None:
        return None
    recorded = (ev.get("header") or {}).get("checkpoint_sha256", "")
    return not recorded or recorded != checkpoint_sha256(resolve_run(run))


def _noise_cfg(sigma: float):
    from .config import NoiseConfig
    return NoiseConfig(gaussian_std=sigma, lowfreq_std=sigma, outlier_prob=0.0)


def _row(res: M.MetricResult) -> dict:
    p = res.protocol
    return {"metric": res.name, "value": res.value, "unit": res.unit, "protocol": p.get("protocol"),
            "aggregation": p.get("aggregation"), "joints": p.get("joints")}


def _per_action_table(pred, gt, valid, acts, context) -> pd.DataFrame:
    p1 = M.mpjpe(pred, gt, valid, acts, context=context).breakdown or {}
    p2 = M.p_mpjpe(pred, gt, valid, acts, context=context).breakdown or {}
    frames = pd.Series(acts).value_counts()
    df = pd.DataFrame({"mpjpe_mm": pd.Series(p1), "p_mpjpe_mm": pd.Series(p2), "frames": frames})
    df.index.name = "action"
    df = df.sort_index()
    df.loc["Average"] = [df["mpjpe_mm"].mean(), df["p_mpjpe_mm"].mean(), df["frames"].sum()]
    df["frames"] = df["frames"].fillna(0).astype(int)
    return df


def format_report(report: EvalReport) -> str:
    """A printable table whose header names dataset, split, 2D source, protocol, frames, aggregation."""
    h = report.header
    lines = [
        f"== protocol {h.get('protocol', 'actionpose')} | {h['dataset']} | split {h['split']} | 2D: {h['2d_source']} "
        f"| T = {h['frames_per_window']} frames ({h['windows']}) | flip TTA {'on' if h['flip_tta'] else 'off'} ==",
        f"   run {h['run']} ({h['preset']}, {h['variant']}, step {h['step']}); {h['sequences']} sequences, "
        f"{h['views']} views, {h['frames']} frames; {h['compute']}",
        f"   protocol: {h.get('protocol_description', '')}",
    ]
    if h.get("cameras_without_2d"):
        lines.append(f"   WARNING {len(h['cameras_without_2d'])} camera view(s) have no 2D detections and were "
                     f"skipped (not replaced by projected ground truth): {', '.join(h['cameras_without_2d'][:6])}"
                     + (" ..." if len(h["cameras_without_2d"]) > 6 else ""))
    if h.get("excluded_sequences"):
        lines.append(f"   excluded (MotionBERT's corrupted S9 sequences): {', '.join(h['excluded_sequences'])}")
    if h.get("code_version"):
        lines.append(f"   made {h.get('made_at', '?')} by actionpose {h['code_version']} from checkpoint "
                     f"sha256 {str(h.get('checkpoint_sha256', ''))[:16]}")
    lines += [
        "",
        report.summary.to_string(index=False, float_format=lambda v: f"{v:.2f}"),
        "",
        f"{h['aggregation']}:",
        report.per_action.to_string(float_format=lambda v: f"{v:.1f}"),
    ]
    if report.floors is not None and len(report.floors):
        lines += ["", f"floors (same frames, {h['aggregation']}; a model that loses to flat + mean depth has not learned):",
                  _format_floors(report.floors)]
        for key, name in (("mean_depth", B.MEAN_DEPTH), ("mlp_floor", B.MLP)):
            why = ((h.get("floors") or {}).get(key) or {}).get("missing")
            if why:
                lines.append(f"  (no {name}: {why})")
        if h.get("trained_vs_floor") is False:
            lines.append(f"   {B.NOT_TRAINED}")
    if report.recognition and "top1_pct" in report.recognition:
        r = report.recognition
        lines += ["", f"action recognition ({r['vocab_field']}, {r['windows']} windows, {r['labels']} labels): "
                      f"top-1 {r['top1_pct']:.1f} %, top-5 {r['top5_pct']:.1f} % (chance {r['chance_top1_pct']:.1f} %)"]
        if "content_top1_pct" in r:
            lines.append(f"  action only ({r['contents']} actions, any style): top-1 {r['content_top1_pct']:.1f} %, "
                         f"top-5 {r['content_top5_pct']:.1f} % (chance {r['content_chance_top1_pct']:.1f} %)")
            per = r.get("per_content_top1_pct") or {}
            if per:
                lines.append("  per action top-1 %: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(per.items())))
        c = r.get("context")
        if c:
            lines += [f"  over {c['frames']}-frame segments ({c['segments']}; {c['pooling']}): action top-1 "
                      f"{c['content_top1_pct']:.1f} %, top-5 {c['content_top5_pct']:.1f} %; {c['labels']} labels top-1 "
                      f"{c['top1_pct']:.1f} %",
                      "  per action top-1 % over segments: " + ", ".join(
                          f"{k} {v:.0f}" for k, v in sorted((c.get('per_content_top1_pct') or {}).items()))]
    b = (report.recognition or {}).get("babel")
    if b:
        lines.append(f"BABEL recognition ({b['rule']}):")
        for name in ("BABEL-60", "BABEL-120"):
            r = b.get(name) or {}
            if r.get("windows"):
                lines.append(f"  {name}: top-1 {r['top1_pct']:.1f} %, top-5 {r['top5_pct']:.1f} % over {r['windows']} "
                             f"windows ({r['classes_present']} of {r['classes']} classes present; chance "
                             f"{r['chance_top1_pct']:.1f} %)")
            else:
                lines.append(f"  {name}: no window of its classes in this split")
    return "\n".join(lines)


def _format_floors(floors: pd.DataFrame) -> str:
    rows = [(r["predictor"], f"{r['mpjpe_mm']:.1f}", f"{r['p_mpjpe_mm']:.1f}", r["training"]
             + (f"  <- {r['note']}" if r.get("note") not in ("", "floor", None) else ""))
            for r in floors.to_dict(orient="records")]
    head = ("predictor", "MPJPE mm", "P-MPJPE mm", "training")
    w = [max(len(str(x[i])) for x in rows + [head]) for i in range(3)]
    fmt = lambda x: f"  {x[0]:<{w[0]}}  {x[1]:>{w[1]}}  {x[2]:>{w[2]}}  {x[3]}"  # noqa: E731
    return "\n".join([fmt(head)] + [fmt(x) for x in rows])


__all__ = ["evaluate", "evaluate_floors", "format_report", "EvalReport", "LabelVocab", "PROTOCOLS", "eval_path", "eval_is_stale",
           "load_eval", "user_eval_path", "checkpoint_sha256", "code_version"]
