"""The powered ablation's summary (issue 23): gate, readouts beside their floors, paired comparisons.

`build_powered_summary(out, design)` reads every finished cell.json (never a tuning seed) and the
floors' readouts; `write_powered_summary` writes summary.json + summary.md. Comparisons use only
cell × seed records that passed the gate (`gate.require_trained` is called on every pair given to
`compare`, which raises otherwise); a not-trained record is listed, never averaged or compared.

Each metric is reported per action (mean over actions of per-action values: the headline) and
frame-averaged (pooled over all counted joints / windows); each comparison carries the paired-t
interval, its minimum detectable effect, p, the Holm-adjusted p for the primary family (the primary
readouts' headline metric, the primary contrast, per action) and the take-level bootstrap interval.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

from ..baselines import FLAT, MEAN_DEPTH, MLP
from ..train.checkpoint import atomic_write_text
from .arms import ARM_NAMES
from .design import PoweredDesign
from .gate import NotTrainedError, require_trained
from .stats import BOOTSTRAP_METHOD, HOLM_METHOD, MDE_METHOD, bootstrap_paired, describe, mean_interval, paired_test

SUMMARY_FORMAT = "actionpose.ablation.powered-summary/1"
# metric -> (readout it belongs to, label, unit, lower is better, source key in the record, field)
METRICS: dict[str, tuple] = {
    "probe": ("probe", "(a) ridge probe MPJPE", "mm", True),
    "low_data": ("low_data", "(b) low-data fine-tune MPJPE", "mm", True),
    "masked_limb": ("masked_limb", "(c) MPJPE on a hidden limb", "mm", True),
    "masked_window": ("masked_window", "(c) MPJPE on hidden time windows", "mm", True),
    "depth_sign": ("depth_sign", "(d) depth-sign accuracy, joints >= 150 mm off the root plane", "%", False),
    "recognition": ("recognition", "(e) action top-1, held-out pretraining takes", "%", False),
    "zero_shot": ("zero_shot", "(e) zero-shot action top-1 among all actions", "%", False),
    "zero_shot_unseen": ("zero_shot", "(e) zero-shot action top-1 among the unseen actions", "%", False),
    "retrieval_r1": ("retrieval", "(f) text->motion recall@1", "%", False),
    "retrieval_r5": ("retrieval", "(f) text->motion recall@5", "%", False),
    "retrieval_r10": ("retrieval", "(f) text->motion recall@10", "%", False),
    "retrieval_median_rank": ("retrieval", "(f) text->motion median rank", "rank", True),
}
HEADLINE = {"probe": "probe", "low_data": "low_data", "masked_limb": "masked_limb", "masked_window": "masked_window",
            "depth_sign": "depth_sign", "recognition": "recognition", "zero_shot": "zero_shot",
            "retrieval": "retrieval_r1"}
_RETRIEVAL = {"retrieval_r1": "recall_at_1_pct", "retrieval_r5": "recall_at_5_pct", "retrieval_r10": "recall_at_10_pct",
              "retrieval_median_rank": "median_rank"}
AGGREGATIONS = ("per_action", "frames")


def per_take_value(entry: dict, aggregation: str) -> float | None:
    """A per-take readout {takes: {take: [sum, count]}, actions: {take: action}} -> one number: mean over
    actions of Σsum/Σcount within the action ("per_action"), or Σsum/Σcount ("frames")."""
    takes = entry.get("takes") or {}
    if not takes:
        return None
    if aggregation == "frames":
        c = sum(v[1] for v in takes.values())
        return sum(v[0] for v in takes.values()) / c if c else None
    by: dict[str, list[float]] = {}
    for t, (s, c) in takes.items():
        a = by.setdefault(entry["actions"][t], [0.0, 0.0])
        a[0] += s
        a[1] += c
    vals = [s / c for s, c in by.values() if c]
    return sum(vals) / len(vals) if vals else None


def per_action_values(entry: dict) -> dict[str, float]:
    by: dict[str, list[float]] = {}
    for t, (s, c) in (entry.get("takes") or {}).items():
        a = by.setdefault(entry["actions"][t], [0.0, 0.0])
        a[0] += s
        a[1] += c
    return {a: s / c for a, (s, c) in sorted(by.items()) if c}


def metric_value(rec: dict, metric: str, aggregation: str = "per_action") -> float | None:
    """One cell × seed record's value of `metric` (None when the readout does not apply to the cell)."""
    r = rec.get("readouts", {})
    if metric in _RETRIEVAL:
        e = r.get("retrieval") or {}
        return e.get(_RETRIEVAL[metric])
    e = r.get(metric)
    if not e or "n/a" in e:
        return None
    return per_take_value(e, aggregation)


