"""The ablation: statistics, protocol splits, resumable cells (kill mid-cell -> same summary), the
spec check, the Human3.6M target, the method-tuning sweep, the pretraining curve and the CLI.

Every run uses a very small model (dim 16, depth 1, T = 27, batch 4) and a handful of steps.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from actionpose.ablation import (
    BASELINE,
    SCRATCH_F,
    SCRATCH_PF,
    AblationSpec,
    first_step_reaching,
    load_ablation_data,
    load_ablation_summary,
    parse_cells,
    parse_seeds,
    parse_sweep,
    plan_cells,
    pretraining_curve,
    run_ablation,
    run_curve,
    sweep_validation_data,
)
from actionpose.ablation.reuse import find_reusable
from actionpose.ablation.stats import betainc, describe, paired_difference, t_cdf, t_quantile
import actionpose as ap
from actionpose.cli import main
from conftest import SMALL_MODEL

OVER = {"model": SMALL_MODEL, "data": {"batch_size": 4, "stride": 27},
        "train": {"log_every": 1, "val_max_windows": 8}}
METRIC_COLS = ["mpjpe_mm", "p_mpjpe_mm", "n_mpjpe_mm", "mpjve_mm_per_frame", "pretrain_top1_pct",
               "pretrain_val_mpjpe_mm"]


def _spec(out, **kw) -> AblationSpec:
    args = dict(pretrain_steps=4, finetune_steps=3, out=out, seeds=[0, 1], overrides=OVER, eval_max_sequences=2,
                device="cpu", cells=[SCRATCH_F, SCRATCH_PF, BASELINE, "actionpose"])
    args.update(kw)
    return AblationSpec(**args)


# ------------------------------------------------------------------------------------ statistics

def test_t_quantiles_match_tables_and_cdf_inverts():
    # Student-t 97.5 % quantiles from standard tables
    for df, q in [(1, 12.706204736), (2, 4.302652730), (3, 3.182446305), (4, 2.776445105), (9, 2.262157163),
                  (30, 2.042272456)]:
        assert t_quantile(0.975, df) == pytest.approx(q, abs=1e-8)
    assert t_quantile(0.975, 10**7) == pytest.approx(1.959964, abs=1e-5)  # -> normal
    assert t_quantile(0.025, 4) == pytest.approx(-2.776445105, abs=1e-8)
    assert t_cdf(0.0, 3) == 0.5 and t_cdf(t_quantile(0.9, 5), 5) == pytest.approx(0.9, abs=1e-12)
    assert t_cdf(1.0, 1) == pytest.approx(0.75, abs=1e-12)  # Cauchy: 1/2 + atan(1)/pi
    assert betainc(1.0, 1.0, 0.3) == pytest.approx(0.3, abs=1e-14)  # uniform
    assert betainc(2.0, 1.0, 0.5) == pytest.approx(0.25, abs=1e-14)  # x^2
    with pytest.raises(ValueError, match="expected 0 < p < 1"):
        t_quantile(1.0, 3)


def test_paired_difference_uses_common_seeds_and_t_interval():
    cell = {0: 11.0, 1: 12.0, 2: 14.0, 7: 99.0}
    ref = {0: 10.0, 1: 10.0, 2: 10.0, 3: 50.0}
    d = paired_difference(cell, ref)
    assert d["seeds"] == [0, 1, 2] and d["n"] == 3
    sd = math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2)
    assert d["mean"] == pytest.approx(7 / 3) and d["sd"] == pytest.approx(sd)
    half = 4.302652730 * sd / math.sqrt(3)
    assert d["low"] == pytest.approx(7 / 3 - half) and d["high"] == pytest.approx(7 / 3 + half)
    one = paired_difference({0: 2.0}, {0: 1.0})
    assert one["mean"] == 1.0 and one["low"] is None and one["sd"] is None
    assert describe([1.0, None, float("nan"), 3.0]) == {"n": 2, "mean": 2.0, "sd": math.sqrt(2.0)}


# ------------------------------------------------------------------------------------ protocol

def test_cells_and_seeds_parse():
    assert parse_cells("scratch,actionpose") == [SCRATCH_F, SCRATCH_PF, "actionpose"]
    assert parse_cells("scratch-PF,motionbert-style") == [SCRATCH_PF, BASELINE]
    assert parse_cells(None)[:4] == [SCRATCH_F, SCRATCH_PF, BASELINE, "actionpose"]
    with pytest.raises(ValueError, match="unknown cell 'bert'"):
        parse_cells("bert")
    assert parse_seeds("3") == [0, 1, 2] and parse_seeds("0,2") == [0, 2] and parse_seeds("5,") == [5]
    with pytest.raises(ValueError, match="--seeds 'x'"):
        parse_seeds("x")
    plans = {p.name: p for p in plan_cells(_spec("o", pretrain_steps=40, finetune_steps=7, cells=None))}
    assert (plans[SCRATCH_F].pretrain_steps, plans[SCRATCH_F].finetune_steps) == (0, 7)
    assert (plans[SCRATCH_PF].pretrain_steps, plans[SCRATCH_PF].finetune_steps) == (0, 47)
    assert (plans["onehot"].pretrain_steps, plans["onehot"].finetune_steps) == (40, 7)
    assert plans[SCRATCH_PF].folder == "scratch-PF" and plans["actionpose"].variant == "actionpose"


def test_stage_learning_rates_reach_their_stage_only():
    from actionpose.ablation.runner import finetune_overrides, pretrain_overrides
    from actionpose.api import FINETUNE_LR, finetune_config, pretrain_config
    spec = _spec("o", pretrain_steps=40, finetune_steps=7, cells=None, pretrain_lr=1e-3, finetune_lr=4e-4)
    plans = {p.name: p for p in plan_cells(spec)}
    pre = pretrain_config("tiny", "actionpose", pretrain_overrides(spec, plans["actionpose"], 0))
    ft = finetune_config("scratch", finetune_overrides(spec, plans[SCRATCH_F], 0), "tiny")
    assert pre.optim.lr == pytest.approx(1e-3) and ft.optim.lr == pytest.approx(4e-4)
    plain = _spec("o", pretrain_steps=40, finetune_steps=7, cells=None)
    assert finetune_config("scratch", finetune_overrides(plain, plans[SCRATCH_F], 0), "tiny").optim.lr == FINETUNE_LR
    data = load_ablation_data()
    assert "pretrain_lr" not in plain.identity(data)  # folders made before the option still match
    assert spec.identity(data)["pretrain_lr"] == 1e-3 and spec.identity(data)["finetune_lr"] == 4e-4
    with pytest.raises(ValueError, match="--finetune-lr"):
        _spec("o", pretrain_steps=40, finetune_steps=7, finetune_lr=0.0)


def test_head_keys_change_only_the_cells_with_the_head():
    """`--set model.embed_pool=joints` changes the text/one-hot cells; the scratch and
    motionbert-style cells (no embedding head) keep their config hashes, so their finished records
    stay valid in an ablation that differs only in the head."""
    from actionpose.ablation.runner import finetune_overrides, pretrain_overrides
    from actionpose.api import finetune_config, pretrain_config
    from actionpose.config import _merge, config_hash
    plain = _spec("o", pretrain_steps=40, finetune_steps=7, cells=None)
    pooled = _spec("o", pretrain_steps=40, finetune_steps=7, cells=None,
                   overrides=_merge(OVER, {"model": {"embed_pool": "mean"}}))  # off the default (joints)
    plans = {p.name: p for p in plan_cells(plain)}
    for name in ("motionbert-style", "actionpose", "onehot"):
        h = [config_hash(pretrain_config("tiny", name, pretrain_overrides(s, plans[name], 0))) for s in (plain, pooled)]
        assert (h[0] == h[1]) == (name == "motionbert-style"), name
    cfg = pretrain_config("tiny", "actionpose", pretrain_overrides(pooled, plans["actionpose"], 0))
    assert cfg.model.embed_pool == "mean"
    for name in (SCRATCH_F, SCRATCH_PF):
        h = [config_hash(finetune_config("scratch", finetune_overrides(s, plans[name], 0), "tiny")) for s in (plain, pooled)]
        assert h[0] == h[1], name
    assert finetune_overrides(pooled, plans["actionpose"], 0)["model"]["embed_pool"] == "mean"
    assert "embed_pool" not in finetune_overrides(pooled, plans[BASELINE], 0)["model"]


def test_committed_records_match_the_current_config_hashes():
    """Each committed finished stage's config.yaml still hashes to the config_hash its record holds
    (a config field added later must not invalidate finished cells: it is hashed only when set)."""
    from actionpose.config import config_hash
    from actionpose.train.runs import load_run_config
    cells = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "ablation" / "cells"
    recs = sorted(cells.rglob("ablation_cell.json"))
    if not recs:
        pytest.skip("no committed ablation cells")
    for rec in recs:
        assert config_hash(load_run_config(rec.parent)) == json.loads(rec.read_text())["config_hash"], rec


def test_requirement_reads_action_top1_when_labels_carry_a_style():
    from actionpose.ablation.curve import COLUMNS, curve_markdown
    rows = [{"variant": "actionpose", "step": s, "top1_pct": t, "content_top1_pct": c}
            for s, t, c in ((200, 4.0, 30.0), (400, 9.0, 48.0), (600, 12.0, 55.0), (800, 20.0, 61.0))]
    curve = pd.DataFrame(rows).reindex(columns=COLUMNS)
    assert first_step_reaching(curve, 50.0) == 600  # action top-1, not the action+style label top-1
    assert "first reaches 50 % action (content) top-1 at step 600" in curve_markdown(curve, 50.0)
    assert first_step_reaching(curve.assign(content_top1_pct=None), 10.0) == 600  # no action column: label top-1


def test_default_protocol_keeps_heldout_takes_out_of_training():
    data = load_ablation_data()
    assert {m.meta["dataset"] for m in data.pretrain} == {2}
    assert {m.meta["split"] for m in data.pretrain} == {"train", "val"}  # val: recognition only
    assert {m.meta["dataset"] for m in data.finetune} == {1} and {m.meta["split"] for m in data.finetune} == {"train"}
    held = {m.name for m in data.evaluate if m.meta["split"] == data.eval_split}
    assert data.eval_split == "val" and held and not held & {m.name for m in data.finetune}
    assert "dataset-2" in data.description["pretrain"] and "4 fixed virtual cameras" in data.description["2d_source"]


def test_sweep_validation_part_comes_from_training_takes_only():
    data = load_ablation_data()
    sw = sweep_validation_data(data)
    reported = {m.name for m in data.evaluate if m.meta["split"] == "val"}
    val = {m.name for m in sw.evaluate if m.meta["split"] == sw.eval_split}
    ft = {m.name for m in sw.finetune}
    assert val and not val & reported and not val & ft  # neither the reported takes nor fine-tuning takes
    assert val | ft == {m.name for m in data.finetune}
    # the bundled subset has one take per content x style: one take per content with >= 2 takes
    counts = pd.Series([m.meta["content"] for m in data.finetune]).value_counts()
    assert sorted(m.meta["content"] for m in sw.evaluate) == sorted(counts[counts >= 2].index)
    assert "content group" in sw.description["evaluate"]


# ------------------------------------------------------------------------------------ running, resume

_KILLER = """
import json, os, signal, sys
from pathlib import Path
import actionpose.train.loop as loop
from actionpose.ablation import AblationSpec, run_ablation
kw, target, at = json.loads(sys.argv[1]), Path(sys.argv[2]).resolve(), int(sys.argv[3])
real = loop.save_checkpoint
def save(run_dir, tensors, meta):
    if Path(run_dir).resolve() == target and int(meta["step"]) == at:
        os.kill(os.getpid(), signal.SIGKILL)  # mid-cell, before the step-`at` checkpoint exists
    return real(run_dir, tensors, meta)
