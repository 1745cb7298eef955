"""Protocol tables for a trained run on held-out data (L4). Returns DataFrames; never prints.

Every frame of every held-out sequence is predicted exactly once in the result: sequences are cut
into overlapping windows of the model's T frames and the overlapping predictions are averaged
(`model.sequence.predict_sequence`). Predictions and ground truth are root-relative and
de-normalised to millimetres with the per-frame factor of the 2D/3D encoding (data.synthesis).
"""
from __future__ import annotations

import datetime as _dt
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import metrics as M
from .clips import offscreen_frame_fraction
from .data.dataset import LabelVocab, make_sample, sequence_views, split_motions
from .data.motion import Motion
from .data.synthesis import Sample, add_noise
from .embeddings import checkpoint_provenance
from .model.sequence import predict_sequence
from .skeleton import H36M17_NAMES
from .train.data import load_data
from .train.model_io import load_bundle
from .train.runs import resolve_run, write_json

DATASET_NAMES = {"bandai": "Bandai-Namco", "h36m": "Human3.6M", "3dhp": "MPI-INF-3DHP"}


@dataclass
class EvalReport:
    header: dict
    summary: pd.DataFrame
    per_action: pd.DataFrame
    per_joint: pd.DataFrame
    recognition: dict = field(default_factory=dict)
    per_sequence: pd.DataFrame | None = None

    def to_dict(self) -> dict:
        return {
            "header": self.header,
            "summary": self.summary.to_dict(orient="records"),
            "per_action": self.per_action.reset_index().to_dict(orient="records"),
            "per_joint": self.per_joint.reset_index().to_dict(orient="records"),
            "recognition": self.recognition,
            "per_sequence": None if self.per_sequence is None else self.per_sequence.to_dict(orient="records"),
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
    run_fps = (run_meta.get("data") or {}).get("fps")
    fps = info.get("fps") or (motions[0].fps if motions else None)
    if run_fps and fps and abs(float(run_fps) - float(fps)) > 1e-3:
        raise ValueError(f"{where}: data is at {fps} fps but the run was trained at {run_fps} fps; "
                         f"prepare the data with --fps {run_fps}")
    if info.get("has_3d") is False:
        raise ValueError(f"{where}: this data has no 3D ground truth; only inference is possible (`actionpose infer`)")


def evaluate(run: str | Path, data: str | Path | None = None, *, flip: bool = False, split: str | None = None,
             noise_sigma: float = 0.0, motions: list[Motion] | None = None, data_info: dict | None = None,
             write: bool = True, device: str = "cpu", seed: int = 0, max_sequences: int | None = None,
             progress=None) -> EvalReport:
    """Evaluate `run` on the held-out split of `data` (default: the data the run was trained on).

    `progress(done, total)` (optional) is called after each sequence. The header records when the
    evaluation was made and which checkpoint (step, config hash, sha256) it evaluated; per-sequence
    rows carry the view index, style, worst frame, per-joint MPJPE and the off-screen frame fraction."""
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
    vocab = bundle.vocab
    rng = np.random.default_rng(seed)

    preds, gts, valids, actions, seq_rows = [], [], [], [], []
    rec_scores, rec_targets = [], []
    sources = set()
    for done, m in enumerate(held):
        if progress is not None and done:
            progress(done, len(held))
        frame_vocab = vocab.frame_indices(m) if vocab is not None else None
        for view_index, (view, kp_cam) in enumerate(sequence_views(m, cfg)):
            sample = make_sample(m, view, kp_cam)
            if kp_cam is None and noise_sigma > 0:
                sample = Sample(add_noise(sample.x2d, rng, _noise_cfg(noise_sigma)), sample.y3d, sample.mm_per_unit)
            sources.add(m.kp2d_source if kp_cam else (f"synthetic-noise-{noise_sigma:g}" if noise_sigma > 0 else "gt (projected)"))
            pred = predict_sequence(bundle.net, sample.x2d, cfg.model.maxlen, flip=flip, device=device)
            scale = sample.mm_per_unit[:, None, None]
            pred_mm, gt_mm = pred.y3d * scale, sample.y3d * scale
            valid = np.broadcast_to(m.joint_valid, pred_mm.shape[:2]).copy()
            fv = m.meta.get("valid_frames")
            if fv is not None:
                valid &= np.asarray(fv, dtype=bool)[:, None]
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
            if frame_vocab is not None and pred.logits is not None:
                for (s, e), lg in zip(pred.windows, pred.logits):
                    w = vocab.weights(frame_vocab[s:e])
                    if w.sum() > 0:
                        rec_scores.append(lg)
                        rec_targets.append(w)
    pred_all = np.concatenate(preds)
    gt_all = np.concatenate(gts)
    valid_all = np.concatenate(valids)
    acts = np.array(actions)
    two_d = ", ".join(sorted(sources))
    context = {"dataset": DATASET_NAMES.get(kind, kind), "split": split, "2d_source": two_d,
               "frames_per_window": cfg.model.maxlen, "flip_tta": flip}
    rows = []
    for res in (M.mpjpe(pred_all, gt_all, valid_all, acts, context=context),
                M.p_mpjpe(pred_all, gt_all, valid_all, acts, context=context),
                M.n_mpjpe(pred_all, gt_all, valid_all, acts, context=context)):
        rows.append(_row(res))
    # Velocity needs contiguous sequences: compute per sequence, frame-weighted.
    vel = [M.mpjve(p, g, v) for p, g, v in zip(preds, gts, valids) if len(p) > 1]
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
        s, t = np.stack(rec_scores), np.stack(rec_targets)
        t1 = M.topk_accuracy(s, t, 1, labels=vocab.keys)
        t5 = M.topk_accuracy(s, t, 5)
        recognition = {"top1_pct": t1.value, "top5_pct": t5.value, "windows": t1.protocol["clips"],
                       "labels": len(vocab.keys), "chance_top1_pct": 100.0 / len(vocab.keys),
                       "vocab_field": vocab.field, "per_class_top1_pct": t1.breakdown}
    header = {
        "run": str(run_dir), "dataset": context["dataset"], "split": split, "2d_source": two_d,
        "frames_per_window": cfg.model.maxlen, "windows": "overlapping, averaged; every frame once",
        "flip_tta": flip, "aggregation": "per action (mean over actions of per-action means)",
        "sequences": len(held), "views": len(seq_rows), "frames": int(len(pred_all)),
        "seed": seed, "compute": f"{device} ({platform.processor() or platform.machine()}, torch {torch.__version__})",
        "preset": cfg.model.preset, "variant": cfg.variant, "step": meta.get("step"),
        "made_at": _dt.datetime.now().isoformat(timespec="seconds"),
        "checkpoint": checkpoint_provenance(run_dir, meta),
    }
    if progress is not None:
        progress(len(held), len(held))
    report = EvalReport(header, summary, per_action, per_joint, recognition, pd.DataFrame(seq_rows))
    if write:
        write_json(run_dir, "eval.json", report.to_dict())
    return report


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
    return df


def format_report(report: EvalReport) -> str:
    """A printable table whose header names dataset, split, 2D source, protocol, frames, aggregation."""
    h = report.header
    lines = [
        f"== {h['dataset']} | split {h['split']} | 2D: {h['2d_source']} | T = {h['frames_per_window']} frames "
        f"({h['windows']}) | flip TTA {'on' if h['flip_tta'] else 'off'} ==",
        f"   run {h['run']} ({h['preset']}, {h['variant']}, step {h['step']}); {h['sequences']} sequences, "
        f"{h['views']} views, {h['frames']} frames; {h['compute']}",
        "",
        report.summary.to_string(index=False, float_format=lambda v: f"{v:.2f}"),
        "",
        f"{h['aggregation']}:",
        report.per_action.to_string(float_format=lambda v: f"{v:.1f}"),
    ]
    if report.recognition:
        r = report.recognition
        lines += ["", f"action recognition ({r['vocab_field']}, {r['windows']} windows, {r['labels']} labels): "
                      f"top-1 {r['top1_pct']:.1f} %, top-5 {r['top5_pct']:.1f} % (chance {r['chance_top1_pct']:.1f} %)"]
    return "\n".join(lines)


__all__ = ["evaluate", "format_report", "EvalReport", "LabelVocab"]
