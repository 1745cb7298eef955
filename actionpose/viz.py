"""Figures (L4): numpy in, plotly Figure out. No torch import here, so the app stays light."""
from __future__ import annotations

import textwrap

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .skeleton import H36M17_NAMES, H36M17_PARENTS

_LEFT = {4, 5, 6, 11, 12, 13}
_RIGHT = {1, 2, 3, 14, 15, 16}


def _bone_color(j: int) -> str:
    return "#1f77b4" if j in _LEFT else "#d62728" if j in _RIGHT else "#444444"


def _segments(pose: np.ndarray, dims: int) -> list[list[float | None]]:
    """Line coordinates (with None breaks) for all bones of one pose `[17, C]` -> per-axis lists."""
    axes: list[list[float | None]] = [[] for _ in range(dims)]
    for j, p in enumerate(H36M17_PARENTS):
        if p < 0:
            continue
        for a in range(dims):
            axes[a] += [float(pose[p, a]), float(pose[j, a]), None]
    return axes


def _to_display_3d(y3d: np.ndarray) -> np.ndarray:
    """Camera frame (x right, y down, z forward) -> plot frame (x right, y forward, z up)."""
    return np.stack([y3d[..., 0], y3d[..., 2], -y3d[..., 1]], axis=-1)


def scene_ranges(points: np.ndarray, margin: float = 0.1) -> list[tuple[float, float]]:
    """Axis ranges `[(lo, hi)] * 3` that hold every finite point of `points [..., 3]` (plot frame) with
    a margin of `margin` × the largest extent on every side; an axis that is flat (e.g. a pose with no
    depth) still gets at least 0.3 × the largest extent so the view does not collapse."""
    p = np.asarray(points, dtype=float).reshape(-1, 3)
    p = p[np.isfinite(p).all(axis=1)]
    if p.size == 0:
        return [(-1.0, 1.0)] * 3
    lo, hi = p.min(axis=0), p.max(axis=0)
    span = float(max((hi - lo).max(), 1e-6))
    half = np.maximum((hi - lo) / 2, 0.15 * span) + margin * span
    mid = (lo + hi) / 2
    return [(float(m - h), float(m + h)) for m, h in zip(mid, half)]


# The initial camera: in front of the subject (the input camera looks along +depth), a little to its
# right and above, at a distance where a box of aspect ratio ≤ 1 fits in the scene's viewport.
SCENE_EYE = dict(x=0.9, y=-1.6, z=0.6)


def skeleton_scene(points: np.ndarray, margin: float = 0.1, **axes) -> dict:
    """A plotly `scene` layout showing all of `points [..., 3]` (plot frame: x right, y depth, z up) at
    the initial camera: fixed ranges from `scene_ranges` (so nothing is clipped by autorange or
    cropped by the aspect), equal scale on every axis (aspect ratio ∝ the ranges, the largest 1: plotly's
    `aspectmode="data"` normalises the *product* to 1, which for a tall skeleton makes the up axis ~2.7
    and pushes head and feet out of the view), and the camera `SCENE_EYE`. `axes`: extra keyword
    settings per axis name (`xaxis=dict(title=...)`)."""
    ranges = scene_ranges(points, margin)
    spans = [hi - lo for lo, hi in ranges]
    top = max(spans)
    scene = dict(aspectmode="manual", aspectratio=dict(zip("xyz", (s / top for s in spans))),
                 camera=dict(eye=dict(SCENE_EYE), up=dict(x=0, y=0, z=1), center=dict(x=0, y=0, z=0)))
    for name, (lo, hi) in zip(("xaxis", "yaxis", "zaxis"), ranges):
        # few ticks: a short axis (depth) otherwise gets as many labels as the long one, overprinted
        scene[name] = dict(range=[lo, hi], autorange=False, nticks=5, **axes.get(name, {}))
    return scene


def pose3d_figure(y3d: np.ndarray, gt3d: np.ndarray | None = None, title: str = "") -> go.Figure:
    """One 3D pose `[17, 3]` (camera frame), optionally over the ground truth."""
    fig = go.Figure()
    for pose, name, color in ((gt3d, "ground truth", "#999999"), (y3d, "prediction", "#d62728")):
        if pose is None:
            continue
        d = _to_display_3d(np.asarray(pose, dtype=float))
        xs, ys, zs = _segments(d, 3)
        fig.add_trace(go.Scatter3d(x=xs, y=ys, z=zs, mode="lines", name=name, line=dict(color=color, width=6)))
        fig.add_trace(go.Scatter3d(x=d[:, 0], y=d[:, 1], z=d[:, 2], mode="markers", showlegend=False,
                                   marker=dict(size=3, color=color), text=list(H36M17_NAMES)))
    shown = [np.asarray(p, dtype=float) for p in (gt3d, y3d) if p is not None]
    fig.update_layout(title=title, scene=skeleton_scene(_to_display_3d(np.stack(shown))),
                      margin=dict(l=0, r=0, t=30, b=0))
    return fig


