"""DSTformer backbone (MotionBERT's dual-stream spatial-temporal transformer), written for speed.

The computation is exactly the one of `tests/fixtures/motionbert/README.md`; module and
parameter names equal the reference key names (`blocks_st.0.attn_s.qkv.weight`, `ts_attn.3.bias`,
…), so a released checkpoint loads with `load_state_dict` after stripping `module.`.

Layout: tokens stay `[B, T, J, C]` throughout. Spatial attention batches over (B, T) and temporal
attention over (B, J) by handing SDPA strided *views* of q/k/v — no permute-copies of the
activations. To make the temporal view possible q, k and v are produced by three GEMMs on the
row blocks of `qkv.weight` (each output `[B, T, J, C]` contiguous, so `(J, heads)` merge into one
SDPA head axis); the CPU flash kernel writes its output as `[B, L, heads, d]`, which is again
`[B, T, J, C]` memory, so the projection reads it without a copy.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

ATTENTION_IMPLS = ("sdpa", "manual")
INIT_SCHEMES = ("reference", "torch")


class DropPath(nn.Module):
    """Stochastic depth: drop a residual branch for a whole frame of a clip (training only).

    Per (clip, frame), not per clip: the reference holds tokens as `[B·T, J, C]` and drops per
    row of that, so this keeps its regularisation strength. x `[B, T, J, C]`."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty(x.shape[:2] + (1,) * (x.ndim - 2)).bernoulli_(keep)
        return x * mask / keep


