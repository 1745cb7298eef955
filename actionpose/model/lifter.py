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

# H36M-17 indices (skeleton.H36M17_NAMES): pelvis, right hip, left hip, thorax.
_PELVIS, _RHIP, _LHIP, _THORAX = 0, 1, 4, 8
# The heading features of `embed_pool="joints_delta_heading"` (`heading_features`).
HEADING_FEATURES = 4


def centre_input(x2d: torch.Tensor) -> torch.Tensor:
    """Each frame's 2D relative to its pelvis: `[B, T, J, 3]` → `[B, T, J, 3]` (confidence kept).

    The centre is the pelvis when it is visible (confidence > 0), else the midpoint of two visible
    hips, else the mean of the visible joints (a body-part mask may hide the pelvis). Masked joints
    (x = y = conf = 0) stay exactly 0, so the masking convention is unchanged. The root-relative 3D
    target depends on the person's pose, not on where the person stands in the image: this makes the
    lifter translation-invariant by construction instead of by augmentation.
    """
    xy, conf = x2d[..., :2], x2d[..., 2:3]
    vis = (conf > 0).to(xy.dtype)  # [B, T, J, 1]
    mean = (xy * vis).sum(-2) / vis.sum(-2).clamp(min=1.0)  # [B, T, 2]
    hips_vis = vis[..., _RHIP, :] * vis[..., _LHIP, :]  # [B, T, 1]
    hips = 0.5 * (xy[..., _RHIP, :] + xy[..., _LHIP, :])
    centre = torch.where(hips_vis > 0, hips, mean)
    centre = torch.where(vis[..., _PELVIS, :] > 0, xy[..., _PELVIS, :], centre)
    return torch.cat([(xy - centre[..., None, :]) * vis, conf], dim=-1)


def clip_scale(x2d_centred: torch.Tensor, frame_valid: torch.Tensor | None = None) -> torch.Tensor:
    """The 2D size of each clip: RMS distance of the visible joints from their frame's centre over the
    clip's real frames, `[B, T, J, 3]` (centred, `centre_input`) → `[B, 1, 1, 1]` (floored at 1e-3).
    One number per clip, so a person who crouches within the clip still gets smaller."""
    vis = (x2d_centred[..., 2:3] > 0).to(x2d_centred.dtype)  # [B, T, J, 1]
    if frame_valid is not None:
        vis = vis * frame_valid.to(vis.dtype)[:, :, None, None]
    sq = (x2d_centred[..., :2].square().sum(-1, keepdim=True) * vis).sum(dim=(1, 2, 3), keepdim=True)
    return (sq / vis.sum(dim=(1, 2, 3), keepdim=True).clamp(min=1.0)).sqrt().clamp(min=1e-3)