def not_applicable(rec: dict, metric: str) -> str | None:
    e = (rec.get("readouts") or {}).get(METRICS[metric][0]) or {}
    return e.get("n/a")


def compare(cell_recs: list[dict], ref_recs: list[dict], metric: str, aggregation: str, design: PoweredDesign) -> dict:
    """Paired comparison of two cells on one metric over the seeds both hold. Refuses (raises
    `NotTrainedError`) when any record given failed the gate."""
    require_trained(cell_recs + ref_recs, f"compare {metric}")
    a = {r["seed"]: metric_value(r, metric, aggregation) for r in cell_recs}
    b = {r["seed"]: metric_value(r, metric, aggregation) for r in ref_recs}
    a = {k: v for k, v in a.items() if v is not None}
    b = {k: v for k, v in b.items() if v is not None}
    st = design.statistics
    res = paired_test(a, b, alpha=st.alpha, power=st.power)
    out = {k: res[k] for k in ("n", "seeds", "mean", "sd", "low", "high", "t_stat", "p", "mde")}
    entry = METRICS[metric][0]
    if metric not in _RETRIEVAL and st.bootstrap > 0 and res["n"] >= 1:
        def takes(recs):
            return {r["seed"]: {t: tuple(v) for t, v in r["readouts"][metric]["takes"].items()}
                    for r in recs if r["seed"] in res["seeds"] and "takes" in r["readouts"].get(metric, {})}
        acts = {}
        for r in cell_recs + ref_recs:
            acts.update((r["readouts"].get(metric) or {}).get("actions") or {})
        bs = bootstrap_paired(takes(cell_recs), takes(ref_recs), acts, n_boot=st.bootstrap, seed=st.bootstrap_seed,
                              level=1.0 - st.alpha, per_action=aggregation == "per_action")
        out["bootstrap"] = {k: bs[k] for k in ("low", "high", "takes", "n_boot")}
    out["readout"] = entry
    return out


def _floor_values(floors: dict, metric: str) -> dict:
    out = {}
    for name in (FLAT, MEAN_DEPTH, MLP):
        e = (floors.get("floors") or {}).get(name, {}).get(metric)
        if e:
            out[name] = {agg: per_take_value(e, agg) for agg in AGGREGATIONS}
    return out


