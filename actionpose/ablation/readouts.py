"""The powered ablation's readouts (issue 23), each kept per test take as (sum, count) so the report
can average per action or per frame and bootstrap over takes.

    probe          (a) closed-form ridge probe from the frozen pretrained representation to 3D: per
                       joint, rep [D_rep] -> the 3D head's target (the model's own head family, fitted
                       in closed form instead of by fine-tuning); MPJPE (mm) on the test views
    low_data       (b) MPJPE (mm) of the model fine-tuned on the low-data set, clean test views
    masked_limb    (c) MPJPE (mm) on the joints of one limb hidden in every frame (left arm, right arm,
                       left leg, right leg in rotation over take x view)
    masked_window  (c) MPJPE (mm) on the frames hidden `window_s` in every `period_s` (all joints)
    depth_sign     (d) % of joints >= `min_offset_mm` in front of / behind the root's depth plane whose
                       predicted depth has the right sign (a depth-0 prediction counts as wrong)
    recognition    (e) action top-1 (%) of held-out pretraining windows, the model's own vocabulary
    zero_shot      (e) action top-1 (%) of windows of actions never in pretraining, among every
                       action's text (generalised) and among the unseen actions only; text space only
    retrieval      (f) text -> motion: one query per full label of the held-out takes, the takes
                       ranked by cosine; rank of the first take with that label; recall@1/5/10, median

Every number goes through the project's one MPJPE (`metrics.mpjpe`, on root-relative poses), masks
(`masking`), sequence prediction (`model.sequence.predict_sequence`), label vocabulary
(`text.vocab.LabelVocab`), text cache and dataset-wide retrieval (`embeddings.rank_windows`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import comb

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import metrics as M
from ..data.dataset import LiftingWindows, make_sample, sequence_views
from ..data.motion import Motion
from ..data.synthesis import Sample
from ..masking import hide_keypoints, part_hidden, periodic_window_hidden
from ..model.sequence import predict_sequence
from .powered_data import action_of

LIMBS = ("left_arm", "right_arm", "left_leg", "right_leg")
VIEW_READOUTS = ("mpjpe", "masked_limb", "masked_window", "depth_sign")
Predictor = Callable[[np.ndarray], np.ndarray]  # x2d [T, 17, 3] -> y3d [T, 17, 3], lifter units
PerTake = dict[str, list[float]]  # take -> [sum, count]


@dataclass
class HeldOutView:
    """One test take seen by one camera: `sample` (x2d / y3d / mm_per_unit), `valid [T, 17]`."""

    take: str
    action: str
    take_index: int
    view: str
    view_index: int
    sample: Sample
    valid: np.ndarray


def heldout_views(test: list[Motion], cfg) -> list[HeldOutView]:
    """Every view of every test take, as `evaluate` scores them (`sequence_views` + `make_sample`)."""
    out = []
    for i, m in enumerate(test):
        for vi, (view, kp_cam) in enumerate(sequence_views(m, cfg)):
            s = make_sample(m, view, kp_cam)
            s.x2d[s.x2d[..., 2] <= 0] = 0.0
            out.append(HeldOutView(m.name, action_of(m), i, view.camera.name, vi, s,
                                np.broadcast_to(m.joint_valid, s.y3d.shape[:2]).copy()))
    return out


def model_predictor(net: nn.Module, maxlen: int, device: str = "cpu", batch: int = 8) -> Predictor:
    return lambda x2d: predict_sequence(net, x2d, maxlen, device=device, windows_per_batch=batch).y3d


def _add(acc: PerTake, take: str, value_sum: float, count: float) -> None:
    cur = acc.setdefault(take, [0.0, 0.0])
    cur[0] += float(value_sum)
    cur[1] += float(count)


def _mpjpe_sum(pred_mm: np.ndarray, gt_mm: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """(sum of joint errors, number of joints) over `w [T, 17]` via `metrics.mpjpe` (poses root-relative)."""
    n = float(w.sum())
    if n == 0:
        return 0.0, 0.0
    return M.mpjpe(pred_mm, gt_mm, w, root=None).value * n, n


def view_readouts(predict: Predictor, views: list[HeldOutView], which: tuple[str, ...], fps: float,
                  params: dict | None = None) -> dict[str, PerTake]:
    """The per-take (sum, count) of each readout in `which` (a subset of `VIEW_READOUTS`):
    mpjpe (clean input), masked_limb, masked_window, depth_sign; `params`: the design's readout params."""
    params = params or {}
    out: dict[str, PerTake] = {k: {} for k in which}
    win = params.get("masked_window", {})
    window = max(1, int(round(float(win.get("window_s", 1.0)) * fps)))
    period = max(window + 1, int(round(float(win.get("period_s", 3.0)) * fps)))
    min_off = float(params.get("depth_sign", {}).get("min_offset_mm", 150.0))

    def run(x2d: np.ndarray, mm: np.ndarray) -> np.ndarray:
        y = np.asarray(predict(x2d), dtype=np.float64)
        return (y - y[:, :1]) * mm

    for v in views:
        mm = v.sample.mm_per_unit[:, None, None].astype(np.float64)
        gt = v.sample.y3d.astype(np.float64) * mm
        T = gt.shape[0]
        if "mpjpe" in which or "depth_sign" in which:
            pred = run(v.sample.x2d, mm)
            if "mpjpe" in which:
                _add(out["mpjpe"], v.take, *_mpjpe_sum(pred, gt, v.valid))
            if "depth_sign" in which:
                dz_gt, dz = gt[..., 2] - gt[:, :1, 2], pred[..., 2] - pred[:, :1, 2]
                far = v.valid & (np.abs(dz_gt) >= min_off)
                _add(out["depth_sign"], v.take, 100.0 * (far & (np.sign(dz) == np.sign(dz_gt))).sum(), far.sum())
        if "masked_limb" in which:
            hidden = part_hidden(T, LIMBS[(v.take_index + v.view_index) % len(LIMBS)])
            pred = run(hide_keypoints(v.sample.x2d, hidden), mm)
            _add(out["masked_limb"], v.take, *_mpjpe_sum(pred, gt, hidden & v.valid))
        if "masked_window" in which:
            hidden = periodic_window_hidden(T, window, period)
            pred = run(hide_keypoints(v.sample.x2d, hidden), mm)
            _add(out["masked_window"], v.take, *_mpjpe_sum(pred, gt, hidden & v.valid))
    return out


