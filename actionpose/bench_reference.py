"""Speed of our DSTformer against the reference formulation (MotionBERT's DSTformer as described
in tests/fixtures/motionbert/README.md: tokens as `[B·F, J, C]`, explicit attention, permute copies
between the spatial and the temporal layout), same weights, interleaved in one process.

The reference here is written from that description (not copied): it exists to be timed and to
prove that both compute the same function (`compare_reference` checks the outputs first).
"""
from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from .config import MODEL_PRESETS, ModelConfig
from .model.dstformer import dstformer_from_config


class _RefAttention(nn.Module):
    def __init__(self, dim: int, heads: int, axis: str):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.heads, self.axis, self.scale = heads, axis, (dim // heads) ** -0.5

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        """x `[B·F, J, C]` → `[B·F, J, C]`."""
        BF, J, C = x.shape
        H, d = self.heads, C // self.heads
        q, k, v = self.qkv(x).reshape(BF, J, 3, H, d).permute(2, 0, 3, 1, 4)  # each [BF, H, J, d]
        if self.axis == "temporal":  # [BF, H, J, d] → [B, H, J, F, d]
            q, k, v = (t.reshape(-1, frames, H, J, d).permute(0, 2, 3, 1, 4) for t in (q, k, v))
        a = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        o = a @ v
        if self.axis == "temporal":  # [B, H, J, F, d] → [B·F, J, C]
            o = o.permute(0, 3, 2, 1, 4).reshape(BF, J, C)
        else:  # [BF, H, J, d] → [BF, J, C]
            o = o.transpose(1, 2).reshape(BF, J, C)
        return self.proj(o)


class _RefMlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(nn.functional.gelu(self.fc1(x)))


class _RefBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float, order: str):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1_s, self.norm1_t = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn_s, self.attn_t = _RefAttention(dim, heads, "spatial"), _RefAttention(dim, heads, "temporal")
        self.norm2_s, self.norm2_t = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.mlp_s, self.mlp_t = _RefMlp(dim, hidden), _RefMlp(dim, hidden)
        self.order = order

    def forward(self, x, frames):
        pairs = [(self.norm1_s, self.attn_s, self.norm2_s, self.mlp_s), (self.norm1_t, self.attn_t, self.norm2_t, self.mlp_t)]
        if self.order == "ts":
            pairs.reverse()
        for n1, attn, n2, mlp in pairs:
            x = x + attn(n1(x), frames)
            x = x + mlp(n2(x))
        return x


class _RefPreLogits(nn.Module):
    def __init__(self, dim: int, dim_rep: int):
        super().__init__()
        self.fc = nn.Linear(dim, dim_rep)

    def forward(self, x):
        return torch.tanh(self.fc(x))


class ReferenceDSTformer(nn.Module):
    """x `[B, F, J, 3]` → y `[B, F, J, 3]`, the reference computation; state-dict keys as released."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        C, J = cfg.dim_feat, cfg.num_joints
        self.temp_embed = nn.Parameter(torch.zeros(1, cfg.maxlen, 1, C))
        self.pos_embed = nn.Parameter(torch.zeros(1, J, C))
        self.joints_embed = nn.Linear(3, C)
        self.blocks_st = nn.ModuleList([_RefBlock(C, cfg.num_heads, cfg.mlp_ratio, "st") for _ in range(cfg.depth)])
        self.blocks_ts = nn.ModuleList([_RefBlock(C, cfg.num_heads, cfg.mlp_ratio, "ts") for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(C)
        self.pre_logits = _RefPreLogits(C, cfg.dim_rep)
        self.head = nn.Linear(cfg.dim_rep, 3)
        self.ts_attn = nn.ModuleList([nn.Linear(2 * C, 2) for _ in range(cfg.depth)])

    def forward(self, x):
        B, F, J, _ = x.shape
        h = (self.joints_embed(x) + self.pos_embed + self.temp_embed[:, :F]).reshape(B * F, J, -1)
        for st, ts, fuse in zip(self.blocks_st, self.blocks_ts, self.ts_attn):
            h_st, h_ts = st(h, F), ts(h, F)
            a = fuse(torch.cat([h_st, h_ts], dim=-1)).softmax(dim=-1)
            h = h_st * a[..., :1] + h_ts * a[..., 1:]
        rep = self.pre_logits(self.norm(h).reshape(B, F, J, -1))
        return self.head(rep)


def compare_reference(preset: str = "tiny", overrides: dict | None = None, batch: int = 8, frames: int = 81,
                      steps: int = 5, rounds: int = 3, train: bool = True) -> dict:
    """Median step time of ours and of the reference (same weights), alternating `rounds` blocks of
    `steps` each; train = forward + backward + AdamW on an MPJPE loss, else eval forward under
    no_grad. Checks first that both give the same output (max abs difference recorded)."""
    # The reference is MotionBERT's architecture: compared without the tiny preset's frame embedding.
    cfg = ModelConfig(**{**MODEL_PRESETS[preset], "preset": preset, "frame_embed": False, **(overrides or {})})
    torch.manual_seed(0)
    ours = dstformer_from_config(cfg)
    ref = ReferenceDSTformer(cfg)
    ref.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(batch, frames, cfg.num_joints, 3)
    target = torch.randn(batch, frames, cfg.num_joints, 3)
    ours.eval()
    ref.eval()
    with torch.no_grad():
        diff = float((ours(x) - ref(x)).abs().max())
    if diff > 1e-3:
        raise AssertionError(f"reference and ours differ by {diff:.2e} (max abs) on the same weights")
    models = {"ours": ours, "reference": ref}
    opts = {k: torch.optim.AdamW(m.parameters(), lr=1e-5) for k, m in models.items()}

    def step(name):
        m = models[name]
        if train:
            m.train()
            opts[name].zero_grad(set_to_none=True)
            (m(x) - target).norm(dim=-1).mean().backward()
            opts[name].step()
        else:
            m.eval()
            with torch.no_grad():
                m(x)

    times = {k: [] for k in models}
    for name in models:  # warm-up
        step(name)
    for _ in range(rounds):
        for name in models:
            for _ in range(steps):
                t0 = time.perf_counter()
                step(name)
                times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"preset": preset, "overrides": overrides or {}, "batch": batch, "frames": frames, "train": train,
            "threads": torch.get_num_threads(), "max_abs_diff": diff, "ours_s": med["ours"],
            "reference_s": med["reference"], "speedup": med["reference"] / med["ours"]}