def build_powered_summary(out: str | Path, design: PoweredDesign) -> dict:
    from .powered import finished_cells
    out = Path(out)
    recs = finished_cells(out, design)
    floors_path = out / "floors" / "readouts.json"
    floors = json.loads(floors_path.read_text()) if floors_path.exists() else {}
    design_rec = json.loads((out / "design.json").read_text()) if (out / "design.json").exists() else {}
    metrics = [m for m, spec in METRICS.items() if spec[0] in design.readouts]
    gate_rows = [{"cell": r["cell"], "seed": r["seed"], **{k: r["gate"][k] for k in ("passed", "reasons", "model_mpjpe_mm",
                                                                                   "floors_mpjpe_mm")}} for r in recs]
    trained = [r for r in recs if r["gate"]["passed"]]
    cells = {}
    for cell in design.cells:
        mine = [r for r in trained if r["cell"] == cell]
        row = {"name": ARM_NAMES.get(cell, cell), "seeds_trained": sorted(r["seed"] for r in mine),
               "seeds_not_trained": sorted(r["seed"] for r in recs if r["cell"] == cell and not r["gate"]["passed"]),
               "metrics": {}}
        for m in metrics:
            na = next((not_applicable(r, m) for r in recs if r["cell"] == cell and not_applicable(r, m)), None)
            if na:
                row["metrics"][m] = {"n/a": na}
                continue
            row["metrics"][m] = {}
            for agg in AGGREGATIONS:
                vals = {r["seed"]: metric_value(r, m, agg) for r in mine}
                vals = {k: v for k, v in vals.items() if v is not None}
                d = describe(list(vals.values()))
                lo, hi = mean_interval(list(vals.values()), 1.0 - design.statistics.alpha)
                row["metrics"][m][agg] = {"per_seed": vals, "n": d["n"], "mean": d["mean"], "sd": d["sd"],
                                          "ci_low": lo, "ci_high": hi}
        if "low_data" in design.readouts:
            pa: dict[str, list[float]] = {}
            for r in mine:
                for a, v in per_action_values(r["readouts"]["low_data"]).items():
                    pa.setdefault(a, []).append(v)
            row["low_data_per_action"] = {a: sum(v) / len(v) for a, v in pa.items()}
        cells[cell] = row
    comparisons, primary_p = [], {}
    pc = tuple(design.statistics.primary_contrast)
    for c, ref in design.contrasts:
        for m in metrics:
            for agg in (AGGREGATIONS if m not in _RETRIEVAL else ("per_action",)):
                row = {"cell": c, "reference": ref, "metric": m, "aggregation": agg,
                       "primary": (c, ref) == pc and agg == "per_action" and design.readouts[METRICS[m][0]]["role"] == "primary"
                       and HEADLINE[METRICS[m][0]] == m}
                na = cells[c]["metrics"].get(m, {}).get("n/a") or cells[ref]["metrics"].get(m, {}).get("n/a")
                cr = [r for r in trained if r["cell"] == c]
                rr = [r for r in trained if r["cell"] == ref]
                if na:
                    row["refused"] = f"n/a: {na}"
                elif all(metric_value(r, m, agg) is None for r in cr) or all(metric_value(r, m, agg) is None for r in rr):
                    row["refused"] = (f"{m} is not measured for {c if all(metric_value(r, m, agg) is None for r in cr) else ref} "
                                      "(e.g. the scratch baseline has no pretrained features)") if cr and rr else \
                        f"no trained seed of {c if not cr else ref}: not compared"
                elif not cr or not rr:
                    row["refused"] = (f"no trained seed of {c if not cr else ref} (every finished seed failed the gate "
                                      "or none finished): not compared")
                else:
                    try:
                        row.update(compare(cr, rr, m, agg, design))
                    except NotTrainedError as e:  # cannot happen with `trained`, kept as the rule's guard
                        row["refused"] = str(e)
                if row["primary"] and row.get("p") is not None:
                    primary_p[m] = row["p"]
                comparisons.append(row)
    from .stats import holm
    adj = holm(primary_p)
    for row in comparisons:
        if row["primary"]:
            row["p_holm"] = adj.get(row["metric"])
    floor_tab = {m: _floor_values(floors, m) for m in metrics if m in ("probe", "low_data", "masked_limb",
                                                                        "masked_window", "depth_sign")}
    cpu = [sum((r.get("cpu_seconds") or {}).values()) + (r.get("pretrain") or {}).get("cpu_seconds", 0.0)
           + (r.get("finetune") or {}).get("cpu_seconds", 0.0) for r in recs]
    return {"format": SUMMARY_FORMAT, "name": design.name, "design_file": design.path,
            "protocol": design_rec.get("protocol", {}), "budgets": vars(design.budgets),
            "seeds": design.seeds, "tuning_seeds_excluded": design.tuning_seeds, "arms": design.cells,
            "roles": {k: v["role"] for k, v in design.readouts.items()}, "gate": design.gate,
            "statistics": {**vars(design.statistics), "mde": MDE_METHOD, "holm": HOLM_METHOD,
                           "bootstrap_method": BOOTSTRAP_METHOD},
            "metrics": {m: {"label": METRICS[m][1], "unit": METRICS[m][2], "lower_is_better": METRICS[m][3],
                            "readout": METRICS[m][0]} for m in metrics},
            "gate_rows": gate_rows, "cells": cells, "floors": floor_tab, "mlp_floor": floors.get("mlp_floor"),
            "comparisons": comparisons, "finished_cells": len(recs),
            "cpu_core_hours_finished": sum(cpu) / 3600.0}


