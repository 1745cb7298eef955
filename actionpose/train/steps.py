"""One training step's loss and a validation pass over fixed windows."""
from __future__ import annotations

import numpy as np
import torch

from ..config import RunConfig
from ..data.dataset import LiftingWindows
from .. import losses as L


def joint_frame_mask(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """`[B, T, J]` 1 where a frame is real (not padding) and the joint exists in the source."""
    return batch["frame_valid"][:, :, None] * batch["joint_valid"][:, None, :]


def compute_losses(out: dict, batch: dict, cfg: RunConfig, bundle, stage: str) -> tuple[torch.Tensor, dict]:
    """L = w_mpjpe·MPJPE + w_n·N-MPJPE + w_vel·velocity (+ w_align·alignment when pretraining)."""
    pred = out["y3d"].float()
    gt = batch["y3d"]
    mask = joint_frame_mask(batch)
    parts = {
        "mpjpe": L.mpjpe_loss(pred, gt, mask),
        "n_mpjpe": L.n_mpjpe_loss(pred, gt, mask),
        "velocity": L.velocity_loss(pred, gt, mask),
    }
    lc = cfg.loss
    loss = lc.w_mpjpe * parts["mpjpe"] + lc.w_nmpjpe * parts["n_mpjpe"] + lc.w_velocity * parts["velocity"]
    if stage == "pretrain" and cfg.align.enabled and "motion_emb" in out and "label_weights" in batch:
        parts["align"] = bundle.aligner.loss(out["motion_emb"].float(), batch["label_weights"])
        loss = loss + lc.w_align * parts["align"]
    return loss, {k: v.detach() for k, v in parts.items()}


@torch.no_grad()
def predict_windows(bundle, x2d: torch.Tensor, device) -> dict[str, torch.Tensor]:
    bundle.net.eval()
    return bundle.net(x2d.to(device))


@torch.no_grad()
def evaluate_windows(bundle, ds: LiftingWindows, device, batch_size: int = 32) -> dict:
    """MPJPE (mm, root-relative, protocol #1 on the validation windows) and recognition top-1/5."""
    err_sum, err_n = 0.0, 0.0
    hits1 = hits5 = n_lab = 0
    was_training = bundle.net.training
    bundle.net.eval()
    for lo in range(0, len(ds), batch_size):
        items = [ds[i] for i in range(lo, min(lo + batch_size, len(ds)))]
        batch = {k: torch.as_tensor(np.stack([it[k] for it in items])) for k in items[0]}
        out = bundle.net(batch["x2d"].to(device))
        pred = out["y3d"].float().cpu()
        pred = pred - pred[:, :, :1]
        scale = batch["mm_per_unit"][:, :, None]
        err = torch.linalg.norm((pred - batch["y3d"]) * scale[..., None], dim=-1)  # [B, T, J] mm
        mask = joint_frame_mask(batch)
        err_sum += float((err * mask).sum())
        err_n += float(mask.sum())
        if "logits" in out and "label_weights" in batch:
            has = batch["has_label"] > 0
            truth = batch["label_weights"].argmax(-1)
            top = out["logits"].float().cpu().topk(min(5, out["logits"].shape[-1]), dim=-1).indices
            hits1 += int(((top[:, 0] == truth) & has).sum())
            hits5 += int(((top == truth[:, None]).any(-1) & has).sum())
            n_lab += int(has.sum())
    if was_training:
        bundle.net.train()
    res = {"mpjpe_mm": err_sum / max(err_n, 1.0), "windows": len(ds)}
    if n_lab:
        res.update(top1=hits1 / n_lab, top5=hits5 / n_lab, labelled_windows=n_lab,
                   chance_top1=1.0 / len(bundle.vocab.keys))
    return res
