"""Training losses (torch). Metrics for reporting live in `metrics.py`, not here.

Poses are root-relative 3D `[B, T, J, 3]` in the lifter's normalised units. Every loss takes an
optional `weights` tensor broadcastable to `[B, T, J]` (`[J]` joint weights, `[B, T, J]` validity,
or a product of both): invalid joints and padded frames get weight 0 and drop out of the mean.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch

from .config import LossConfig

if TYPE_CHECKING:
    from .model.aligner import Aligner


def _check_pair(pred: torch.Tensor, gt: torch.Tensor, where: str) -> None:
    if pred.shape != gt.shape:
        raise ValueError(f"{where}: pred has shape {tuple(pred.shape)}, gt has shape {tuple(gt.shape)}; "
                         "expected equal [B, T, J, 3]")
    if pred.ndim != 4 or pred.shape[-1] != 3:
        raise ValueError(f"{where}: pred/gt have shape {tuple(pred.shape)}, expected [B, T, J, 3]")


def _weights(pred: torch.Tensor, weights: torch.Tensor | None, where: str) -> torch.Tensor:
    """Weights as `[B, T, J]` float on pred's device."""
    B, T, J, _ = pred.shape
    if weights is None:
        return pred.new_ones(B, T, J)
    w = torch.as_tensor(weights, device=pred.device).to(pred.dtype)
    if w.ndim not in (1, 3):
        raise ValueError(f"{where}: weights have shape {tuple(w.shape)}, expected [J] = [{J}] or "
                         f"[B, T, J] = [{B}, {T}, {J}]")
    try:
        return torch.broadcast_to(w, (B, T, J))
    except RuntimeError:
        raise ValueError(f"{where}: weights of shape {tuple(w.shape)} do not fit pred of shape "
                         f"{tuple(pred.shape)}; expected [J] or [B, T, J]") from None


def _weighted_mean(err: torch.Tensor, w: torch.Tensor, where: str) -> torch.Tensor:
    denom = w.sum()
    # A batch with nothing valid is a data bug (e.g. all-padding windows), not a zero loss. Checking
    # it is free on the CPU; on an accelerator it would stall the step on a host sync, so there the
    # training input pipeline refuses such batches before they reach the device
    # (train.data.check_batch_weights) and the clamp only keeps the division finite.
    if denom.device.type == "cpu" and not bool(denom > 0):
        raise ValueError(f"{where}: every joint is invalid (weights sum to 0), expected some valid joints")
    return (err * w).sum() / denom.clamp(min=torch.finfo(denom.dtype).tiny)