class Mlp(nn.Module):
    """`fc2(GELU(fc1(x)))`, exact (erf) GELU; dropout after the activation and after fc2."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = drop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.gelu(self.fc1(x))
        if self.drop and self.training:
            h = F.dropout(h, self.drop, True)
        h = self.fc2(h)
        if self.drop and self.training:
            h = F.dropout(h, self.drop, True)
        return h


class _QKVProjection(torch.autograd.Function):
    """q, k, v = three row blocks of one `qkv` Linear applied to x `[N, C]`, each `[N, C]` contiguous.

    Separate outputs let the temporal attention view (J, heads) as one axis without copying. The
    custom backward keeps this as cheap as one fused Linear: grad_x accumulates the three GEMMs in
    place (GEMM beta = 1) instead of summing three [N, C] tensors, and the weight gradient is
    written straight into its three row blocks. Under autocast the inputs are cast once to the
    autocast dtype (as F.linear would be) and the backward runs in that dtype, since autocast is
    not active during the backward pass.
    """

    @staticmethod
    def forward(ctx, x, weight, bias):
        dtypes = (x.dtype, weight.dtype, bias.dtype)
        dev = x.device.type
        if torch.is_autocast_enabled(dev):
            dt = torch.get_autocast_dtype(dev)
            x, weight, bias = x.to(dt), weight.to(dt), bias.to(dt)
        C = x.shape[1]
        ctx.save_for_backward(x, weight)
        ctx.dtypes = dtypes
        with torch.autocast(dev, enabled=False):
            return tuple(torch.addmm(bias[i * C:(i + 1) * C], x, weight[i * C:(i + 1) * C].t())
                         for i in range(3))

    @staticmethod
    def backward(ctx, gq, gk, gv):
        x, weight = ctx.saved_tensors
        C = x.shape[1]
        grads = [(g if g is not None else torch.zeros_like(x)).reshape(-1, C).to(x.dtype) for g in (gq, gk, gv)]
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = grads[0] @ weight[:C]
            gx.addmm_(grads[1], weight[C:2 * C]).addmm_(grads[2], weight[2 * C:])
            gx = gx.to(ctx.dtypes[0])
        if ctx.needs_input_grad[1]:
            gw = torch.empty_like(weight)
            for i, g in enumerate(grads):
                torch.mm(g.t(), x, out=gw[i * C:(i + 1) * C])
            gw = gw.to(ctx.dtypes[1])
        if ctx.needs_input_grad[2]:
            gb = torch.cat([g.sum(0) for g in grads]).to(ctx.dtypes[2])
        return gx, gw, gb


class Attention(nn.Module):
    """Multi-head self-attention along one axis of `[B, T, J, C]` tokens.

    axis "spatial": among the J joints of each frame; "temporal": among the T frames of each joint.
    `qkv`'s 3C outputs split as (3, heads, C/heads), heads concatenated in order before `proj`.
    """

    def __init__(self, dim: int, num_heads: int, axis: str, impl: str = "sdpa",
                 attn_drop: float = 0.0, proj_drop: float = 0.0):
        super().__init__()
        if axis not in ("spatial", "temporal"):
            raise ValueError(f"Attention axis = {axis!r}: expected 'spatial' or 'temporal'")
        if impl not in ATTENTION_IMPLS:
            raise ValueError(f"model.attention = {impl!r}: expected one of {', '.join(ATTENTION_IMPLS)}")
        if dim % num_heads:
            raise ValueError(f"model.dim_feat = {dim} must be divisible by model.num_heads = {num_heads}")
        # Registration order proj → qkv mirrors the reference's state-dict key order.
        self.proj = nn.Linear(dim, dim)
        self.qkv = nn.Linear(dim, dim * 3)
        self.axis = axis
        self.impl = impl
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.attn_drop = attn_drop
        self.proj_drop = proj_drop

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        """`[B, T, J, C]` contiguous → 4-D strided view `[batch, heads, L, d]` (no copy)."""
        B, T, J, C = t.shape
        H = self.num_heads
        if self.axis == "spatial":  # batch (B·T), heads H, sequence J
            return t.view(B * T, J, H, C // H).transpose(1, 2)
        # temporal: (J, H) merge into one head axis because t is contiguous; sequence T
        return t.view(B, T, J * H, C // H).transpose(1, 2)

    def forward(self, x: torch.Tensor, key_valid: torch.Tensor | None = None) -> torch.Tensor:
        """x `[B, T, J, C]` → `[B, T, J, C]`.

        key_valid `[B, T]` bool (temporal axis only): frames that may be attended to. Padding frames
        are excluded as keys, so the outputs at real frames do not depend on the padding at all.
        """
        B, T, J, C = x.shape
        q, k, v = (self._heads(t.view(B, T, J, C))
                   for t in _QKVProjection.apply(x.reshape(-1, C), self.qkv.weight, self.qkv.bias))
        drop = self.attn_drop if self.training else 0.0
        mask = None
        if key_valid is not None and self.axis == "temporal":
            mask = key_valid[:, None, None, :]  # [B, 1, 1, T] broadcast over heads and queries
        if self.impl == "sdpa":
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop, scale=self.scale)
        else:
            logits = (q * self.scale) @ k.transpose(-2, -1)
            if mask is not None:
                logits = logits.masked_fill(~mask, float("-inf"))
            a = torch.softmax(logits, dim=-1)
            if drop:
                a = F.dropout(a, drop, True)
            o = a @ v
        # o [batch, heads, L, d] → [B, T, J, C]; a view for SDPA's [batch, L, heads, d] output memory
        o = o.transpose(1, 2).reshape(B, T, J, C)
        o = self.proj(o)
        if self.proj_drop and self.training:
            o = F.dropout(o, self.proj_drop, True)
        return o


class Block(nn.Module):
    """One stream of a DSTformer layer: pre-norm attention + MLP along both axes.

    order "st": spatial pair then temporal pair (`blocks_st`); "ts": temporal first (`blocks_ts`).
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, order: str, impl: str = "sdpa",
                 drop: float = 0.0, attn_drop: float = 0.0, drop_path: float = 0.0):
        super().__init__()
        if order not in ("st", "ts"):
            raise ValueError(f"Block order = {order!r}: expected 'st' or 'ts'")
        hidden = int(dim * mlp_ratio)
        # Registration order mirrors the reference's state-dict key order.
        self.norm1_s = nn.LayerNorm(dim)
        self.norm1_t = nn.LayerNorm(dim)
        self.attn_s = Attention(dim, num_heads, "spatial", impl, attn_drop, drop)
        self.attn_t = Attention(dim, num_heads, "temporal", impl, attn_drop, drop)
        self.drop_path = DropPath(drop_path)
        self.norm2_s = nn.LayerNorm(dim)
        self.norm2_t = nn.LayerNorm(dim)
        self.mlp_s = Mlp(dim, hidden, drop)
        self.mlp_t = Mlp(dim, hidden, drop)
        self.order = order

    def _pair(self, x: torch.Tensor, axis: str, key_valid: torch.Tensor | None) -> torch.Tensor:
        attn, n1, mlp, n2 = ((self.attn_s, self.norm1_s, self.mlp_s, self.norm2_s) if axis == "s"
                             else (self.attn_t, self.norm1_t, self.mlp_t, self.norm2_t))
        x = x + self.drop_path(attn(n1(x), key_valid))
        return x + self.drop_path(mlp(n2(x)))

    def forward(self, x: torch.Tensor, key_valid: torch.Tensor | None = None) -> torch.Tensor:
        """x `[B, T, J, C]` → `[B, T, J, C]`; key_valid `[B, T]` bool masks padding frames."""
        for axis in self.order:
            x = self._pair(x, axis, key_valid)
        return x


class PreLogits(nn.Module):
    """`tanh(fc(h))`: the representation layer (`pre_logits.fc` in the reference)."""

    def __init__(self, dim: int, dim_rep: int):
        super().__init__()
        self.fc = nn.Linear(dim, dim_rep)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.fc(x))