def _f(v, nd=1) -> str:
    return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{nd}f}"


def to_markdown_powered(s: dict) -> str:
    lines = [f"# Powered ablation `{s['name']}` (issue 23)", "",
             f"- design: `{s['design_file']}`; seeds {s['seeds']} (tuning seeds {s['tuning_seeds_excluded']} excluded)",
             f"- budgets: {json.dumps(s['budgets'])}",
             "- gate: beat flat + mean depth" + (f" and within {s['gate']['mlp_margin_mm']:g} mm of the MLP floor"
                                                   if s['gate'].get('mlp_margin_mm') is not None else ""),
             f"- statistics: paired t over seeds, level {1 - s['statistics']['alpha']:.0%}; MDE at "
             f"{s['statistics']['power']:.0%} power; Holm over the primary readouts; take-level bootstrap "
             f"({s['statistics']['bootstrap']} resamples)", ""]
    for k, v in (s.get("protocol") or {}).items():
        lines.append(f"- {k}: {v}")
    lines += ["", "## Gate", "", "| cell | seed | passed | model MPJPE (mm) | flat | flat + mean depth | MLP floor | why not |",
              "|---|---|---|---|---|---|---|---|"]
    for g in s["gate_rows"]:
        f = g["floors_mpjpe_mm"]
        lines.append(f"| {g['cell']} | {g['seed']} | {'yes' if g['passed'] else 'NO'} | {_f(g['model_mpjpe_mm'])} | "
                     f"{_f(f.get(FLAT))} | {_f(f.get(MEAN_DEPTH))} | {_f(f.get(MLP))} | {'; '.join(g['reasons'])} |")
    lines += ["", "## Readouts (trained seeds; mean ± sd, per action / frame-averaged)", ""]
    head = ["metric", "role"] + [s["cells"][c]["name"] for c in s["arms"]] + ["flat", "flat + mean depth", "MLP floor"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m, info in s["metrics"].items():
        row = [f"{info['label']} ({info['unit']})", s["roles"].get(info["readout"], "")]
        for c in s["arms"]:
            e = s["cells"][c]["metrics"].get(m, {})
            if "n/a" in e:
                row.append("n/a")
                continue
            pa, fr = e.get("per_action", {}), e.get("frames", {})
            sd = f" ± {_f(pa.get('sd'))}" if pa.get("sd") is not None else ""
            row.append(f"{_f(pa.get('mean'))}{sd} / {_f(fr.get('mean'))} (n={pa.get('n', 0)})")
        for name in (FLAT, MEAN_DEPTH, MLP):
            fv = s["floors"].get(m, {}).get(name)
            row.append("—" if not fv else f"{_f(fv['per_action'])} / {_f(fv['frames'])}")
        lines.append("| " + " | ".join(row) + " |")
    pc = s["statistics"].get("primary_contrast") or []
    lines += ["", f"## Verdict on the primary readouts ({' − '.join(pc)}, per action)", ""]
    lines += [f"- {v['text']}" for v in powered_verdicts(s)] or ["- no primary readout declared"]
    lines += ["", "## Paired comparisons (cell − reference, same seeds)", "",
              "| cell | reference | metric | aggregation | seeds | Δ mean [CI] | MDE | p | Holm p | bootstrap CI |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for c in s["comparisons"]:
        if "refused" in c:
            lines.append(f"| {c['cell']} | {c['reference']} | {c['metric']} | {c['aggregation']} | — | "
                         f"refused: {c['refused']} | | | | |")
            continue
        ci = "" if c.get("low") is None else f" [{c['low']:+.2f}, {c['high']:+.2f}]"
        bs = c.get("bootstrap") or {}
        bsci = "—" if bs.get("low") is None else f"[{bs['low']:+.2f}, {bs['high']:+.2f}]"
        lines.append(f"| {c['cell']} | {c['reference']} | {c['metric']}{' (primary)' if c['primary'] else ''} | "
                     f"{c['aggregation']} | {c['n']} | {_f(c['mean'], 2)}{ci} | {_f(c.get('mde'), 2)} | "
                     f"{_f(c.get('p'), 3)} | {_f(c.get('p_holm'), 3)} | {bsci} |")
    return "\n".join(lines) + "\n"


def powered_verdicts(s: dict) -> list[dict]:
    """One verdict per primary readout of the primary contrast (per-action aggregation), read from the
    summary's comparison rows, never written by hand: `{metric, label, verdict, phrase, mean, text}` with verdict
    "better" / "worse" (the cell against the reference: Holm-adjusted p < alpha and the interval
    excludes 0), "no difference detected" (with the minimum detectable effect: a smaller effect may
    exist) or "not compared" (the row was refused, e.g. a cell failed the gate or has not run)."""
    alpha = s["statistics"]["alpha"]
    out = []
    for c in s["comparisons"]:
        if not c["primary"]:
            continue
        info = s["metrics"][c["metric"]]
        label, unit, lower = info["label"], info["unit"], info["lower_is_better"]
        pair = f"{c['cell']} − {c['reference']}"
        if "refused" in c:
            out.append({"metric": c["metric"], "label": label, "verdict": "not compared",
                        "text": f"{label}: not compared ({c['refused']})."})
            continue
        ci = f"[{c['low']:+.2f}, {c['high']:+.2f}]" if c.get("low") is not None else "[no interval: one seed]"
        stats = (f"{pair} = {c['mean']:+.2f} {unit} {ci} over {c['n']} seeds, Holm p = {_f(c.get('p_holm'), 3)}, "
                 f"MDE {_f(c.get('mde'), 2)} {unit}")
        sig = (c.get("p_holm") is not None and c["p_holm"] < alpha and c.get("low") is not None
               and (c["low"] > 0 or c["high"] < 0))
        if sig:
            better = (c["mean"] < 0) == bool(lower)
            verdict = "better" if better else "worse"
            phrase = f"{c['cell']} is {verdict} than {c['reference']}"
            text = f"{label}: {phrase} ({stats})."
        else:
            verdict = phrase = "no difference detected"
            text = (f"{label}: no difference detected ({stats}); an effect smaller than the MDE may exist, "
                    "so this does not show that there is none.")
        out.append({"metric": c["metric"], "label": label, "verdict": verdict, "phrase": phrase, "mean": c["mean"],
                    "text": text})
    return out


# Hand-written prose states a verdict as "**<label>: <phrase>**", optionally followed by "<cell> − <ref> = ±x.y <unit>".
_PROSE_VERDICT = re.compile(r"\*\*(\([a-f]\)[^*:]+): ([^*]+)\*\*([^\n]*)")


def verdict_prose_problems(text: str, s: dict) -> list[str]:
    """What hand-written prose (README, notebook) gets wrong about the summary's primary verdicts: every
    primary readout must be stated as "**<label>: <phrase>**" with the phrase `powered_verdicts` computes,
    and a "B − A = +x.y mm" on the same line must equal the paired mean to 0.1. Empty when it agrees."""
    stated = {m.group(1).strip(): (m.group(2).strip(), m.group(3)) for m in _PROSE_VERDICT.finditer(text)}
    problems = []
    for v in powered_verdicts(s):
        if v["label"] not in stated:
            problems.append(f"no verdict stated for {v['label']!r}")
            continue
        phrase, rest = stated[v["label"]]
        if phrase != v["phrase"]:
            problems.append(f"{v['label']}: prose says {phrase!r}, the summary says {v['phrase']!r}")
        for num in re.findall(r"= ([+−-]\d+\.\d) mm", rest):
            if v["mean"] is None or abs(float(num.replace("−", "-")) - round(v["mean"], 1)) > 1e-6:
                problems.append(f"{v['label']}: prose gives {num} mm, the summary {v['mean']}")
    return problems


def write_powered_summary(out: str | Path, summary: dict) -> None:
    out = Path(out)
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1))
    atomic_write_text(out / "summary.md", to_markdown_powered(summary))


def load_powered_summary(path: str | Path) -> dict:
    path = Path(path)
    data = json.loads(path.read_text())
    if data.get("format") != SUMMARY_FORMAT:
        raise ValueError(f"{path}: field format = {data.get('format')!r}, expected {SUMMARY_FORMAT!r}")
    return data