class MotionEmbeddingHead(nn.Module):
    """rep `[B, T, J, D_rep]` → unit-norm motion embedding `[B, D_text]`.

    Mean over real frames (padding frames are excluded, so a padded clip embeds like the clip), and
    with `pool="mean"` over all joints too (`[B, D_rep]`), with `pool="joints"` not: the joints'
    features are concatenated (`[B, J*D_rep]`); with `pool="joints_delta"` each joint's trend over the
    real frames is concatenated too (`[B, 2*J*D_rep]`, `frame_trend`: which way each feature changes,
    which a mean over frames cannot say); `pool="joints_delta_heading"` adds, through its own Linear into
    the hidden layer, `heading_features` of the lifter's own 3D (gradient stopped): which way the lifted
    body turns, read off the geometry instead of learnt from features; `pool="joints_delta_window"` adds,
    through its own Linear, the lifter's own root-relative 3D of every frame in time order (`window_3d`,
    gradient stopped): the window frame by frame, as the window classifiers that name the walk turns
    per 9-frame window read it (issue 21, `benchmarks/recognition_saturation.py`). Masked joints are not excluded (the backbone has already mixed
    information across tokens). Then Linear → GELU → Linear, then L2 normalisation —
    in fp32 even under bf16 autocast (a unit vector compared by cosine to fixed text embeddings needs
    the precision).
    """

    def __init__(self, dim_rep: int, hidden: int, dim_text: int, pool: str = "mean", num_joints: int = 17,
                 maxlen: int | None = None):
        super().__init__()
        if pool not in EMBED_POOLS:
            raise ValueError(f"model.embed_pool = {pool!r}: expected one of {', '.join(EMBED_POOLS)}")
        if pool == "joints_delta_window" and not maxlen:
            raise ValueError("model.embed_pool = 'joints_delta_window' reads maxlen frames of 3D: pass maxlen")
        self.pool = pool
        self.maxlen = maxlen
        width = {"mean": 1, "joints": num_joints, "joints_delta": 2 * num_joints,
                 "joints_delta_heading": 2 * num_joints, "joints_delta_window": 2 * num_joints}[pool]
        self.fc1 = nn.Linear(dim_rep * width, hidden)
        self.fc2 = nn.Linear(hidden, dim_text)
        # Its own layer rather than 4 more columns of fc1, so the 4 geometric inputs are not drowned at
        # initialisation among fc1's 2*J*D_rep feature inputs.
        self.heading = nn.Linear(HEADING_FEATURES, hidden) if pool == "joints_delta_heading" else None
        self.window = nn.Linear(maxlen * num_joints * 3, hidden) if pool == "joints_delta_window" else None

    @property
    def needs_3d(self) -> bool:
        """Whether `forward` reads the lifter's 3D (`y3d`)."""
        return self.heading is not None or self.window is not None

    def forward(self, rep: torch.Tensor, frame_valid: torch.Tensor | None = None,
                y3d: torch.Tensor | None = None) -> torch.Tensor:
        """rep `[B, T, J, D_rep]`, frame_valid `[B, T]` (None = all real), y3d `[B, T, 17, 3]` (the
        lifter's camera-frame 3D; read by `joints_delta_heading` and `joints_delta_window` only) → `[B, D_text]`."""
        with torch.autocast(rep.device.type, enabled=False):
            rep = rep.float()
            if self.pool in ("joints_delta", "joints_delta_heading", "joints_delta_window"):
                pooled = torch.cat([_frame_mean(rep, frame_valid).flatten(1),
                                    frame_trend(rep, frame_valid).flatten(1)], dim=1)
                if not self.needs_3d:
                    return self._project(pooled)
                if y3d is None:
                    raise ValueError(f"model.embed_pool = {self.pool!r} reads the lifter's 3D: pass y3d")
                if self.window is not None:
                    return self._project(pooled, self.window(window_3d(y3d.detach().float(), self.maxlen, frame_valid)))
                return self._project(pooled, self.heading(heading_features(y3d.detach().float(), frame_valid)))
            # the "mean" expressions are kept as they were so that earlier runs reproduce bit-exactly
            if frame_valid is None:
                pooled = rep.mean(dim=(1, 2)) if self.pool == "mean" else rep.mean(dim=1).flatten(1)
            else:
                w = frame_valid.to(rep.device, torch.float32)  # [B, T]
                per_t = rep.mean(dim=2) if self.pool == "mean" else rep.flatten(2)  # [B, T, D_rep or J*D_rep]
                pooled = (per_t * w[..., None]).sum(1) / w.sum(1, keepdim=True).clamp(min=1.0)
            return self._project(pooled)

    def _project(self, pooled: torch.Tensor, extra_hidden: torch.Tensor | None = None) -> torch.Tensor:
        """fc1 (+ `extra_hidden`, added before the GELU) → GELU → fc2 → unit norm."""
        hidden = self.fc1(pooled)
        if extra_hidden is not None:
            hidden = hidden + extra_hidden
        return F.normalize(self.fc2(F.gelu(hidden)), dim=-1)


def _frame_weights(rep: torch.Tensor, frame_valid: torch.Tensor | None) -> torch.Tensor:
    """`[B, T]` 1 for real frames, 0 for padding."""
    if frame_valid is None:
        return torch.ones(rep.shape[:2], dtype=torch.float32, device=rep.device)
    return frame_valid.to(rep.device, torch.float32)


def _frame_mean(rep: torch.Tensor, frame_valid: torch.Tensor | None) -> torch.Tensor:
    """rep `[B, T, J, D]` -> `[B, J, D]`: the mean over real frames."""
    w = _frame_weights(rep, frame_valid)
    return (rep * w[..., None, None]).sum(1) / w.sum(1).clamp(min=1.0)[:, None, None]


def frame_trend(rep: torch.Tensor, frame_valid: torch.Tensor | None = None) -> torch.Tensor:
    """rep `[B, T, J, D]` -> `[B, J, D]`: each feature's trend over the real frames,
    sum_t c_t rep_t / sum_t |c_t| with c_t = p_t - (n - 1) / 2 the centred position of real frame t
    among the n real ones (a clip's real frames are its first n). A feature rising linearly by s per
    frame gives s * sum c^2 / sum |c|; a constant one 0; the time reversal of a clip its negative;
    one real frame 0."""
    w = _frame_weights(rep, frame_valid)
    n = w.sum(1, keepdim=True)
    c = (torch.cumsum(w, 1) - 1.0 - (n - 1.0) / 2.0) * w  # [B, T], 0 on padding
    return (rep * c[..., None, None]).sum(1) / c.abs().sum(1).clamp(min=1e-6)[:, None, None]


