"""The powered ablation (issue 23): declared design, arms that differ only in text, common random
numbers, the gate that refuses untrained cells, readouts with analytic answers, statistics (MDE,
Holm, take bootstrap) and a resumable smoke run of the whole design on the bundled subset."""
from __future__ import annotations

import copy
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from actionpose.ablation import arms as A
from actionpose.ablation.design import design_from_dict, load_design
from actionpose.ablation.gate import NotTrainedError, gate_record, require_trained
from actionpose.ablation.powered import CELL_RECORD, check_design_rules, run_design
from actionpose.ablation.powered_data import load_powered_data
from actionpose.ablation.powered_report import build_powered_summary, compare, per_take_value
from actionpose.ablation.readouts import LIMBS, HeldOutView, view_readouts
from actionpose.ablation.stats import bootstrap_paired, holm, minimum_detectable_effect, paired_test
from actionpose.baselines import FLAT, MEAN_DEPTH, MLP
from actionpose.config import _with_legacy, config_hash, from_dict, make_config, to_dict
from actionpose.data.synthesis import Sample
from actionpose.masking import hide_keypoints, part_hidden, periodic_window_hidden

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "benchmarks" / "ablation_design_smoke.yaml"
SCRIPT = ROOT / "benchmarks" / "ablation_powered.py"


def _smoke_dict() -> dict:
    return yaml.safe_load(SMOKE.read_text())


# ------------------------------------------------------------------------------------ the design

def test_real_and_smoke_designs_validate_and_declare_roles():
    real = load_design(ROOT / "benchmarks" / "ablation_design.yaml")
    assert len(real.seeds) >= 8 and not set(real.seeds) & set(real.tuning_seeds)
    assert real.arms == ["A", "B", "C"] and real.scratch
    assert set(real.readouts) == {"probe", "low_data", "masked_limb", "masked_window", "depth_sign", "recognition",
                                  "zero_shot", "retrieval"}
    assert real.primary == ["probe", "low_data", "masked_limb"]
    assert real.finetune_overrides["loss"]["w_distill"] == 0.0
    check_design_rules(real)
    smoke = load_design(SMOKE)
    assert smoke.seeds == [0, 1] and smoke.budgets.pretrain_steps == 2