def mpjpe_loss(pred: torch.Tensor, gt: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean per-joint position error: weighted mean of ‖pred − gt‖₂ over `[B, T, J]`."""
    _check_pair(pred, gt, "mpjpe_loss")
    w = _weights(pred, weights, "mpjpe_loss")
    return _weighted_mean(torch.linalg.vector_norm(pred - gt, dim=-1), w, "mpjpe_loss")


def optimal_scale(pred: torch.Tensor, gt: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Per-frame least-squares scale s minimising Σ_j w‖s·pred − gt‖²: `[B, T, 1, 1]`."""
    num = (w[..., None] * pred * gt).sum(dim=(-2, -1))
    den = (w[..., None] * pred * pred).sum(dim=(-2, -1)).clamp(min=1e-8)
    return (num / den)[..., None, None]


def n_mpjpe_loss(pred: torch.Tensor, gt: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Scale-normalised MPJPE: MPJPE after scaling pred per frame by its optimal scale to gt.

    Makes the loss blind to the global size of the prediction (the part 2D cannot determine).
    """
    _check_pair(pred, gt, "n_mpjpe_loss")
    w = _weights(pred, weights, "n_mpjpe_loss")
    scaled = optimal_scale(pred, gt, w) * pred
    return _weighted_mean(torch.linalg.vector_norm(scaled - gt, dim=-1), w, "n_mpjpe_loss")


def velocity_loss(pred: torch.Tensor, gt: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted mean of ‖Δpred − Δgt‖₂ with Δ the first difference over T (0 when T < 2).

    A velocity counts only where both of its frames are valid (weights multiplied).
    """
    _check_pair(pred, gt, "velocity_loss")
    w = _weights(pred, weights, "velocity_loss")
    if pred.shape[1] < 2:
        return pred.sum() * 0.0  # no velocity in a single frame; keep the graph for DDP
    dv = (pred[:, 1:] - pred[:, :-1]) - (gt[:, 1:] - gt[:, :-1])
    wv = w[:, 1:] * w[:, :-1]
    return _weighted_mean(torch.linalg.vector_norm(dv, dim=-1), wv, "velocity_loss")


def align_loss(motion_emb: torch.Tensor, label_weights: torch.Tensor, aligner: Aligner) -> torch.Tensor:
    """Alignment InfoNCE over the label vocabulary (see model.aligner.Aligner.loss)."""
    return aligner.loss(motion_emb, label_weights)


def distill_loss(student_emb: torch.Tensor, teacher_emb: torch.Tensor) -> torch.Tensor:
    """Mean over clips of `1 - cos(student, teacher)`: `[B, D]` embeddings, 0 when they point alike."""
    if student_emb.shape != teacher_emb.shape or student_emb.ndim != 2:
        raise ValueError(f"distill_loss: student {tuple(student_emb.shape)} and teacher {tuple(teacher_emb.shape)} "
                         "embeddings: expected equal [B, D]")
    cos = torch.nn.functional.cosine_similarity(student_emb.float(), teacher_emb.float().to(student_emb.device), dim=-1)
    return (1.0 - cos).mean()


def batch_weights(batch: Mapping[str, torch.Tensor], pred: torch.Tensor) -> torch.Tensor | None:
    """`[B, T, J]` validity from a data batch's `frame_valid [B, T]` and `joint_valid [B, J]` or `[J]`."""
    w = None
    if batch.get("frame_valid") is not None:
        fv = torch.as_tensor(batch["frame_valid"], device=pred.device).to(pred.dtype)
        if fv.shape != pred.shape[:2]:
            raise ValueError(f"batch['frame_valid'] has shape {tuple(fv.shape)}, expected [B, T] = "
                             f"{list(pred.shape[:2])}")
        w = fv[:, :, None].expand(pred.shape[:3])
    if batch.get("joint_valid") is not None:
        jv = torch.as_tensor(batch["joint_valid"], device=pred.device).to(pred.dtype)
        if jv.shape not in ((pred.shape[2],), (pred.shape[0], pred.shape[2])):
            raise ValueError(f"batch['joint_valid'] has shape {tuple(jv.shape)}, expected [J] or [B, J] = "
                             f"{[pred.shape[0], pred.shape[2]]}")
        jv = jv[None, None, :] if jv.ndim == 1 else jv[:, None, :]
        w = jv.expand(pred.shape[:3]) if w is None else w * jv
    return w


def total_loss(out: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor], cfg: LossConfig,
               aligner: Aligner | None = None, teacher_emb: torch.Tensor | None = None,
               terms_out: dict[str, torch.Tensor] | None = None,
               ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The training loss, the one composition both stages use:
    `L = w_mpjpe·MPJPE + w_nmpjpe·N-MPJPE + w_velocity·velocity + w_align·align + w_distill·distill`.

    out:   `y3d [B, T, J, 3]` (prediction), `motion_emb [B, D]` (needed when aligning or distilling).
    batch: `y3d [B, T, J, 3]` (target), optional `frame_valid [B, T]`, `joint_valid [B, J]`,
           `label_weights [B, L]` (needed when aligning).
    The align term is on when `aligner` is given and `cfg.w_align > 0` (pretraining); the distill
    term when `teacher_emb [B, D]` is given and `cfg.w_distill > 0` (fine-tuning). Terms with weight
    0 are not computed. Everything is computed in fp32, whatever precision the model ran in.
    Returns `(loss, parts)`: parts are detached unweighted terms plus "total". `terms_out`, when given,
    receives each *weighted* term with its graph (the training log's per-term gradient diagnostics).
    """
    for key, src, name in (("y3d", out, "out"), ("y3d", batch, "batch")):
        if key not in src:
            raise KeyError(f"total_loss: {name} has no {key!r} (keys: {', '.join(src)})")
    pred, gt = out["y3d"].float(), batch["y3d"].to(out["y3d"].device).float()
    _check_pair(pred, gt, "total_loss")
    w = batch_weights(batch, pred)
    terms: dict[str, tuple[float, torch.Tensor]] = {}
    if cfg.w_mpjpe:
        terms["mpjpe"] = (cfg.w_mpjpe, mpjpe_loss(pred, gt, w))
    if cfg.w_nmpjpe:
        terms["n_mpjpe"] = (cfg.w_nmpjpe, n_mpjpe_loss(pred, gt, w))
    if cfg.w_velocity:
        terms["velocity"] = (cfg.w_velocity, velocity_loss(pred, gt, w))
    if aligner is not None and cfg.w_align:
        if "motion_emb" not in out:
            raise KeyError("total_loss: alignment is on but out has no 'motion_emb' [B, D]")
        if "label_weights" not in batch:
            raise KeyError("total_loss: alignment is on but batch has no 'label_weights' [B, L]")
        lw = batch["label_weights"].to(pred.device)
        terms["align"] = (cfg.w_align, align_loss(out["motion_emb"].float(), lw, aligner))
    if teacher_emb is not None and cfg.w_distill:
        if "motion_emb" not in out:
            raise KeyError("total_loss: distillation is on but out has no 'motion_emb' [B, D] (a model without an embedding head?)")
        terms["distill"] = (cfg.w_distill, distill_loss(out["motion_emb"], teacher_emb))
    if not terms:
        raise ValueError("total_loss: every loss weight is 0, expected at least one active term")
    loss = sum(wt * v for wt, v in terms.values())
    if terms_out is not None:
        terms_out.update({k: wt * v for k, (wt, v) in terms.items()})
    parts = {k: v.detach() for k, (_, v) in terms.items()}
    parts["total"] = loss.detach()
    return loss, parts
