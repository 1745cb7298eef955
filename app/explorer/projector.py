"""Projector tab: motion windows and label texts in 2D; click or lasso to open clips; typed queries."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

import actionpose as ap
from actionpose import viz

from . import cache, floors
from .common import action_of, csv_button, open_clip, selected_points
from .context import Ctx

SOURCES = ("the run's embeddings.npz", "computed now: one sequence per action, all views")
COLOURS = {"label": "label (action + style)", "action": "action", "style": "style",
           "error": "3D error (MPJPE of the window's view, eval.json)",
           "correct": "recognition right / wrong (action level)"}
RIGHT, WRONG = "✓ top-1 names the right action", "✗ top-1 names another action"


def _embeddings(ctx: Ctx, stamp: float, subset: bool) -> ap.EmbeddingSet:
    """The embeddings, with a progress bar while they are computed sequence by sequence (each cached)."""
    if not subset:
        return cache.embeddings(str(ctx.run_dir), stamp, ctx.data, ctx.split, False)
    held = ap.stratified_subset(ctx.held)
    bar = st.progress(0.0, text=f"embedding {len(held)} sequences (every view)…")
    for i, m in enumerate(held):
        cache.sequence_embeddings(str(ctx.run_dir), stamp, ctx.data, ctx.split, m.name)
        bar.progress((i + 1) / len(held), text=f"embedded {i + 1} / {len(held)} sequences ({m.name})")
    bar.empty()
    return cache.embeddings(str(ctx.run_dir), stamp, ctx.data, ctx.split, True)  # the parts above, merged


def _style_of(label: str) -> str:
    return label.split("|")[1] if "|" in label else "(no style)"


def colour_labels(rows: list[dict], text_keys: list[str], by: str) -> tuple[list[str], list[str]]:
    """The category each window and each label text is coloured by (`by` a key of COLOURS but 'error')."""
    if by == "action":
        return [action_of(r["truth"]) if r["truth"] else "" for r in rows], [action_of(k) for k in text_keys]
    if by == "style":
        return [_style_of(r["truth"]) if r["truth"] else "" for r in rows], [_style_of(k) for k in text_keys]
    if by == "correct":
        return ([(RIGHT if action_of(r["top-1 key"]) == action_of(r["truth"]) else WRONG) if r["truth"] else ""
                 for r in rows], ["label text"] * len(text_keys))
    return [r["truth"] for r in rows], list(text_keys)


def view_errors(ctx: Ctx, rows: list[dict]) -> tuple[np.ndarray, dict]:
    """MPJPE (mm) of each window's (sequence, view) in the run's eval.json, NaN where absent, and the
    floors of the same evaluation."""
    rep = cache.run_eval(ctx.run_dir)
    per = {}
    for k, r in enumerate(rep.get("per_sequence") or []):
        per[(r["sequence"], int(r.get("view_index", k)))] = r["mpjpe_mm"]
    err = np.array([per.get((r["sequence"], int(r["view"])), np.nan) for r in rows], dtype=float)
    fl = {r["predictor"]: float(r["mpjpe_mm"]) for r in rep.get("floors") or [] if "mpjpe_mm" in r}
    return err, fl


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
    es = _embeddings(ctx, stamp, subset)
    with st.status(f"{method} of {len(es.motion)} windows…", expanded=False) as status:
        proj = cache.projection(str(ctx.run_dir), stamp, ctx.data, ctx.split, subset, method.lower(), seed)
        status.update(label=f"{method}: {proj.source} in {proj.seconds:.2f} s", state="complete")
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
    o1, o2 = st.columns([3, 2])
    colour = o1.radio("colour the windows by", list(COLOURS), key="proj_color", horizontal=True,
                      format_func=lambda k: COLOURS[k])
    all_texts = o2.checkbox("draw every label text (default: only labels present among these windows)",
                            key="proj_all_texts")
    present = set(es.motion_labels.tolist())
    shown = [i for i, k in enumerate(es.text_labels.tolist()) if all_texts or k in present]
    src = "the run's embeddings.npz" if not subset else f"computed now on split '{ctx.split}'"
    title = f"{method} of {W} motion windows (•) and {len(shown)} of {L} label texts (★) — {src}"
    note = f"embeddings made by: {provenance_line(ctx, es)}. {proj.note}."
    win_cat, text_cat = colour_labels(rows, es.text_labels.tolist(), "label" if colour == "error" else colour)
    if colour == "error":
        err, fl = view_errors(ctx, rows)
        hover = [hover_text(r) + (f"<br>view MPJPE {e:.1f} mm" if e == e else "<br>view MPJPE: not in eval.json")
                 for r, e in zip(rows, err)]
        win_cat = [""] * len(rows)  # one trace, coloured by the error below
    else:
        hover = [hover_text(r) for r in rows]
    fig = viz.projector_figure(
        proj.motion_xy, win_cat, hover, proj.text_xy[shown], [text_cat[i] for i in shown],
        [f"label text: {es.sentences[i]}" for i in shown], q_xy, texts, nn_rows, title=title, note=note)
    if colour == "error":
        _colour_by_error(fig, err, fl)
        st.caption("3D error of the window's whole view (eval.json), beside the floors on the same views: " +
                   (floors.caption(fl) if fl else "none recorded (this eval.json has no floors table)") +
                   "; the colour bar tops out at the flat + mean depth floor")
    st.plotly_chart(fig, key="proj_fig", on_select=_open_selected, selection_mode=("points", "lasso", "box"),
                    config={"toImageButtonOptions": {"filename": f"projector_{method.lower()}_{colour}"}})
    st.caption(f"{method} seed {seed} · {proj.source} in {proj.seconds:.2f} s · colour = {COLOURS[colour]} "
               "(legend: click to hide a group) · click a point to open its clip, view and frame in the "
               "Viewer; lasso several to list them below")
    k1, k2, k3, k4, k5 = st.columns(5)
    labelled = int((es.motion_labels != "").sum())
    if L and labelled:
        n_actions = len({action_of(k) for k in es.text_labels.tolist()})
        right = [c == RIGHT for c in colour_labels(rows, [], "correct")[0] if c]
        k1.metric("action top-1 (nearest label text)", f"{100.0 * np.mean(right):.1f} %",
                  help="the nearest label text names the window's action, any style")
        k2.metric("action chance", f"{100.0 / n_actions:.1f} %", help=f"one over {n_actions} actions")
        k3.metric("label top-1 (action + style)", f"{ap.recognition_from_embeddings(es):.1f} %")
        k4.metric("label chance", f"{100.0 / L:.1f} %", help=f"one over {L} labels")
    k5.metric("labelled windows", f"{labelled} / {W}")

    if texts:
        st.subheader(f"Nearest windows to “{texts[0]}”")
        _window_list([rows[i] for i in nn_rows], nn_cos, "proj_nn")
    lasso = [i for i in st.session_state.get("proj_lasso") or [] if 0 <= i < len(rows)]
    if len(lasso) > 1:
        st.subheader(f"{len(lasso)} selected windows")
        _window_list([rows[i] for i in lasso], None, "proj_sel")


def _colour_by_error(fig, err: np.ndarray, fl: dict) -> None:
    """Recolour the single window trace by `err` (mm, grey where eval.json has no such view) on a fixed
    scale topped by the flat + mean depth floor, so a view at the top of the scale is no better than it."""
    trace = fig.data[0]
    e = err[np.asarray(trace.customdata, dtype=int)]
    top = fl.get(floors.MEAN_DEPTH) or (float(np.nanmax(err)) if np.isfinite(err).any() else 1.0)
    trace.update(name="windows (colour: view MPJPE)", marker=dict(
        color=np.round(e, 1), colorscale="Viridis", cmin=0, cmax=top, symbol="circle",
        colorbar=dict(title="view MPJPE (mm)", len=0.6, y=0.3), line=dict(width=0.5, color="white")))


def _window_list(items: list[dict], cos: list[float] | None, key: str) -> None:
    df = pd.DataFrame([{"sequence": r["sequence"], "view": r["view"],
                        "frames": f"{r['start']}–{r['end'] - 1}" if r["start"] >= 0 else "?",
                        "ground truth": r["truth sentence"], "top-1": r["top-1"], "top-1 cosine": r["cosine"]}
                       for r in items])
    if cos is not None:
        df.insert(0, "query cosine", np.round(cos, 3))
    st.dataframe(df, hide_index=True, key=key, on_select=lambda: _open_row(key, items),
                 selection_mode="single-row")
    csv_button(df, key, f"{key}_csv")
    st.caption("select a row to open it in the Viewer")


def _open_row(key: str, items: list[dict]) -> None:
    from .common import selected_rows
    sel = selected_rows(key)
    if sel and sel[0] < len(items):
        r = items[sel[0]]
        open_clip(r["sequence"], r["view"], window_frame(r))


__all__ = ["render", "window_rows", "window_frame"]