def animation_figure(x2d: np.ndarray, y3d: np.ndarray, title: str = "", max_frames: int = 300) -> go.Figure:
    """2D input `[N, 17, 3]` beside the 3D prediction `[N, 17, 3]`, animated (every k-th frame so at
    most `max_frames` frames are embedded; the file stays small for long inputs)."""
    n = len(y3d)
    step = max(1, int(np.ceil(n / max_frames)))
    idx = list(range(0, n, step))
    d3 = _to_display_3d(np.asarray(y3d, dtype=float))
    x2 = np.asarray(x2d, dtype=float)

    def traces(i: int) -> list:
        u, v = _segments(np.stack([x2[i, :, 0], -x2[i, :, 1]], axis=-1), 2)
        xs, ys, zs = _segments(d3[i], 3)
        return [go.Scatter(x=u, y=v, mode="lines+markers", line=dict(color="#1f77b4"), name="2D input"),
                go.Scatter3d(x=xs, y=ys, z=zs, mode="lines", line=dict(color="#d62728", width=6), name="3D")]

    fig = make_subplots(rows=1, cols=2, specs=[[{"type": "xy"}, {"type": "scene"}]],
                        subplot_titles=("2D input (normalised)", "3D prediction (root-relative)"))
    for k, tr in enumerate(traces(idx[0])):
        fig.add_trace(tr, row=1, col=k + 1)
    fig.frames = [go.Frame(data=traces(i), name=str(i), traces=[0, 1]) for i in idx]
    fig.update_layout(
        title=title, showlegend=False, margin=dict(l=10, r=10, t=50, b=10),
        scene=skeleton_scene(d3[idx], xaxis=dict(title="x (right)"), yaxis=dict(title="depth"),
                             zaxis=dict(title="up")),  # ranges over every shown frame: fixed while playing
        updatemenus=[dict(type="buttons", buttons=[
            dict(label="play", method="animate", args=[None, {"frame": {"duration": 33}, "fromcurrent": True}]),
            dict(label="pause", method="animate", args=[[None], {"mode": "immediate"}])])],
        sliders=[dict(steps=[dict(label=str(i), method="animate", args=[[str(i)], {"mode": "immediate"}]) for i in idx])],
    )
    fig.update_yaxes(scaleanchor="x", row=1, col=1)
    return fig


def per_joint_figure(errors_mm: dict[str, float], title: str = "MPJPE per joint") -> go.Figure:
    names = [n for n in H36M17_NAMES if n in errors_mm]
    fig = go.Figure(go.Bar(x=names, y=[errors_mm[n] for n in names]))
    fig.update_layout(title=title, yaxis_title="mm", margin=dict(l=10, r=10, t=40, b=10))
    return fig


def error_timeline_figure(errors_mm: np.ndarray, title: str = "MPJPE per frame") -> go.Figure:
    fig = go.Figure(go.Scatter(y=np.asarray(errors_mm, dtype=float), mode="lines"))
    fig.update_layout(title=title, xaxis_title="frame", yaxis_title="mm", margin=dict(l=10, r=10, t=40, b=10))
    return fig


def embedding_figure(points: np.ndarray, labels: list[str], kinds: list[str], title: str = "") -> go.Figure:
    """2D projection of motion embeddings (kind 'motion') and label-text embeddings (kind 'text'):
    `points [P, 2]`, `labels [P]`, `kinds [P]`. Each label gets its own colour/symbol pair."""
    pts = np.asarray(points, dtype=float)
    kinds_arr = np.array(kinds)
    labels_arr = np.array(labels)
    styles = label_styles(labels_arr.tolist())
    fig = go.Figure()
    for kind, size in (("motion", 7), ("text", 16)):
        sel = kinds_arr == kind
        if not sel.any():
            continue
        labs = labels_arr[sel].tolist()
        fig.add_trace(go.Scatter(
            x=pts[sel, 0], y=pts[sel, 1], mode="markers", name=kind,
            marker=dict(symbol=[styles[x][1] if kind == "motion" else "star" for x in labs], size=size,
                        color=[styles[x][0] for x in labs],
                        line=dict(width=1, color="black") if kind == "text" else dict(width=0)),
            text=labs, hovertemplate="%{text}<extra>" + kind + "</extra>"))
    fig.update_layout(title=title, margin=dict(l=10, r=10, t=40, b=10))
    return fig


