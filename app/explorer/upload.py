"""Bring your own 2D: a COCO-17 / H36M-17 keypoint file -> 3D viewer, per-window actions, download."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

import actionpose as ap
from actionpose import viz

from .camera_chart import camera_chart
from .context import Ctx

LAYOUTS = ("auto", "coco17", "h36m17")


@st.cache_data(max_entries=8, show_spinner="lifting the uploaded keypoints…")
def _lift(run_dir: str, stamp: float, name: str, payload: bytes, layout: str, size: tuple[int, int] | None,
          fps: float, flip: bool) -> dict:
    """Reads the upload exactly as `actionpose infer` does; raises its one-line errors (named by the
    uploaded file's name, not the temporary path)."""
    from . import cache
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(name).name
        path.write_bytes(payload)
        try:
            res = cache.predictor(run_dir, stamp).predict_file(path, layout=layout, image_size=size, fps=fps,
                                                               flip=flip)
        except ValueError as e:
            raise ValueError(str(e).replace(str(path), Path(name).name)) from None
        out = {}
        for suffix in (".json", ".npz"):
            out[suffix] = res.save(Path(tmp) / f"{Path(name).stem}_3d{suffix}").read_bytes()
    return {"x2d": res.x2d, "y3d": res.y3d, "windows": res.windows, "actions": res.actions, "info": res.info,
            "masked": res.masked_frames, "files": out}


def render(ctx: Ctx) -> None:
    st.markdown("Upload 2D keypoints of one person — a JSON (list of frames of `[x, y, score]`, COCO results "
                "style, or `{\"keypoints\": ..., \"layout\": ...}`) or an NPZ with `keypoints [T, J, 3]` — in "
                "COCO-17 or H36M-17 order, pixels. The same reader as `actionpose infer`.")
    up = st.file_uploader("keypoint file", type=["json", "npz"], key="up_file")
    c1, c2, c3, c4, c5, c6 = st.columns(6)
    layout = c1.selectbox("layout", LAYOUTS, key="up_layout")
    w = int(c2.number_input("image width (px)", 1, 20_000, key="up_w"))
    h = int(c3.number_input("image height (px)", 1, 20_000, key="up_h"))
    fps = float(c4.number_input("fps", 1.0, 1000.0, key="up_fps"))
    scale = float(c5.number_input("mm per model unit", 1.0, 10_000.0, key="up_scale_mm",
                                  help="the model outputs root-relative 3D in normalised units; give the scale "
                                       "if known (display only)"))
    flip = c6.checkbox("flip TTA", key="up_flip")
    if up is None:
        st.info("No file yet. Example: `[[[x, y, score] × 17] per frame]` in pixels of a 1920×1080 video.")
        return
    r = _lift(*ctx.key, up.name, up.getvalue(), layout, (w, h), fps, bool(flip))
    n = len(r["y3d"])
    st.success(f"{up.name}: {n} frames, layout {r['info']['layout']}, {len(r['windows'])} windows, "
               f"{r['masked']} fully masked frames · lifted by {ctx.checkpoint_line}")
    fig = viz.pose_viewer_figure(r["x2d"], r["y3d"] * scale, None, None, image_size_wh=(w, h), fps=fps,
                                 title=up.name, uirevision=f"upload/{up.name}")
    camera_chart(fig, key="up_viewer")  # keeps the user's 3D camera
    st.caption(f"3D = model units × {scale:g} mm; no ground truth, so the skeleton is coloured left / right")
    if any(r["actions"]):
        rows = [{"frames": f"{s}–{e - 1}", **{f"top-{i + 1}": f"{t} ({p:.2f})" for i, (t, p) in enumerate(a[:3])}}
                for (s, e), a in zip(r["windows"].tolist(), r["actions"])]
        st.subheader("Actions per window")
        st.dataframe(pd.DataFrame(rows), hide_index=True)
    d1, d2 = st.columns(2)
    stem = Path(up.name).stem
    d1.download_button("download 3D (.json)", r["files"][".json"], file_name=f"{stem}_3d.json",
                       mime="application/json", key="up_dl_json")
    d2.download_button("download 3D (.npz)", r["files"][".npz"], file_name=f"{stem}_3d.npz",
                       mime="application/octet-stream", key="up_dl_npz")
    st.caption("same files as `actionpose infer --output …` (" + json.dumps(r["info"]) + ")")
