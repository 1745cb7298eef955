"""The ablation's summary: per-seed values, mean ± sd, paired differences with 95 % intervals.

`build_summary(rows, spec)` -> a JSON-safe dict; `write_summary(out, summary)` writes
summary.json + summary.md + summary.csv (per-seed rows) + summary_paired.csv (sweep: sweep.*);
`load_ablation_summary(path)` reads it back as DataFrames for notebooks; `ablation_figure` plots
per-seed points with means and 95 % intervals.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..train.checkpoint import atomic_write_text
from .protocol import BASELINE, SCRATCH_PF, all_cells
from .stats import INTERVAL_METHOD, describe, mean_interval, paired_difference

FORMAT = "actionpose.ablation.summary/1"
# (column, label, decimals)
METRICS = [("mpjpe_mm", "MPJPE (mm)", 1), ("p_mpjpe_mm", "P-MPJPE (mm)", 1),
           ("n_mpjpe_mm", "N-MPJPE (mm)", 1), ("mpjve_mm_per_frame", "MPJVE (mm/frame)", 2),
           ("pretrain_top1_pct", "recognition top-1 after pretraining (%)", 1),
           ("pretrain_content_top1_pct", "action (content) top-1 after pretraining (%)", 1),
           ("target_top1_pct", "recognition top-1 on the target after fine-tuning (%)", 1)]
PAIRED_METRICS = ("mpjpe_mm", "p_mpjpe_mm", "n_mpjpe_mm", "mpjve_mm_per_frame")
REFERENCES = (BASELINE, SCRATCH_PF)
SELECTION = "mean MPJPE (protocol #1, mm) on the sweep's validation part, lower is better"


def _order(cells: list[str]) -> list[str]:
    known = all_cells()
    return sorted(set(cells), key=lambda c: (known.index(c) if c in known else len(known), c))


def _settings(rows: list[dict]) -> list[str]:
    out: list[str] = []
    for r in rows:
        if r["setting"] not in out:
            out.append(r["setting"])
    return out


def build_summary(rows: list[dict], spec: dict, mode: str = "ablation", per_action: list[dict] | None = None) -> dict:
    """Aggregate per-seed rows (runner.cell_row) into the summary dict; `per_action` (optional):
    per cell × seed × action protocol #1/#2 errors, averaged over seeds into summary['per_action']."""
    settings, order = _settings(rows), _order([r["cell"] for r in rows])
    rows = sorted(rows, key=lambda r: (settings.index(r["setting"]), order.index(r["cell"]), r["seed"]))
    ident = spec.get("identity", {})
    aggregate, paired = [], []
    for setting in _settings(rows):
        in_setting = [r for r in rows if r["setting"] == setting]
        for cell in _order([r["cell"] for r in in_setting]):
            cr = [r for r in in_setting if r["cell"] == cell]
            agg = {"setting": setting, "cell": cell, "seeds": [r["seed"] for r in cr],
                   "pretrain_steps": cr[0]["pretrain_steps"], "finetune_steps": cr[0]["finetune_steps"]}
            for col, _, _ in METRICS:
                vals = [r.get(col) for r in cr]
                vals = [v for v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]
                d = describe(vals)
                lo, hi = mean_interval(vals)
                agg[col] = {"n": d["n"], "mean": d["mean"], "sd": d["sd"], "ci95_low": lo, "ci95_high": hi}
            aggregate.append(agg)
            refs = REFERENCES if mode == "ablation" else (BASELINE,)
            for ref in refs:
                rr = [r for r in in_setting if r["cell"] == ref]
                if cell == ref or not rr:
                    continue
                for col in PAIRED_METRICS:
                    pd_ = paired_difference({r["seed"]: r.get(col) for r in cr}, {r["seed"]: r.get(col) for r in rr})
                    if pd_["n"]:
                        paired.append({"setting": setting, "cell": cell, "reference": ref, "metric": col,
                                       **{k: pd_[k] for k in ("n", "seeds", "mean", "sd", "t")},
                                       "ci95_low": pd_["low"], "ci95_high": pd_["high"]})
    summary = {"format": FORMAT, "mode": mode, "protocol": spec.get("protocol", {}),
               "eval_split": spec.get("eval_split"),
               "budgets": {k: ident.get(k) for k in ("pretrain_steps", "finetune_steps", "preset", "overrides",
                                                     "flip", "eval_max_sequences", "sweep")},
               "data": {k: ident.get(k) for k in ("pretrain_data", "target_data", "data_fingerprints")},
               "interval": INTERVAL_METHOD, "rows": rows, "aggregate": aggregate, "paired": paired}
    if mode == "sweep":
        summary["selection"] = select_setting(aggregate, paired, rows)
    summary["per_action"] = _per_action_means(per_action or [])
    return summary