class DSTformer(nn.Module):
    """Dual-stream spatial-temporal transformer: `x [B, T, J, dim_in]` → `y [B, T, J, dim_out]`.

    `forward(x, return_rep=True)` also returns `rep [B, T, J, dim_rep]` (tanh representation).
    Any T ≤ maxlen is accepted (the temporal embedding is sliced).
    """

    def __init__(self, dim_in: int = 3, dim_out: int = 3, dim_feat: int = 256, dim_rep: int = 512,
                 depth: int = 5, num_heads: int = 8, mlp_ratio: float = 4.0, num_joints: int = 17,
                 maxlen: int = 243, drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, attention: str = "sdpa", init: str = "reference",
                 frame_embed: bool = False):
        super().__init__()
        if attention not in ATTENTION_IMPLS:
            raise ValueError(f"model.attention = {attention!r}: expected one of {', '.join(ATTENTION_IMPLS)}")
        if init not in INIT_SCHEMES:
            raise ValueError(f"model.init = {init!r}: expected one of {', '.join(INIT_SCHEMES)}")
        for name, val in (("dim_in", dim_in), ("dim_out", dim_out), ("dim_feat", dim_feat),
                          ("dim_rep", dim_rep), ("depth", depth), ("num_heads", num_heads),
                          ("num_joints", num_joints), ("maxlen", maxlen)):
            if not isinstance(val, int) or val <= 0:
                raise ValueError(f"model.{name} = {val!r}: expected a positive integer")
        if dim_feat % num_heads:
            raise ValueError(f"model.dim_feat = {dim_feat} must be divisible by model.num_heads = {num_heads}")
        self.dim_in, self.dim_feat, self.dim_rep = dim_in, dim_feat, dim_rep
        self.num_joints, self.maxlen, self.depth = num_joints, maxlen, depth
        self.drop_rate = drop_rate
        # Registration order mirrors the reference's state-dict key order.
        self.temp_embed = nn.Parameter(torch.zeros(1, maxlen, 1, dim_feat))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_joints, dim_feat))
        self.joints_embed = nn.Linear(dim_in, dim_feat)
        # stochastic depth grows linearly with depth (plain floats: also works on the meta device)
        dpr = [drop_path_rate * i / (depth - 1) if depth > 1 else 0.0 for i in range(depth)]
        kw = {"impl": attention, "drop": drop_rate, "attn_drop": attn_drop_rate}
        self.blocks_st = nn.ModuleList(
            [Block(dim_feat, num_heads, mlp_ratio, "st", drop_path=dpr[i], **kw) for i in range(depth)])
        self.blocks_ts = nn.ModuleList(
            [Block(dim_feat, num_heads, mlp_ratio, "ts", drop_path=dpr[i], **kw) for i in range(depth)])
        self.norm = nn.LayerNorm(dim_feat)
        self.pre_logits = PreLogits(dim_feat, dim_rep)
        self.head = nn.Linear(dim_rep, dim_out)
        self.ts_attn = nn.ModuleList([nn.Linear(dim_feat * 2, 2) for _ in range(depth)])
        # Optional (not in the reference; registered last, so MotionBERT's keys keep their order): a
        # joint-specific linear embedding of the whole frame, added to every joint's token. Without it a
        # token starts knowing only its own x, y, conf and a tiny positional code, and the attention that
        # must gather the rest of the pose starts uniform: measured (issue 21), the tiny model then sat at
        # the flat lift's error for hundreds of steps on random batches while a per-frame MLP fed the same
        # batches learned depth within 60. With it, the tokens see the pose from step 0 and learn as fast.
        self.frame_embed = nn.Linear(num_joints * dim_in, num_joints * dim_feat) if frame_embed else None
        self.reset_parameters(init)

    @torch.no_grad()
    def reset_parameters(self, init: str = "reference") -> None:
        """"reference": MotionBERT's recipe; "torch": PyTorch's per-layer defaults (embeddings still
        trunc-normal, fusion still an even split, so both start as a sensible model)."""
        if init == "reference":
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.trunc_normal_(m.weight, std=0.02)
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.LayerNorm):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.temp_embed, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        if self.frame_embed is not None and init == "reference":  # as the joint embedding
            nn.init.trunc_normal_(self.frame_embed.weight, std=0.02)
            nn.init.zeros_(self.frame_embed.bias)
        for fuse in self.ts_attn:  # an even split between the two streams at the start
            fuse.weight.zero_()
            fuse.bias.fill_(0.5)

    def check_input(self, x: torch.Tensor) -> None:
        """One-line errors for inputs the model cannot take."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"DSTformer input x: expected a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 4 or x.shape[2] != self.num_joints or x.shape[3] != self.dim_in:
            raise ValueError(f"DSTformer input x: expected shape [B, T, {self.num_joints}, {self.dim_in}], "
                             f"got {list(x.shape)}")
        if x.shape[1] > self.maxlen:
            raise ValueError(f"DSTformer input x: T = {x.shape[1]} frames exceeds model.maxlen = {self.maxlen}; "
                             "split the sequence into windows")
        if x.shape[1] == 0 or x.shape[0] == 0:
            raise ValueError(f"DSTformer input x: empty batch or sequence, shape {list(x.shape)}")

    def _fuse(self, i: int, h_st: torch.Tensor, h_ts: torch.Tensor) -> torch.Tensor:
        """Per-token softmax over the two streams' logits, written as a sigmoid of their difference
        (softmax([l0, l1])[0] = sigmoid(l0 - l1)) so no [.., 2C] concat is materialised and the mix
        is one lerp: h = h_ts + a0·(h_st − h_ts)."""
        fuse = self.ts_attn[i]
        C = self.dim_feat
        dw = fuse.weight[0] - fuse.weight[1]  # [2C]
        logit = h_st @ dw[:C] + h_ts @ dw[C:] + (fuse.bias[0] - fuse.bias[1])  # [B, T, J]
        dt = torch.promote_types(h_st.dtype, h_ts.dtype)  # under autocast the logit may be bf16
        return torch.lerp(h_ts.to(dt), h_st.to(dt), torch.sigmoid(logit).unsqueeze(-1).to(dt))

    def encode(self, x: torch.Tensor, frame_valid: torch.Tensor | None = None) -> torch.Tensor:
        """x `[B, T, J, dim_in]` → features after the final norm `[B, T, J, dim_feat]`.

        frame_valid `[B, T]` (1 = real frame, 0 = padding) keeps padding out of temporal attention;
        None (or all ones) is the reference computation.
        """
        self.check_input(x)
        key_valid = None
        if frame_valid is not None:
            if frame_valid.shape != x.shape[:2]:
                raise ValueError(f"DSTformer frame_valid: expected shape {list(x.shape[:2])}, got {list(frame_valid.shape)}")
            key_valid = frame_valid.to(device=x.device) > 0
        T = x.shape[1]
        h = self.joints_embed(x) + self.pos_embed
        if self.frame_embed is not None:
            B, _, J, _ = x.shape
            h = h + self.frame_embed(x.reshape(B, T, J * self.dim_in)).reshape(B, T, J, self.dim_feat)
        if self.drop_rate and self.training:  # as in the reference: before the temporal embedding
            h = F.dropout(h, self.drop_rate, True)
        h = h + self.temp_embed[:, :T]
        for i in range(self.depth):
            h = self._fuse(i, self.blocks_st[i](h, key_valid), self.blocks_ts[i](h, key_valid))
        return self.norm(h)

    def get_representation(self, x: torch.Tensor, frame_valid: torch.Tensor | None = None) -> torch.Tensor:
        """x `[B, T, J, dim_in]` → rep `[B, T, J, dim_rep]`."""
        return self.pre_logits(self.encode(x, frame_valid))

    def regress(self, rep: torch.Tensor) -> torch.Tensor:
        """rep `[B, T, J, dim_rep]` → 3D `[B, T, J, dim_out]`, always in fp32: under bf16 autocast the
        backbone runs in bf16, but rounding the output to bf16 (8 bits of mantissa) would cost ~0.5 mm
        and add quantisation steps to the velocity loss."""
        with torch.autocast(rep.device.type, enabled=False):
            return F.linear(rep.float(), self.head.weight.float(), self.head.bias.float())

    def forward(self, x: torch.Tensor, return_rep: bool = False, frame_valid: torch.Tensor | None = None):
        """x `[B, T, J, dim_in]` → y `[B, T, J, dim_out]`, or (y, rep) with return_rep."""
        rep = self.get_representation(x, frame_valid)
        y = self.regress(rep)
        return (y, rep) if return_rep else y


def dstformer_from_config(cfg) -> DSTformer:
    """Build from a `ModelConfig` (duck-typed: only its fields are read)."""
    mlp_ratio = float(cfg.mlp_ratio)
    if not math.isfinite(mlp_ratio) or mlp_ratio <= 0:
        raise ValueError(f"model.mlp_ratio = {cfg.mlp_ratio!r}: expected a positive number")
    return DSTformer(dim_in=cfg.dim_in, dim_out=cfg.dim_out, dim_feat=cfg.dim_feat, dim_rep=cfg.dim_rep,
                     depth=cfg.depth, num_heads=cfg.num_heads, mlp_ratio=mlp_ratio,
                     num_joints=cfg.num_joints, maxlen=cfg.maxlen, drop_rate=cfg.drop_rate,
                     attn_drop_rate=cfg.attn_drop_rate, drop_path_rate=cfg.drop_path_rate,
                     attention=cfg.attention, init=cfg.init, frame_embed=bool(getattr(cfg, "frame_embed", False)))
