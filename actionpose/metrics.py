"""Evaluation metrics (numpy or torch in, `MetricResult` out), each tagged with its protocol.

Poses are `[..., J, 3]` in millimetres (de-normalise before calling); all leading axes are frames,
except for MPJVE whose third-from-last axis is time. Conventions of the literature:

- MPJPE (protocol #1): root-relative (joint 0 subtracted from pred and gt), mean L2 over joints.
- P-MPJPE (protocol #2): per frame, pred similarity-aligned to gt (rotation, scale, translation;
  no reflection) before MPJPE.
- N-MPJPE: per frame, root-relative pred scaled by its least-squares scale to gt.
- MPJVE: mean L2 of the difference of first time differences of root-relative poses.
- Aggregation "per frame": mean over every valid (frame, joint); "per action": the same mean within
  each action, then the unweighted mean over actions (how Human3.6M tables are averaged).
- MPI-INF-3DHP PCK: % of root-relative joints with error < 150 mm (strict); AUC: mean PCK over the
  thresholds 0, 5, ..., 150 mm (31 steps). `joints="pck14"` uses skeleton.MPI3DHP_PCK14.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .geometry import procrustes_align
from .skeleton import H36M17_NAMES, MPI3DHP_PCK14, NUM_JOINTS, ROOT

AUC_THRESHOLDS_MM = np.linspace(0.0, 150.0, 31)


@dataclass
class MetricResult:
    """One number with its unit and the protocol that produced it.

    protocol:  at least {metric, protocol, aggregation, joints, frames} + any caller context
               (dataset, split, 2D source, ...).
    breakdown: per joint or per action values (same unit), when the metric has one.
    values:    per-item values (e.g. per frame), when requested.
    """

    name: str
    value: float
    unit: str
    protocol: dict[str, Any]
    breakdown: dict[str, float] | None = None
    values: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """JSON-safe dict (per-item values as a list)."""
        d = {"name": self.name, "value": self.value, "unit": self.unit, "protocol": dict(self.protocol)}
        if self.breakdown is not None:
            d["breakdown"] = dict(self.breakdown)
        if self.values is not None:
            d["values"] = self.values.tolist()
        return d


# -- input handling --------------------------------------------------------------------------------
def _np(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor, without importing torch here
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _poses(pred: Any, gt: Any, valid: Any, where: str):
    """-> pred, gt `[N, J, 3]` float64 and valid `[N, J]` bool (N = product of the leading axes)."""
    p, g = _np(pred, "pred"), _np(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"{where}: pred has shape {p.shape}, gt has shape {g.shape}; expected equal [..., J, 3]")
    if p.ndim < 2 or p.shape[-1] != 3:
        raise ValueError(f"{where}: pred/gt have shape {p.shape}, expected [..., J, 3]")
    lead, J = p.shape[:-2], p.shape[-2]
    if valid is None:
        v = np.ones(lead + (J,), dtype=bool)
    else:
        v = _np(valid, "valid").astype(bool)
        if v.shape not in ((J,), lead + (J,)):
            raise ValueError(f"{where}: valid has shape {v.shape}, expected [J] = [{J}] or {list(lead + (J,))}")
        v = np.broadcast_to(v, lead + (J,))
    if not v.any():
        raise ValueError(f"{where}: every joint is invalid, expected some valid joints")
    for arr, name in ((p, "pred"), (g, "gt")):
        if not np.isfinite(arr[v]).all():
            raise ValueError(f"{where}: {name} has NaN/inf values at valid joints")
    # Invalid entries may hold NaN: zero them so they cannot leak through sums.
    p = np.where(v[..., None], p, 0.0)
    g = np.where(v[..., None], g, 0.0)
    return p.reshape(-1, J, 3), g.reshape(-1, J, 3), np.ascontiguousarray(v).reshape(-1, J)


def _actions(actions: Any, lead: tuple[int, ...], n: int, where: str) -> np.ndarray | None:
    """Per-frame action names `[N]` from `[N]`, the leading shape, or one per clip `[B]`."""
    if actions is None:
        return None
    a = np.asarray(actions, dtype=object)
    if a.shape == lead or a.shape == (n,):
        return a.reshape(-1)
    if len(lead) >= 2 and a.shape == lead[:1]:
        return np.repeat(a, int(np.prod(lead[1:])))
    raise ValueError(f"{where}: actions has shape {a.shape}, expected one name per frame {list(lead)} "
                     f"or per clip [{lead[0] if lead else n}]")


def _root_relative(x: np.ndarray, root: int | None) -> np.ndarray:
    """Subtract joint `root`; `root=None` leaves poses as they are (already root-relative or absolute)."""
    return x if root is None else x - x[..., root:root + 1, :]


def _alignment(text: str, root: int | None) -> str:
    return text if root is not None else text.replace("root-relative", "no root subtraction (root=None)")


def _check_root(v: np.ndarray, root: int | None, where: str) -> None:
    # An invalid root would make every root-relative error meaningless, not just one joint's.
    if root is not None and not v[:, root].all():
        raise ValueError(f"{where}: root joint {root} is invalid in some frames; root-relative errors need it "
                         "(pass root=None for poses that are already root-relative)")


def _joint_label(v: np.ndarray, joints: str | None = None) -> str:
    if joints:
        return joints
    J = v.shape[-1]
    per_joint = v.reshape(-1, J).all(axis=0)
    return f"all{J}" if per_joint.all() else f"valid ({int(v.reshape(-1, J).any(axis=0).sum())} of {J})"


def _aggregate(err: np.ndarray, w: np.ndarray, acts: np.ndarray | None) -> tuple[float, dict[str, float] | None]:
    """Mean of `err [N, J]` over `w`; with `acts [N]`: mean per action, then mean over actions."""
    if acts is None:
        return float((err * w).sum() / w.sum()), None
    per: dict[str, float] = {}
    for a in sorted(set(acts.tolist()), key=str):
        sel = acts == a
        ws = w[sel].sum()
        if ws > 0:
            per[str(a)] = float((err[sel] * w[sel]).sum() / ws)
    return float(np.mean(list(per.values()))), per


def _per_frame(err: np.ndarray, w: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return (err * w).sum(axis=1) / w.sum(axis=1)  # NaN for a frame with no valid joint


# -- per-joint errors under each protocol ---------------------------------------------------------
def _err_root(p: np.ndarray, g: np.ndarray, v: np.ndarray, root: int | None, where: str) -> np.ndarray:
    _check_root(v, root, where)
    return np.linalg.norm(_root_relative(p, root) - _root_relative(g, root), axis=-1)


def _err_procrustes(p: np.ndarray, g: np.ndarray, v: np.ndarray, where: str) -> np.ndarray:
    """Per-joint error after per-frame similarity alignment on that frame's valid joints."""
    err = np.zeros(v.shape)
    # Frames sharing a validity pattern are aligned together (usually one pattern for the whole set).
    patterns, inverse = np.unique(v, axis=0, return_inverse=True)
    for k, pat in enumerate(patterns):
        idx = np.nonzero(inverse.reshape(-1) == k)[0]
        if pat.sum() == 0:
            continue
        if pat.sum() < 3:
            raise ValueError(f"{where}: a frame has only {int(pat.sum())} valid joints, Procrustes needs >= 3")
        aligned = procrustes_align(p[idx][:, pat], g[idx][:, pat])
        err[np.ix_(idx, np.nonzero(pat)[0])] = np.linalg.norm(aligned - g[idx][:, pat], axis=-1)
    return err