def _per_action_means(per_action: list[dict]) -> list[dict]:
    """Mean over seeds of each cell's per-action protocol #1 (MPJPE) and #2 (P-MPJPE) errors."""
    if not per_action:
        return []
    df = pd.DataFrame(per_action)
    g = df.groupby(["setting", "cell", "action"], sort=False)
    out = g[["mpjpe_mm", "p_mpjpe_mm"]].mean().join(g["seed"].nunique().rename("seeds")).reset_index()
    return out.to_dict(orient="records")


def select_setting(aggregate: list[dict], paired: list[dict], rows: list[dict] | None = None) -> dict:
    """The sweep's declared choice and whether it beats motionbert-style beyond seed noise.

    The choice: the text variant × setting with the lowest mean MPJPE over the seeds *every* candidate
    has finished (a setting given more seeds later must not win or lose by its extra seeds); the
    verdict: the paired interval against motionbert-style over all of the chosen setting's seeds
    lies below 0. Without `rows` (older callers) the means over each candidate's own seeds are used."""
    cand = [a for a in aggregate if a["cell"] != BASELINE and a["mpjpe_mm"]["mean"] is not None]
    if not cand:
        return {"criterion": SELECTION, "best": None}
    common = sorted(set.intersection(*(set(a["seeds"]) for a in cand)))
    scores = {}
    for a in cand:
        vals = [r["mpjpe_mm"] for r in rows or [] if r["setting"] == a["setting"] and r["cell"] == a["cell"]
                and r["seed"] in common and r.get("mpjpe_mm") is not None]
        scores[(a["setting"], a["cell"])] = sum(vals) / len(vals) if rows and vals else a["mpjpe_mm"]["mean"]
    best = min(cand, key=lambda a: scores[(a["setting"], a["cell"])])
    vs = next((p for p in paired if p["setting"] == best["setting"] and p["cell"] == best["cell"]
               and p["reference"] == BASELINE and p["metric"] == "mpjpe_mm"), None)
    beats = bool(vs and vs["ci95_high"] is not None and vs["ci95_high"] < 0)
    if vs is None:
        verdict = "no motionbert-style cell with the same seeds to compare with"
    elif vs["ci95_high"] is None:
        verdict = f"paired difference {vs['mean']:+.1f} mm over {vs['n']} seed(s): too few seeds for an interval"
    else:
        verdict = (f"paired difference to motionbert-style {vs['mean']:+.1f} mm, 95 % CI "
                   f"[{vs['ci95_low']:+.1f}, {vs['ci95_high']:+.1f}] over {vs['n']} seeds: "
                   + ("beats it beyond the seed noise" if beats else "does not beat it beyond the seed noise"))
    return {"criterion": SELECTION, "selected_on_seeds": common if rows else None,
            "scores_mm": [{"setting": k[0], "cell": k[1], "mpjpe_mm": v} for k, v in scores.items()],
            "best": {"setting": best["setting"], "cell": best["cell"], "mpjpe_mm": best["mpjpe_mm"]},
            "vs_baseline": vs, "beats_baseline_beyond_noise": beats, "verdict": verdict}


# ------------------------------------------------------------------------------------ writing

def _fmt(v, nd: int) -> str:
    return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{nd}f}"


def _pm(stat: dict, nd: int) -> str:
    if stat["mean"] is None:
        return "—"
    return _fmt(stat["mean"], nd) + (f" ± {_fmt(stat['sd'], nd)}" if stat["sd"] is not None else "")


