"""Masking tab: what the pretraining corruptions hide, on a real clip."""
from __future__ import annotations

import dataclasses

import numpy as np
import streamlit as st

import actionpose as ap
from actionpose import viz

from .context import Ctx, need_sequence

MASK_PROBS = ("joint_prob", "frame_prob", "part_prob", "window_prob")


def mask_kinds(rec: dict) -> np.ndarray:
    """Code per keypoint of clip 0 `[T, 17]` indexing viz.MASK_KINDS: joint/frame over window over part."""
    mask = np.asarray(rec["mask"])[0]
    kinds = np.where(mask, 3, 0)  # hidden by none of the others: the body part
    if rec["windows"][0] is not None:
        s, e = rec["windows"][0]
        kinds[s:e] = 4
    kinds[np.asarray(rec["frame_mask"])[0]] = 2
    kinds[np.asarray(rec["joint_mask"])[0]] = 1
    return np.where(mask, kinds, 0)


def render(ctx: Ctx) -> None:
    import torch  # mask_batch works on tensors, exactly as in the training loop

    base = ctx.cfg.mask
    if all(getattr(base, p) == 0 for p in MASK_PROBS):
        variant = ctx.cfg.variant if ctx.cfg.variant in ap.VARIANTS else "actionpose"
        base = ap.make_config(ctx.cfg.model.preset, variant).mask
        st.info(f"Masks are off in this run (stage {ctx.cfg.train.stage}); showing the pretraining defaults of "
                f"variant '{variant}'.")
    if not need_sequence(ctx):
        return
    with st.expander("Mask probabilities and seed", expanded=False):
        cols = st.columns(5)
        probs = {p: cols[i].slider(p.replace("_", " "), 0.0, 1.0, float(getattr(base, p)), 0.01, key=f"mask_{p}")
                 for i, p in enumerate(MASK_PROBS)}
        seed = cols[4].number_input("seed", 0, 1_000_000, key="mask_seed")
    mcfg = dataclasses.replace(base, **probs)
    x2d = ctx.clip().x2d
    T, n = int(ctx.cfg.model.maxlen), len(x2d)
    start = st.slider("Clip start frame", 0, n - T, 0, key=f"mask_start_{ctx.seq}") if n > T else 0
    clip = np.asarray(x2d[start:start + T], dtype=np.float32)
    _, rec = ap.mask_batch(torch.from_numpy(clip[None]), mcfg, torch.Generator().manual_seed(int(seed)))
    rec = rec.to_numpy()
    st.markdown(f"**{ctx.seq}**, frames {start}–{start + len(clip) - 1}: {ap.describe_mask(rec, 0)}")
    st.caption("p(joint) = {joint_prob:.2f}, p(frame) = {frame_prob:.2f}, p(body part) = {part_prob:.2f}, "
               "p(time window) = {window_prob:.2f} (window length {lo:.1%}–{hi:.1%} of the clip); "
               "change the seed for another draw".format(**probs, lo=mcfg.window_min_frac, hi=mcfg.window_max_frac))
    st.plotly_chart(viz.mask_figure(mask_kinds(rec), title="hidden keypoints (joints × frames)"), key="mask_map")
    t = st.slider("Frame in clip", 0, len(clip) - 1, 0, key=f"mask_frame_{ctx.seq}") if len(clip) > 1 else 0
    st.plotly_chart(viz.pose2d_figure(clip[t], hidden=rec["mask"][0, t], title=f"clip frame {t}: hidden joints as ×"),
                    key="mask_pose")