# ------------------------------------------------------------------------------------ (a) the probe

class RidgeProbe(nn.Module):
    """A frozen lifter's representation read by per-joint linear maps: `x2d [B, T, 17, 3]` ->
    `{"y3d": [B, T, 17, 3]}`. The maps (`weight [J, D_rep, 3]`, `bias [J, 3]`) replace the 3D head;
    input encoding, flat-lift residual and clip scale are the lifter's own (`Lifter.forward`)."""

    def __init__(self, lifter: nn.Module, weight: torch.Tensor, bias: torch.Tensor):
        super().__init__()
        self.lifter = lifter
        self.register_buffer("weight", weight.float())
        self.register_buffer("bias", bias.float())

    def head_input(self, x2d: torch.Tensor, frame_valid: torch.Tensor | None = None):
        """(rep `[B, T, J, D]`, encoded input `[B, T, J, 3]`, scale `[B, 1, 1, 1]` or None)."""
        x_in, scale = self.lifter.encode_input(x2d, frame_valid, return_scale=True)
        _, rep = self.lifter.backbone(x_in, return_rep=True, frame_valid=frame_valid)
        return rep.float(), x_in, scale

    def forward(self, x2d: torch.Tensor, frame_valid: torch.Tensor | None = None) -> dict:
        rep, x_in, scale = self.head_input(x2d, frame_valid)
        y = torch.einsum("btjd,jdc->btjc", rep, self.weight) + self.bias
        if self.lifter.lift_residual:
            y = y + F.pad(x_in[..., :2].float(), (0, 1))
        return {"y3d": y if scale is None else y * scale.float()}