loop.save_checkpoint = save
run_ablation(AblationSpec(**kw))
"""


def _values(summary: dict) -> list[tuple]:
    return [(r["cell"], r["seed"], *[r[c] for c in METRIC_COLS]) for r in summary["rows"]]


@pytest.mark.slow
def test_killed_ablation_resumes_to_the_same_summary(tmp_path):
    import torch
    full = run_ablation(_spec(tmp_path / "full"))
    assert [(r["cell"], r["seed"]) for r in full["rows"]] == [
        (c, s) for c in (SCRATCH_F, SCRATCH_PF, BASELINE, "actionpose") for s in (0, 1)]

    # Kill the process during actionpose/seed0's pretraining (step 3 of 4), then run the command again.
    out = tmp_path / "killed"
    spec = _spec(out)
    target = out / "actionpose" / "seed0" / "pretrain"
    kw = {**{k: getattr(spec, k) for k in ("pretrain_steps", "finetune_steps", "seeds", "cells", "overrides",
                                          "eval_max_sequences", "device")}, "out": str(out)}
    env = dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads()))
    proc = subprocess.run([sys.executable, "-c", _KILLER, json.dumps(kw), str(target), "3"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert json.loads((target / "checkpoint.json").read_text())["step"] == 2
    assert not (target / "ablation_cell.json").exists()
    assert (target.parent / ".running").exists()  # the killed process's claim, now stale
    assert (out / BASELINE / "seed0" / "finetune" / "ablation_cell.json").exists()  # finished before the kill
    assert not (out / "summary.json").exists()

    logs: list[str] = []
    resumed = run_ablation(_spec(out), log=logs.append)
    assert any("[actionpose seed 0] pretrain resuming at step 2 of 4" in line for line in logs), logs
    assert not any(BASELINE + " seed 0" in line for line in logs)  # finished cells are skipped
    assert _values(resumed) == _values(full)  # bit-exact
    assert not list(out.rglob(".running"))
    assert resumed["paired"] == full["paired"]

    # A third run does nothing and rewrites the same summary; different budgets are refused.
    logs.clear()
    again = run_ablation(_spec(out), log=logs.append)
    assert logs == ["estimate: nothing left to run (every selected cell is finished)"]
    assert _values(again) == _values(full)
    # Only each finished stage's record and config travel (no checkpoints, e.g. committed to continue
    # in another session): a copy elsewhere is the same ablation, with nothing left to run.
    import shutil
    moved = tmp_path / "moved"
    for rec in [out / "ablation_spec.json", *out.rglob("ablation_cell.json"),
                *(p.parent / "config.yaml" for p in out.rglob("ablation_cell.json"))]:
        (moved / rec.relative_to(out)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(rec, moved / rec.relative_to(out))
    logs.clear()
    assert _values(run_ablation(_spec(moved), log=logs.append)) == _values(full)
    assert logs == ["estimate: nothing left to run (every selected cell is finished)"]
    with pytest.raises(ValueError, match=r"ablation_spec.json: this folder holds a different ablation: "
                                         r"identity.finetune_steps = 3 \(this command: 5\)"):
        run_ablation(_spec(out, finetune_steps=5))


def test_cells_claimed_by_a_live_process_are_skipped_and_stale_claims_taken_over(tmp_path):
    import socket
    from actionpose.ablation.claim import CLAIM_NAME, _start_ticks, claim, holder
    spec = _spec(tmp_path / "o", cells=[SCRATCH_F])
    d0 = tmp_path / "o" / "scratch-F" / "seed0"
    d0.mkdir(parents=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (d0 / CLAIM_NAME).write_text(json.dumps({"pid": other.pid, "host": socket.gethostname(),
                                                 "start": _start_ticks(other.pid)}))
        logs: list[str] = []
        s = run_ablation(spec, log=logs.append)
        assert [(r["cell"], r["seed"]) for r in s["rows"]] == [(SCRATCH_F, 1)]
        assert f"[{SCRATCH_F} seed 0] skipped: process {other.pid} is running it" in logs
        assert (d0 / CLAIM_NAME).exists() and not (d0.parent / "seed1" / CLAIM_NAME).exists()
    finally:
        other.kill()
        other.wait()
    # its process gone, the claim is stale: the same command now trains the cell
    s = run_ablation(spec)
    assert [(r["cell"], r["seed"]) for r in s["rows"]] == [(SCRATCH_F, 0), (SCRATCH_F, 1)]
    assert not (d0 / CLAIM_NAME).exists()
    # a live pid that started after the claim was written is a recycled pid, not the holder
    (d0 / CLAIM_NAME).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "start": -1}))
    assert holder(d0) is None
    with claim(d0) as first:
        assert first and holder(d0)["pid"] == os.getpid()
        with claim(d0) as second:
            assert not second
        assert (d0 / CLAIM_NAME).exists()  # the refused claim did not remove the holder's file
    assert not (d0 / CLAIM_NAME).exists()


@pytest.mark.slow
def test_summary_tables_hold_per_seed_values_and_paired_intervals(tmp_path):
    out = tmp_path / "abl"
    summary = run_ablation(_spec(out, cells=[SCRATCH_PF, BASELINE, "actionpose", "onehot"], seeds=[0, 1, 2],
                                 pretrain_steps=3, finetune_steps=2))
    rows = pd.read_csv(out / "summary.csv")
    assert len(rows) == 12 and set(rows["seed"]) == {0, 1, 2}
    by = rows.set_index(["cell", "seed"])
    # recognition after pretraining: every text variant, never the text-free baseline or scratch
    assert by.loc["actionpose", "pretrain_top1_pct"].notna().all() and by.loc["onehot", "pretrain_top1_pct"].notna().all()
    assert by.loc[BASELINE, "pretrain_top1_pct"].isna().all() and by.loc[SCRATCH_PF, "pretrain_top1_pct"].isna().all()
    assert (by.loc[SCRATCH_PF, "finetune_steps"] == 5).all() and (by.loc["actionpose", "pretrain_steps"] == 3).all()
    # the paired difference is recomputed from the per-seed rows
    p = next(p for p in summary["paired"] if p["cell"] == "actionpose" and p["reference"] == BASELINE
             and p["metric"] == "mpjpe_mm")
    diffs = by.loc["actionpose", "mpjpe_mm"].to_numpy() - by.loc[BASELINE, "mpjpe_mm"].to_numpy()
    assert p["n"] == 3 and p["mean"] == pytest.approx(diffs.mean())
    half = 4.302652730 * diffs.std(ddof=1) / math.sqrt(3)
    assert (p["ci95_low"], p["ci95_high"]) == pytest.approx((diffs.mean() - half, diffs.mean() + half))
    assert any(q["cell"] == "onehot" and q["reference"] == SCRATCH_PF for q in summary["paired"])
    md = (out / "summary.md").read_text()
    assert "Student-t" in md and "| actionpose | 3 |" in md and "Δ MPJPE vs scratch (P+F)" in md
    assert len(pd.read_csv(out / "summary_paired.csv")) == len(summary["paired"])
    loaded = load_ablation_summary(out)
    agg = loaded.aggregate.set_index("cell")
    assert agg.loc["actionpose", "mpjpe_mm"] == pytest.approx(by.loc["actionpose", "mpjpe_mm"].mean())
    assert agg.loc["actionpose", "mpjpe_mm_sd"] == pytest.approx(by.loc["actionpose", "mpjpe_mm"].std(ddof=1))
    fig = ap.ablation_figure(loaded)
    assert len(fig.data) == 2 and len(fig.data[0].x) == 12
    cell = json.loads((out / "actionpose" / "seed1" / "finetune" / "ablation_cell.json").read_text())
    assert cell["eval_header"]["split"] == "val" and cell["eval_header"]["views"] == 4 * cell["eval_header"]["sequences"]


# ------------------------------------------------------------------------------------ Human3.6M target

def _write_h36m(folder: Path) -> None:
    """A tiny Human3.6M in the VideoPose3D npz layout (as tests/test_h36m.py writes it): real camera
    calibration, bundled Bandai motions as the subjects' poses (50 fps on disk), CPN-named 2D."""
    from actionpose.data.h36m import load_cameras_json
    from actionpose.data.prepare import bundled_data_dir
    from actionpose.data.cache import load_motions
    from actionpose.geometry import project_camera
    from actionpose.skeleton import H36M32_TO_17
    motions, _ = load_motions(bundled_data_dir())
    subjects = {"S1": ["Walking", "Directions 1"], "S5": ["Walking 1", "Eating"],
                "S9": ["Walking", "Photo 1"], "S11": ["Directions", "Eating 2"]}
    cams = load_cameras_json(None, list(subjects))
    pos3d, pos2d, k = {}, {}, 0
    for s, actions in subjects.items():
        for a in actions:
            j17 = motions[k].joints3d_world_mm[:60].astype(np.float64)
            k += 7
            j17 = j17 - np.array([j17[0, 0, 0], j17[0, 0, 1], 0.0])  # stand at the world origin
            j32 = np.repeat(j17[:, :1], 32, axis=1)
            j32[:, list(H36M32_TO_17)] = j17
            pos3d.setdefault(s, {})[a] = (j32 / 1000.0).astype(np.float32)
            pos2d.setdefault(s, {})[a] = [project_camera(j17, c).astype(np.float32) for c in cams[s]]
    folder.mkdir(parents=True)
    np.savez_compressed(folder / "data_3d_h36m.npz", positions_3d=pos3d)
    meta = {"layout_name": "h36m", "num_joints": 17,
            "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    np.savez_compressed(folder / "data_2d_h36m_cpn_ft_h36m_dbb.npz", positions_2d=pos2d, metadata=meta)


@pytest.mark.slow
def test_h36m_target_finetunes_on_s15678_and_evaluates_s9_s11(tmp_path):
    from actionpose.data.prepare import prepare
    _write_h36m(tmp_path / "h36m")
    prepare("h36m", tmp_path / "h36m", tmp_path / "h36m-50", progress=False, with_framewise_labels=False)
    with pytest.raises(ValueError, match="target data is at 50 fps but the pretraining data .* is at 30 fps"):
        load_ablation_data("", str(tmp_path / "h36m-50"))
    prepare("h36m", tmp_path / "h36m", tmp_path / "h36m-30", fps=30, progress=False, with_framewise_labels=False)
    data = load_ablation_data("", str(tmp_path / "h36m-30"))
    assert {m.subject for m in data.finetune} == {"S1", "S5"} and data.eval_split == "test"
    assert {m.subject for m in data.evaluate if m.meta["split"] == "test"} == {"S9", "S11"}
    assert {m.meta["split"] for m in data.pretrain} == {"train", "val"}  # both Bandai datasets pretrain

    out = tmp_path / "abl"
    summary = run_ablation(_spec(out, target_data=str(tmp_path / "h36m-30"), cells=[SCRATCH_F, "actionpose"],
                                 seeds=[0], pretrain_steps=2, finetune_steps=2, eval_max_sequences=None))
    assert "split 'test'" in summary["protocol"]["evaluate"] and summary["protocol"]["2d_source"] == "cpn"
    cell = json.loads((out / "actionpose" / "seed0" / "finetune" / "ablation_cell.json").read_text())
    h = cell["eval_header"]
    assert h["dataset"] == "Human3.6M" and h["split"] == "test" and h["2d_source"] == "cpn"
    assert h["sequences"] == 4 and h["views"] == 16  # S9 + S11, the 4 real cameras each
    actions = {r["action"]: r for r in cell["per_action"]}
    assert set(actions) == {"Walking", "Photo", "Directions", "Eating", "Average"}  # protocol #1 and #2 per action
    assert all(r["p_mpjpe_mm"] <= r["mpjpe_mm"] for r in actions.values())
    mean_of_actions = np.mean([r["mpjpe_mm"] for a, r in actions.items() if a != "Average"])
    assert cell["metrics"]["mpjpe_mm"] == pytest.approx(mean_of_actions, rel=1e-6)
    pa = pd.read_csv(out / "summary_per_action.csv")
    row = pa[(pa["cell"] == "actionpose") & (pa["action"] == "Photo")].iloc[0]
    assert row["mpjpe_mm"] == pytest.approx(actions["Photo"]["mpjpe_mm"]) and row["seeds"] == 1
    md = (out / "summary.md").read_text()
    assert "Per action, mean over seeds: protocol #1 / #2 (mm)" in md and "| Directions | Eating |" in md


# ------------------------------------------------------------------------------------ sweep, curve, CLI

@pytest.mark.slow
def test_sweep_scores_settings_on_the_validation_part_and_shares_the_baseline(tmp_path):
    settings = parse_sweep(["loss.w_align=0.1,1"])
    assert settings == {"loss.w_align=0.1": {"loss": {"w_align": 0.1}}, "loss.w_align=1": {"loss": {"w_align": 1}}}
    out = tmp_path / "sweep"
    summary = run_ablation(_spec(out, sweep=settings, cells=["actionpose"], pretrain_steps=2, finetune_steps=2))
    # w_align cannot change the alignment-free baseline: one shared baseline folder
    assert (out / "base" / BASELINE / "seed1" / "finetune" / "ablation_cell.json").exists()
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("setting-")) == [
        "setting-loss.w_align=0.1", "setting-loss.w_align=1"]
    cfg = (out / "setting-loss.w_align=0.1" / "actionpose" / "seed0" / "pretrain" / "config.yaml").read_text()
    assert "w_align: 0.1" in cfg
    sel = summary["selection"]
    assert sel["criterion"].startswith("mean MPJPE") and sel["best"]["cell"] == "actionpose"
    best_mean = min(a["mpjpe_mm"]["mean"] for a in summary["aggregate"] if a["cell"] == "actionpose")
    assert sel["best"]["mpjpe_mm"]["mean"] == best_mean and "motionbert-style" in sel["verdict"]
    sweep_val = sweep_validation_data(load_ablation_data())
    cell = json.loads((out / "base" / BASELINE / "seed0" / "finetune" / "ablation_cell.json").read_text())
    assert cell["eval_header"]["sequences"] == min(2, len(sweep_val.evaluate))
    assert (out / "sweep.md").read_text().count("| loss.w_align=") >= 4 and not (out / "summary.json").exists()
    # --setting: more seeds of one setting (and its baseline) only; the summary keeps every finished cell
    more = run_ablation(_spec(out, sweep=settings, cells=["actionpose"], pretrain_steps=2, finetune_steps=2,
                              seeds=[2], settings=["loss.w_align=1"]))
    assert (out / "setting-loss.w_align=1" / "actionpose" / "seed2" / "finetune" / "ablation_cell.json").exists()
    assert (out / "base" / BASELINE / "seed2" / "finetune" / "ablation_cell.json").exists()
    assert not (out / "setting-loss.w_align=0.1" / "actionpose" / "seed2").exists()
    seeds = {(r["setting"], r["cell"]): [] for r in more["rows"]}
    for r in more["rows"]:
        seeds[(r["setting"], r["cell"])].append(r["seed"])
    assert sorted(seeds[("loss.w_align=1", "actionpose")]) == [0, 1, 2]
    assert sorted(seeds[("loss.w_align=0.1", "actionpose")]) == [0, 1]
    with pytest.raises(ValueError, match=r"--setting 'loss.w_align=3'.*'loss.w_align=0.1'"):
        _spec(out, sweep=settings, settings=["loss.w_align=3"])
    with pytest.raises(ValueError, match="needs --sweep"):
        _spec(out, settings=["loss.w_align=1"])