def _err_scale(p: np.ndarray, g: np.ndarray, v: np.ndarray, root: int | None, where: str) -> np.ndarray:
    _check_root(v, root, where)
    pr, gr = _root_relative(p, root), _root_relative(g, root)
    w = v[..., None]
    s = (w * pr * gr).sum(axis=(-2, -1)) / np.maximum((w * pr * pr).sum(axis=(-2, -1)), 1e-12)
    return np.linalg.norm(s[:, None, None] * pr - gr, axis=-1)


_PROTOCOLS = {
    1: ("MPJPE", "#1", "root-relative"),
    2: ("P-MPJPE", "#2", "Procrustes (rotation, scale, translation) per frame"),
    "n": ("N-MPJPE", "N", "root-relative, least-squares scale per frame"),
}


def _protocol_errors(p, g, v, protocol, root, where) -> np.ndarray:
    if protocol == 1:
        return _err_root(p, g, v, root, where)
    if protocol == 2:
        return _err_procrustes(p, g, v, where)
    if protocol == "n":
        return _err_scale(p, g, v, root, where)
    raise ValueError(f"{where}: protocol {protocol!r}, expected 1, 2 or 'n'")


def _position_metric(pred, gt, valid, actions, protocol, root, unit, context, where,
                     breakdown_joints=False, per_frame=False) -> MetricResult:
    lead = _np(pred, "pred").shape[:-2]
    p, g, v = _poses(pred, gt, valid, where)
    acts = _actions(actions, lead, p.shape[0], where)
    err = _protocol_errors(p, g, v, protocol, root, where)
    w = v.astype(np.float64)
    value, per_action = _aggregate(err, w, acts)
    name, proto, alignment = _PROTOCOLS[protocol]
    info = {"metric": name, "protocol": proto, "alignment": _alignment(alignment, root),
            "aggregation": "per action" if acts is not None else "per frame",
            "joints": _joint_label(v), "frames": int(p.shape[0])}
    if protocol != 2:
        info["root"] = root
    info.update(context or {})
    breakdown = per_action
    if breakdown_joints:
        names = H36M17_NAMES if v.shape[1] == NUM_JOINTS else [str(j) for j in range(v.shape[1])]
        wj = w.sum(axis=0)
        breakdown = {n: float((err[:, j] * w[:, j]).sum() / wj[j]) for j, n in enumerate(names) if wj[j] > 0}
        info["breakdown"] = "per joint"
    values = _per_frame(err, w) if per_frame else None
    if per_frame:
        info["breakdown"] = "per frame"
    return MetricResult(name, value, unit, info, breakdown, values)