@torch.no_grad()
def fit_ridge_probe(lifter: nn.Module, fit_motions: list[Motion], cfg, *, alpha: float, windows: int,
                    frames_per_window: int, seed: int, batch: int = 16) -> tuple[RidgeProbe, dict]:
    """Fit `RidgeProbe` in closed form on `LiftingWindows(fit_motions, train=True, noise off)` (training-like
    cameras, clean 2D, `windows` windows evenly spread, `frames_per_window` evenly spaced frames each):
    per joint, centred features, W = (C_xx + alpha · tr(C_xx)/D · I)^-1 C_xy, b = mean_y − mean_x W.
    The target is what the 3D head outputs: the 3D in the encoded input's units minus the flat lift."""
    lifter.eval()
    ds = LiftingWindows(fit_motions, cfg, train=True, seed=seed, noise=False, max_windows=windows)
    J, D = cfg.model.num_joints, cfg.model.dim_rep
    n = np.zeros(J)
    sx, sy = np.zeros((J, D)), np.zeros((J, 3))
    sxx, sxy = np.zeros((J, D, D)), np.zeros((J, D, 3))
    probe = RidgeProbe(lifter, torch.zeros(J, D, 3), torch.zeros(J, 3))
    T = cfg.model.maxlen
    pick = np.unique(np.linspace(0, T - 1, frames_per_window).round().astype(int))
    for lo in range(0, len(ds), batch):
        items = [ds[i] for i in range(lo, min(lo + batch, len(ds)))]
        x = torch.from_numpy(np.stack([it["x2d"] for it in items]))
        y = torch.from_numpy(np.stack([it["y3d"] for it in items])).double()
        fv = torch.from_numpy(np.stack([it["frame_valid"] for it in items]))
        rep, x_in, scale = probe.head_input(x, fv)
        target = y / (1.0 if scale is None else scale.double())
        if lifter.lift_residual:
            target = target - F.pad(x_in[..., :2].double(), (0, 1))
        jv = torch.from_numpy(np.stack([it["joint_valid"] for it in items])) > 0  # [B, J]
        keep = (fv[:, pick] > 0)[:, :, None] & jv[:, None, :]  # [B, P, J]
        r = rep[:, pick].double().numpy()
        t = target[:, pick].numpy()
        k = keep.numpy()
        for j in range(J):
            xj, yj = r[:, :, j][k[:, :, j]], t[:, :, j][k[:, :, j]]
            n[j] += len(xj)
            sx[j] += xj.sum(0)
            sy[j] += yj.sum(0)
            sxx[j] += xj.T @ xj
            sxy[j] += xj.T @ yj
    weight, bias = np.zeros((J, D, 3)), np.zeros((J, 3))
    for j in range(J):
        if n[j] < 2:
            continue
        mx, my = sx[j] / n[j], sy[j] / n[j]
        cxx = sxx[j] / n[j] - np.outer(mx, mx)
        cxy = sxy[j] / n[j] - np.outer(mx, my)
        lam = alpha * max(np.trace(cxx) / D, 1e-12)
        weight[j] = np.linalg.solve(cxx + lam * np.eye(D), cxy)
        bias[j] = my - mx @ weight[j]
    probe.weight.copy_(torch.from_numpy(weight))
    probe.bias.copy_(torch.from_numpy(bias))
    info = {"windows": len(ds), "frames_per_window": len(pick), "tokens_per_joint": int(n.min()),
            "ridge_alpha": alpha, "fit_takes": len(fit_motions)}
    return probe.eval(), info


# ------------------------------------------------------------------------ (e), (f) embedding readouts

def take_windows(bundle, cfg, motions: list[Motion], device: str = "cpu", batch: int = 8) -> list[dict]:
    """Per take, through its first fixed evaluation camera: window embeddings `[W, D]` and logits `[W, L]`."""
    out = []
    for m in motions:
        view, kp_cam = sequence_views(m, cfg)[0]
        s = make_sample(m, view, kp_cam)
        p = predict_sequence(bundle.net, s.x2d, cfg.model.maxlen, device=device, windows_per_batch=batch)
        out.append({"take": m.name, "action": action_of(m), "label": m.labels[0] if m.labels else "",
                    "emb": p.motion_emb, "logits": p.logits})
    return out


