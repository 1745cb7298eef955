"""Training tab: one run's curves, by step."""
from __future__ import annotations

import pandas as pd
import streamlit as st

import actionpose as ap
from actionpose import viz

from . import cache, floors
from .context import Ctx

SKIP = {"step", "split", "lr", "grad_norm", "clips_per_s"}


def curves(df: pd.DataFrame, prefix: str = "") -> tuple[dict, dict, dict]:
    """(train losses, val MPJPE, val recognition %) as {name: (steps, values)}, sorted by step."""
    if "step" in df:
        df = df.sort_values("step", kind="stable")
    train = df[df["split"] == "train"] if "split" in df else df.iloc[:0]
    val = df[df["split"] == "val"] if "split" in df else df.iloc[:0]
    losses = {prefix + c: (train["step"], train[c]) for c in train.columns
              if c not in SKIP and pd.api.types.is_numeric_dtype(train[c]) and train[c].notna().any()}
    mpjpe = {prefix + "val MPJPE": (val["step"], val["mpjpe_mm"])} if "mpjpe_mm" in val else {}
    acc = {prefix + name: (val["step"], 100.0 * val[c]) for c, name in
           (("top1", "top-1"), ("top5", "top-5"), ("chance_top1", "chance top-1"))
           if c in val and val[c].notna().any()}
    return losses, mpjpe, acc


# A run built in stages ships the log of the stage that trained its lifter beside its own.
EARLIER_LOG = ap.FINETUNE_LOG


def lineage_line(meta: dict) -> str:
    """'pretrain (demo-pretrain) 2,400 → finetune 1,800 → head re-fit (demo) 4,000 steps' from a checkpoint's
    lineage; "" when it has none."""
    stages = meta.get("lineage") or []
    return " → ".join(f"{r['stage']}{' (' + r['shipped_as'] + ')' if r.get('shipped_as') else ''} {r['step']:,}"
                      for r in stages) + (" steps" if stages else "")


def _earlier_stage(ctx: Ctx) -> None:
    if not (ctx.run_dir / EARLIER_LOG).exists():
        return
    df = cache.metrics_df(str(ctx.run_dir), cache.mtime(ctx.run_dir / EARLIER_LOG), EARLIER_LOG)
    st.markdown("**The fine-tuning that trained this run's lifter**")
    st.caption(f"this run was built in stages: {lineage_line(ctx.meta) or '(no lineage recorded)'}. The curves above "
               "are its last stage's, where the lifter was frozen (its MPJPE is flat); below, the fine-tuning "
               f"that trained the lifter ({EARLIER_LOG}, steps counted from the start of fine-tuning).")
    _, mpjpe, acc = curves(df)
    a, b = st.columns(2)
    if mpjpe:
        a.plotly_chart(viz.curves_figure(mpjpe, title="fine-tuning: validation MPJPE", yaxis_title="mm"),
                       key="train_ft_mpjpe")
    if acc:
        b.plotly_chart(viz.curves_figure(acc, title="fine-tuning: validation action recognition", yaxis_title="%"),
                       key="train_ft_top1")


def render(ctx: Ctx) -> None:
    df = cache.metrics_df(str(ctx.run_dir), cache.mtime(ctx.run_dir / "metrics.jsonl"))
    if df.empty:
        st.info(f"{ctx.run_dir / 'metrics.jsonl'}: no training records.")
        return
    log_y = st.checkbox("log scale for losses", key="train_log")
    losses, mpjpe, acc = curves(df)
    st.plotly_chart(viz.curves_figure(losses, title="training losses (normalised units), by step", log_y=log_y),
                    key="train_loss")
    a, b = st.columns(2)
    if mpjpe:
        fig = viz.curves_figure(mpjpe, title="validation MPJPE", yaxis_title="mm")
        fl = floors.floors_table(cache.run_eval(ctx.run_dir))
        for _, r in fl[fl["predictor"] != "model"].iterrows() if not fl.empty else []:
            fig.add_hline(y=float(r["MPJPE mm"]), line=dict(color="grey", dash="dot", width=1),
                          annotation_text=f"{r['predictor']} {r['MPJPE mm']:.1f} mm", annotation_position="top left")
        a.plotly_chart(fig, key="train_mpjpe")
        a.caption("grey lines: the floors of the run's eval.json (every held-out view, final checkpoint); the "
                  "curve is validation during training (its own windows), so compare levels, not decimals"
                  if not fl.empty else "no floors: this run has no eval.json with a floors table")
    else:
        a.info("no validation MPJPE logged")
    if acc:
        b.plotly_chart(viz.curves_figure(acc, title="validation action recognition", yaxis_title="%"),
                       key="train_top1")
    else:
        b.info("no recognition accuracy logged (a run without alignment)")
    _earlier_stage(ctx)
    st.caption("the run pair (pretraining → fine-tuning) side by side: **Compare runs** tab")
    with st.expander("last records"):
        st.dataframe(df.tail(20), hide_index=True)
