"""Triage tab: where the run fails — per action, per joint, worst views, slices; evaluate now."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import streamlit as st

import actionpose as ap
from actionpose import viz

from . import cache, floors
from .common import csv_button, open_clip, selected_rows
from .context import Ctx

SOURCES = ("the run's eval.json", "evaluations made in this session")
SUBSETS = {"one sequence per action": 1, "three sequences per action": 3, "all sequences": 0}
OFFSCREEN_BINS = [-0.1, 0.0, 10.0, 50.0, 100.0]
OFFSCREEN_NAMES = ["none", "≤ 10 % of frames", "10–50 %", "> 50 %"]


def _evaluate(ctx: Ctx) -> None:
    """Run an evaluation with a progress bar and keep it (with when / which checkpoint) in the session."""
    per = SUBSETS[st.session_state["eval_subset"]]
    held = ap.stratified_subset(ctx.held, per) if per else list(ctx.held)
    _, info = cache.motions(ctx.data)
    bar = st.progress(0.0, text=f"evaluating {len(held)} sequences × every view…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"evaluated {done} / {total} sequences")

    rep = ap.evaluate(ctx.run_dir, motions=held, data_info=info, split=ctx.split,
                      flip=bool(st.session_state["eval_flip"]), write=False, progress=progress).to_dict()
    rep["header"]["subset"] = st.session_state["eval_subset"]
    st.session_state["eval_history"] = [rep] + list(st.session_state.get("eval_history") or [])
    bar.empty()


def _label(rep: dict) -> str:
    h = rep["header"]
    ck = h.get("checkpoint") or {}
    return (f"{h.get('made_at', '?')} · {ck.get('stage') or '?'} step {h.get('step', '?')} · "
            f"{h.get('subset', '')} · {h.get('sequences')} sequences · flip {'on' if h.get('flip_tta') else 'off'}")


def eval_header(h: dict, when: str) -> None:
    ck = h.get("checkpoint") or {}
    ck_line = (f"{ck.get('stage') or '?'} checkpoint step {ck.get('step', h.get('step', '?'))}, sha256 "
               f"{ck.get('checkpoint_sha256') or '?'}") if ck else f"step {h.get('step', '?')} (checkpoint hash not recorded)"
    st.markdown(f"**{h.get('dataset', '?')}** · split **{h.get('split', '?')}** · 2D source **{h.get('2d_source', '?')}**"
                f" · T = {h.get('frames_per_window', '?')} frames · flip TTA {'on' if h.get('flip_tta') else 'off'} · "
                f"{h.get('sequences', '?')} sequences, {h.get('views', '?')} views, {h.get('frames', '?')} frames")
    st.caption(f"made **{when}** from the **{ck_line}** of {h.get('run', '?')} · aggregation: "
               f"{h.get('aggregation', '?')} · {h.get('compute', '')}")


def _views_table(ctx: Ctx, rep: dict) -> pd.DataFrame:
    df = pd.DataFrame(rep.get("per_sequence") or [])
    if df.empty:
        return df
    if "view_index" not in df:
        # older eval.json: each sequence's views are listed in sequence_views order
        df["view_index"] = df.groupby("sequence", sort=False).cumcount()
    df = df.rename(columns={"view_index": "view #"})
    if "offscreen_pct" not in df and ctx.held:
        off = cache.offscreen_table(*ctx.key, ctx.data, ctx.split)
        df = df.merge(off[["sequence", "view #", "offscreen_pct"]], on=["sequence", "view #"], how="left")
    if "style" not in df:
        styles = {m.name: str(m.meta.get("style") or "") for m in ctx.held}
        df["style"] = df["sequence"].map(styles).fillna("")
    return df


def _open_view() -> None:
    sel = selected_rows("tri_worst")
    shown = st.session_state.get("tri_shown") or []
    if sel and sel[0] < len(shown):
        seq, view, frame = shown[sel[0]]
        open_clip(seq, view, frame)


def _pick_action() -> None:
    sel = selected_rows("tri_actions")
    names = st.session_state.get("tri_action_names") or []
    st.session_state["tri_action"] = names[sel[0]] if sel and sel[0] < len(names) else ""


def _pick_joint() -> None:
    sel = selected_rows("tri_joints")
    st.session_state["tri_sort"] = f"joint:{sel[0]}" if sel else "mpjpe_mm"


def action_top1(recog: dict) -> dict[str, float]:
    """Recognition top-1 (%) per action, keyed like eval.json's per-action rows: the action-level table
    (`per_content_top1_pct`, a window counts as right when its top label names the right action, any
    style). An eval.json without one (its labels are the actions themselves, e.g. H36M) has them in the
    per-label table."""
    return dict(recog.get("per_content_top1_pct") or recog.get("per_class_top1_pct") or {})


def recognition_metrics(recog: dict) -> None:
    """Action-level top-1 (the README's headline) beside label-level top-1 (action + style), each with chance."""
    cols = st.columns(4)
    windows = f"{recog.get('windows', '?')} windows"
    if recog.get("content_top1_pct") is not None:
        cols[0].metric("action top-1", f"{recog['content_top1_pct']:.1f} %",
                       help=f"the top label names the right action (any style); {recog.get('contents', '?')} "
                            f"actions; {windows}")
        cols[1].metric("action chance", f"{recog.get('content_chance_top1_pct', float('nan')):.1f} %",
                       help="one over the number of actions")
    if recog.get("top1_pct") is not None:
        style = " (action + style)" if recog.get("content_top1_pct") is not None else ""
        cols[2].metric(f"label top-1{style}", f"{recog['top1_pct']:.1f} %",
                       help=f"the exact label; {recog.get('labels', '?')} labels; {windows}")
        cols[3].metric("label chance", f"{recog.get('chance_top1_pct', float('nan')):.1f} %")
    ctx = recog.get("context")
    if ctx:  # a lifter with short windows is also scored over fixed-length segments (recognition_context)
        st.caption(f"Over {ctx['frames']}-frame segments ({ctx['segments']}; {ctx['pooling']}): action top-1 "
                   f"{ctx['content_top1_pct']:.1f} %, label top-1 {ctx['top1_pct']:.1f} %. Each window above "
                   f"sees only the run's own window length.")


def render(ctx: Ctx) -> None:
    if st.session_state.pop("tri_show_latest", False):  # set by Evaluate now before the rerun
        st.session_state["tri_source"] = SOURCES[1]
        st.session_state["tri_pick"] = 0
    c1, c2, c3, c4 = st.columns([3, 2, 1, 2])
    source = c1.radio("Evaluation", SOURCES, key="tri_source", horizontal=True)
    c2.selectbox("subset", list(SUBSETS), key="eval_subset", help="evaluate now on this many sequences of "
                 "every action (not the first N by name), every view")
    c3.checkbox("flip TTA", key="eval_flip")
    if c4.button("Evaluate now", type="primary", disabled=not ctx.held, help=f"split '{ctx.split}' of the data"):
        _evaluate(ctx)
        st.session_state["tri_show_latest"] = True
        st.rerun()
    history = st.session_state.get("eval_history") or []
    path = ctx.run_dir / "eval.json"
    if source == SOURCES[1]:
        if not history:
            st.info("No evaluation made in this session yet: press **Evaluate now** (a subset, no flip: seconds).")
            return
        i = st.selectbox("evaluation", list(range(len(history))), format_func=lambda k: _label(history[k]),
                         key="tri_pick")
        rep = history[i]
        when = rep["header"].get("made_at", "?")
    elif not path.exists():
        st.info(f"{path}: no eval.json in this run; press **Evaluate now** or run `actionpose evaluate`.")
        return
    else:
        rep = cache.read_json(str(path), cache.mtime(path))
        when = rep.get("header", {}).get("made_at") or (
            dt.datetime.fromtimestamp(cache.mtime(path)).isoformat(timespec="seconds") + " (file time)")
    h = rep.get("header", {})
    eval_header(h, when)
    summary = pd.DataFrame(rep.get("summary") or [])
    recog = rep.get("recognition") or {}
    k = st.columns(4)
    for col, (_, r) in zip(k, summary.head(4).iterrows()):
        col.metric(f"{r['metric']} ({r.get('protocol', '')})", f"{r['value']:.1f} {r['unit']}")
    ft = floors.floors_table(rep)
    if ft.empty:
        st.warning("This evaluation has no floors table (made before floors were measured): the numbers above stand "
                   "alone; run `actionpose evaluate` again to score the flat lift and mean-depth floors beside them")
    else:
        verdict = h.get("trained_vs_floor")
        st.markdown("**Floors on the same frames** — " + (
            "the model beats the flat + mean depth floor" if verdict else
            "⚠ the model does **not** beat the flat + mean depth floor: it has not learned depth" if verdict is False
            else "no verdict recorded") + _mlp_verdict(rep.get("floors") or []))
        st.dataframe(ft, hide_index=True)
        mlp = ((h.get("floors") or {}).get("mlp_floor") or {}).get("missing")
        if mlp:
            st.caption(f"MLP floor not in this table: {mlp}")
    if recog:
        recognition_metrics(recog)

    views = _views_table(ctx, rep)
    a, b = st.columns(2)
    with a:
        st.markdown("**Per action** — select a row to filter the views below")
        pa = pd.DataFrame(rep.get("per_action") or [])
        pa = pa[pa["action"] != "Average"].reset_index(drop=True) if "action" in pa else pa
        per_action = action_top1(recog)
        if per_action and "action" in pa:
            pa["recognition top-1 %"] = pa["action"].map(per_action)
        for name, per in floors.per_action_floors(rep).items():
            if "action" in pa:
                pa[f"{name} mm"] = pa["action"].map(per)
        pa = pa.round(1)
        st.session_state["tri_action_names"] = pa["action"].tolist() if "action" in pa else []
        st.dataframe(pa, hide_index=True, key="tri_actions", on_select=_pick_action, selection_mode="single-row")
        csv_button(pa, "per_action", "tri_csv_actions")
        if not floors.per_action_floors(rep):
            st.caption("no per-action floors in this eval.json (the overall floors are above, when recorded)")
    with b:
        st.markdown("**Per joint** — select a joint to rank the views by it")
        pj = pd.DataFrame(rep.get("per_joint") or []).round(1)
        st.dataframe(pj, hide_index=True, key="tri_joints", on_select=_pick_joint, selection_mode="single-row",
                     height=250)
        csv_button(pj, "per_joint", "tri_csv_joints")
        st.caption("the model's error per joint; evaluate records no per-joint floors, so compare it with the "
                   "overall floors above (every joint of the flat lift sits at depth 0 or the mean depth)")
        if not pj.empty:
            st.plotly_chart(viz.per_joint_figure(dict(zip(pj["joint"], pj["mpjpe_mm"])), title="MPJPE per joint (mm)"),
                            key="tri_joint_fig")
    if views.empty:
        st.info("This evaluation has no per-view table.")
        return
    _worst_views(ctx, views)
    _slices(views, floors.per_action_floors(rep))


def _worst_views(ctx: Ctx, views: pd.DataFrame) -> None:
    action = st.session_state.get("tri_action") or ""
    sort = st.session_state.get("tri_sort") or "mpjpe_mm"
    df = views.copy()
    if action and "action" in df:
        df = df[df["action"] == action]
    by, what = "mpjpe_mm", "MPJPE"
    if sort.startswith("joint:") and "per_joint_mm" in df:
        j = int(sort.split(":")[1])
        name = ap.H36M17_NAMES[j]
        df[f"{name} mm"] = [pj[j] if isinstance(pj, list) and len(pj) > j else np.nan for pj in df["per_joint_mm"]]
        by, what = f"{name} mm", f"{name} error"
    elif sort.startswith("joint:"):
        st.caption("(this eval.json has no per-joint errors per view: ranked by MPJPE; evaluate now for them)")
    df = df.sort_values(by, ascending=False).head(50).reset_index(drop=True)
    held = {m.name for m in ctx.held}
    st.markdown(f"**Worst views by {what}**" + (f" — action **{action}**" if action else "") +
                " — select a row to open it at its worst frame")
    if action:
        st.button("clear the action filter", on_click=lambda: st.session_state.update(tri_action=""))
    cols = [c for c in ("sequence", "view #", "action", "style", "camera", "view", "frames", by, "mpjpe_mm",
                        "worst_frame", "worst_frame_mm", "offscreen_pct") if c in df]
    cols = list(dict.fromkeys(cols))
    st.session_state["tri_shown"] = [
        (r["sequence"], int(r["view #"]), int(r["worst_frame"]) if pd.notna(r.get("worst_frame", np.nan)) else "worst")
        for r in df.to_dict("records")]
    st.dataframe(df[cols].round(1), hide_index=True, key="tri_worst", on_select=_open_view, selection_mode="single-row",
                 height=min(35 * (len(df) + 1) + 3, 420))
    csv_button(df[cols].round(1), "worst_views" + (f"_{action}" if action else ""), "tri_csv_worst")
    st.caption("model errors per view; the floors of each view are drawn under its error strip in the Viewer "
               "(select a row), the floors of the whole evaluation are above")
    missing = sorted(set(df["sequence"]) - held)
    if missing:
        st.caption(f"{len(missing)} of these sequences are not in split '{ctx.split}' of the selected data")


def _slices(views: pd.DataFrame, action_floors: dict[str, dict[str, float]]) -> None:
    st.markdown("**Slices** — the model's mean MPJPE of the views in each group (count in the hover; floors: "
                "the table above, per action: the per-action table)")
    df = views.copy()
    if "offscreen_pct" in df:
        df["off screen"] = pd.cut(df["offscreen_pct"].fillna(0), OFFSCREEN_BINS, labels=OFFSCREEN_NAMES).astype(str)
    df["camera"] = "view " + df["view #"].astype(str)
    groups = [g for g in ("camera", "style", "action", "off screen") if g in df and df[g].nunique() > 0]
    cols = st.columns(len(groups))
    for col, g in zip(cols, groups):
        s = df.groupby(g)["mpjpe_mm"].agg(["mean", "count"]).reset_index()
        series = {"MPJPE (mm)": dict(zip(s[g].astype(str), s["mean"]))}
        if g == "action":  # per-action floors are in eval.json (frame-weighted like the per-action table)
            series.update({f"{k} (mm)": v for k, v in action_floors.items()})
        fig = viz.grouped_bars_figure(series, order=s[g].astype(str).tolist(), title=f"by {g}", yaxis_title="mm")
        fig.data[0].update(customdata=s["count"], hovertemplate="%{x}: %{y:.1f} mm (%{customdata} views)<extra></extra>")
        fig.update_layout(showlegend=len(series) > 1, height=300, legend=dict(orientation="h", y=-0.3))
        col.plotly_chart(fig, key=f"tri_slice_{g}")
    if "offscreen_pct" in df:
        n_off = int((df["offscreen_pct"] > 0).sum())
        on = df.loc[df["offscreen_pct"] > 0, "mpjpe_mm"].mean()
        off = df.loc[df["offscreen_pct"] <= 0, "mpjpe_mm"].mean()
        st.caption(f"{n_off} of {len(df)} views have joints outside the image; they average {on:.0f} mm against "
                   f"{off:.0f} mm for the others")


def _mlp_verdict(rows: list[dict]) -> str:
    """'; it beats / loses to the MLP floor by X mm' from eval.json's floors rows ('' without an MLP row)."""
    mm = {r.get("predictor"): r.get("mpjpe_mm") for r in rows}
    model, mlp = mm.get("model"), mm.get("MLP floor")
    if model is None or mlp is None:
        return ""
    if model < mlp:
        return f", and the per-frame MLP floor by {mlp - model:.1f} mm MPJPE"
    return f", but **loses to the per-frame MLP floor** by {model - mlp:.1f} mm MPJPE (a cheap lifter does better)"

