"""Viewer tab: one clip's 2D input and 3D prediction, animated client-side, coloured by error."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from actionpose import viz

from . import cache
from .camera_chart import camera_chart
from .common import selected_points
from .context import Ctx, need_sequence


def _frame_from_strip() -> None:
    pts = selected_points("viewer_strip")
    if pts:
        st.session_state["frame"] = int(round(float(pts[0].get("x", 0))))


def start_frame(ctx: Ctx, n: int) -> int:
    """The frame the viewer opens at: an int, or 'worst' (set by links from other tabs)."""
    f = st.session_state.get("frame", 0)
    if f == "worst":
        f = ctx.clip().worst_frame
        st.session_state["frame"] = f
    return int(np.clip(int(f or 0), 0, n - 1))


def render(ctx: Ctx) -> None:
    if not need_sequence(ctx):
        return
    c = ctx.clip()
    n = len(c.frame_err_mm)
    t = start_frame(ctx, n)
    k1, k2, k3, k4, k5 = st.columns(5)
    k1.metric("MPJPE (sequence)", f"{c.mpjpe_mm:.1f} mm")
    k2.metric(f"worst frame (#{c.worst_frame})", f"{np.nanmax(c.frame_err_mm):.1f} mm")
    k3.metric("frames", n)
    k4.metric("frames with joints off screen", f"{100 * c.offscreen_fraction:.0f} %",
              help="a joint outside the virtual image border: the model never saw such inputs in the image")
    k5.metric("2D source", c.source_2d)
    truths = sorted({x for x in c.window_truth if x})
    st.caption(f"**{ctx.seq}**, view {ctx.view} ({c.camera}, image {c.image_size_wh[0]}×{c.image_size_wh[1]} px) · "
               f"ground truth: {', '.join(truths) or '(none)'} · 3D root-relative, camera frame, mm · "
               f"{ctx.checkpoint_line}")
    if c.offscreen_fraction > 0:
        st.warning(f"⚠ {100 * c.offscreen_fraction:.0f} % of this view's frames have joints outside the image "
                   "(red rings in the 2D panel)")
    o1, o2, o3, o4 = st.columns([2, 2, 3, 2])
    color_by = o1.radio("colour the prediction by", ["error", "side"], key="color_by", horizontal=True,
                        format_func=lambda x: "error (mm)" if x == "error" else "left / right")
    links = o2.checkbox("prediction → ground-truth links", key="links")
    cmax = o3.slider("colour bar maximum (mm, fixed for every clip)", 50, 400, step=25, key="cmax_mm")
    o4.caption(f"opens at frame **{t}**; ▶ plays in the browser (no rerun); click the strip below to jump")
    fig = cache.viewer_figure(*ctx.key, ctx.data, ctx.seq, ctx.view, ctx.flip, t, color_by, bool(links), float(cmax))
    camera_chart(fig, key="viewer_fig")  # keeps the user's 3D camera (st.plotly_chart resets it)
    st.plotly_chart(viz.error_strip_figure(c.frame_err_mm, c.windows, frame=t, cmax_mm=float(cmax)),
                    key="viewer_strip", on_select=_frame_from_strip, selection_mode=("points",))

    st.subheader("Action recognition per window")
    if not any(c.actions):
        st.info("This run has no motion-text embedding head, so it cannot name actions.")
        return
    rows = []
    for (s, e), acts, truth in zip(c.windows.tolist(), c.actions, c.window_truth):
        row = {"frames": f"{s}–{e - 1}", "ground truth": truth or "(none)",
               "top-1 correct": ("✓" if acts and acts[0][0] == truth else "✗") if truth else "",
               "at frame": "◀" if s <= t < e else ""}
        row.update({f"top-{i + 1}": f"{text} ({score:.2f})" for i, (text, score) in enumerate(acts[:3])})
        rows.append(row)
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption("score = softmax probability over the run's label vocabulary (learned temperature); windows overlap, "
               "every frame is predicted once (blended)")
