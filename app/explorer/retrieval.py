"""Retrieval tab: a text query ranks every held-out window; gallery of the best; confusion matrix."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

import actionpose as ap
from actionpose import viz

from . import cache
from .common import open_clip
from .context import Ctx
from .projector import provenance_line, window_frame, window_rows


def render(ctx: Ctx) -> None:
    has_file = (ctx.run_dir / "embeddings.npz").exists()
    if not has_file and not ctx.held:
        st.info("No embeddings.npz in this run and no held-out data loaded.")
        return
    stamp = max(ctx.stamp, cache.mtime(ctx.run_dir / "embeddings.npz"))
    es = cache.embeddings(str(ctx.run_dir), stamp, ctx.data, ctx.split, not has_file)
    rows = window_rows(es)
    c1, c2 = st.columns([4, 1])
    query = c1.text_input("Find motions by text (ranks every held-out window of the dataset)", key="ret_query")
    top_n = int(c2.number_input("matches shown", 4, 24, step=4, key="ret_top"))
    st.caption(f"{len(rows)} windows of {len(set(es.motion_source.tolist()))} held-out sequences · embeddings made by: "
               f"{provenance_line(ctx, es)}")
    if query.strip():
        q = cache.embed_texts((query.strip(),), *ctx.key)
        order, cos = ap.rank_windows(es, q, k=top_n)
        cols = st.columns(4)
        for rank, (i, c) in enumerate(zip(order[0].tolist(), cos[0].tolist())):
            r = rows[i]
            f = window_frame(r)
            with cols[rank % 4].container(border=True):
                with st.spinner():
                    clip = ctx.clip(r["sequence"], r["view"])
                f = min(f, len(clip.x2d) - 1)
                st.plotly_chart(viz.pose_thumbnail(clip.x2d[f], clip.image_size_wh,
                                                   title=f"#{rank + 1} · cos {c:.2f}"),
                                key=f"ret_thumb_{rank}", config={"staticPlot": True})
                ok = "✓" if r["truth"] and r["top-1 key"] == r["truth"] else ""
                st.markdown(f"**{r['sequence']}**  \nview {r['view']} · frames {r['start']}–{r['end'] - 1}  \n"
                            f"truth: {r['truth sentence']} {ok}")
                st.button("open in viewer", key=f"ret_open_{rank}", on_click=open_clip,
                          args=(r["sequence"], r["view"], f))
    st.divider()
    _recognition(ctx, es)


def _recognition(ctx: Ctx, es: ap.EmbeddingSet) -> None:
    if not len(es.text) or not (es.motion_labels != "").any():
        st.info("No labelled windows: no confusion matrix.")
        return
    counts, truth, cols = ap.confusion_from_embeddings(es)
    used = np.flatnonzero(counts.sum(axis=0) > 0)
    keep = sorted(set(used.tolist()) | {cols.index(t) for t in truth if t in cols})
    a, b = st.columns([3, 2])
    a.plotly_chart(viz.confusion_figure(counts[:, keep], truth, [cols[k] for k in keep],
                                        title="recognition confusion (nearest label text, windows of embeddings.npz)"),
                   key="ret_confusion")
    diag = {t: 100.0 * counts[i, cols.index(t)] / max(counts[i].sum(), 1) for i, t in enumerate(truth) if t in cols}
    table = pd.DataFrame({"class": truth, "windows": counts.sum(axis=1),
                          "top-1 % (embeddings)": [round(diag.get(t, np.nan), 1) for t in truth]})
    ev_path = ctx.run_dir / "eval.json"
    if ev_path.exists():
        rec = (cache.read_json(str(ev_path), cache.mtime(ev_path)).get("recognition") or {})
        per = rec.get("per_class_top1_pct") or {}
        if per:
            table["top-1 % (eval.json)"] = [per.get(t, np.nan) for t in truth]
    with b:
        st.markdown("**Per-class top-1**")
        st.dataframe(table, hide_index=True, height=min(38 * (len(table) + 1), 640))
        st.caption("embeddings: nearest label text of each window in embeddings.npz (one view per sequence); "
                   "eval.json: every view, as `actionpose evaluate` measured it")
