"""Projector tab: motion windows and label texts in 2D; click or lasso to open clips; typed queries."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

import actionpose as ap
from actionpose import viz

from . import cache
from .common import open_clip, selected_points
from .context import Ctx

SOURCES = ("the run's embeddings.npz", "computed now: one sequence per action, all views")


def window_frame(row: dict) -> int:
    """The frame a window opens at: its centre (0 when its frames are unknown)."""
    return (int(row["start"]) + int(row["end"]) - 1) // 2 if row["start"] >= 0 else 0


def _open_selected() -> None:
    rows = [p.get("customdata") for p in selected_points("proj_fig")]
    rows = [int(r[0] if isinstance(r, list) else r) for r in rows if r is not None]
    st.session_state["proj_lasso"] = rows
    if len(rows) == 1:
        table = st.session_state.get("proj_table") or []
        if 0 <= rows[0] < len(table):
            r = table[rows[0]]
            open_clip(r["sequence"], r["view"], window_frame(r))


def window_rows(es: ap.EmbeddingSet) -> list[dict]:
    """The window table with top-1 label text and cosine, and sentences for the ground truth."""
    top, cos = ap.window_top1(es) if len(es.text) else (np.zeros(len(es.motion), int), np.zeros(len(es.motion)))
    sent = dict(zip(es.text_labels.tolist(), es.sentences.tolist()))
    rows = es.window_table()
    for r, k, c in zip(rows, top.tolist(), cos.tolist()):
        r["truth sentence"] = sent.get(r["truth"], r["truth"]) if r["truth"] else "(unlabelled)"
        r["top-1"] = es.sentences[k] if len(es.text) else ""
        r["top-1 key"] = es.text_labels[k] if len(es.text) else ""
        r["cosine"] = float(c)
    return rows


def hover_text(r: dict) -> str:
    frames = f"frames {r['start']}–{r['end'] - 1}" if r["start"] >= 0 else "frames ?"
    ok = "✓" if r["truth"] and r["top-1 key"] == r["truth"] else "✗" if r["truth"] else ""
    return (f"<b>{r['sequence']}</b> · view {r['view']} · {frames}<br>truth: {r['truth sentence']}"
            f"<br>top-1: {r['top-1']} {ok} (cos {r['cosine']:.2f})<br><i>click to open</i>")


def provenance_line(ctx: Ctx, es: ap.EmbeddingSet) -> str:
    made = ap.describe_provenance(es.provenance)
    if not es.provenance:
        made += f"; the run folder now holds: {ctx.checkpoint_line}"
    return made


def render(ctx: Ctx) -> None:
    has_file = (ctx.run_dir / "embeddings.npz").exists()
    c1, c2, c3 = st.columns([3, 2, 1])
    source = c1.radio("Embeddings", SOURCES, key="proj_source", horizontal=True) if has_file else SOURCES[1]
    method = c2.radio("Projection", ["UMAP", "PCA"], key="proj_method", horizontal=True,
                      help="fitted on the motion windows; texts placed among their most similar windows")
    seed = int(c3.number_input("seed", 0, 10_000, key="proj_seed"))
    subset = source == SOURCES[1]
    if subset and not ctx.held:
        st.info("No held-out sequences loaded (see the error above).")
        return
    stamp = max(ctx.stamp, cache.mtime(ctx.run_dir / "embeddings.npz"))
    es = cache.embeddings(str(ctx.run_dir), stamp, ctx.data, ctx.split, subset)
    proj = cache.projection(str(ctx.run_dir), stamp, ctx.data, ctx.split, subset, method.lower(), seed)
    rows = window_rows(es)
    st.session_state["proj_table"] = rows
    W, L = len(es.motion), len(es.text)

    query = st.text_input("Place a text in the space (any action; several separated by ';')", key="proj_query",
                          placeholder="e.g. a person kicks; a person waves the right hand")
    texts = [x.strip() for x in query.split(";") if x.strip()]
    q_xy, nn_rows, nn_cos = None, [], []
    if texts:
        q = cache.embed_texts(tuple(texts), *ctx.key)
        q_xy = ap.place_near_motions(es.motion, proj.motion_xy, q, proj.k_place)
        order, cos = ap.rank_windows(es, q[:1], k=10)
        nn_rows, nn_cos = order[0].tolist(), cos[0].tolist()

    # 218 action+style anchors drown 145 windows: by default draw only the texts of labels that occur
    # among the windows shown (recognition above still scores against every label text).
    all_texts = st.checkbox("draw every label text (default: only labels present among these windows)",
                            key="proj_all_texts")
    present = set(es.motion_labels.tolist())
    shown = [i for i, k in enumerate(es.text_labels.tolist()) if all_texts or k in present]
    src = "the run's embeddings.npz" if not subset else f"computed now on split '{ctx.split}'"
    title = f"{method} of {W} motion windows (•) and {len(shown)} of {L} label texts (★) — {src}"
    note = f"embeddings made by: {provenance_line(ctx, es)}. {proj.note}."
    fig = viz.projector_figure(
        proj.motion_xy, [r["truth"] for r in rows], [hover_text(r) for r in rows], proj.text_xy[shown],
        es.text_labels[shown].tolist(), [f"label text: {es.sentences[i]}" for i in shown], q_xy, texts, nn_rows,
        title=title, note=note)
    st.plotly_chart(fig, key="proj_fig", on_select=_open_selected, selection_mode=("points", "lasso", "box"))
    st.caption(f"{method} seed {seed} · {proj.source} in {proj.seconds:.2f} s · colour + symbol = ground-truth "
               "label (legend: click to hide a class) · click a point to open its clip, view and frame in the "
               "Viewer; lasso several to list them below")
    k1, k2, k3 = st.columns(3)
    labelled = int((es.motion_labels != "").sum())
    if L and labelled:
        k1.metric("recognition top-1 (nearest label text)", f"{ap.recognition_from_embeddings(es):.1f} %")
        k2.metric("chance", f"{100.0 / L:.1f} %")
    k3.metric("labelled windows", f"{labelled} / {W}")

    if texts:
        st.subheader(f"Nearest windows to “{texts[0]}”")
        _window_list([rows[i] for i in nn_rows], nn_cos, "proj_nn")
    lasso = [i for i in st.session_state.get("proj_lasso") or [] if 0 <= i < len(rows)]
    if len(lasso) > 1:
        st.subheader(f"{len(lasso)} selected windows")
        _window_list([rows[i] for i in lasso], None, "proj_sel")


def _window_list(items: list[dict], cos: list[float] | None, key: str) -> None:
    df = pd.DataFrame([{"sequence": r["sequence"], "view": r["view"],
                        "frames": f"{r['start']}–{r['end'] - 1}" if r["start"] >= 0 else "?",
                        "ground truth": r["truth sentence"], "top-1": r["top-1"], "top-1 cosine": r["cosine"]}
                       for r in items])
    if cos is not None:
        df.insert(0, "query cosine", np.round(cos, 3))
    st.dataframe(df, hide_index=True, key=key, on_select=lambda: _open_row(key, items),
                 selection_mode="single-row")
    st.caption("select a row to open it in the Viewer")


def _open_row(key: str, items: list[dict]) -> None:
    from .common import selected_rows
    sel = selected_rows(key)
    if sel and sel[0] < len(items):
        r = items[sel[0]]
        open_clip(r["sequence"], r["view"], window_frame(r))


__all__ = ["render", "window_rows", "window_frame"]