# -- public metrics ---------------------------------------------------------------------------------
def mpjpe(pred, gt, valid=None, actions=None, root: int | None = ROOT, unit: str = "mm",
          context: dict | None = None) -> MetricResult:
    """Protocol #1. pred, gt `[..., J, 3]`; valid `[J]` or `[..., J]`; actions: one name per frame."""
    return _position_metric(pred, gt, valid, actions, 1, root, unit, context, "mpjpe")


def p_mpjpe(pred, gt, valid=None, actions=None, unit: str = "mm", context: dict | None = None) -> MetricResult:
    """Protocol #2 (Procrustes-aligned per frame, on each frame's valid joints)."""
    return _position_metric(pred, gt, valid, actions, 2, None, unit, context, "p_mpjpe")


def n_mpjpe(pred, gt, valid=None, actions=None, root: int | None = ROOT, unit: str = "mm",
            context: dict | None = None) -> MetricResult:
    """Scale-normalised MPJPE (root-relative, optimal per-frame scale of pred to gt)."""
    return _position_metric(pred, gt, valid, actions, "n", root, unit, context, "n_mpjpe")


def mpjpe_per_joint(pred, gt, valid=None, protocol: int | str = 1, root: int | None = ROOT, unit: str = "mm",
                    context: dict | None = None) -> MetricResult:
    """Error per joint (breakdown keyed by joint name); value = the per-frame aggregate."""
    return _position_metric(pred, gt, valid, None, protocol, root, unit, context, "mpjpe_per_joint",
                            breakdown_joints=True)


def mpjpe_per_frame(pred, gt, valid=None, protocol: int | str = 1, root: int | None = ROOT, unit: str = "mm",
                    context: dict | None = None) -> MetricResult:
    """Error per frame in `values [N]` (N = product of leading axes); value = the per-frame aggregate."""
    return _position_metric(pred, gt, valid, None, protocol, root, unit, context, "mpjpe_per_frame",
                            per_frame=True)


