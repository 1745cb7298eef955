"""Retrieval tab: a text query ranks every held-out window; gallery of the best (or a notice that nothing
matches); confusion matrices by label and by action.

When a query has no good match (`query_match`, a stated rule): (1) the query names no action of the
run's vocabulary when its nearest label text is less similar than TEXT_MATCH (text-text cosine of the
frozen sentence encoder); (2) no window matches it when the best window's cosine to the query is below
what most windows reach with their own label text (the WINDOW_PERCENTILE-th percentile of the labelled
windows' cosine to their ground-truth text); (3) the label it names may have no window in this set."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

import actionpose as ap
from actionpose import viz

from . import cache
from .common import action_of, csv_button, open_clip
from .context import Ctx
from .projector import provenance_line, window_frame, window_rows

TEXT_MATCH = 0.5  # text-text cosine below which a query names none of the vocabulary's labels
WINDOW_PERCENTILE = 10  # a best window below this percentile of windows' cosine to their own label: no match


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def query_match(es: ap.EmbeddingSet, q: np.ndarray) -> dict:
    """How well the query `q [1, D]` matches: its nearest vocabulary label (text cosine), the best window
    cosine, the window threshold, whether that label occurs among the windows, and `good` (all three)."""
    text_cos = (_unit(q) @ _unit(es.text).T)[0]
    k = int(text_cos.argmax())
    idx = {lab: i for i, lab in enumerate(es.text_labels.tolist())}
    rows = [i for i, lab in enumerate(es.motion_labels.tolist()) if lab in idx]
    own = np.einsum("wd,wd->w", _unit(es.motion[rows]), _unit(es.text[[idx[es.motion_labels[i]] for i in rows]]))
    threshold = float(np.percentile(own, WINDOW_PERCENTILE)) if len(own) else 0.0
    best = float((_unit(es.motion) @ _unit(q)[0]).max())
    label = str(es.text_labels[k])
    present = label in set(es.motion_labels.tolist())
    names = TEXT_MATCH <= float(text_cos[k])
    return {"label": label, "sentence": str(es.sentences[k]), "text_cos": float(text_cos[k]), "names": names,
            "best": best, "threshold": threshold, "present": present,
            "good": names and best >= threshold and present}


def _notice(query: str, m: dict, es: ap.EmbeddingSet) -> None:
    """The no-good-match notice: which part of the rule failed, and the actions present."""
    why = []
    if not m["names"]:
        why.append(f"it names no action of this run's vocabulary (nearest label text “{m['sentence']}”, text cosine "
                   f"{m['text_cos']:.2f} < {TEXT_MATCH})")
    elif not m["present"]:
        why.append(f"its nearest label “{m['sentence']}” (text cosine {m['text_cos']:.2f}) has no window here")
    if m["best"] < m["threshold"]:
        why.append(f"the best window's cosine {m['best']:.2f} is below {m['threshold']:.2f}, what "
                   f"{100 - WINDOW_PERCENTILE} % of labelled windows reach with their own label text")
    actions = sorted({action_of(x) for x in es.motion_labels.tolist() if x})
    st.warning(f"No good match for “{query}”: " + "; ".join(why) + ". Actions present among these windows: " +
               ", ".join(actions) + ".")


@st.cache_data(max_entries=32, show_spinner="ranking the windows…")
def ranked(run_dir: str, stamp: float, data: str, split: str, subset: bool, query: str, top_n: int) -> dict:
    """A query's best windows with their thumbnails' 2D pose (one frame, from the stored window: no
    lifting), cached by run + data + query so a rerun redraws without recomputing."""
    es = cache.embeddings(run_dir, stamp, data, split, subset)
    cfg = cache.predictor(run_dir, stamp).cfg
    q = cache.embed_texts((query,), run_dir, stamp)
    order, cos = ap.rank_windows(es, q, k=top_n)
    rows = window_rows(es)
    by_name = {m.name: m for m in cache.motions(data)[0]}
    items = []
    for i, c in zip(order[0].tolist(), cos[0].tolist()):
        r = dict(rows[i])
        m = by_name.get(r["sequence"])
        pose, size = None, None
        if m is not None:
            view, kp_cam = ap.sequence_views(m, cfg)[r["view"]]
            x2d = ap.make_sample(m, view, kp_cam).x2d
            pose, size = x2d[min(window_frame(r), len(x2d) - 1)], tuple(view.camera.image_size_wh)
        items.append({**r, "cosine": c, "pose": pose, "image_size": size, "frame": window_frame(r)})
    return {"items": items, "match": query_match(es, q)}


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
        res = ranked(str(ctx.run_dir), stamp, ctx.data, ctx.split, not has_file, query.strip(), top_n)
        m = res["match"]
        if m["good"]:
            st.caption(f"“{query.strip()}” is nearest to the label “{m['sentence']}” (text cosine {m['text_cos']:.2f}); "
                       f"best window cosine {m['best']:.2f} ≥ {m['threshold']:.2f} (the {WINDOW_PERCENTILE}th "
                       "percentile of labelled windows' cosine to their own label text)")
            _gallery(res["items"])
        else:
            _notice(query.strip(), m, es)
            with st.expander(f"the {top_n} closest windows anyway (weak matches)"):
                _gallery(res["items"])
        table = pd.DataFrame([{"rank": k + 1, "query cosine": round(it["cosine"], 4), "sequence": it["sequence"],
                               "view": it["view"], "start": it["start"], "end": it["end"],
                               "ground truth": it["truth sentence"], "top-1": it["top-1"]}
                              for k, it in enumerate(res["items"])])
        csv_button(table, f"retrieval_{query.strip()[:40]}", "ret_csv", "download these matches (CSV)")
    st.divider()
    _recognition(ctx, es)


def _gallery(items: list[dict]) -> None:
    cols = st.columns(4)
    for rank, r in enumerate(items):
        with cols[rank % 4].container(border=True):
            if r["pose"] is not None:
                st.plotly_chart(viz.pose_thumbnail(r["pose"], r["image_size"], title=f"#{rank + 1} · cos {r['cosine']:.2f}"),
                                key=f"ret_thumb_{rank}", config={"staticPlot": True})
            ok = "✓" if r["truth"] and action_of(r["top-1 key"]) == action_of(r["truth"]) else ""
            st.markdown(f"**{r['sequence']}**  \nview {r['view']} · frames {r['start']}–{r['end'] - 1}  \n"
                        f"truth: {r['truth sentence']} {ok}")
            st.button("open in viewer", key=f"ret_open_{rank}", on_click=open_clip,
                      args=(r["sequence"], r["view"], r["frame"]))


def action_confusion(es: ap.EmbeddingSet) -> tuple[np.ndarray, list[str], list[str]]:
    """Confusion `[R, C]` collapsed to actions: rows the windows' true action, columns the action of their
    nearest label text (any style); labelled windows only."""
    top, _ = ap.window_top1(es)
    lab = es.motion_labels != ""
    truth = [action_of(x) for x in es.motion_labels[lab].tolist()]
    pred = [action_of(es.text_labels[k]) for k in top[lab].tolist()]
    rows = sorted(set(truth))
    cols = sorted(set(pred) | set(rows))
    counts = np.zeros((len(rows), len(cols)), dtype=np.int64)
    for t, p in zip(truth, pred):
        counts[rows.index(t), cols.index(p)] += 1
    return counts, rows, cols


def _top1_table(counts: np.ndarray, rows: list[str], cols: list[str], per: dict, name: str) -> pd.DataFrame:
    diag = [100.0 * counts[i, cols.index(t)] / max(counts[i].sum(), 1) if t in cols else np.nan
            for i, t in enumerate(rows)]
    table = pd.DataFrame({name: rows, "windows": counts.sum(axis=1), "top-1 % (embeddings)": np.round(diag, 1)})
    if per:
        table["top-1 % (eval.json)"] = [per.get(t, np.nan) for t in rows]
    return table


def _recognition(ctx: Ctx, es: ap.EmbeddingSet) -> None:
    if not len(es.text) or not (es.motion_labels != "").any():
        st.info("No labelled windows: no confusion matrix.")
        return
    rec = cache.run_eval(ctx.run_dir).get("recognition") or {}
    src = "windows of embeddings.npz" if (ctx.run_dir / "embeddings.npz").exists() else "windows computed now"
    # by action (any style): the README's headline recognition number
    acounts, arows, acols = action_confusion(es)
    a, b = st.columns([3, 2])
    a.plotly_chart(viz.confusion_figure(acounts, arows, acols, title=f"recognition confusion by action ({src})"),
                   key="ret_confusion_action")
    atable = _top1_table(acounts, arows, acols, rec.get("per_content_top1_pct") or {}, "action")
    with b:
        st.markdown("**Per-action top-1** (the top label names the right action, any style)")
        st.dataframe(atable, hide_index=True, height=min(38 * (len(atable) + 1), 640))
        csv_button(atable, "recognition_per_action", "ret_csv_action")
    # by label (action + style)
    counts, truth, cols = ap.confusion_from_embeddings(es)
    used = np.flatnonzero(counts.sum(axis=0) > 0)
    keep = sorted(set(used.tolist()) | {cols.index(t) for t in truth if t in cols})
    a, b = st.columns([3, 2])
    a.plotly_chart(viz.confusion_figure(counts[:, keep], truth, [cols[k] for k in keep],
                                        title=f"recognition confusion by label, action + style ({src})"),
                   key="ret_confusion")
    table = _top1_table(counts, truth, cols, rec.get("per_class_top1_pct") or {}, "class")
    with b:
        st.markdown("**Per-label top-1** (action and style right)")
        st.dataframe(table, hide_index=True, height=min(38 * (len(table) + 1), 640))
        csv_button(table, "recognition_per_label", "ret_csv_label")
    st.caption("embeddings: nearest label text of each window in embeddings.npz (one view per sequence); "
               "eval.json: every view, as `actionpose evaluate` measured it")
