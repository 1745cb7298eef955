"""Validation over fixed windows (3D error and action recognition) and the padding mask of a batch.

The training loss itself is `losses.total_loss` (one composition for both stages)."""
from __future__ import annotations

import numpy as np
import torch

from ..data.dataset import LiftingWindows


def joint_frame_mask(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """`[B, T, J]` 1 where a frame is real (not padding) and the joint exists in the source."""
    return batch["frame_valid"][:, :, None] * batch["joint_valid"][:, None, :]


def padding_mask(batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
    """`frame_valid [B, T]` when some window of the batch is padded, else None (the unmasked,
    reference attention path). Decided on the CPU batch, before it moves to the device."""
    fv = batch["frame_valid"]
    return fv if bool((fv < 1).any()) else None


@torch.no_grad()
def predict_windows(bundle, x2d: torch.Tensor, device, frame_valid: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    bundle.net.eval()
    return bundle.net(x2d.to(device), None if frame_valid is None else frame_valid.to(device))


@torch.no_grad()
def evaluate_windows(bundle, ds: LiftingWindows, device, batch_size: int = 32) -> dict:
    """MPJPE (mm, root-relative, protocol #1 on the validation windows) and recognition top-1/5
    (over the vocabulary's sentences) plus `content_top1` (the predicted sentence's action equals the
    true one: for a content+style vocabulary, recognition of the action whatever its style)."""
    err_sum, err_n = 0.0, 0.0
    hits1 = hits5 = hits_c = n_lab = 0
    was_training = bundle.net.training
    bundle.net.eval()
    for lo in range(0, len(ds), batch_size):
        items = [ds[i] for i in range(lo, min(lo + batch_size, len(ds)))]
        batch = {k: torch.as_tensor(np.stack([it[k] for it in items])) for k in items[0]}
        fv = padding_mask(batch)
        out = bundle.net(batch["x2d"].to(device), None if fv is None else fv.to(device))
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
            cidx = torch.as_tensor(bundle.vocab.content_index)
            hits_c += int(((cidx[top[:, 0]] == cidx[truth]) & has).sum())
            n_lab += int(has.sum())
    if was_training:
        bundle.net.train()
    res = {"mpjpe_mm": err_sum / max(err_n, 1.0), "windows": len(ds)}
    if n_lab:
        res.update(top1=hits1 / n_lab, top5=hits5 / n_lab, content_top1=hits_c / n_lab, labelled_windows=n_lab,
                   chance_top1=1.0 / len(bundle.vocab.keys), chance_content_top1=1.0 / len(bundle.vocab.contents))
    return res