def mpjve(pred, gt, valid=None, actions=None, root: int | None = ROOT, unit: str = "mm/frame",
          context: dict | None = None) -> MetricResult:
    """Mean per-joint velocity error. pred, gt `[T, J, 3]` or `[B, T, J, 3]` (time = axis -3).

    A velocity (t-1 -> t) counts where the joint is valid in both frames; it carries frame t's action.
    """
    where = "mpjve"
    p, g = _np(pred, "pred"), _np(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"{where}: pred has shape {p.shape}, gt has shape {g.shape}; expected equal [B, T, J, 3]")
    if p.ndim not in (3, 4) or p.shape[-1] != 3:
        raise ValueError(f"{where}: pred/gt have shape {p.shape}, expected [T, J, 3] or [B, T, J, 3]")
    squeeze = p.ndim == 3
    lead = p.shape[:-2]
    pf, gf, vf = _poses(p, g, valid, where)  # checks + flattening to [B·T, J, 3]
    B, T, J = (1, lead[0], p.shape[-2]) if squeeze else (lead[0], lead[1], p.shape[-2])
    if T < 2:
        raise ValueError(f"{where}: pred/gt have {T} frame(s), expected at least 2 for velocities")
    _check_root(vf, root, where)
    pr = _root_relative(pf, root).reshape(B, T, J, 3)
    gr = _root_relative(gf, root).reshape(B, T, J, 3)
    v = vf.reshape(B, T, J)
    dv = (pr[:, 1:] - pr[:, :-1]) - (gr[:, 1:] - gr[:, :-1])
    err = np.linalg.norm(dv, axis=-1).reshape(-1, J)
    w = (v[:, 1:] & v[:, :-1]).astype(np.float64).reshape(-1, J)
    if not w.any():
        raise ValueError(f"{where}: no joint is valid in two consecutive frames")
    acts = _actions(actions, lead, B * T, where)
    if acts is not None:
        acts = acts.reshape(B, T)[:, 1:].reshape(-1)
    value, per_action = _aggregate(err, w, acts)
    info = {"metric": "MPJVE", "protocol": "velocity", "alignment": _alignment("root-relative, first differences over time", root),
            "aggregation": "per action" if acts is not None else "per frame",
            "joints": _joint_label(v), "frames": int(B * T), "root": root}
    info.update(context or {})
    return MetricResult("MPJVE", value, unit, info, per_action)


def _pck_errors(pred, gt, joints: str, valid, root: int | None, where: str):
    if joints not in ("all17", "pck14"):
        raise ValueError(f"{where}: joints = {joints!r}, expected 'all17' or 'pck14'")
    lead = _np(pred, "pred").shape[:-2]
    p, g, v = _poses(pred, gt, valid, where)
    if p.shape[1] != NUM_JOINTS:
        raise ValueError(f"{where}: pred/gt have {p.shape[1]} joints, expected {NUM_JOINTS} (MPI-INF-3DHP 17-joint order)")
    err = _err_root(p, g, v, root, where)
    if joints == "pck14":
        sel = np.zeros(NUM_JOINTS, dtype=bool)
        sel[list(MPI3DHP_PCK14)] = True
        v = v & sel
        if not v.any():
            raise ValueError(f"{where}: no valid joint among the 14 PCK joints")
    return err, v, lead


def pck(pred, gt, threshold_mm: float = 150.0, joints: str = "all17", valid=None, actions=None,
        root: int | None = ROOT, context: dict | None = None) -> MetricResult:
    """MPI-INF-3DHP PCK (%): share of root-relative joints with error < `threshold_mm`."""
    err, v, lead = _pck_errors(pred, gt, joints, valid, root, "pck")
    acts = _actions(actions, lead, err.shape[0], "pck")
    value, per_action = _aggregate((err < threshold_mm) * 100.0, v.astype(np.float64), acts)
    info = {"metric": "PCK", "protocol": "MPI-INF-3DHP", "threshold_mm": float(threshold_mm),
            "alignment": _alignment("root-relative", root), "aggregation": "per action" if acts is not None else "per frame",
            "joints": joints, "frames": int(err.shape[0]), "root": root}
    info.update(context or {})
    return MetricResult("PCK", value, "%", info, per_action)