@pytest.mark.slow
def test_pretraining_curve_and_cli(tmp_path, capsys):
    curve = run_curve(4, tmp_path / "curve", every=2, overrides=OVER, device="cpu")
    assert list(curve["step"]) == [2, 4] and curve["top1_pct"].notna().all()
    assert (curve["chance_top1_pct"] > 0).all() and (curve["mpjpe_mm"] > 0).all()
    assert "first reaches" in (tmp_path / "curve" / "curve.md").read_text() or "never reaches" in (
        tmp_path / "curve" / "curve.md").read_text()
    run = tmp_path / "curve" / "actionpose" / "seed0" / "pretrain"
    assert pretraining_curve(run).equals(curve)
    assert main(["ablate-curve", "--runs", str(run), "--out", str(tmp_path / "c2"), "--top1", "0.001"]) == 0
    expected = first_step_reaching(curve, 0.001)
    assert f"suggested P: {'none yet' if expected is None else expected}" in capsys.readouterr().out
    synthetic = pd.DataFrame({"variant": ["actionpose"] * 3 + ["onehot"], "step": [100, 200, 300, 100],
                              "top1_pct": [20.0, 55.0, 50.0, 90.0]})
    assert first_step_reaching(synthetic, 50.0) == 200 and first_step_reaching(synthetic, 60.0) is None
    assert first_step_reaching(synthetic, 60.0, variant="onehot") == 100

    sets = ["--set", "model.dim_feat=16", "--set", "model.dim_rep=32", "--set", "model.depth=1",
            "--set", "model.maxlen=27", "--set", "model.embed_hidden=32", "--batch-size", "4"]
    code = main(["ablate", "--pretrain-steps", "2", "--finetune-steps", "2", "--seeds", "2", "--variants", "scratch-F",
                 "--out", str(tmp_path / "cli"), "--device", "cpu", "--estimate-only", "--no-progress", *sets])
    out = capsys.readouterr().out
    assert code == 0 and "estimate: 0 pretraining + 4 fine-tuning steps and 2 evaluations left" in out
    assert not list((tmp_path / "cli").glob("scratch-F/seed*/finetune/ablation_cell.json"))
    spec = json.loads((tmp_path / "cli" / "ablation_spec.json").read_text())
    assert spec["identity"]["overrides"]["model"]["depth"] == 1 and spec["identity"]["pretrain_steps"] == 2
    assert main(["ablate", "--pretrain-budget", "2", "--finetune-budget", "1", "--pretrain-steps", "2",
                 "--finetune-steps", "2", "--out", str(tmp_path / "x")]) == 2
    assert "budgets are step counts" in capsys.readouterr().err
    assert main(["ablate", "--pretrain-steps", "2", "--finetune-steps", "2", "--out", str(tmp_path / "x"),
                 "--set", "train.seed=3"]) == 2
    assert "train.seed is set by the ablation itself" in capsys.readouterr().err


