"""The ablation that tests the paper's claim (L5): does action-text pretraining lower 3D error
after fine-tuning on a *different* dataset without labels?

Protocol: every pretrained variant pretrains for the same budget on labelled mocap, then every
variant (and `scratch`) fine-tunes for the same budget on the target's training takes and is
evaluated on the target's held-out takes; a `scratch (P+F)` row trains from scratch for both
budgets so the compute-fair comparison is visible. Minute budgets are turned into step counts by
timing a few steps first, so each run's schedule (warm-up + cosine) completes and runs are
reproducible given the recorded step counts.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .api import finetune, finetune_config, pretrain, pretrain_config
from .config import _merge
from .data.motion import Motion
from .evaluate import evaluate
from .train.data import load_data
from .train.loop import train
from .train.runs import read_metrics

PRETRAIN_VARIANTS = ("motionbert-style", "actionpose", "onehot", "no-part-mask", "no-window-mask")


@dataclass
class AblationSpec:
    pretrain_minutes: float
    finetune_minutes: float
    seeds: int = 1
    pretrain_data: str = ""
    target_data: str = ""
    out: Path = Path("results/ablation")
    preset: str = "tiny"
    variants: list[str] | None = None
    overrides: dict = field(default_factory=dict)  # applied to every run (e.g. a smaller model in tests)
    pretrain_steps: int | None = None  # fixed step counts instead of calibrated minute budgets
    finetune_steps: int | None = None
    eval_max_sequences: int | None = None


def split_for_ablation(spec: AblationSpec) -> tuple[list[Motion], list[Motion], str]:
    """(pretraining motions, target motions, description).

    Same data dir for both (the default, bundled or a prepared Bandai-Namco dir): pretrain on
    dataset-2's training takes, fine-tune on dataset-1's training takes, evaluate on dataset-1's
    held-out takes (contents and styles differ between the two datasets; no held-out take is seen
    in either stage). Different dirs: pretrain on the first's training split, target = the second.
    """
    pre, _ = load_data(spec.pretrain_data or None)
    if spec.target_data and spec.target_data != spec.pretrain_data:
        target, _ = load_data(spec.target_data)
        return pre, target, "pretrain: training takes (held-out takes for its recognition score); target: its own splits"
    # Dataset-2 held-out takes only feed the recognition score after pretraining, never training.
    pre_m = [m for m in pre if m.meta.get("dataset") == 2]
    tgt_m = [m for m in pre if m.meta.get("dataset") == 1]
    if not pre_m or not tgt_m:
        raise ValueError(f"{spec.pretrain_data or 'bundled data'}: the default ablation needs Bandai-Namco datasets 1 "
                         "and 2 (meta 'dataset'); pass --target-data for another target")
    return pre_m, tgt_m, "pretrain: Bandai-Namco dataset-2 training takes; target: dataset-1 (train / held-out val)"


def _calibrate(cfg_over: dict, motions, stage: str, spec: AblationSpec, tmp: Path, init=None) -> float:
    """Seconds per step of this stage on this machine (a few steps, after one warm-up step)."""
    steps = 4
    over = _merge(cfg_over, {"train": {"max_steps": steps, "val_every": 0, "ckpt_every": 10**9, "log_every": 1}})
    if stage == "pretrain":
        cfg = pretrain_config(spec.preset, "actionpose", over)
        init = None
    else:
        cfg = finetune_config("scratch", over, spec.preset)
    t0 = time.time()
    train(cfg, tmp, motions=motions, progress=False, init_from=init)
    recs = [r for r in read_metrics(tmp) if r["split"] == "train"]
    total = time.time() - t0
    per = total / steps
    if len(recs) >= 3:  # exclude start-up by timing steps 2..N from the logged throughput
        per = float(np.median([cfg.data.batch_size / r["clips_per_s"] for r in recs[1:]]))
    return per


def run_ablation(spec: AblationSpec, progress: bool = True) -> str:
    out = Path(spec.out)
    out.mkdir(parents=True, exist_ok=True)
    pre_m, tgt_m, desc = split_for_ablation(spec)
    variants = list(spec.variants or ["scratch", *PRETRAIN_VARIANTS])
    unknown = [v for v in variants if v != "scratch" and v not in PRETRAIN_VARIANTS]
    if unknown:
        raise ValueError(f"--variants: unknown {', '.join(unknown)}; expected scratch or {', '.join(PRETRAIN_VARIANTS)}")
    runs = out / "runs"
    if spec.pretrain_steps is not None and spec.finetune_steps is not None:
        steps_p, steps_f = spec.pretrain_steps, spec.finetune_steps
        sec_p = sec_f = float("nan")
    else:
        sec_p = _calibrate(spec.overrides, pre_m, "pretrain", spec, runs / "_calib_pre")
        sec_f = _calibrate(spec.overrides, tgt_m, "finetune", spec, runs / "_calib_ft")
        steps_p = max(1, int(spec.pretrain_minutes * 60 / sec_p))
        steps_f = max(1, int(spec.finetune_minutes * 60 / sec_f))
    rows = []
    for seed in range(spec.seeds):
        def over(steps: int, seed: int = seed) -> dict:
            return _merge(spec.overrides, {"train": {"max_steps": steps, "seed": seed,
                                                     "val_every": max(1, steps // 4), "ckpt_every": max(1, steps // 4)}})
        for variant in variants:
            t0 = time.time()
            top1 = None
            if variant == "scratch":
                init = "scratch"
            else:
                pre_dir = runs / f"{variant}-seed{seed}-pretrain"
                res = pretrain(spec.preset, variant, pre_dir, overrides=over(steps_p), progress=progress,
                               resume=(pre_dir / "checkpoint.safetensors").exists(), motions=pre_m)
                if res.last_val and "top1" in res.last_val:
                    top1 = 100.0 * res.last_val["top1"]
                init = pre_dir
            ft_dir = runs / f"{variant}-seed{seed}-finetune"
            finetune(init, ft_dir, overrides=over(steps_f), preset=spec.preset if init == "scratch" else None,
                     progress=progress, resume=(ft_dir / "checkpoint.safetensors").exists(), motions=tgt_m)
            rows.append(_row(variant, seed, ft_dir, tgt_m, top1, steps_p if variant != "scratch" else 0, steps_f,
                             time.time() - t0, spec))
        if "scratch" in variants:  # compute-fair: scratch for P + F
            t0 = time.time()
            ft_dir = runs / f"scratch-long-seed{seed}-finetune"
            finetune("scratch", ft_dir, overrides=over(steps_p + steps_f), preset=spec.preset, progress=progress,
                     resume=(ft_dir / "checkpoint.safetensors").exists(), motions=tgt_m)
            rows.append(_row("scratch (P+F)", seed, ft_dir, tgt_m, None, 0, steps_p + steps_f, time.time() - t0, spec))
    raw = pd.DataFrame(rows)
    table = _aggregate(raw)
    header = (f"Ablation ({desc}); preset {spec.preset}; pretrain budget {spec.pretrain_minutes:g} min "
              f"({steps_p} steps, {sec_p:.2f} s/step), fine-tune budget {spec.finetune_minutes:g} min "
              f"({steps_f} steps, {sec_f:.2f} s/step); seeds {spec.seeds}; metrics on the target's held-out split, "
              "GT 2D projected through 4 fixed virtual cameras, T = model window, mean ± std over seeds.")
    raw.to_csv(out / "runs.csv", index=False)
    table.to_csv(out / "table.csv", index=False)
    md = header + "\n\n" + _markdown(table)
    (out / "table.md").write_text(md + "\n")
    (out / "spec.json").write_text(json.dumps({**asdict(spec), "out": str(spec.out), "steps_pretrain": steps_p,
                                               "steps_finetune": steps_f}, indent=1, default=str))
    _figure(table, header).write_html(out / "figure.html", include_plotlyjs=True)
    return md


def _row(variant, seed, ft_dir, tgt_m, top1, steps_p, steps_f, seconds, spec) -> dict:
    rep = evaluate(ft_dir, motions=tgt_m, data_info={"skeleton": "h36m17"}, split="val",
                   max_sequences=spec.eval_max_sequences)
    s = rep.summary.set_index("metric")["value"]
    return {"variant": variant, "seed": seed, "mpjpe_mm": s.get("MPJPE"), "p_mpjpe_mm": s.get("P-MPJPE"),
            "mpjve_mm_per_frame": s.get("MPJVE"), "pretrain_top1_pct": top1, "pretrain_steps": steps_p,
            "finetune_steps": steps_f, "seconds": seconds, "run": str(ft_dir)}


def _aggregate(raw: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for variant, g in raw.groupby("variant", sort=False):
        row = {"variant": variant}
        for col in ("mpjpe_mm", "p_mpjpe_mm", "mpjve_mm_per_frame", "pretrain_top1_pct"):
            vals = pd.to_numeric(g[col], errors="coerce").dropna()
            row[col] = vals.mean() if len(vals) else np.nan
            row[col + "_std"] = vals.std(ddof=0) if len(vals) else np.nan
        row["pretrain_steps"] = int(g["pretrain_steps"].iloc[0])
        row["finetune_steps"] = int(g["finetune_steps"].iloc[0])
        row["seeds"] = len(g)
        rows.append(row)
    return pd.DataFrame(rows)


def _markdown(t: pd.DataFrame) -> str:
    def pm(r, c, fmt="{:.1f}"):
        v, s = r[c], r[c + "_std"]
        return "—" if pd.isna(v) else (fmt.format(v) + (f" ± {fmt.format(s)}" if r["seeds"] > 1 else ""))
    lines = ["| variant | MPJPE (mm) | P-MPJPE (mm) | MPJVE (mm/frame) | recognition top-1 after pretraining (%) "
             "| pretrain steps | fine-tune steps |", "|---|---|---|---|---|---|---|"]
    for _, r in t.iterrows():
        lines.append(f"| {r['variant']} | {pm(r, 'mpjpe_mm')} | {pm(r, 'p_mpjpe_mm')} | {pm(r, 'mpjve_mm_per_frame', '{:.2f}')} "
                     f"| {pm(r, 'pretrain_top1_pct')} | {r['pretrain_steps']} | {r['finetune_steps']} |")
    return "\n".join(lines)


def _figure(t: pd.DataFrame, title: str):
    import plotly.graph_objects as go
    fig = go.Figure()
    for col, name in (("mpjpe_mm", "MPJPE"), ("p_mpjpe_mm", "P-MPJPE")):
        fig.add_trace(go.Bar(x=t["variant"], y=t[col], name=name,
                             error_y=dict(type="data", array=t[col + "_std"].fillna(0))))
    fig.update_layout(barmode="group", yaxis_title="mm (target held-out)",
                      title=dict(text=title[:160] + "…", font=dict(size=11)))
    return fig
