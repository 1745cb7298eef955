"""Figures (L4): numpy in, plotly Figure out. No torch import here, so the app stays light."""
from __future__ import annotations

import numpy as np
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
    fig.update_layout(title=title, scene=dict(aspectmode="data"), margin=dict(l=0, r=0, t=30, b=0))
    return fig


def animation_figure(x2d: np.ndarray, y3d: np.ndarray, title: str = "", max_frames: int = 300) -> go.Figure:
    """2D input `[N, 17, 3]` beside the 3D prediction `[N, 17, 3]`, animated (every k-th frame so at
    most `max_frames` frames are embedded; the file stays small for long inputs)."""
    n = len(y3d)
    step = max(1, int(np.ceil(n / max_frames)))
    idx = list(range(0, n, step))
    d3 = _to_display_3d(np.asarray(y3d, dtype=float))
    x2 = np.asarray(x2d, dtype=float)
    lim3 = float(np.nanmax(np.abs(d3))) or 1.0

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
        scene=dict(aspectmode="cube", xaxis=dict(range=[-lim3, lim3]), yaxis=dict(range=[-lim3, lim3]),
                   zaxis=dict(range=[-lim3, lim3])),
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
    """2D projection of motion embeddings (kind 'motion') and label-text embeddings (kind 'text')."""
    pts = np.asarray(points, dtype=float)
    fig = go.Figure()
    kinds_arr = np.array(kinds)
    labels_arr = np.array(labels)
    for kind, symbol, size in (("motion", "circle", 6), ("text", "star", 16)):
        sel = kinds_arr == kind
        if not sel.any():
            continue
        fig.add_trace(go.Scatter(x=pts[sel, 0], y=pts[sel, 1], mode="markers", name=kind,
                                 marker=dict(symbol=symbol, size=size, color=_label_colors(labels_arr[sel], labels_arr),
                                             line=dict(width=1, color="black") if kind == "text" else None),
                                 text=labels_arr[sel], hovertemplate="%{text}<extra>" + kind + "</extra>"))
    fig.update_layout(title=title, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def _label_colors(sel_labels: np.ndarray, all_labels: np.ndarray) -> list[str]:
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd",
               "#e6550d", "#31a354", "#756bb1", "#636363"]
    uniq = sorted(set(all_labels.tolist()))
    return [palette[uniq.index(lab) % len(palette)] for lab in sel_labels.tolist()]


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
