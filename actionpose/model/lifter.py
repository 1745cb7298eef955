"""The lifter: DSTformer backbone (with its 3D head) + motion-embedding head.

State-dict keys of the backbone live under `backbone.`; stripping that prefix gives exactly
MotionBERT's key names, so imported weights load with `lifter.backbone.load_state_dict(sd)`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .dstformer import DSTformer, dstformer_from_config

BACKBONE_PREFIX = "backbone."


class MotionEmbeddingHead(nn.Module):
    """rep `[B, T, J, D_rep]` → unit-norm motion embedding `[B, D_text]`.

    Mean over real frames (padding frames are excluded, so a padded clip embeds like the clip), and
    with `pool="mean"` over all joints too (`[B, D_rep]`), with `pool="joints"` not: the joints'
    features are concatenated (`[B, J*D_rep]`). Masked joints are not excluded (the backbone has
    already mixed information across tokens). Then Linear → GELU → Linear, then L2 normalisation —
    in fp32 even under bf16 autocast (a unit vector compared by cosine to fixed text embeddings needs
    the precision).
    """

    def __init__(self, dim_rep: int, hidden: int, dim_text: int, pool: str = "mean", num_joints: int = 17):
        super().__init__()
        if pool not in ("mean", "joints"):
            raise ValueError(f"model.embed_pool = {pool!r}: expected 'mean' or 'joints'")
        self.pool = pool
        self.fc1 = nn.Linear(dim_rep * (num_joints if pool == "joints" else 1), hidden)
        self.fc2 = nn.Linear(hidden, dim_text)

    def forward(self, rep: torch.Tensor, frame_valid: torch.Tensor | None = None) -> torch.Tensor:
        """rep `[B, T, J, D_rep]`, frame_valid `[B, T]` (None = all real) → `[B, D_text]`."""
        with torch.autocast(rep.device.type, enabled=False):
            rep = rep.float()
            # the "mean" expressions are kept as they were so that earlier runs reproduce bit-exactly
            if frame_valid is None:
                pooled = rep.mean(dim=(1, 2)) if self.pool == "mean" else rep.mean(dim=1).flatten(1)
            else:
                w = frame_valid.to(rep.device, torch.float32)  # [B, T]
                per_t = rep.mean(dim=2) if self.pool == "mean" else rep.flatten(2)  # [B, T, D_rep or J*D_rep]
                pooled = (per_t * w[..., None]).sum(1) / w.sum(1, keepdim=True).clamp(min=1.0)
            return F.normalize(self.fc2(F.gelu(self.fc1(pooled))), dim=-1)


class Lifter(nn.Module):
    """`forward(x2d [B, T, 17, 3])` → dict with `y3d [B, T, 17, 3]`, `rep [B, T, 17, D_rep]` and,
    when the model has an embedding head, `motion_emb [B, D_text]` (unit norm)."""

    def __init__(self, backbone: DSTformer, text_dim: int | None = None, embed_hidden: int = 256,
                 init: str = "reference", embed_pool: str = "mean"):
        super().__init__()
        self.backbone = backbone
        self.motion_head = None
        if text_dim is not None:
            if not isinstance(text_dim, int) or text_dim <= 0:
                raise ValueError(f"Lifter text_dim = {text_dim!r}: expected a positive integer or None")
            if not isinstance(embed_hidden, int) or embed_hidden <= 0:
                raise ValueError(f"model.embed_hidden = {embed_hidden!r}: expected a positive integer")
            self.motion_head = MotionEmbeddingHead(backbone.dim_rep, embed_hidden, text_dim, embed_pool,
                                                   backbone.num_joints)
            if init == "reference":  # same recipe as the backbone's Linear layers
                for m in self.motion_head.modules():
                    if isinstance(m, nn.Linear):
                        nn.init.trunc_normal_(m.weight, std=0.02)
                        nn.init.zeros_(m.bias)
        self.text_dim = text_dim

    def forward(self, x2d: torch.Tensor, frame_valid: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """x2d `[B, T, 17, 3]`; frame_valid `[B, T]` marks real frames of padded clips (None: all real)."""
        y3d, rep = self.backbone(x2d, return_rep=True, frame_valid=frame_valid)
        out = {"y3d": y3d, "rep": rep}
        if self.motion_head is not None:
            out["motion_emb"] = self.motion_head(rep, frame_valid)
        return out

    def get_representation(self, x2d: torch.Tensor) -> torch.Tensor:
        """x2d `[B, T, 17, 3]` → rep `[B, T, 17, D_rep]` (skips the heads)."""
        return self.backbone.get_representation(x2d)

    def backbone_state_dict(self) -> dict[str, torch.Tensor]:
        """The backbone's weights under MotionBERT's key names."""
        return self.backbone.state_dict()


def build_lifter(model_cfg, text_dim: int | None = None) -> Lifter:
    """Build a `Lifter` from a `ModelConfig`; `model_cfg.compile` compiles the backbone in place
    (`nn.Module.compile`, so parameter names keep no `_orig_mod.` prefix)."""
    backbone = dstformer_from_config(model_cfg)
    lifter = Lifter(backbone, text_dim, model_cfg.embed_hidden, model_cfg.init, model_cfg.embed_pool)
    if model_cfg.compile:
        lifter.backbone.compile()
    return lifter


def count_parameters(model: nn.Module, backbone_only: bool = True) -> int:
    """Number of parameters (of the backbone only, by default, as papers report)."""
    if backbone_only and isinstance(model, Lifter):
        model = model.backbone
    return sum(p.numel() for p in model.parameters())
