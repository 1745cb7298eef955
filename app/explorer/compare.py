"""Compare runs: two runs' curves by step, per-action / per-joint / per-class differences, run health."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

import actionpose as ap
from actionpose import viz

from . import cache
from .common import csv_button
from .context import Ctx, run_statuses
from .training import curves


def _eval(run_dir: Path) -> dict:
    p = run_dir / "eval.json"
    return cache.read_json(str(p), cache.mtime(p)) if p.exists() else {}


def render(ctx: Ctx) -> None:
    statuses = run_statuses()
    st.markdown(f"**Runs** (shipped + under `{st.session_state.get('runs_root')}`)")
    st.dataframe(pd.DataFrame(statuses), hide_index=True)
    others = [s["run"] for s in statuses if s["run"] != ctx.run]
    if not others:
        st.info("Only one run found: add a runs root folder in the sidebar (or train one) to compare.")
        return
    if st.session_state.get("cmp_b") not in others:
        st.session_state["cmp_b"] = others[0]
    b_name = st.selectbox(f"Compare **{ctx.run}** (A, chosen in the sidebar) with B", others, key="cmp_b")
    b_dir = ap.resolve_run(b_name)
    a_lbl, b_lbl = f"A {Path(ctx.run).name}", f"B {Path(b_name).name}"
    a_df = cache.metrics_df(str(ctx.run_dir), cache.mtime(ctx.run_dir / "metrics.jsonl"))
    b_df = cache.metrics_df(str(b_dir), cache.mtime(b_dir / "metrics.jsonl"))
    la, ma, ra = curves(a_df, f"{a_lbl}: ")
    lb, mb, rb = curves(b_df, f"{b_lbl}: ")
    c1, c2, c3 = st.columns(3)
    c1.plotly_chart(viz.curves_figure({**la, **lb}, title="training loss by step", log_y=True), key="cmp_loss")
    c2.plotly_chart(viz.curves_figure({**ma, **mb}, title="validation MPJPE by step", yaxis_title="mm"),
                    key="cmp_mpjpe")
    c3.plotly_chart(viz.curves_figure({**ra, **rb}, title="validation recognition by step", yaxis_title="%"),
                    key="cmp_top1")
    ea, eb = _eval(ctx.run_dir), _eval(b_dir)
    if not ea or not eb:
        st.info(f"per-action / per-joint differences need eval.json in both runs ({a_lbl}: {'✓' if ea else 'missing'}, "
                f"{b_lbl}: {'✓' if eb else 'missing'}); run `actionpose evaluate --run …`")
        return
    st.caption(f"{a_lbl}: eval of step {ea['header'].get('step')} ({ea['header'].get('split')}, flip "
               f"{'on' if ea['header'].get('flip_tta') else 'off'}) · {b_lbl}: eval of step {eb['header'].get('step')} "
               f"({eb['header'].get('split')}, flip {'on' if eb['header'].get('flip_tta') else 'off'})")
    pa = {r["action"]: r["mpjpe_mm"] for r in ea.get("per_action") or [] if r["action"] != "Average"}
    pb = {r["action"]: r["mpjpe_mm"] for r in eb.get("per_action") or [] if r["action"] != "Average"}
    st.plotly_chart(viz.grouped_bars_figure({a_lbl: pa, b_lbl: pb}, title="MPJPE per action (mm)", yaxis_title="mm",
                                            difference=True), key="cmp_action")
    ja = {r["joint"]: r["mpjpe_mm"] for r in ea.get("per_joint") or []}
    jb = {r["joint"]: r["mpjpe_mm"] for r in eb.get("per_joint") or []}
    st.plotly_chart(viz.grouped_bars_figure({a_lbl: ja, b_lbl: jb}, order=[n for n in ap.H36M17_NAMES if n in ja],
                                            title="MPJPE per joint (mm)", yaxis_title="mm", difference=True),
                    key="cmp_joint")
    for field, what, key in (("per_content_top1_pct", "action (any style)", "cmp_action_top1"),
                             ("per_class_top1_pct", "label (action + style)", "cmp_class")):
        ca = (ea.get("recognition") or {}).get(field) or {}
        cb = (eb.get("recognition") or {}).get(field) or {}
        if ca or cb:
            st.plotly_chart(viz.grouped_bars_figure({a_lbl: ca, b_lbl: cb}, title=f"recognition top-1 per {what} (%)",
                                                    yaxis_title="%", difference=True), key=key)
    rows = [{"": "A", "run": ctx.run, **_headline(ea)}, {"": "B", "run": b_name, **_headline(eb)}]
    table = pd.DataFrame(rows)
    st.dataframe(table, hide_index=True)
    csv_button(table, "compare_headline", "cmp_csv")
    st.caption("each run's MPJPE beside its floors on the same frames (eval.json); A and B may be evaluated on "
               "different data, compare each with its own floors first")


def _headline(rep: dict) -> dict:
    out = {r["metric"]: round(r["value"], 1) for r in rep.get("summary") or []}
    for r in rep.get("floors") or []:
        if r.get("predictor") != "model":
            out[f"{r['predictor']} MPJPE"] = round(r["mpjpe_mm"], 1)
    if not rep.get("floors"):
        out["floors"] = "not recorded"
    rec = rep.get("recognition") or {}
    if rec.get("content_top1_pct") is not None:
        out["action top-1 %"] = round(rec["content_top1_pct"], 1)
    if rec:
        out["label top-1 %"] = round(rec["top1_pct"], 1)
    return out