EMBED_POOLS = ("mean", "joints", "joints_delta", "joints_delta_heading", "joints_delta_window")
# `window_3d` lifts the 3D (metres-like model units, ~0.1 per limb) to O(1), as the window classifiers do.
WINDOW_3D_SCALE = 10.0


def window_3d(y3d: torch.Tensor, maxlen: int, frame_valid: torch.Tensor | None = None) -> torch.Tensor:
    """`[B, T, 17, 3]` → `[B, maxlen * 17 * 3]`: each frame's 3D about its root, in time order, padding
    frames (and frames past T) zero, scaled by `WINDOW_3D_SCALE`. T > maxlen is refused."""
    B, T = y3d.shape[:2]
    if T > maxlen:
        raise ValueError(f"window_3d: {T} frames, more than the head's maxlen {maxlen}")
    rel = y3d - y3d[:, :, :1]
    if frame_valid is not None:
        rel = rel * frame_valid.to(rel.device, rel.dtype)[:, :, None, None]
    return F.pad(rel.flatten(2), (0, 0, 0, maxlen - T)).flatten(1) * WINDOW_3D_SCALE


def body_forward(y3d: torch.Tensor) -> torch.Tensor:
    """`[..., 17, 3]` camera-frame 3D (x right, y down, z forward) → `[..., 3]` the body's forward direction
    (unnormalised): (left hip − right hip) × (thorax − pelvis). With y down, a body facing +z has its left
    hip at −x and its thorax at −y: (−1, 0, 0) × (0, −1, 0) = (0, 0, +1)."""
    return torch.linalg.cross(y3d[..., _LHIP, :] - y3d[..., _RHIP, :], y3d[..., _THORAX, :] - y3d[..., _PELVIS, :],
                              dim=-1)


def body_heading(y3d: torch.Tensor) -> torch.Tensor:
    """`[..., 17, 3]` camera-frame 3D → `[...]` the heading of `body_forward` about the camera's vertical
    axis, atan2(x, z) in radians: 0 facing away from the camera, negative towards the image's left."""
    fwd = body_forward(y3d)
    return torch.atan2(fwd[..., 0], fwd[..., 2])


def heading_features(y3d: torch.Tensor, frame_valid: torch.Tensor | None = None) -> torch.Tensor:
    """`[B, T, 17, 3]` → `[B, HEADING_FEATURES]`: the body's net turn over the real frames (radians,
    heading unwrapped frame to frame; negative = to the body's left), its trend per frame (`frame_trend`
    of the unwrapped heading), and the sine and cosine of its mean heading (which way it faces the
    camera). Padding frames add nothing; one real frame gives no turn."""
    h = body_heading(y3d)  # [B, T]
    w = _frame_weights(y3d, frame_valid)
    step = torch.remainder(h[:, 1:] - h[:, :-1] + torch.pi, 2 * torch.pi) - torch.pi  # wrapped to [-pi, pi)
    step = step * w[:, 1:] * w[:, :-1]  # a clip's real frames are its first n: no step into padding
    unwrapped = F.pad(torch.cumsum(step, dim=1), (1, 0))  # [B, T], 0 at the first frame
    net = unwrapped.gather(1, (w.sum(1, keepdim=True).long() - 1).clamp(min=0))[:, 0]
    trend = frame_trend(unwrapped[..., None, None], frame_valid)[:, 0, 0]
    mean_sin = (torch.sin(h) * w).sum(1) / w.sum(1).clamp(min=1.0)
    mean_cos = (torch.cos(h) * w).sum(1) / w.sum(1).clamp(min=1.0)
    return torch.stack([net, trend, mean_sin, mean_cos], dim=1)