def auc(pred, gt, joints: str = "all17", valid=None, actions=None, thresholds_mm: Sequence[float] | None = None,
        root: int | None = ROOT, context: dict | None = None) -> MetricResult:
    """MPI-INF-3DHP AUC (%): mean PCK over thresholds 0..150 mm in 31 steps (or `thresholds_mm`)."""
    th = AUC_THRESHOLDS_MM if thresholds_mm is None else np.asarray(thresholds_mm, dtype=np.float64)
    err, v, lead = _pck_errors(pred, gt, joints, valid, root, "auc")
    acts = _actions(actions, lead, err.shape[0], "auc")
    # Mean over thresholds of a per-joint indicator = per-joint fraction of thresholds passed.
    score = (err[..., None] < th).mean(axis=-1) * 100.0
    value, per_action = _aggregate(score, v.astype(np.float64), acts)
    info = {"metric": "AUC", "protocol": "MPI-INF-3DHP", "thresholds_mm": f"{th[0]:g}..{th[-1]:g} ({len(th)} steps)",
            "alignment": _alignment("root-relative", root), "aggregation": "per action" if acts is not None else "per frame",
            "joints": joints, "frames": int(err.shape[0]), "root": root}
    info.update(context or {})
    return MetricResult("AUC", value, "%", info, per_action)


def topk_accuracy(scores, targets, k: int = 1, labels: Sequence[str] | None = None,
                  context: dict | None = None) -> MetricResult:
    """Recognition top-k accuracy (%). scores `[N, L]` (higher = better); targets: `[N]` label ids or
    `[N, L]` label weights (the majority label counts; all-zero rows are skipped).

    With `labels`, the breakdown holds per-class accuracy keyed by label name.
    """
    s = _np(scores, "scores")
    if s.ndim != 2:
        raise ValueError(f"topk_accuracy: scores have shape {s.shape}, expected [N, L]")
    if not np.isfinite(s).all():
        raise ValueError("topk_accuracy: scores have NaN/inf values")
    t = _np(targets, "targets")
    if t.ndim == 2:
        if t.shape != s.shape:
            raise ValueError(f"topk_accuracy: targets have shape {t.shape}, scores have shape {s.shape}; expected equal")
        keep = t.sum(axis=1) > 0
        s, t = s[keep], t[keep].argmax(axis=1)
    elif t.ndim == 1:
        if t.shape[0] != s.shape[0]:
            raise ValueError(f"topk_accuracy: targets have shape {t.shape}, scores have shape {s.shape}; expected [N]")
        if ((t < 0) | (t >= s.shape[1]) | (t != np.round(t))).any():
            raise ValueError(f"topk_accuracy: targets must be label ids in 0..{s.shape[1] - 1}")
    else:
        raise ValueError(f"topk_accuracy: targets have shape {t.shape}, expected [N] ids or [N, L] weights")
    if s.shape[0] == 0:
        raise ValueError("topk_accuracy: no labelled clip to score")
    t = t.astype(np.int64)
    kk = min(int(k), s.shape[1])
    # Stable ranking: ties broken by label index so the result does not depend on the sort algorithm.
    top = np.argsort(-s, axis=1, kind="stable")[:, :kk]
    hit = (top == t[:, None]).any(axis=1)
    breakdown = None
    if labels is not None:
        breakdown = {str(labels[c]): float(hit[t == c].mean() * 100.0) for c in np.unique(t)}
    info = {"metric": f"top-{k}", "protocol": "recognition", "aggregation": "per clip", "joints": "n/a",
            "clips": int(s.shape[0]), "labels": int(s.shape[1])}
    info.update(context or {})
    return MetricResult(f"top-{k}", float(hit.mean() * 100.0), "%", info, breakdown)
