"""Viewer tab: one clip's 2D input and 3D prediction, animated client-side, coloured by error."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from actionpose import viz

from . import cache, floors
from .camera_chart import camera_chart
from .common import action_of, selected_points
from .context import Ctx, need_sequence
from .links import current_camera


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
    rep = cache.run_eval(ctx.run_dir)
    floor_err = floors.clip_floor_errors(c, floors.depth_units(rep))
    floor_frames = {k: floors.frame_errors(v) for k, v in floor_err.items()}
    k1, k2, k3, k4, k5 = st.columns(5)
    k1.metric("MPJPE (sequence)", f"{c.mpjpe_mm:.1f} mm",
              help="the model's mean per-joint error on this clip; its floors on the same frames are below")
    k2.metric(f"worst frame (#{c.worst_frame})", f"{np.nanmax(c.frame_err_mm):.1f} mm")
    k3.metric("frames", n)
    k4.metric("frames with joints off screen", f"{100 * c.offscreen_fraction:.0f} %",
              help="a joint outside the virtual image border: the model never saw such inputs in the image")
    k5.metric("2D source", c.source_2d)
    truths = sorted({x for x in c.window_truth if x})
    st.caption(f"**{ctx.seq}**, view {ctx.view} ({c.camera}, image {c.image_size_wh[0]}×{c.image_size_wh[1]} px) · "
               f"ground truth: {', '.join(truths) or '(none)'} · 3D root-relative, camera frame, mm · "
               f"{ctx.checkpoint_line}")
    if floor_frames:
        whole = {k: float(np.nanmean(v)) for k, v in floor_frames.items()}
        worst = {k: float(v[c.worst_frame]) for k, v in floor_frames.items()}
        st.caption(f"**Floors on this clip** (same frames, `actionpose.baselines`): {floors.caption(whole)}; at the "
                   f"worst frame: {floors.caption(worst)}. The mean depth is the run's training-split mean "
                   "(eval.json)" + ("" if floors.MEAN_DEPTH in whole else " — absent: this run has no eval.json "
                                    "with floors") + ". A model above these has not learned depth here.")
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
    revision = f"{ctx.seq}/{ctx.view}"
    camera_chart(fig, key="viewer_fig", filename=f"{ctx.seq}_view{ctx.view}_frame{t}",
                 camera=current_camera(revision))  # keeps the user's 3D camera (st.plotly_chart resets it)
    strip = viz.error_strip_figure(c.frame_err_mm, c.windows, frame=t, cmax_mm=float(cmax))
    for (name, err), dash in zip(floor_frames.items(), ("dot", "dash")):
        strip.add_scatter(x=np.arange(n), y=np.round(err, 1), mode="lines", name=name, hoverinfo="skip",
                          line=dict(color="grey", width=1, dash=dash))
    st.plotly_chart(strip, key="viewer_strip", on_select=_frame_from_strip, selection_mode=("points",),
                    config={"toImageButtonOptions": {"filename": f"{ctx.seq}_view{ctx.view}_error_strip"}})
    if floor_frames:
        st.caption("grey lines: the floors' error per frame (dotted flat lift, dashed flat + mean depth)")

    st.subheader("Action recognition per window")
    if not any(c.actions):
        st.info("This run has no motion-text embedding head, so it cannot name actions.")
        return
    pred = ctx.predictor()
    key = dict(zip(pred.labels, pred.bundle.vocab.keys)) if pred.bundle.vocab is not None else {}  # sentence -> label
    rows = []
    for (s, e), acts, truth in zip(c.windows.tolist(), c.actions, c.window_truth):
        top = acts[0][0] if acts else ""
        row = {"frames": f"{s}–{e - 1}", "ground truth": truth or "(none)",
               "top-1 action correct": ("✓" if acts and action_of(key.get(top, top)) == action_of(key.get(truth, truth))
                                        else "✗") if truth else "",
               "top-1 label correct": ("✓" if acts and top == truth else "✗") if truth else "",
               "at frame": "◀" if s <= t < e else ""}
        row.update({f"top-{i + 1}": f"{text} ({score:.2f})" for i, (text, score) in enumerate(acts[:3])})
        rows.append(row)
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption("score = softmax probability over the run's label vocabulary (learned temperature); action correct = "
               "the top label names the right action in any style, label correct = action and style; windows "
               "overlap, every frame is predicted once (blended)")