def test_real_design_trains_at_the_demo_window_shape_and_hides_less_than_a_window():
    """The cells are the shipped recipe's shape (issue 21), and the window-mask readout hides spans
    shorter than one lifter window (at T 9 a 1-s gap would blank whole windows)."""
    from actionpose.demo import DEMO_BATCH, DEMO_MAXLEN
    real = load_design(ROOT / "benchmarks" / "ablation_design.yaml")
    assert real.overrides["model"]["maxlen"] == DEMO_MAXLEN
    assert real.overrides["data"] == {"batch_size": DEMO_BATCH, "stride": DEMO_MAXLEN // 3}
    win = real.readouts["masked_window"]
    fps = 30.0  # Bandai-Namco
    assert 1 <= round(win["window_s"] * fps) < DEMO_MAXLEN and round(win["period_s"] * fps) <= DEMO_MAXLEN
    assert real.readouts["probe"]["frames_per_window"] == DEMO_MAXLEN


def test_tuning_design_runs_only_tuning_seeds_at_its_own_budget():
    from actionpose.ablation.design import tuning_design
    real = load_design(ROOT / "benchmarks" / "ablation_design.yaml")
    tune = tuning_design(real, 600, 200)
    assert tune.seeds == real.tuning_seeds and tune.tuning_seeds == [] and not set(tune.seeds) & set(real.seeds)
    assert (tune.budgets.pretrain_steps, tune.budgets.finetune_steps) == (600, 200)
    assert tune.identity() != real.identity() and tune.name != real.name
    same = tuning_design(real)  # same budgets: same computation, but only the tuning seeds
    assert same.budgets == real.budgets and same.seeds == real.tuning_seeds
    import dataclasses
    with pytest.raises(ValueError, match="tuning_seeds is empty"):
        tuning_design(dataclasses.replace(real, tuning_seeds=[]))


@pytest.mark.parametrize("edit, field", [
    (lambda d: d.update(tuning_seeds=[1]), "tuning_seeds"),
    (lambda d: d.update(arms=["A", "E"]), "arms"),
    (lambda d: d["readouts"]["probe"].pop("role"), "readouts.probe.role"),
    (lambda d: d["budgets"].update(pretrain_steps=0), "budgets.pretrain_steps"),
    (lambda d: d["readouts"].update(bogus={"role": "primary"}), "readouts.bogus"),
    (lambda d: d.update(contrasts=[["B", "Z"]]), "contrasts"),
    (lambda d: d["statistics"].update(primary_contrast=["B", "B"]), "statistics.primary_contrast"),
])
def test_bad_design_fields_are_named(edit, field):
    d = _smoke_dict()
    edit(d)
    with pytest.raises(ValueError, match=rf"smoke.yaml: field {re.escape(field)}"):
        design_from_dict(d, "smoke.yaml")


def test_unbalanced_or_unknown_test_takes_are_refused():
    d = _smoke_dict()
    d["protocol"]["test_takes"] = ["dataset-1_bow_active_001", "dataset-1_bow_happy_001", "dataset-1_dash_feminine_001"]
    with pytest.raises(ValueError, match="protocol.test_takes is not balanced"):
        load_powered_data(design_from_dict(d, "smoke.yaml"))
    d["protocol"]["test_takes"] = ["no-such-take"]
    with pytest.raises(ValueError, match="protocol.test_takes holds 'no-such-take'"):
        load_powered_data(design_from_dict(d, "smoke.yaml"))


def test_protocol_keeps_test_takes_and_zero_shot_actions_out_of_training():
    design = load_design(SMOKE)
    data = load_powered_data(design)
    test = {m.name for m in data.test}
    assert test == set(design.protocol.test_takes)
    assert not test & {m.name for m in data.pool + data.low_data}
    assert {m.meta["content"] for m in data.zero_shot} == set(design.protocol.zero_shot_actions)
    assert not {m.meta["content"] for m in data.pretrain} & set(design.protocol.zero_shot_actions)
    assert all(m.meta["dataset"] == 2 for m in data.pretrain) and all(m.meta["dataset"] == 1 for m in data.pool)
    assert {m.name for m in data.low_data} <= {m.name for m in data.pool}
    # 4 fixed + 1 training-like camera per test take, deterministic
    assert [c.name for c in data.test[0].cameras] == ["fixed-0", "fixed-1", "fixed-2", "fixed-3", "train-like-0"]
    again = load_powered_data(design)
    np.testing.assert_array_equal(again.test[0].cameras[4].T_world_mm, data.test[0].cameras[4].T_world_mm)


# ------------------------------------------------------------------------------------ the arms

def test_arms_differ_only_in_the_text_signal(monkeypatch):
    diff = A.text_difference("tiny", {}, ["A", "B", "C", "D"])
    assert diff["A"] == set() and diff["B"] == {"loss.w_align"}
    assert diff["C"] == {"loss.w_align", "align.mode", "align.soft_targets"}
    assert diff["D"] == {"loss.w_align", "loss.align_backbone"}
    # a common override cannot blur the difference: the arm's keys win
    assert A.arm_overrides({"loss": {"w_align": 0.3}}, "A")["loss"]["w_align"] == 0.0
    monkeypatch.setitem(A.ARMS, "X", {"mask": {"part_prob": 0.0}})
    with pytest.raises(ValueError, match="arm X: its pretraining config differs from arm A in mask.part_prob"):
        A.check_text_only("tiny", {}, ["A", "X"])


def test_a_finetuning_term_only_some_cells_get_is_refused():
    with pytest.raises(ValueError, match="w_distill = 1.0 gives the arms"):
        A.check_same_finetune_loss({}, {}, scratch=True)
    A.check_same_finetune_loss({"loss": {"w_distill": 0.0}}, {}, scratch=True)


def test_align_backbone_switch_is_hash_neutral_and_stops_the_alignment_gradient(tmp_path):
    base = make_config()
    assert config_hash(base) == config_hash(make_config(overrides={"loss": {"align_backbone": True}}))
    saved = to_dict(base)
    del saved["loss"]["align_backbone"]  # a config written before the key existed
    assert config_hash(from_dict(_with_legacy(saved))) == config_hash(base)
    assert config_hash(make_config(overrides={"loss": {"align_backbone": False}})) != config_hash(base)

    import actionpose as ap
    from actionpose.train.runs import read_metrics
    from conftest import SMALL_MODEL
    over = {"model": SMALL_MODEL, "data": {"batch_size": 4, "stride": 27},
            "train": {"max_steps": 1, "log_every": 1, "grad_diag_every": 1, "val_every": 0, "device": "cpu"}}
    norms = {}
    for on in (True, False):
        run = tmp_path / f"on{on}"
        ap.pretrain("tiny", "actionpose", run, overrides={**over, "loss": {"align_backbone": on}}, progress=False)
        rec = [r for r in read_metrics(run) if r.get("split") == "train"][0]
        norms[on] = rec["gnorm_align"]
    assert norms[True] > 0 and norms[False] == 0.0


def test_common_random_numbers_same_init_and_batches_in_every_arm():
    from actionpose.data.dataset import LiftingWindows, split_motions
    from actionpose.api import pretrain_config
    from actionpose.train.data import load_data
    from actionpose.train.model_io import build_bundle
    from conftest import SMALL_MODEL
    motions, _ = load_data(None)
    train = [m for m in split_motions(motions, "train") if m.meta["dataset"] == 2][:20]
    states, items, masks = {}, {}, {}
    for arm in A.ARMS:
        cfg = pretrain_config("tiny", A.BASE_VARIANT, A.arm_overrides({"model": SMALL_MODEL}, arm))
        torch.manual_seed(3)
        bundle = build_bundle(cfg, train)
        states[arm] = bundle.lifter.state_dict()
        items[arm] = LiftingWindows(train, cfg, train=True, vocab=bundle.vocab, seed=3)[5]["x2d"]
        masks[arm] = cfg.mask  # masks are drawn from (seed, step) with these probabilities
    for arm in "BCD":
        assert states[arm].keys() == states["A"].keys()
        for k in states["A"]:
            assert torch.equal(states[arm][k], states["A"][k]), (arm, k)
        np.testing.assert_array_equal(items[arm], items["A"])
        assert masks[arm] == masks["A"]


# ------------------------------------------------------------------------------------ the gate

def _floors(flat=100.0, depth=90.0, mlp=40.0):
    return [{"predictor": FLAT, "mpjpe_mm": flat}, {"predictor": MEAN_DEPTH, "mpjpe_mm": depth},
            {"predictor": MLP, "mpjpe_mm": mlp}]


def test_gate_needs_the_mean_depth_floor_beaten_and_the_mlp_margin():
    assert gate_record(_floors(), 50.0, True, 15.0)["passed"]
    g = gate_record(_floors(), 60.0, True, 15.0)
    assert not g["passed"] and "more than 15 mm above the MLP floor" in g["reasons"][0]
    assert gate_record(_floors(), 60.0, True, None)["passed"]
    g = gate_record(_floors(), 95.0, False, None)
    assert not g["passed"] and "NOT TRAINED" in g["reasons"][0]
    assert not gate_record(_floors()[:1], 50.0, None, None)["passed"]


def test_comparison_refuses_a_cell_that_did_not_pass_the_gate():
    design = load_design(SMOKE)
    good = {"cell": "B", "seed": 0, "gate": {"passed": True}, "readouts": {"low_data": {
        "takes": {"t": [10.0, 1.0]}, "actions": {"t": "a"}}}}
    bad = copy.deepcopy(good)
    bad.update(cell="A", gate={"passed": False, "reasons": ["NOT TRAINED (loses to the flat + mean-depth floor)"]})
    with pytest.raises(NotTrainedError, match="cell 'A' seed 0 is not trained"):
        compare([good], [bad], "low_data", "per_action", design)
    with pytest.raises(NotTrainedError, match="no gate verdict"):
        require_trained([{"cell": "C", "seed": 1}])


# ------------------------------------------------------------------------------------ statistics

def test_minimum_detectable_effect_and_paired_test():
    # (t(0.975, 2) + t(0.8, 2)) * 14 / sqrt(3), table values 4.302653 and 1.060660
    assert minimum_detectable_effect(14.0, 3) == pytest.approx((4.302653 + 1.060660) * 14 / math.sqrt(3), rel=1e-6)
    assert minimum_detectable_effect(14.0, 8) < minimum_detectable_effect(14.0, 3) / 2.5
    assert minimum_detectable_effect(None, 8) is None and minimum_detectable_effect(1.0, 1) is None
    r = paired_test({0: 1.0, 1: 2.0, 2: 4.0}, {0: 0.0, 1: 0.0, 2: 0.0})
    assert r["t_stat"] == pytest.approx((7 / 3) / (r["sd"] / math.sqrt(3)))
    assert r["p"] == pytest.approx(0.1181, abs=1e-4)  # two-sided t(2) tail of 2.6458


def test_holm_adjustment():
    assert holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": None}) == {"a": 0.03, "b": 0.06, "c": 0.06, "d": None}
    assert holm({"a": 0.5, "b": 0.9}) == {"a": 1.0, "b": 1.0}


def test_take_bootstrap_is_paired_and_stratified_by_action():
    acts = {"w1": "walk", "w2": "walk", "w3": "walk", "p1": "punch"}
    ref = {s: {t: (10.0 * (i + 1) + s, 1.0) for i, t in enumerate(acts)} for s in range(3)}
    shifted = {s: {t: (v + 2.0, c) for t, (v, c) in ref[s].items()} for s in ref}
    b = bootstrap_paired(shifted, ref, acts, n_boot=300, seed=1)
    assert b["estimate"] == pytest.approx(2.0) and b["low"] == pytest.approx(2.0) and b["high"] == pytest.approx(2.0)
    # an effect in one walk take only: per-action weight 1/3 of walk's half, and its interval straddles it
    one = {s: {t: (v + (6.0 if t == "w1" else 0.0), c) for t, (v, c) in ref[s].items()} for s in ref}
    b = bootstrap_paired(one, ref, acts, n_boot=500, seed=1)
    assert b["estimate"] == pytest.approx(6.0 / 3 / 2) and b["low"] == pytest.approx(0.0) and b["high"] > 1.0
    assert bootstrap_paired(one, ref, acts, n_boot=10, per_action=False)["estimate"] == pytest.approx(6.0 / 4)


def test_per_take_values_average_per_action_or_per_frame():
    e = {"takes": {"a1": [30.0, 3.0], "a2": [10.0, 1.0], "b1": [40.0, 2.0]}, "actions": {"a1": "a", "a2": "a", "b1": "b"}}
    assert per_take_value(e, "per_action") == pytest.approx((40 / 4 + 20) / 2)
    assert per_take_value(e, "frames") == pytest.approx(80 / 6)


# ------------------------------------------------------------------------------------ readouts

def _views(n_takes=2, T=12):
    rng = np.random.default_rng(0)
    views = []
    for i in range(n_takes):
        y = rng.normal(0, 0.1, (T, 17, 3)).astype(np.float32)
        y -= y[:, :1]
        x = np.concatenate([y[..., :2] + 0.3, np.ones((T, 17, 1), np.float32)], -1)
        for v in range(2):
            views.append(HeldOutView(f"take{i}", "act", i, f"fixed-{v}", v,
                                  Sample(x, y, np.full(T, 2000.0, np.float32)), np.ones((T, 17), bool)))
    return views


def test_view_readouts_oracle_flat_and_mirror():
    views = _views()
    truth = {v.sample.x2d[..., :2].tobytes(): v.sample.y3d for v in views}

    def oracle(x2d):  # sees through the masks: looks the clip up by its unmasked frames' identity
        for key, y in truth.items():
            if np.array_equal(np.frombuffer(key, np.float32).reshape(y.shape[0], 17, 2)[x2d[..., 2] > 0],
                              x2d[..., :2][x2d[..., 2] > 0]):
                return y
        raise AssertionError("unknown clip")

    which = ("mpjpe", "masked_limb", "masked_window", "depth_sign")
    r = view_readouts(oracle, views, which, fps=4.0, params={"masked_window": {"window_s": 1.0, "period_s": 3.0}})
    for k in ("mpjpe", "masked_limb", "masked_window"):
        assert all(s == pytest.approx(0.0, abs=1e-6) for s, _ in r[k].values())
    assert all(s / c == pytest.approx(100.0) for s, c in r["depth_sign"].values() if c)
    # one limb (3 joints) in every frame of every view; windows: 4 of every 12 frames, all joints
    assert r["masked_limb"]["take0"][1] == 2 * 12 * 3 and r["masked_window"]["take0"][1] == 2 * 4 * 17
    mirror = lambda x2d: oracle(x2d) * np.array([1, 1, -1], np.float32)  # noqa: E731
    assert all(s == 0 for s, c in view_readouts(mirror, views, ("depth_sign",), 4.0)["depth_sign"].values())
    flat = lambda x2d: np.concatenate([x2d[..., :2] - x2d[:, :1, :2], np.zeros_like(x2d[..., :1])], -1)  # noqa: E731
    assert all(s == 0 for s, c in view_readouts(flat, views, ("depth_sign",), 4.0)["depth_sign"].values())
    assert LIMBS == ("left_arm", "right_arm", "left_leg", "right_leg")


def test_test_time_masks_use_the_training_encoding():
    x = np.ones((6, 17, 3), np.float32)
    h = part_hidden(6, "left_arm")
    out = hide_keypoints(x, h)
    assert (out[:, [11, 12, 13]] == 0).all() and (out[:, 0] == 1).all() and (x == 1).all()
    w = periodic_window_hidden(7, 1, 3)
    assert w[:, 0].tolist() == [False, False, True, False, False, True, False]
    with pytest.raises(ValueError, match="hidden has shape"):
        hide_keypoints(x, h[:2])


def test_ridge_probe_fits_at_least_as_well_as_the_models_own_head():
    """The 3D head is linear in the representation, so on the fit data the least-squares per-joint maps
    (alpha -> 0) can only do better than the head."""
    from actionpose.ablation.readouts import fit_ridge_probe
    from actionpose.data.dataset import LiftingWindows
    from actionpose.train.data import load_data
    from actionpose.model.lifter import build_lifter
    from conftest import SMALL_MODEL
    motions, _ = load_data(None)
    fit = [m for m in motions if m.meta["dataset"] == 1 and m.meta["split"] == "train"][:12]
    cfg = make_config("tiny", "scratch", {"model": SMALL_MODEL})
    torch.manual_seed(0)
    lifter = build_lifter(cfg.model)
    probe, info = fit_ridge_probe(lifter, fit, cfg, alpha=1e-9, windows=40, frames_per_window=cfg.model.maxlen, seed=0)
    assert info["windows"] == 40 and info["tokens_per_joint"] > cfg.model.dim_rep
    ds = LiftingWindows(fit, cfg, train=True, seed=0, noise=False, max_windows=40)
    x = torch.from_numpy(np.stack([ds[i]["x2d"] for i in range(len(ds))]))
    y = torch.from_numpy(np.stack([ds[i]["y3d"] for i in range(len(ds))]))
    fv = torch.from_numpy(np.stack([ds[i]["frame_valid"] for i in range(len(ds))]))[..., None, None]
    with torch.no_grad():
        e_probe = (((probe(x, fv[..., 0, 0])["y3d"] - y) ** 2) * fv).sum()
        e_head = (((lifter(x, fv[..., 0, 0])["y3d"] - y) ** 2) * fv).sum()
    assert float(e_probe) < float(e_head)


# ------------------------------------------------------------------------------------ the smoke run

@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """The smoke design, cells A, C and scratch (both seeds): every readout, resumable."""
    out = tmp_path_factory.mktemp("powered") / "out"
    design = load_design(SMOKE)
    logs: list[str] = []
    summary = run_design(design, out, device="cpu", cells=["A", "C", "scratch"], log=logs.append)
    return design, out, summary, logs


def test_smoke_run_records_gate_floors_and_every_readout(smoke_run):
    design, out, summary, _ = smoke_run
    rec = json.loads((out / "A" / "seed0" / CELL_RECORD).read_text())
    assert {r["predictor"] for r in rec["floors"]} >= {FLAT, MEAN_DEPTH, MLP, "model"}
    assert rec["gate"]["passed"] is False and "NOT TRAINED" in rec["gate"]["reasons"][0]  # 2 steps learn nothing
    ev = json.loads((out / "A" / "seed0" / "finetune" / "eval.json").read_text())
    assert ev["header"]["trained_vs_floor"] is False and ev["header"]["views"] == 2 * 5
    r = rec["readouts"]
    assert set(r) == {"low_data", "masked_limb", "masked_window", "depth_sign", "probe", "recognition", "retrieval",
                      "zero_shot", "zero_shot_unseen"}
    # (b) from the readout loop equals evaluate's MPJPE (same views, same metric, per action)
    assert per_take_value(r["low_data"], "per_action") == pytest.approx(rec["eval"]["mpjpe_mm"], rel=1e-5)
    assert r["retrieval"]["queries"] > 0 and 0 <= r["retrieval"]["recall_at_10_pct"] <= 100
    c = json.loads((out / "C" / "seed0" / CELL_RECORD).read_text())["readouts"]
    assert "one-hot" in c["zero_shot"]["n/a"] and "one-hot" in c["retrieval"]["n/a"] and "takes" in c["recognition"]
    s = json.loads((out / "scratch" / "seed1" / CELL_RECORD).read_text())["readouts"]
    assert "probe" not in s and "low_data" in s
    # every comparison is refused: no cell passed the gate
    assert summary["comparisons"] and all("refused" in row for row in summary["comparisons"])
    assert summary["cells"]["C"]["metrics"]["zero_shot"]["n/a"].startswith("one-hot")
    assert (out / "summary.md").read_text().count("refused") == len(summary["comparisons"])


def test_smoke_run_resumes_and_refuses_another_design(smoke_run, tmp_path):
    design, out, _, _ = smoke_run
    work = tmp_path / "out"
    shutil.copytree(out, work)
    before = json.loads((work / "C" / "seed1" / CELL_RECORD).read_text())
    # "killed" after C seed 1's fine-tune started: its record, stage record and eval are gone
    (work / "C" / "seed1" / CELL_RECORD).unlink()
    (work / "C" / "seed1" / "finetune" / "ablation_cell.json").unlink()
    logs: list[str] = []
    run_design(design, work, device="cpu", cells=["A", "C", "scratch"], log=logs.append)
    trained = [line for line in logs if "pretrain" in line or "fine-tune" in line]
    assert len(trained) == 1 and "[C seed 1] low-data fine-tune" in trained[0]
    after = json.loads((work / "C" / "seed1" / CELL_RECORD).read_text())
    assert after["readouts"] == before["readouts"] and after["eval"]["mpjpe_mm"] == before["eval"]["mpjpe_mm"]
    d = _smoke_dict()
    d["budgets"]["pretrain_steps"] = 3
    with pytest.raises(ValueError, match="design.json: this folder holds another design"):
        run_design(design_from_dict(d, "other.yaml"), work, device="cpu", cells=["A"])
    with pytest.raises(ValueError, match="not a seed of the design"):
        run_design(design, work, seeds=[100])


def test_summary_compares_trained_cells_with_mde_holm_and_bootstrap(smoke_run, tmp_path):
    design, out, _, _ = smoke_run
    work = tmp_path / "out"
    shutil.copytree(out, work)
    for p in work.glob("*/seed*/cell.json"):  # pretend every cell passed, to exercise the statistics
        rec = json.loads(p.read_text())
        rec["gate"] = {**rec["gate"], "passed": True, "reasons": []}
        p.write_text(json.dumps(rec))
    d = _smoke_dict()
    d["arms"], d["contrasts"] = ["A", "C"], [["C", "A"], ["C", "scratch"]]
    d["statistics"]["primary_contrast"] = ["C", "A"]
    s = build_powered_summary(work, design_from_dict(d, str(SMOKE)))
    rows = {(r["cell"], r["reference"], r["metric"], r["aggregation"]): r for r in s["comparisons"]}
    r = rows[("C", "A", "low_data", "per_action")]
    assert r["n"] == 2 and r["mde"] is not None and r["p"] is not None and r["primary"]
    assert r["p_holm"] >= r["p"] and r["bootstrap"]["takes"] == 2
    assert not rows[("C", "A", "low_data", "frames")]["primary"]
    assert "n/a" in rows[("C", "A", "zero_shot", "per_action")]["refused"]
    assert "not measured for scratch" in rows[("C", "scratch", "probe", "per_action")]["refused"]


def test_readme_declares_the_design_and_its_block_matches(tmp_path):
    readme = (ROOT / "README.md").read_text()
    assert "benchmarks/ablation_design.yaml" in readme and "core-hours" in readme
    res = subprocess.run([sys.executable, str(SCRIPT), "readme", "--check"], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr



def test_verdicts_are_read_from_the_primary_rows():
    from actionpose.ablation.powered_report import powered_verdicts
    metrics = {"probe": {"label": "(a) probe", "unit": "mm", "lower_is_better": True},
               "low_data": {"label": "(b) low", "unit": "mm", "lower_is_better": True},
               "masked_limb": {"label": "(c) limb", "unit": "mm", "lower_is_better": True},
               "recognition": {"label": "(e) top-1", "unit": "%", "lower_is_better": False}}
    row = dict(cell="B", reference="A", aggregation="per_action", primary=True, n=8, mde=1.5, p=0.001)
    s = {"statistics": {"alpha": 0.05, "primary_contrast": ["B", "A"]}, "metrics": metrics, "comparisons": [
        {**row, "metric": "probe", "mean": -2.0, "low": -3.0, "high": -1.0, "p_holm": 0.003},
        {**row, "metric": "low_data", "mean": 0.4, "low": -0.6, "high": 1.4, "p_holm": 0.4},
        {**row, "metric": "masked_limb", "mean": 3.0, "low": 1.0, "high": 5.0, "p_holm": 0.01},
        {**row, "metric": "recognition", "primary": False, "mean": 9.0, "low": 5.0, "high": 13.0, "p_holm": None},
        {"cell": "B", "reference": "A", "metric": "probe", "aggregation": "frames", "primary": False,
         "refused": "x"}]}
    v = {x["metric"]: x for x in powered_verdicts(s)}
    assert list(v) == ["probe", "low_data", "masked_limb"]  # secondary rows give no verdict
    assert v["probe"]["verdict"] == "better" and "B − A = -2.00 mm [-3.00, -1.00] over 8 seeds" in v["probe"]["text"]
    assert v["low_data"]["verdict"] == "no difference detected" and "MDE 1.50 mm" in v["low_data"]["text"]
    assert v["masked_limb"]["verdict"] == "worse"
    s["comparisons"][0] = {**row, "metric": "probe", "refused": "no trained seed of B"}
    assert powered_verdicts(s)[0]["verdict"] == "not compared"
    # significant by p but an interval touching 0 is not called a difference
    s["comparisons"][2].update(low=-0.1, p_holm=0.01)
    assert powered_verdicts(s)[2]["verdict"] == "no difference detected"


def test_verdict_prose_is_checked_against_the_summary():
    """Hand-written prose (README, notebook 06) must state each primary verdict as the summary computes it."""
    from actionpose.ablation.powered_report import verdict_prose_problems
    metrics = {"probe": {"label": "(a) ridge probe MPJPE", "unit": "mm", "lower_is_better": True},
               "low_data": {"label": "(b) low-data fine-tune MPJPE", "unit": "mm", "lower_is_better": True}}
    row = dict(cell="B", reference="A", aggregation="per_action", primary=True, n=8, mde=1.5, p=0.001)
    s = {"statistics": {"alpha": 0.05}, "metrics": metrics, "comparisons": [
        {**row, "metric": "probe", "mean": 3.04, "low": 2.0, "high": 4.0, "p_holm": 0.003},
        {**row, "metric": "low_data", "mean": 0.4, "low": -0.6, "high": 1.4, "p_holm": 0.4}]}
    good = ("- **(a) ridge probe MPJPE: B is worse than A** (B − A = +3.0 mm over 8 seeds).\n"
            "- **(b) low-data fine-tune MPJPE: no difference detected** (B − A = +0.4 mm).")
    assert verdict_prose_problems(good, s) == []
    assert any("prose says 'B is better than A'" in p
               for p in verdict_prose_problems(good.replace("is worse than", "is better than"), s))
    assert any("prose gives +3.1 mm" in p for p in verdict_prose_problems(good.replace("+3.0", "+3.1"), s))
    assert verdict_prose_problems(good.splitlines()[0], s) == ["no verdict stated for '(b) low-data fine-tune MPJPE'"]


def test_readme_says_what_the_committed_summary_supports():
    """Issue 23: the README states the verdict on every primary readout and the figures it argues from,
    each recomputed here from the committed summary (no hand-copied number can drift)."""
    from actionpose.ablation.powered_report import load_powered_summary, verdict_prose_problems
    path = ROOT / "benchmarks" / "results" / "ablation" / "powered" / "summary.json"
    if not path.exists():
        pytest.skip("the powered ablation has not been committed")
    s = load_powered_summary(path)
    readme = (ROOT / "README.md").read_text()
    section = readme.split("#### What the data support", 1)[1].split("\n### ", 1)[0]
    assert verdict_prose_problems(section, s) == []
    assert s["finished_cells"] == 32 and all(g["passed"] for g in s["gate_rows"])
    assert all(len(c["seeds_trained"]) == 8 for c in s["cells"].values())

    def delta(cell, ref, metric):
        r = next(c for c in s["comparisons"] if (c["cell"], c["reference"], c["metric"], c["aggregation"])
                 == (cell, ref, metric, "per_action"))
        return r

    def mm(v):
        return f"{v:+.1f}".replace("-", "−")

    def mean(cell, metric):
        return s["cells"][cell]["metrics"][metric]["per_action"]["mean"]

    r = delta("A", "scratch", "low_data")
    assert f"A − scratch = {mm(r['mean'])} mm [{mm(r['low'])}, {mm(r['high'])}]" in section
    r = delta("B", "scratch", "low_data")
    assert f"B − scratch = {mm(r['mean'])} mm [{mm(r['low'])}, {mm(r['high'])}]" in section
    assert f"C − A = {mm(delta('C', 'A', 'low_data')['mean'])} mm on (b), {mm(delta('C', 'A', 'probe')['mean'])} mm on (a)" in section
    assert f"B − C = {mm(delta('B', 'C', 'low_data')['mean'])} / {mm(delta('B', 'C', 'probe')['mean'])} mm" in section
    for c, ref in (("C", "A"), ("B", "C")):
        assert all(delta(c, ref, m)["low"] > 0 for m in ("low_data", "probe")), "prose: all intervals above 0"
    r = delta("B", "A", "masked_window")
    assert f"B − A = {mm(r['mean'])} mm [{mm(r['low'])}, {mm(r['high'])}],\n  MDE {r['mde']:.1f} mm" in section
    assert r["low"] < 0 < r["high"]
    assert f"A {mean('A', 'low_data'):.1f}, B {mean('B', 'low_data'):.1f} mm" in section
    assert (f"{mean('B', 'recognition'):.1f} % against\n  {mean('A', 'recognition'):.1f} %" in section
            and f"{mean('C', 'recognition'):.1f} % (one-hot)" in section)
    assert f"recall@1 {mean('B', 'retrieval_r1'):.1f} % against {mean('A', 'retrieval_r1'):.1f} %" in section
    assert f"({mean('B', 'zero_shot_unseen'):.1f} % against {mean('A', 'zero_shot_unseen'):.1f} %" in section
    lo = min(-delta(c, "scratch", m)["mean"] for c in "AB" for m in ("masked_limb", "masked_window"))
    hi = max(-delta(c, "scratch", m)["mean"] for c in "AB" for m in ("masked_limb", "masked_window"))
    assert f"by {lo:.0f}–{hi:.0f} mm" in section
    assert f"**{s['cpu_core_hours_finished']:.1f} core-hours**" in readme