def recognition(bundle, windows: list[dict]) -> PerTake:
    """Action top-1 (%) per take: each window's top sentence (the model's own vocabulary and scores:
    cosine to the label texts, or the one-hot classifier) against the take's action."""
    acc: PerTake = {}
    for w in windows:
        if w["logits"] is None:
            continue
        pred = np.asarray(bundle.vocab.contents)[bundle.vocab.content_scores(w["logits"]).argmax(axis=1)]
        _add(acc, w["take"], 100.0 * (pred == w["action"]).sum(), len(pred))
    return acc


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def zero_shot(bundle, cfg, windows: list[dict], unseen: list[str]) -> dict[str, PerTake]:
    """Top-1 (%) per zero-shot take over every action's sentences (each action in every style of the
    model's vocabulary; an action scores its best sentence) -> {"generalised": ..., "unseen_only": ...}."""
    from ..text.cache import embed_texts
    from ..text.templates import style_of
    from ..text.vocab import LabelVocab
    styles = sorted({style_of(k) for k in bundle.vocab.keys if style_of(k)}) or [None]
    actions = sorted(set(bundle.vocab.contents) | set(unseen))
    labels = [a if s is None else f"{a}|{s}" for a in actions for s in styles]
    cand = LabelVocab.build(labels, "full", cfg.text, mirrors=False)
    text = _unit(embed_texts(list(cand.sentences), cfg.text))
    names = np.asarray(cand.contents)
    only = np.array([c in unseen for c in cand.contents])
    out: dict[str, PerTake] = {"generalised": {}, "unseen_only": {}}
    for w in windows:
        scores = cand.content_scores(_unit(w["emb"]) @ text.T)
        top_all = names[scores.argmax(axis=1)]
        top_unseen = names[only][scores[:, only].argmax(axis=1)]
        _add(out["generalised"], w["take"], 100.0 * (top_all == w["action"]).sum(), len(top_all))
        _add(out["unseen_only"], w["take"], 100.0 * (top_unseen == w["action"]).sum(), len(top_unseen))
    out["chance_pct"] = {"generalised": 100.0 / len(actions), "unseen_only": 100.0 / max(1, len(unseen))}
    return out


def retrieval(cfg, windows: list[dict]) -> dict:
    """Text -> motion over the held-out takes (module doc): recall@1/5/10 (%), median rank, the chance
    recall@k of a random ranking (hypergeometric), number of queries and takes."""
    from ..embeddings import EmbeddingSet, rank_windows
    from ..text.cache import embed_texts
    from ..text.templates import label_to_sentence
    rows = [w for w in windows if w["label"] and w["emb"] is not None]
    emb = _unit(np.stack([_unit(w["emb"]).mean(axis=0) for w in rows])).astype(np.float32)
    keys = np.array([w["label"] for w in rows])
    queries = sorted(set(keys.tolist()))
    sentences = [label_to_sentence(q, cfg.text, "full") for q in queries]
    q_emb = embed_texts(sentences, cfg.text).astype(np.float32)
    es = EmbeddingSet(emb, keys, np.array([w["take"] for w in rows]), q_emb, np.array(queries), np.array(sentences))
    order, _ = rank_windows(es, q_emb)
    ranks, chance = [], {k: [] for k in (1, 5, 10)}
    K = len(rows)
    for qi, q in enumerate(queries):
        rel = keys[order[qi]] == q
        ranks.append(int(np.argmax(rel)) + 1)
        r = int(rel.sum())
        for k in chance:
            chance[k].append(1.0 - (comb(K - r, min(k, K)) / comb(K, min(k, K))))
    ranks_a = np.array(ranks)
    return {"recall_at_1_pct": 100.0 * float((ranks_a <= 1).mean()), "recall_at_5_pct": 100.0 * float((ranks_a <= 5).mean()),
            "recall_at_10_pct": 100.0 * float((ranks_a <= 10).mean()), "median_rank": float(np.median(ranks_a)),
            "chance_recall_pct": {f"at_{k}": 100.0 * float(np.mean(v)) for k, v in chance.items()},
            "queries": len(queries), "takes": K}