def _diff(p: dict | None, nd: int = 1) -> str:
    if p is None:
        return "—"
    s = f"{p['mean']:+.{nd}f}"
    return s + (f" [{p['ci95_low']:+.{nd}f}, {p['ci95_high']:+.{nd}f}]" if p["ci95_low"] is not None
                else f" (n = {p['n']})")


def _find(paired, setting, cell, ref, metric):
    return next((p for p in paired if p["setting"] == setting and p["cell"] == cell and p["reference"] == ref
                 and p["metric"] == metric), None)


def to_markdown(summary: dict) -> str:
    """The summary as markdown: header, main table, paired differences, per-seed values."""
    b, proto = summary["budgets"], summary["protocol"]
    sweep = summary["mode"] == "sweep"
    lines = [f"# {'Method-tuning sweep' if sweep else 'Ablation'}: does action-text pretraining help?", "",
             f"- pretraining: {proto.get('pretrain', '?')}",
             f"- fine-tuning: {proto.get('finetune', '?')}",
             f"- evaluation: {proto.get('evaluate', '?')}; 2D: {proto.get('2d_source', '?')}; "
             f"flip TTA {'on' if b.get('flip') else 'off'}; metrics averaged per action",
             f"- budgets: P = {b.get('pretrain_steps')} pretraining steps, F = {b.get('finetune_steps')} fine-tuning "
             f"steps (`scratch (P+F)` trains P + F steps from scratch); preset {b.get('preset')}; "
             f"overrides {json.dumps(b.get('overrides') or {})}",
             f"- mean ± sd over seeds (sd with n−1); Δ = paired difference (cell − reference, same seeds), "
             f"{summary['interval']}", ""]
    if summary.get("note"):  # e.g. the committed example's label
        lines[0:0] = [f"> {summary['note']}", ""]
    if sweep:
        sel = summary.get("selection", {})
        lines += [f"Selection criterion (declared before running): {sel.get('criterion')}."]
        if sel.get("best"):
            on = sel.get("selected_on_seeds")
            lines += [f"Best: `{sel['best']['cell']}` with setting `{sel['best']['setting']}`"
                      + (f" (chosen on seed(s) {', '.join(map(str, on))}, the seeds every setting has)" if on else "")
                      + f" — {sel['verdict']}.", ""]
        else:
            lines += ["No finished text-variant cell yet.", ""]
    agg, paired = summary["aggregate"], summary["paired"]
    refs = (BASELINE,) if sweep else REFERENCES
    head = (["setting"] if sweep else []) + ["cell", "seeds", "MPJPE (mm)", "P-MPJPE (mm)", "MPJVE (mm/frame)",
                                            "top-1 after pretraining, label (%)",
                                            "top-1 after pretraining, action (%)"]
    head += [f"Δ MPJPE vs {r} (mm) [95 % CI]" for r in refs]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for a in agg:
        row = ([a["setting"]] if sweep else []) + [a["cell"], str(len(a["seeds"])), _pm(a["mpjpe_mm"], 1),
                                                  _pm(a["p_mpjpe_mm"], 1), _pm(a["mpjve_mm_per_frame"], 2),
                                                  _pm(a["pretrain_top1_pct"], 1),
                                                  _pm(a.get("pretrain_content_top1_pct") or {"mean": None}, 1)]
        row += [_diff(_find(paired, a["setting"], a["cell"], r, "mpjpe_mm")) if a["cell"] != r else "0"
                for r in refs]
        lines.append("| " + " | ".join(row) + " |")
    if paired:
        lines += ["", "Paired differences (cell − reference; negative = lower error than the reference):", "",
                  "| " + ("setting | " if sweep else "") + "cell | reference | metric | seeds | mean Δ | sd | 95 % CI |",
                  "|" + "---|" * (8 if sweep else 7)]
        for p in paired:
            nd = 2 if p["metric"] == "mpjve_mm_per_frame" else 1
            ci = "—" if p["ci95_low"] is None else f"[{p['ci95_low']:+.{nd}f}, {p['ci95_high']:+.{nd}f}]"
            lines.append("| " + (f"{p['setting']} | " if sweep else "") + f"{p['cell']} | {p['reference']} | "
                         f"{p['metric']} | {','.join(map(str, p['seeds']))} | {p['mean']:+.{nd}f} | "
                         f"{_fmt(p['sd'], nd)} | {ci} |")
    lines += ["", "Per seed:", "", "| " + ("setting | " if sweep else "") + "cell | seed | MPJPE | P-MPJPE | MPJVE | "
              "top-1 after pretraining, label / action (%) | pretraining val MPJPE (mm) | seconds |", "|" + "---|" * (9 if sweep else 8)]
    for r in summary["rows"]:
        lines.append("| " + (f"{r['setting']} | " if sweep else "") + f"{r['cell']} | {r['seed']} | "
                     f"{_fmt(r['mpjpe_mm'], 2)} | {_fmt(r['p_mpjpe_mm'], 2)} | {_fmt(r['mpjve_mm_per_frame'], 3)} | "
                     f"{_fmt(r['pretrain_top1_pct'], 1)} / {_fmt(r.get('pretrain_content_top1_pct'), 1)} | "
                     f"{_fmt(r['pretrain_val_mpjpe_mm'], 1)} | {r['seconds']:.0f} |")
    pa = summary.get("per_action") or []
    if pa and proto.get("target_kind") != "bandai":  # Human3.6M convention: the per-action table
        actions = list(dict.fromkeys(r["action"] for r in pa))
        actions = [a for a in actions if a != "Average"] + (["Average"] if "Average" in actions else [])
        keys = list(dict.fromkeys((r["setting"], r["cell"]) for r in pa))
        lines += ["", "Per action, mean over seeds: protocol #1 / #2 (mm):", "",
                  "| " + ("setting | " if sweep else "") + "cell | " + " | ".join(actions) + " |",
                  "|" + "---|" * (len(actions) + (2 if sweep else 1))]
        for setting, cell in keys:
            by = {r["action"]: r for r in pa if r["setting"] == setting and r["cell"] == cell}
            vals = [f"{_fmt(by[a]['mpjpe_mm'], 1)} / {_fmt(by[a]['p_mpjpe_mm'], 1)}" if a in by else "—"
                    for a in actions]
            lines.append("| " + (f"{setting} | " if sweep else "") + f"{cell} | " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"


def write_summary(out: str | Path, summary: dict) -> dict[str, Path]:
    """summary.json/.md/.csv + summary_paired.csv (sweep.* in sweep mode) under `out`."""
    out = Path(out)
    stem = "sweep" if summary["mode"] == "sweep" else "summary"
    paths = {"json": out / f"{stem}.json", "md": out / f"{stem}.md", "csv": out / f"{stem}.csv",
             "paired_csv": out / f"{stem}_paired.csv", "per_action_csv": out / f"{stem}_per_action.csv"}
    atomic_write_text(paths["json"], json.dumps(summary, indent=1))
    atomic_write_text(paths["md"], to_markdown(summary))
    atomic_write_text(paths["csv"], pd.DataFrame(summary["rows"]).to_csv(index=False))
    atomic_write_text(paths["paired_csv"], pd.DataFrame(summary["paired"]).to_csv(index=False))
    atomic_write_text(paths["per_action_csv"], pd.DataFrame(summary.get("per_action", [])).to_csv(index=False))
    return paths


# ------------------------------------------------------------------------------------ reading

@dataclass
class AblationSummary:
    """A written summary as tables. per_seed: one row per cell × seed; aggregate: one row per cell
    (`<metric>`, `<metric>_sd`, `<metric>_ci95_low/high`); paired: one row per cell × reference × metric."""

    raw: dict
    per_seed: pd.DataFrame
    aggregate: pd.DataFrame
    paired: pd.DataFrame

    @property
    def markdown(self) -> str:
        return to_markdown(self.raw)


def load_ablation_summary(path: str | Path) -> AblationSummary:
    """Read summary.json (a file, or the folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / ("summary.json" if (path / "summary.json").exists() else "sweep.json")
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no ablation summary (run `actionpose ablate ... --out DIR` first)") from None
    except json.JSONDecodeError:
        raise ValueError(f"{path}: not valid JSON") from None
    if raw.get("format") != FORMAT:
        raise ValueError(f"{path}: field format = {raw.get('format')!r}, expected {FORMAT!r}")
    flat = []
    for a in raw["aggregate"]:
        row = {"setting": a["setting"], "cell": a["cell"], "seeds": len(a["seeds"])}
        for col, _, _ in METRICS:
            st = a.get(col) or {"mean": None, "sd": None, "ci95_low": None, "ci95_high": None}
            row.update({col: st["mean"], f"{col}_sd": st["sd"], f"{col}_ci95_low": st["ci95_low"],
                        f"{col}_ci95_high": st["ci95_high"]})
        flat.append(row)
    return AblationSummary(raw, pd.DataFrame(raw["rows"]), pd.DataFrame(flat), pd.DataFrame(raw["paired"]))


def ablation_figure(summary: AblationSummary, metric: str = "mpjpe_mm", reference: str | None = None):
    """Per-seed points, the mean and its 95 % t-interval per cell (reference=None), or the paired
    differences to `reference` per seed with their mean and 95 % interval."""
    import plotly.graph_objects as go
    label = next((lab for c, lab, _ in METRICS if c == metric), metric)
    fig = go.Figure()
    ps = summary.per_seed
    if reference is None:
        agg = summary.aggregate
        names = [f"{s} · {c}" if s else c for s, c in zip(agg["setting"], agg["cell"])]
        pts = ps.assign(name=[f"{s} · {c}" if s else c for s, c in zip(ps["setting"], ps["cell"])])
        fig.add_trace(go.Scatter(x=pts["name"], y=pts[metric], mode="markers", name="per seed",
                                 marker=dict(size=7, opacity=0.6), text=[f"seed {s}" for s in pts["seed"]]))
        hi = (agg[f"{metric}_ci95_high"] - agg[metric]).astype(float)
        lo = (agg[metric] - agg[f"{metric}_ci95_low"]).astype(float)
        fig.add_trace(go.Scatter(x=names, y=agg[metric], mode="markers", name="mean ± 95 % CI",
                                 marker=dict(symbol="line-ew-open", size=24, line=dict(width=3)),
                                 error_y=dict(type="data", array=hi.fillna(0), arrayminus=lo.fillna(0))))
        fig.update_layout(yaxis_title=label)
    else:
        p = summary.paired
        p = p[(p["reference"] == reference) & (p["metric"] == metric)] if len(p) else p
        names, means, lo, hi, xs, ys = [], [], [], [], [], []
        for _, r in p.iterrows():
            name = f"{r['setting']} · {r['cell']}" if r["setting"] else r["cell"]
            names.append(name)
            means.append(r["mean"])
            lo.append(r["mean"] - r["ci95_low"] if r["ci95_low"] is not None and pd.notna(r["ci95_low"]) else 0.0)
            hi.append(r["ci95_high"] - r["mean"] if r["ci95_high"] is not None and pd.notna(r["ci95_high"]) else 0.0)
            mine = ps[(ps["cell"] == r["cell"]) & (ps["setting"] == r["setting"])].set_index("seed")[metric]
            ref = ps[(ps["cell"] == reference) & (ps["setting"] == r["setting"])].set_index("seed")[metric]
            for s in r["seeds"]:
                xs.append(name)
                ys.append(float(mine[s]) - float(ref[s]))
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name="per seed", marker=dict(size=7, opacity=0.6)))
        fig.add_trace(go.Scatter(x=names, y=means, mode="markers", name="mean Δ ± 95 % CI",
                                 marker=dict(symbol="line-ew-open", size=24, line=dict(width=3)),
                                 error_y=dict(type="data", array=hi, arrayminus=lo)))
        fig.add_hline(y=0, line=dict(dash="dot", color="grey"))
        fig.update_layout(yaxis_title=f"Δ {label} vs {reference} (cell − reference)")
    fig.update_layout(template="plotly_white", height=420, margin=dict(l=60, r=20, t=40, b=80))
    return fig