class Lifter(nn.Module):
    """`forward(x2d [B, T, 17, 3])` → dict with `y3d [B, T, 17, 3]`, `rep [B, T, 17, D_rep]` and,
    when the model has an embedding head, `motion_emb [B, D_text]` (unit norm)."""

    def __init__(self, backbone: DSTformer, text_dim: int | None = None, embed_hidden: int = 256,
                 init: str = "reference", embed_pool: str = "mean", input_center: str = "none",
                 lift_residual: bool = False):
        super().__init__()
        if lift_residual and input_center == "none":
            raise ValueError("model.lift_residual = True needs a centred input (model.input_center 'root' or 'root_scale')")
        self.lift_residual = lift_residual
        if input_center not in ("none", "root", "root_scale"):
            raise ValueError(f"model.input_center = {input_center!r}: expected 'root_scale', 'root' or 'none'")
        self.input_center = input_center
        self.backbone = backbone
        self.motion_head = None
        if text_dim is not None:
            if not isinstance(text_dim, int) or text_dim <= 0:
                raise ValueError(f"Lifter text_dim = {text_dim!r}: expected a positive integer or None")
            if not isinstance(embed_hidden, int) or embed_hidden <= 0:
                raise ValueError(f"model.embed_hidden = {embed_hidden!r}: expected a positive integer")
            self.motion_head = MotionEmbeddingHead(backbone.dim_rep, embed_hidden, text_dim, embed_pool,
                                                   backbone.num_joints, backbone.maxlen)
            if init == "reference":  # same recipe as the backbone's Linear layers
                for m in self.motion_head.modules():
                    if isinstance(m, nn.Linear):
                        nn.init.trunc_normal_(m.weight, std=0.02)
                        nn.init.zeros_(m.bias)
        self.text_dim = text_dim

    def forward(self, x2d: torch.Tensor, frame_valid: torch.Tensor | None = None,
                detach_embedding: bool = False) -> dict[str, torch.Tensor]:
        """x2d `[B, T, 17, 3]`; frame_valid `[B, T]` marks real frames of padded clips (None: all real).
        `detach_embedding`: the embedding head reads `rep` with the gradient stopped (losses on
        `motion_emb` then train the head only, never the backbone)."""
        x_in, scale = self.encode_input(x2d, frame_valid, return_scale=True)
        y3d, rep = self.backbone(x_in, return_rep=True, frame_valid=frame_valid)
        if self.lift_residual:  # a correction to the flat lift: the centred 2D x, y at depth 0
            y3d = y3d + F.pad(x_in[..., :2].to(y3d.dtype), (0, 1))
        out = {"y3d": y3d if scale is None else y3d * scale.to(y3d.dtype), "rep": rep}
        if self.motion_head is not None:
            out["motion_emb"] = self.motion_head(rep.detach() if detach_embedding else rep, frame_valid,
                                                 out["y3d"] if self.motion_head.needs_3d else None)
        return out

    def get_representation(self, x2d: torch.Tensor) -> torch.Tensor:
        """x2d `[B, T, 17, 3]` → rep `[B, T, 17, D_rep]` (skips the heads)."""
        return self.backbone.get_representation(self.encode_input(x2d))

    def encode_input(self, x2d: torch.Tensor, frame_valid: torch.Tensor | None = None,
                     return_scale: bool = False):
        """What the backbone reads: `x2d [B, T, 17, 3]` as is (`input_center="none"`, MotionBERT's
        function), pelvis-centred per frame (`"root"`, `centre_input`), or centred and divided by the
        clip's 2D size (`"root_scale"`, `clip_scale`; the 3D output is multiplied back by it, so the
        lifter is scale-equivariant: the target's units scale with the 2D). With `return_scale`:
        `(input, scale [B, 1, 1, 1] or None)`."""
        scale = None
        if self.input_center == "none":
            x = x2d
        else:
            x = centre_input(x2d)
            if self.input_center == "root_scale":
                scale = clip_scale(x, frame_valid)
                x = torch.cat([x[..., :2] / scale, x[..., 2:]], dim=-1)
        return (x, scale) if return_scale else x

    def backbone_state_dict(self) -> dict[str, torch.Tensor]:
        """The backbone's weights under MotionBERT's key names."""
        return self.backbone.state_dict()


def build_lifter(model_cfg, text_dim: int | None = None) -> Lifter:
    """Build a `Lifter` from a `ModelConfig`; `model_cfg.compile` compiles the backbone in place
    (`nn.Module.compile`, so parameter names keep no `_orig_mod.` prefix)."""
    backbone = dstformer_from_config(model_cfg)
    lifter = Lifter(backbone, text_dim, model_cfg.embed_hidden, model_cfg.init, model_cfg.embed_pool,
                    getattr(model_cfg, "input_center", "none"), getattr(model_cfg, "lift_residual", False))
    if model_cfg.compile:
        lifter.backbone.compile()
    return lifter


def count_parameters(model: nn.Module, backbone_only: bool = True) -> int:
    """Number of parameters (of the backbone only, by default, as papers report)."""
    if backbone_only and isinstance(model, Lifter):
        model = model.backbone
    return sum(p.numel() for p in model.parameters())
