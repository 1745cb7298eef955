"""Bring your own 2D: a COCO-17 / H36M-17 keypoint file -> 3D viewer, per-window actions, download.

The file goes through the library's upload checks (`actionpose.keypoint_checks`, as `actionpose
infer`): several people -> pick one here; missing frames -> interpolate short gaps here; 3D given as
2D and 0-1 coordinates given with an image size -> refused with the library's one-line message."""
from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import pandas as pd
import streamlit as st

import actionpose as ap
from actionpose import viz

from .camera_chart import camera_chart
from .context import Ctx

LAYOUTS = ("auto", "coco17", "h36m17")
SCALES = ("unknown (model units)", "from the person's height")
DEFAULT_FILL_MAX = 15  # a gap this short (0.5 s at 30 fps) is interpolated by default when frames are missing


def _where(tmp: str | Path, name: str, text: str) -> str:
    """A library message about the temporary copy, naming the uploaded file instead."""
    return text.replace(str(Path(tmp) / Path(name).name), Path(name).name)


@st.cache_data(max_entries=8, show_spinner=False)
def _scan(name: str, payload: bytes) -> dict | None:
    """People per frame and missing frames of the upload (`ap.scan_keypoint_file`), None when unread."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(name).name
        path.write_bytes(payload)
        scan = ap.scan_keypoint_file(path)
    if scan is None:
        return None
    longest, run = 0, 0
    for n in scan.people.tolist():
        run = run + 1 if n == 0 else 0
        longest = max(longest, run)
    return {"people": int(scan.people.max(initial=0)), "multi": int((scan.people > 1).sum()),
            "frames": len(scan.frames), "missing": scan.missing, "longest_gap": longest, "field": scan.field}


@st.cache_data(max_entries=8, show_spinner="lifting the uploaded keypoints…")
def _lift(run_dir: str, stamp: float, name: str, payload: bytes, layout: str, size: tuple[int, int] | None,
          fps: float, flip: bool, person: int | None, fill_gaps: int) -> dict:
    """Reads the upload exactly as `actionpose infer` does; raises its one-line errors and returns its
    warnings (named by the uploaded file's name, not the temporary path)."""
    from . import cache
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(name).name
        path.write_bytes(payload)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                res = cache.predictor(run_dir, stamp).predict_file(path, layout=layout, image_size=size, fps=fps,
                                                                   flip=flip, person=person, fill_gaps=fill_gaps)
            except ValueError as e:
                raise ValueError(_where(tmp, name, str(e))) from None
        notes = list(dict.fromkeys(_where(tmp, name, str(w.message)) for w in caught))
        out = {}
        for suffix in (".json", ".npz"):
            out[suffix] = res.save(Path(tmp) / f"{Path(name).stem}_3d{suffix}").read_bytes()
    return {"x2d": res.x2d, "y3d": res.y3d, "windows": res.windows, "actions": res.actions, "info": res.info,
            "masked": res.masked_frames, "files": out, "warnings": notes}


def _input_fixes(name: str, scan: dict | None) -> tuple[int | None, int]:
    """Widgets for the fixes a file needs: which person, how long a gap to interpolate."""
    person = None
    c1, c2 = st.columns(2)
    if scan and scan["people"] > 1:
        st.warning(f"{name}: field {scan['field']}: several people in one file ({scan['multi']} of {scan['frames']} "
                   f"frames hold more than one entry, up to {scan['people']}): pick the one to lift")
        person = int(c1.selectbox("person", list(range(scan["people"])), key=f"up_person_{name}",
                                  format_func=lambda k: f"person {k} (entry {k} of each frame, file order)"))
    missing = scan["missing"] if scan else []
    default = 0
    if missing:
        default = scan["longest_gap"] if scan["longest_gap"] <= DEFAULT_FILL_MAX else 0
        st.warning(f"{name}: field {scan['field']}: {len(missing)} frame(s) missing (first: frame {missing[0]}; longest "
                   f"gap {scan['longest_gap']} frames)" + (": interpolated below (gaps up to the number you set)"
                                                           if default else ": too long to interpolate by default"))
    fill = int(c2.number_input("interpolate gaps of up to N frames (missing frames, NaN joints)", 0, 300,
                               value=default, key=f"up_fill_{name}",
                               help="joints missing for at most N frames between two frames where they are present "
                                    "are interpolated linearly; longer gaps stay masked input"))
    return person, fill


def _scaled(r: dict) -> tuple[object, str, str]:
    """The 3D to draw and its unit: model units (scale unknown) or mm from the person's height."""
    s1, s2 = st.columns([2, 1])
    how = s1.radio("3D scale", SCALES, key="up_scale", horizontal=True,
                   help="the model lifts to normalised units: pixels carry no metric scale of their own")
    if how == SCALES[0]:
        return r["y3d"], "model units", ("3D in the model's normalised units: the metric scale is unknown "
                                         "(give the person's height for millimetres)")
    height = float(s2.number_input("person's height (mm)", 500.0, 2500.0, key="up_height_mm"))
    mm_per_unit = ap.mm_per_unit_from_height(r["y3d"], height)
    return r["y3d"] * mm_per_unit, "mm", (f"3D in mm: scaled ({mm_per_unit:.0f} mm per model unit) so that the "
                                          f"head-to-ankle bone path is {height:.0f} mm — a scale you gave, not one "
                                          "the model measured")


def render(ctx: Ctx) -> None:
    st.markdown("Upload 2D keypoints of one person — a JSON (list of frames of `[x, y, score]`, COCO results "
                "style, or `{\"keypoints\": ..., \"layout\": ...}`) or an NPZ with `keypoints [T, J, 3]` — in "
                "COCO-17 or H36M-17 order, pixels. The same reader and checks as `actionpose infer`.")
    up = st.file_uploader("keypoint file", type=["json", "npz"], key="up_file")
    c1, c2, c3, c4, c5 = st.columns(5)
    layout = c1.selectbox("layout", LAYOUTS, key="up_layout")
    w = int(c2.number_input("image width (px)", 1, 20_000, key="up_w"))
    h = int(c3.number_input("image height (px)", 1, 20_000, key="up_h"))
    fps = float(c4.number_input("fps", 1.0, 1000.0, key="up_fps"))
    flip = c5.checkbox("flip TTA", key="up_flip")
    if up is None:
        st.info("No file yet. Example: `[[[x, y, score] × 17] per frame]` in pixels of a 1920×1080 video.")
        return
    payload = up.getvalue()
    person, fill = _input_fixes(up.name, _scan(up.name, payload))
    r = _lift(*ctx.key, up.name, payload, layout, (w, h), fps, bool(flip), person, fill)
    for note in r["warnings"]:
        st.warning(note)
    n = len(r["y3d"])
    filled = r["info"].get("filled_keypoints") or 0
    line = (f"{up.name}: {n} frames, layout {r['info']['layout']}, {len(r['windows'])} windows, "
            f"{r['masked']} fully masked frames" + (f", {filled} keypoints interpolated" if filled else "") +
            (f", person {person}" if person is not None else "") + f" · lifted by {ctx.checkpoint_line}")
    (st.info if r["warnings"] else st.success)(line)
    y3d, unit, caption = _scaled(r)
    fig = viz.pose_viewer_figure(r["x2d"], y3d, None, None, image_size_wh=(w, h), fps=fps,
                                 title=up.name, uirevision=f"upload/{up.name}")
    if unit != "mm":
        fig.update_scenes(xaxis_title=f"x ({unit})", yaxis_title=f"depth ({unit})", zaxis_title=f"up ({unit})")
    camera_chart(fig, key="up_viewer", filename=f"{Path(up.name).stem}_3d")  # keeps the user's 3D camera
    st.caption(caption + "; no ground truth, so the skeleton is coloured left / right and no error is shown")
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