# 12 colours x 3 symbols = 36 distinguishable (colour, symbol) pairs; labels are assigned in sorted
# order, colour first, so neighbours in the alphabet never share a colour.
# Colour = the action (content), symbol = the style: a Bandai label "content|style" keeps its action's
# colour whatever its style, so the 24 actions read as 24 colours and a style is a marker shape.
# Plotly's Dark24 then Light24 qualitative palettes: 48 colours, neighbours in the alphabet never alike.
LABEL_COLORS = tuple(pc.qualitative.Dark24) + tuple(pc.qualitative.Light24)
# 2D marker symbols that stay distinct at size 8 (the projector and embedding plots are 2D scatters).
LABEL_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "triangle-down", "cross", "x", "pentagon",
                 "hexagon", "star-triangle-up", "triangle-left", "triangle-right", "hourglass", "bowtie",
                 "diamond-wide", "diamond-tall", "octagon", "star-square", "triangle-ne", "triangle-sw",
                 "hexagon2", "star-diamond", "square-x", "circle-x")
UNLABELLED = ("#c7c7c7", "circle-open")


def label_styles(labels: list[str]) -> dict[str, tuple[str, str]]:
    """Each distinct label -> (colour, marker symbol); '' / '(unlabelled)' grey.

    Labels "content|style": colour by content, symbol by style (distinct pairs for up to 48 contents x
    24 styles). Plain labels: colour first, then symbol (distinct for up to 48 x 24 labels)."""
    out: dict[str, tuple[str, str]] = {}
    uniq = sorted({x for x in labels if x and x != "(unlabelled)"})
    nc, ns = len(LABEL_COLORS), len(LABEL_SYMBOLS)
    contents = sorted({x.split("|", 1)[0] for x in uniq})
    styles = sorted({x.split("|", 1)[1] for x in uniq if "|" in x})
    for i, lab in enumerate(uniq):
        if "|" in lab:
            content, style = lab.split("|", 1)
            ci, si = contents.index(content), styles.index(style) + 1  # symbol 0 = the content label itself
            out[lab] = (LABEL_COLORS[ci % nc], LABEL_SYMBOLS[(si + ci // nc) % ns])
        elif styles:  # a bare content among content|style labels (e.g. a content-only text anchor)
            ci = contents.index(lab)
            out[lab] = (LABEL_COLORS[ci % nc], LABEL_SYMBOLS[(ci // nc) % ns])
        else:
            out[lab] = (LABEL_COLORS[i % nc], LABEL_SYMBOLS[(i // nc) % ns])
    out[""] = out["(unlabelled)"] = UNLABELLED
    return out


def pose2d_figure(x2d: np.ndarray, hidden: np.ndarray | None = None, title: str = "") -> go.Figure:
    """One 2D pose `[17, 2+]` in screen-normalised coordinates (y down), drawn upright. Joints with
    `hidden[j]` True (or confidence 0 in a third column) are drawn as grey crosses at `x2d`'s position
    and their bones dashed, so a masked input can be shown over the clean one."""
    p = np.asarray(x2d, dtype=float)
    hid = np.zeros(len(p), dtype=bool) if hidden is None else np.asarray(hidden, dtype=bool).copy()
    if hidden is None and p.shape[-1] > 2:
        hid |= p[:, 2] <= 0
    uv = np.stack([p[:, 0], -p[:, 1]], axis=-1)
    fig = go.Figure()
    for show_hidden, name, dash, color in ((False, "visible", "solid", "#1f77b4"), (True, "hidden", "dot", "#bbbbbb")):
        xs, ys = [], []
        for j, par in enumerate(H36M17_PARENTS):
            if par < 0 or (hid[j] or hid[par]) != show_hidden:
                continue
            xs += [uv[par, 0], uv[j, 0], None]
            ys += [uv[par, 1], uv[j, 1], None]
        if xs:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"{name} bones",
                                     line=dict(color=color, dash=dash, width=3), hoverinfo="skip"))
    for sel, name, symbol, color in ((~hid, "visible joints", "circle", "#1f77b4"), (hid, "hidden joints", "x", "#999999")):
        if sel.any():
            fig.add_trace(go.Scatter(x=uv[sel, 0], y=uv[sel, 1], mode="markers", name=name,
                                     marker=dict(symbol=symbol, size=8, color=color),
                                     text=[H36M17_NAMES[j] for j in np.flatnonzero(sel)],
                                     hovertemplate="%{text}<extra></extra>"))
    fig.update_layout(title=title, margin=dict(l=10, r=10, t=40, b=10), showlegend=bool(hid.any()))
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


MASK_KINDS = ("visible", "random joint", "random frame", "body part", "time window")
_MASK_COLORS = ("#f0f0f0", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")


def mask_figure(kinds: np.ndarray, title: str = "") -> go.Figure:
    """Which keypoints a clip's masks hide: `kinds [T, 17]` integer codes indexing `MASK_KINDS`
    (0 = visible), drawn as a joints × frames map."""
    k = np.asarray(kinds, dtype=int)
    n = len(MASK_KINDS)
    # A discrete colour scale: each code owns one equal band of [0, 1].
    scale = []
    for i, c in enumerate(_MASK_COLORS):
        scale += [[i / n, c], [(i + 1) / n, c]]
    fig = go.Figure(go.Heatmap(
        z=k.T, x=np.arange(k.shape[0]), y=list(H36M17_NAMES[: k.shape[1]]), zmin=-0.5, zmax=n - 0.5,
        colorscale=scale, customdata=np.array(MASK_KINDS, dtype=object)[k.T],
        hovertemplate="frame %{x}, %{y}: %{customdata}<extra></extra>",
        colorbar=dict(tickvals=list(range(n)), ticktext=list(MASK_KINDS), title="")))
    fig.update_layout(title=title, xaxis_title="frame", margin=dict(l=10, r=10, t=40, b=10))
    return fig


def curves_figure(series: dict[str, tuple[np.ndarray, np.ndarray]], title: str = "", xaxis_title: str = "step",
                  yaxis_title: str = "", log_y: bool = False) -> go.Figure:
    """Named curves, each its own `(x, y)` (training curves logged at different steps, per-window scores)."""
    fig = go.Figure()
    for name, (x, y) in series.items():
        fig.add_trace(go.Scatter(x=np.asarray(x), y=np.asarray(y, dtype=float), mode="lines+markers",
                                 name=name, marker=dict(size=4)))
    fig.update_layout(title=title, xaxis_title=xaxis_title, yaxis_title=yaxis_title,
                      margin=dict(l=10, r=10, t=40, b=10), yaxis_type="log" if log_y else "linear")
    return fig


# ------------------------------------------------------------------------------ the 3D + 2D viewer

SIDE_COLORS = {"left": "#1f77b4", "right": "#ff7f0e", "centre": "#555555"}
GT_SIDE_COLORS = {"left": "#9ecae1", "right": "#fdbf6f", "centre": "#bdbdbd"}
SIDE_SYMBOLS_3D = {"left": "circle", "right": "diamond", "centre": "square"}
# Error colour scale (mm): blue (good) -> green -> orange -> red (bad), fixed range, see `cmax_mm`.
ERROR_COLORSCALE = [[0.0, "#2166ac"], [0.3, "#1a9850"], [0.6, "#f1a340"], [1.0, "#b2182b"]]
DEFAULT_CMAX_MM = 200.0


def _side(j: int) -> str:
    return "left" if j in _LEFT else "right" if j in _RIGHT else "centre"


def _bones_of(side: str) -> list[tuple[int, int]]:
    """(parent, child) bones whose child joint is on `side`."""
    return [(p, j) for j, p in enumerate(H36M17_PARENTS) if p >= 0 and _side(j) == side]


def _lines(pose: np.ndarray, bones: list[tuple[int, int]], dims: int) -> list[list[float | None]]:
    axes: list[list[float | None]] = [[] for _ in range(dims)]
    for p, j in bones:
        for a in range(dims):
            axes[a] += [float(pose[p, a]), float(pose[j, a]), None]
    return axes


def _padded_range(values: np.ndarray, pad: float = 0.08) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return -1.0, 1.0
    lo, hi = float(v.min()), float(v.max())
    span = max(hi - lo, 1e-6)
    return lo - pad * span, hi + pad * span


def viewer_frame_indices(n: int, max_frames: int = 300) -> list[int]:
    """The frames embedded in the viewer's animation: every k-th so at most `max_frames`."""
    step = max(1, int(np.ceil(n / max_frames)))
    return list(range(0, n, step))


def pose_viewer_figure(x2d: np.ndarray, pred_mm: np.ndarray, gt_mm: np.ndarray | None = None,
                       joint_err_mm: np.ndarray | None = None, *, image_size_wh: tuple[int, int] | None = None,
                       frame: int = 0, color_by: str = "error", links: bool = False,
                       cmax_mm: float = DEFAULT_CMAX_MM, low_confidence: float = 0.5, max_frames: int = 300,
                       fps: float = 30.0, title: str = "", uirevision: str = "viewer") -> go.Figure:
    """The 2D input beside the 3D prediction, animated client-side (play/pause + frame slider).

    x2d `[N, 17, 3]` screen-normalised (x, y, conf); pred_mm, gt_mm `[N, 17, 3]` root-relative camera
    frame (mm); joint_err_mm `[N, 17]`. `color_by="error"` colours predicted joints and bones by their
    error on a fixed 0..`cmax_mm` colour bar (left joints circles, right diamonds); `"side"` draws
    left/right in two hues. The ground truth is drawn thin in light left/right hues. Axis ranges are
    fixed over the whole sequence and `uirevision` keeps the user's camera across reruns. The 2D panel
    shows the image border, low-confidence joints (hollow), masked joints (listed in the title) and
    joints off screen (red ring). The figure opens at `frame`.
    """
    # Rounded (0.1 mm, 1e-3 screen units) so the embedded animation stays small.
    x2 = np.round(np.asarray(x2d, dtype=float), 3)
    pr = np.round(_to_display_3d(np.asarray(pred_mm, dtype=float)), 1)
    gt = None if gt_mm is None else np.round(_to_display_3d(np.asarray(gt_mm, dtype=float)), 1)
    n = len(pr)
    if x2.shape[:2] != pr.shape[:2] or (gt is not None and gt.shape != pr.shape):
        raise ValueError(f"pose_viewer_figure: x2d {x2.shape}, pred_mm {pr.shape}, gt_mm "
                         f"{None if gt is None else gt.shape} must share [N, 17]")
    err = None if joint_err_mm is None else np.round(np.asarray(joint_err_mm, dtype=float), 1)
    if color_by not in ("error", "side"):
        raise ValueError(f"pose_viewer_figure: color_by {color_by!r}, expected 'error' or 'side'")
    if err is None:
        color_by = "side"
    idx = viewer_frame_indices(n, max_frames)
    frame = int(np.clip(frame, 0, n - 1))
    start = min(range(len(idx)), key=lambda k: abs(idx[k] - frame))
    hx, hy = (1.0, 1.0) if image_size_wh is None else (1.0, image_size_wh[1] / image_size_wh[0])
    present = x2[..., 2] > 0
    off = present & ((np.abs(x2[..., 0]) > hx) | (np.abs(x2[..., 1]) > hy))
    names = list(H36M17_NAMES)
    sides = ("left", "right", "centre")

    def traces(t: int) -> list:
        out = []
        uv = np.stack([x2[t, :, 0], -x2[t, :, 1]], axis=-1)
        vis = present[t]
        for side in sides:  # 2D bones by side (bones touching a masked joint are left out)
            bones = [(p, j) for p, j in _bones_of(side) if vis[p] and vis[j]]
            u, v = _lines(uv, bones, 2)
            out.append(dict(type="scatter", xaxis="x", yaxis="y", x=u, y=v, mode="lines", line=dict(color=SIDE_COLORS[side], width=3),
                                  hoverinfo="skip", showlegend=False))
        conf = x2[t, :, 2]
        sure = vis & (conf >= low_confidence)
        unsure = vis & (conf < low_confidence)
        for sel, sym, name in ((sure, "circle", "confident"), (unsure, "circle-open", f"conf < {low_confidence:g}")):
            j = np.flatnonzero(sel)
            out.append(dict(type="scatter", xaxis="x", yaxis="y", x=uv[j, 0].tolist(), y=uv[j, 1].tolist(), mode="markers", name=f"2D {name}",
                                  marker=dict(symbol=sym, size=8, color=[SIDE_COLORS[_side(k)] for k in j],
                                              line=dict(width=2, color=[SIDE_COLORS[_side(k)] for k in j])),
                                  text=[f"{names[k]} · conf {conf[k]:.2f}" for k in j],
                                  hovertemplate="%{text}<extra></extra>", showlegend=False))
        j = np.flatnonzero(off[t])
        out.append(dict(type="scatter", xaxis="x", yaxis="y", x=uv[j, 0].tolist(), y=uv[j, 1].tolist(), mode="markers", name="off screen", showlegend=False,
                              marker=dict(symbol="circle-open", size=16, color="#d62728", line=dict(width=2)),
                              text=[f"{names[k]} off screen" for k in j], hovertemplate="%{text}<extra></extra>"))
        if gt is not None:
            for side in sides:
                xs, ys, zs = _lines(gt[t], _bones_of(side), 3)
                out.append(dict(type="scatter3d", scene="scene", x=xs, y=ys, z=zs, mode="lines", hoverinfo="skip", showlegend=False,
                                        line=dict(color=GT_SIDE_COLORS[side], width=4)))
        if color_by == "error":
            bones = [(p, j) for j, p in enumerate(H36M17_PARENTS) if p >= 0]
            xs, ys, zs = _lines(pr[t], bones, 3)
            e = np.nan_to_num(err[t], nan=0.0)
            col = []
            for _p, j in bones:
                col += [float(e[j]), float(e[j]), 0.0]
            out.append(dict(type="scatter3d", scene="scene", x=xs, y=ys, z=zs, mode="lines", hoverinfo="skip", showlegend=False,
                                    line=dict(color=col, colorscale=ERROR_COLORSCALE, cmin=0, cmax=cmax_mm, width=8)))
        else:
            for side in sides:
                xs, ys, zs = _lines(pr[t], _bones_of(side), 3)
                out.append(dict(type="scatter3d", scene="scene", x=xs, y=ys, z=zs, mode="lines", hoverinfo="skip", showlegend=False,
                                        line=dict(color=SIDE_COLORS[side], width=8)))
        etxt = [f"{names[k]}" + ("" if err is None or not np.isfinite(err[t, k]) else f" · {err[t, k]:.0f} mm")
                for k in range(17)]
        marker = dict(size=5, symbol=[SIDE_SYMBOLS_3D[_side(k)] for k in range(17)])
        if color_by == "error":
            marker.update(color=np.nan_to_num(err[t], nan=0.0).tolist(), colorscale=ERROR_COLORSCALE, cmin=0, cmax=cmax_mm,
                          colorbar=dict(title=dict(text="error (mm)"), len=0.8, x=1.0, thickness=14))
        else:
            marker.update(color=[SIDE_COLORS[_side(k)] for k in range(17)])
        out.append(dict(type="scatter3d", scene="scene", x=pr[t, :, 0].tolist(), y=pr[t, :, 1].tolist(), z=pr[t, :, 2].tolist(), mode="markers", marker=marker,
                                text=etxt, hovertemplate="%{text}<extra>prediction</extra>", showlegend=False))
        if links and gt is not None:
            xs, ys, zs = [], [], []
            for k in range(17):
                for a, b in ((xs, 0), (ys, 1), (zs, 2)):
                    a += [float(pr[t, k, b]), float(gt[t, k, b]), None]
            out.append(dict(type="scatter3d", scene="scene", x=xs, y=ys, z=zs, mode="lines", hoverinfo="skip", showlegend=False,
                                    line=dict(color="#444444", width=2, dash="dot")))
        return out

    def frame_title(t: int) -> str:
        parts = [f"frame {t}"]
        if err is not None and np.isfinite(err[t]).any():
            parts.append(f"MPJPE {np.nanmean(err[t]):.1f} mm")
        k = int(off[t].sum())
        if k:
            parts.append(f"⚠ {k} joint{'s' * (k > 1)} off screen")
        m = int((~present[t]).sum())
        if m:
            parts.append(f"{m} masked: " + ", ".join(names[j] for j in np.flatnonzero(~present[t])))
        return (title + " — " if title else "") + " · ".join(parts)

    fig = make_subplots(rows=1, cols=2, column_widths=[0.38, 0.62], horizontal_spacing=0.02,
                        specs=[[{"type": "xy"}, {"type": "scene"}]],
                        subplot_titles=("2D input (screen-normalised; box = image border)",
                                        "3D: prediction" + (" coloured by error" if color_by == "error" else "")
                                        + (" · ground truth (light)" if gt is not None else "")))
    first = traces(idx[start])
    fig.add_traces(first)
    # The image border is static and drawn last so frames only touch the pose traces (0..len(first)-1).
    fig.add_trace(go.Scatter(x=[-hx, hx, hx, -hx, -hx], y=[-hy, -hy, hy, hy, -hy], mode="lines",
                             line=dict(color="#222222", width=1, dash="dash"), hoverinfo="skip", showlegend=False),
                  row=1, col=1)
    moving = list(range(len(first)))
    frames = [dict(data=traces(i), name=str(i), traces=moving, layout=dict(title=dict(text=frame_title(i))))
              for i in idx]
    # Fixed ranges over the whole sequence (no rescaling while playing); equal scale on every axis.
    both = pr if gt is None else np.concatenate([pr, gt])
    ranges = [_padded_range(both[..., a]) for a in range(3)]
    half = max((hi - lo) / 2 for lo, hi in ranges)
    mids = [(lo + hi) / 2 for lo, hi in ranges]
    ax = dict(showbackground=True, backgroundcolor="#f7f7f7", zeroline=False)
    scene = dict(aspectmode="cube", uirevision=uirevision,
                 xaxis=dict(range=[mids[0] - half, mids[0] + half], title="x (mm)", **ax),
                 yaxis=dict(range=[mids[1] - half, mids[1] + half], title="depth (mm)", **ax),
                 zaxis=dict(range=[mids[2] - half, mids[2] + half], title="up (mm)", **ax),
                 camera=dict(eye=dict(x=1.3, y=-1.6, z=0.6)))
    uvx = np.concatenate([x2[..., 0][present], [-hx, hx]])
    uvy = np.concatenate([-x2[..., 1][present], [-hy, hy]])
    dur = max(10, int(1000 / max(fps, 1.0)) * (idx[1] - idx[0] if len(idx) > 1 else 1))
    play = dict(label="▶ play", method="animate",
                args=[None, {"frame": {"duration": dur, "redraw": True}, "fromcurrent": True,
                             "transition": {"duration": 0}, "mode": "immediate"}])
    pause = dict(label="❚❚ pause", method="animate",
                 args=[[None], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}])
    fig.update_layout(
        title=dict(text=frame_title(idx[start]), x=0.01, font=dict(size=14)), scene=scene, uirevision=uirevision,
        height=560, margin=dict(l=10, r=10, t=70, b=10), showlegend=False,
        updatemenus=[dict(type="buttons", direction="left", x=0.0, y=-0.02, xanchor="left", yanchor="top",
                          pad=dict(t=10, r=10), buttons=[play, pause], showactive=False)],
        sliders=[dict(active=start, x=0.2, y=-0.02, len=0.8, yanchor="top", pad=dict(t=10),
                      currentvalue=dict(prefix="frame ", visible=True),
                      steps=[dict(label=str(i), method="animate",
                                  args=[[str(i)], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate",
                                                   "transition": {"duration": 0}}]) for i in idx])])
    fig.update_xaxes(range=list(_padded_range(uvx, 0.05)), row=1, col=1, zeroline=False, showticklabels=False)
    fig.update_yaxes(range=list(_padded_range(uvy, 0.05)), row=1, col=1, zeroline=False, showticklabels=False,
                     scaleanchor="x", scaleratio=1)
    # Frames are plain dicts built above; skipping plotly's per-object validation keeps this fast.
    out = fig.to_dict()
    out["frames"] = frames
    return go.Figure(out, _validate=False)


def error_strip_figure(frame_err_mm: np.ndarray, windows: np.ndarray | None = None, frame: int | None = None,
                       cmax_mm: float = DEFAULT_CMAX_MM, title: str = "MPJPE per frame (click to open a frame)",
                       fps: float | None = None) -> go.Figure:
    """Per-frame MPJPE `[N]` as a clickable line coloured on the viewer's fixed error scale; the worst
    frame is starred, `frame` marked, window bounds `[W, 2]` shaded alternately."""
    e = np.asarray(frame_err_mm, dtype=float)
    t = np.arange(len(e))
    fig = go.Figure()
    if windows is not None:
        for k, (s, w_end) in enumerate(np.asarray(windows).tolist()):
            if k % 2 == 0:
                fig.add_vrect(x0=s - 0.5, x1=w_end - 0.5, fillcolor="#eeeeee", line_width=0, layer="below")
    fig.add_trace(go.Scatter(x=t, y=e, mode="lines+markers", name="MPJPE",
                             line=dict(color="#888888", width=1),
                             marker=dict(size=6, color=np.nan_to_num(e), colorscale=ERROR_COLORSCALE, cmin=0,
                                         cmax=cmax_mm),
                             hovertemplate="frame %{x}: %{y:.1f} mm<extra></extra>"))
    if np.isfinite(e).any():
        w = int(np.nanargmax(e))
        fig.add_trace(go.Scatter(x=[w], y=[e[w]], mode="markers", name="worst frame",
                                 marker=dict(symbol="star", size=14, color="#b2182b", line=dict(width=1, color="black")),
                                 hovertemplate=f"worst frame {w}: {e[w]:.1f} mm<extra></extra>"))
    if frame is not None:
        fig.add_vline(x=frame, line_dash="dot", line_color="#333333")
    fig.update_layout(title=title, xaxis_title="frame", yaxis_title="mm", height=220, showlegend=False,
                      margin=dict(l=10, r=10, t=40, b=10))
    return fig


# ------------------------------------------------------------------------------------ projector

def projector_figure(motion_xy: np.ndarray, motion_labels: list[str], motion_hover: list[str],
                     text_xy: np.ndarray | None = None, text_labels: list[str] | None = None,
                     text_hover: list[str] | None = None, query_xy: np.ndarray | None = None,
                     query_texts: list[str] | None = None, highlight: list[int] | None = None,
                     title: str = "", note: str = "") -> go.Figure:
    """Motion windows `[W, 2]` as one trace per label (colour + symbol from `label_styles`, so the
    legend toggles a class), label texts `[L, 2]` as stars, typed queries `[Q, 2]` as black crosses.
    Each motion point's `customdata` is its row in the window table, for click/lasso selection.
    `highlight`: window rows drawn with a thick black ring (e.g. a query's nearest neighbours).
    `note` is printed under the title (the projection method and how texts were placed)."""
    xy = np.asarray(motion_xy, dtype=float)
    labs = np.array([x or "(unlabelled)" for x in motion_labels])
    styles = label_styles(labs.tolist() + list(text_labels or []))
    hover = np.array(motion_hover, dtype=object)
    fig = go.Figure()
    order = sorted(set(labs.tolist()), key=lambda x: (x == "(unlabelled)", x))
    for lab in order:
        rows = np.flatnonzero(labs == lab)
        col, sym = styles[lab]
        fig.add_trace(go.Scatter(x=xy[rows, 0], y=xy[rows, 1], mode="markers", name=lab, legendgroup=lab,
                                 customdata=rows, hovertext=hover[rows], hoverinfo="text",
                                 marker=dict(size=10, color=col, symbol=sym, opacity=0.85,
                                             line=dict(width=0.5, color="white"))))
    if text_xy is not None and text_labels:
        txy = np.asarray(text_xy, dtype=float)
        fig.add_trace(go.Scatter(x=txy[:, 0], y=txy[:, 1], mode="markers", name="label texts ★",
                                 hovertext=text_hover or list(text_labels), hoverinfo="text",
                                 marker=dict(symbol="star", size=13, color=[styles[x][0] for x in text_labels],
                                             line=dict(width=1, color="black"), opacity=0.9)))
    if highlight:
        h = np.asarray(highlight, dtype=int)
        fig.add_trace(go.Scatter(x=xy[h, 0], y=xy[h, 1], mode="markers", name="nearest to the query",
                                 customdata=h, hovertext=hover[h], hoverinfo="text",
                                 marker=dict(size=15, color="rgba(0,0,0,0)", line=dict(width=2.5, color="black"))))
    if query_xy is not None and query_texts:
        q = np.asarray(query_xy, dtype=float)
        fig.add_trace(go.Scatter(x=q[:, 0], y=q[:, 1], mode="markers+text", name="query ✚",
                                 text=[f"“{t}”" for t in query_texts], textposition="top center",
                                 hovertext=[f"query: {t}" for t in query_texts], hoverinfo="text",
                                 marker=dict(symbol="cross-thin", size=22, color="black", line=dict(width=3))))
    lines = [f"<sup>{x}</sup>" for x in textwrap.wrap(note, 150)] if note else []
    fig.update_layout(
        title=dict(text="<br>".join([title] + lines), x=0.01, font=dict(size=15)), height=660,
        margin=dict(l=10, r=10, t=40 + 22 * len(lines), b=10), legend=dict(itemsizing="constant", font=dict(size=11)),
        xaxis=dict(showticklabels=False, title=""), yaxis=dict(showticklabels=False, title=""))
    return fig


def confusion_figure(counts: np.ndarray, true_labels: list[str], pred_labels: list[str], title: str = "") -> go.Figure:
    """Confusion matrix `counts [R, C]` (rows: ground truth, columns: top-1 prediction), coloured by the
    row percentage, counts in the hover."""
    c = np.asarray(counts, dtype=float)
    pct = 100.0 * c / np.maximum(c.sum(axis=1, keepdims=True), 1)
    fig = go.Figure(go.Heatmap(z=pct, x=pred_labels, y=true_labels, colorscale="Blues", zmin=0, zmax=100,
                               customdata=c.astype(int), colorbar=dict(title="% of row"),
                               hovertemplate="truth %{y}<br>predicted %{x}<br>%{customdata} windows (%{z:.0f} %)"
                                             "<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="top-1 prediction", yaxis_title="ground truth",
                      yaxis=dict(autorange="reversed"), height=max(360, 22 * len(true_labels) + 160),
                      margin=dict(l=10, r=10, t=40, b=10))
    return fig


def grouped_bars_figure(series: dict[str, dict[str, float]], order: list[str] | None = None, title: str = "",
                        yaxis_title: str = "", difference: bool = False) -> go.Figure:
    """Bars per key for each named series (e.g. two runs' per-action MPJPE); with `difference` and two
    series, also the difference (second - first) as a line on a second axis."""
    keys = order or sorted({k for s in series.values() for k in s})
    fig = go.Figure()
    for name, vals in series.items():
        fig.add_trace(go.Bar(x=keys, y=[vals.get(k, np.nan) for k in keys], name=name))
    if difference and len(series) == 2:
        a, b = list(series.values())
        d = [b.get(k, np.nan) - a.get(k, np.nan) for k in keys]
        fig.add_trace(go.Scatter(x=keys, y=d, name="difference (2nd − 1st)", mode="markers+lines", yaxis="y2",
                                 line=dict(color="black", dash="dot")))
        fig.update_layout(yaxis2=dict(overlaying="y", side="right", title="difference", zeroline=True))
    fig.update_layout(title=title, barmode="group", yaxis_title=yaxis_title, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    return fig


def pose_thumbnail(x2d: np.ndarray, image_size_wh: tuple[int, int] | None = None, title: str = "") -> go.Figure:
    """A small 2D pose `[17, 2+]` (screen-normalised) inside its image border, for galleries."""
    p = np.asarray(x2d, dtype=float)
    vis = p[:, 2] > 0 if p.shape[-1] > 2 else np.ones(len(p), dtype=bool)
    uv = np.stack([p[:, 0], -p[:, 1]], axis=-1)
    hx, hy = (1.0, 1.0) if image_size_wh is None else (1.0, image_size_wh[1] / image_size_wh[0])
    fig = go.Figure(go.Scatter(x=[-hx, hx, hx, -hx, -hx], y=[-hy, -hy, hy, hy, -hy], mode="lines",
                               line=dict(color="#999999", width=1, dash="dash"), hoverinfo="skip"))
    for side in ("left", "right", "centre"):
        u, v = _lines(uv, [(a, b) for a, b in _bones_of(side) if vis[a] and vis[b]], 2)
        fig.add_trace(go.Scatter(x=u, y=v, mode="lines", line=dict(color=SIDE_COLORS[side], width=3),
                                 hoverinfo="skip"))
    fig.update_layout(title=dict(text=title, font=dict(size=11)), height=190, showlegend=False,
                      margin=dict(l=2, r=2, t=24 if title else 2, b=2))
    fig.update_xaxes(visible=False, range=list(_padded_range(np.r_[uv[vis, 0], -hx, hx], 0.03)))
    fig.update_yaxes(visible=False, range=list(_padded_range(np.r_[uv[vis, 1], -hy, hy], 0.03)),
                     scaleanchor="x", scaleratio=1)
    return fig