def test_collect_copies_records_and_tables_never_checkpoints(tmp_path):
    """benchmarks/collect_ablation.py: a sweep folder's sweep.* tables + spec, and per finished stage
    its record, config and (pretraining) metrics; checkpoints and unfinished stages stay behind."""
    tool = Path(__file__).resolve().parents[1] / "benchmarks" / "collect_ablation.py"
    out = tmp_path / "out"
    done = out / "setting-x" / "actionpose" / "seed0" / "pretrain"
    busy = out / "base" / "motionbert-style" / "seed0" / "pretrain"
    for d in (done, busy):
        d.mkdir(parents=True)
        for name in ("config.yaml", "metrics.jsonl", "checkpoint.safetensors"):
            (d / name).write_text(name)
    (done / "ablation_cell.json").write_text("{}")
    for name in ("sweep.json", "sweep.md", "sweep_paired.csv", "ablation_spec.json"):
        (out / name).write_text(name)
    dest = tmp_path / "dest"
    proc = subprocess.run([sys.executable, str(tool), str(out), "--dest", str(dest)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    got = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert got == ["ablation_spec.json", "cells/setting-x/actionpose/seed0/pretrain/ablation_cell.json",
                   "cells/setting-x/actionpose/seed0/pretrain/config.yaml",
                   "cells/setting-x/actionpose/seed0/pretrain/metrics.jsonl", "sweep.json", "sweep.md",
                   "sweep_paired.csv"]
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = subprocess.run([sys.executable, str(tool), str(empty), "--dest", str(dest)], capture_output=True, text=True)
    assert bad.returncode == 2 and "summary.json: missing" in bad.stdout


def test_gpu_protocol_script_issues_valid_commands(tmp_path):
    """benchmarks/ablation_gpu.sh (never run here: no GPU) calls the CLI with arguments its parser
    accepts: the curve, the five main cells with 3 seeds, then the mask cells; lite preset on CUDA."""
    import shlex
    from actionpose.cli import build_parser
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "ablation_gpu.sh"
    calls = tmp_path / "calls.txt"
    fake = tmp_path / "fake_ap"
    fake.write_text(f'#!/usr/bin/env bash\nprintf "%q " "$@" >> {calls}\necho >> {calls}\n')
    fake.chmod(0o755)
    proc = subprocess.run(["bash", str(script), "prepared/bandai", str(tmp_path / "out")], capture_output=True,
                          text=True, env=dict(os.environ, AP=str(fake)))
    assert proc.returncode == 0, proc.stderr
    lines = [shlex.split(line) for line in calls.read_text().splitlines() if line.strip()]
    assert [a[0] for a in lines] == ["ablate-curve", "ablate", "ablate"]
    parser = build_parser()
    parsed = [parser.parse_args(a) for a in lines]
    for ns in parsed:
        assert ns.preset == "lite" and ns.device == "cuda" and ns.batch_size == 32
        assert "model.embed_pool=joints" in ns.set and ns.pretrain_data == "prepared/bandai"
    assert parsed[1].pretrain_steps == 6000 and parsed[1].finetune_steps == 3000 and parsed[1].seeds == "3"
    assert parsed[1].variants == "scratch,motionbert-style,actionpose,onehot"
    assert parsed[2].seeds == "0," and parsed[2].variants == "no-part-mask,no-window-mask"


def test_sweep_selection_uses_the_seeds_every_setting_has():
    """A setting given extra seeds later is chosen on the shared seeds only; its verdict uses all of them."""
    from actionpose.ablation.report import build_summary

    def row(setting, cell, seed, mm):
        return {"setting": setting, "cell": cell, "seed": seed, "mpjpe_mm": mm, "p_mpjpe_mm": mm / 2,
                "pretrain_steps": 2, "finetune_steps": 2}
    rows = [row("a", BASELINE, 0, 100.0), row("a", "actionpose", 0, 95.0),
            row("b", BASELINE, 0, 100.0), row("b", "actionpose", 0, 97.0)]
    # b's extra seeds are better (its own mean, 93 mm, would beat a's 95); on seed 0 alone (the shared seed) a still wins
    rows += [row("b", BASELINE, s, 94.0 + s) for s in (1, 2)] + [row("b", "actionpose", s, 91.0) for s in (1, 2)]
    sel = build_summary(rows, {}, mode="sweep")["selection"]
    assert sel["selected_on_seeds"] == [0] and sel["best"]["setting"] == "a"
    assert {(d["setting"], d["mpjpe_mm"]) for d in sel["scores_mm"]} == {("a", 95.0), ("b", 97.0)}
    assert "too few seeds" in sel["verdict"] and sel["beats_baseline_beyond_noise"] is False
    # once a has them too, b wins on the shared seeds and its 3-seed paired interval decides
    rows += [row("a", "actionpose", s, 99.0) for s in (1, 2)] + [row("a", BASELINE, s, 94.0 + s) for s in (1, 2)]
    sel = build_summary(rows, {}, mode="sweep")["selection"]
    assert sel["selected_on_seeds"] == [0, 1, 2] and sel["best"]["setting"] == "b"
    assert sel["vs_baseline"]["n"] == 3 and sel["vs_baseline"]["mean"] == pytest.approx(-4.0)
    assert sel["beats_baseline_beyond_noise"] is True and "beats it beyond the seed noise" in sel["verdict"]


@pytest.mark.slow
def test_sweep_reuses_identical_pretraining_stages_and_gets_the_same_result(tmp_path):
    """--reuse-pretraining: a sweep setting equal to the ablation's own (the default w_align) copies
    the ablation's finished pretraining stage instead of retraining it — only when data, config hash
    and seed match — and fine-tunes it to exactly the result a fresh sweep gets."""
    from safetensors.numpy import load_file
    abl = tmp_path / "ablation"
    run_ablation(_spec(abl, cells=["actionpose"], seeds=[0], pretrain_steps=2, finetune_steps=2))
    src = abl / "actionpose" / "seed0" / "pretrain"
    sweep = parse_sweep(["loss.w_align=0.05,1"])  # 0.05 is the library default: the ablation's cell

    def sweep_run(out, reuse):
        return run_ablation(_spec(out, sweep=sweep, cells=["actionpose"], seeds=[0], pretrain_steps=2,
                                  finetune_steps=2, reuse_pretraining=reuse))
    est = run_ablation(_spec(tmp_path / "reused", sweep=sweep, cells=["actionpose"], seeds=[0], pretrain_steps=2,
                             finetune_steps=2, reuse_pretraining=[abl]), estimate_only=True)["estimate"]
    assert est["pending"]["reused"] == 1 and est["pending"]["pretrain"] == 2 * 2  # w_align=1 + the baseline
    fresh, reused = sweep_run(tmp_path / "fresh", []), sweep_run(tmp_path / "reused", [abl])
    rec = json.loads((tmp_path / "reused" / "setting-loss.w_align=0.05" / "actionpose" / "seed0" / "pretrain"
                      / "ablation_cell.json").read_text())
    assert rec["reused_from"] == str(src.resolve()) and rec["setting"] == "loss.w_align=0.05"
    other = json.loads((tmp_path / "reused" / "setting-loss.w_align=1" / "actionpose" / "seed0" / "pretrain"
                        / "ablation_cell.json").read_text())
    assert "reused_from" not in other, "a different w_align computes something else: never reused"
    w_fresh = load_file(tmp_path / "fresh" / "setting-loss.w_align=0.05" / "actionpose" / "seed0" / "pretrain"
                        / "checkpoint.safetensors")
    w_src = load_file(src / "checkpoint.safetensors")
    assert all(np.array_equal(w_fresh[k], w_src[k]) for k in w_src), "the reused stage is what training gives"
    key = lambda s: {(r["setting"], r["cell"]): r["mpjpe_mm"] for r in s["rows"]}  # noqa: E731
    assert key(fresh) == key(reused)
    # another seed is another computation: nothing to reuse
    assert find_reusable([abl], json.loads((abl / "ablation_spec.json").read_text())["identity"]
                         ["data_fingerprints"]["pretrain"], 1, rec["config_hash"]) is None
    assert find_reusable([abl], "0" * 16, 0, rec["config_hash"]) is None, "other pretraining data"
