"""The floors (actionpose.baselines): flat lift, flat + mean training depth, the per-frame MLP floor,
scored on the bundled held-out takes through the evaluation path, and the 'not trained' verdict."""
import json
from collections import defaultdict

import numpy as np
import pytest
import torch

import actionpose as ap
from actionpose import baselines as B
from actionpose.cli import main
from actionpose.data.dataset import make_sample, sequence_views, split_motions
from actionpose.evaluate import _FloorScores, evaluate, evaluate_floors, format_report
from actionpose.train.data import load_data
from actionpose.train.runs import load_run_config

MLP_STEPS = 600  # ~10 CPU-seconds on one thread; enough to beat flat + mean depth by a wide margin


@pytest.fixture(scope="module")
def bundled():
    return load_data(None)


@pytest.fixture(scope="module")
def mlp_floor_dir(tmp_path_factory, bundled):
    """An MLP floor trained through the CLI (`actionpose baseline`) on the bundled subset."""
    out = tmp_path_factory.mktemp("floor") / "mlp"
    assert main(["baseline", "--out", str(out), "--steps", str(MLP_STEPS), "--no-progress"]) == 0
    return out


def _flat_lift_by_hand_mm(cfg, held) -> float:
    """Flat lift MPJPE written out: root-relative 2D x, y and depth 0, against the root-relative target,
    both times mm_per_unit; mean over each action's (frame, joint) errors, then over actions."""
    errs = defaultdict(list)
    for m in held:
        for view, kp_cam in sequence_views(m, cfg):
            s = make_sample(m, view, kp_cam)
            x = s.x2d.astype(np.float64)
            pred = np.zeros_like(x)
            pred[..., :2] = x[..., :2] - x[:, :1, :2]
            gt = s.y3d.astype(np.float64) - s.y3d[:, :1].astype(np.float64)
            err = np.linalg.norm(pred - gt, axis=-1) * s.mm_per_unit[:, None]
            errs[str(m.meta.get("action") or m.meta.get("content") or m.name)].append(err[:, m.joint_valid].ravel())
    return float(np.mean([np.concatenate(v).mean() for v in errs.values()]))


def test_flat_lift_is_the_root_relative_2d_with_depth_zero():
    rng = np.random.default_rng(0)
    x2d = np.concatenate([rng.uniform(-0.5, 0.5, (5, 17, 2)), np.ones((5, 17, 1))], axis=-1).astype(np.float32)
    x2d[2, 7] = 0.0  # a masked joint (x = y = conf = 0)
    y = B.flat_lift(x2d)
    assert y.shape == (5, 17, 3) and np.all(y[..., 2] == 0.0)
    expect = x2d[..., :2] - x2d[:, :1, :2]
    keep = np.ones((5, 17), bool)
    keep[2, 7] = False
    np.testing.assert_allclose(y[..., :2][keep], expect[keep], atol=1e-7)
    assert np.all(y[2, 7] == 0.0) and np.all(y[:, 0] == 0.0)  # masked joint on the root; root at 0
    depth = B.MeanDepthFloor(np.arange(17, dtype=np.float32) * 0.01)
    yd = depth(x2d)
    np.testing.assert_allclose(yd[..., :2], y[..., :2])
    np.testing.assert_allclose(yd[3, :, 2], np.r_[0.0, np.arange(1, 17) * 0.01], atol=1e-7)
    with pytest.raises(ValueError, match=r"flat_lift: x2d has shape \(5, 17, 2\), expected \[T, 17, 3\]"):
        B.flat_lift(x2d[..., :2])


def test_no_learning_floors_on_the_bundled_heldout_takes(bundled):
    motions, info = bundled
    rep = evaluate_floors(motions=motions, data_info=info)
    f = rep.floors.set_index("predictor")
    assert list(f.index) == [B.FLAT, B.MEAN_DEPTH]
    assert rep.header["sequences"] == 76 and rep.header["views"] == 4 * 76
    # The flat lift row is the hand computation on the same views.
    cfg = ap.make_config()
    by_hand = _flat_lift_by_hand_mm(cfg, split_motions(motions, "val"))
    assert f.loc[B.FLAT, "mpjpe_mm"] == pytest.approx(by_hand, rel=1e-4)
    assert 95.0 < by_hand < 110.0  # the measured 102.9 mm of issue 21
    # The mean training depth helps on MPJPE, and comes from the training split only.
    assert f.loc[B.MEAN_DEPTH, "mpjpe_mm"] < f.loc[B.FLAT, "mpjpe_mm"] - 5.0
    md = rep.header["floors"]["mean_depth"]
    assert md["source"].endswith("split train") and md["windows"] > 0
    expect = B.mean_depth_floor(split_motions(motions, "train"), cfg).depth_units
    np.testing.assert_allclose(md["depth_units"], expect, atol=1e-6)
    # joints in front of / behind the pelvis on average: not all zero, root exactly 0
    assert md["depth_units"][0] == 0.0 and np.abs(md["depth_units"]).max() > 0.005
    assert "(no MLP floor: not asked for" in format_report(rep)


def test_mlp_floor_beats_flat_plus_mean_depth(mlp_floor_dir, bundled):
    motions, info = bundled
    saved = json.loads((mlp_floor_dir / "eval.json").read_text())
    rows = {r["predictor"]: r for r in saved["floors"]}
    assert set(rows) == {B.FLAT, B.MEAN_DEPTH, B.MLP}
    assert rows[B.MLP]["mpjpe_mm"] < rows[B.MEAN_DEPTH]["mpjpe_mm"] - 10.0
    assert rows[B.MLP]["p_mpjpe_mm"] < rows[B.MEAN_DEPTH]["p_mpjpe_mm"] - 5.0
    meta = json.loads((mlp_floor_dir / "floor.json").read_text())
    assert meta["steps"] == MLP_STEPS and meta["frames_seen"] == MLP_STEPS * meta["batch_frames"]
    assert meta["data"] == "bundled" and meta["train_split"] == "train"
    # Reloaded through safetensors it predicts what the trained one did, on the same frames.
    floor = B.load_mlp_floor(mlp_floor_dir)
    again = evaluate_floors(motions=motions, data_info=info, mlp_floor=floor).floors.set_index("predictor")
    assert again.loc[B.MLP, "mpjpe_mm"] == pytest.approx(rows[B.MLP]["mpjpe_mm"], rel=1e-6)
    x2d = make_sample(motions[0], *sequence_views(motions[0], ap.make_config())[0]).x2d
    y = floor(x2d)
    assert y.shape == x2d.shape and np.all(y[:, 0] == 0.0) and np.abs(y[..., 2]).max() > 0.01


def test_mlp_floor_is_deterministic_given_its_seed(bundled):
    motions, _ = bundled
    rng_before = torch.get_rng_state()
    a = B.train_mlp_floor(motions, steps=20, batch_frames=64, seed=3)
    assert torch.equal(torch.get_rng_state(), rng_before)  # the caller's torch RNG is left alone
    seen = []
    b = B.train_mlp_floor(motions, steps=20, batch_frames=64, seed=3, checkpoint_every=8,
                          on_checkpoint=lambda s, net: seen.append((s, float(next(net.parameters()).sum()), net.training)))
    assert [s for s, _, _ in seen] == [8, 16, 20] and not any(t for _, _, t in seen)
    assert seen[0][1] != seen[-1][1]  # the hook sees the weights of its step (a learning curve)
    c = B.train_mlp_floor(motions, steps=20, batch_frames=64, seed=4)
    sa, sb, sc = a.net.state_dict(), b.net.state_dict(), c.net.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)  # the learning-curve hook changes nothing
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert a.meta["final_loss_m"] == b.meta["final_loss_m"]


def test_evaluate_prints_floors_and_flags_an_untrained_model(small_runs, mlp_floor_dir, tmp_path, capsys):
    _, ft = small_runs  # 8 + 8 steps: it cannot lift yet
    rep = evaluate(ft, max_sequences=10, mlp_floor=mlp_floor_dir, out=tmp_path)
    f = rep.floors.set_index("predictor")
    assert list(f.index) == [B.FLAT, B.MEAN_DEPTH, B.MLP, "model"]
    model_mpjpe = float(rep.summary.set_index("metric").loc["MPJPE", "value"])
    assert f.loc["model", "mpjpe_mm"] == model_mpjpe
    assert model_mpjpe > f.loc[B.MEAN_DEPTH, "mpjpe_mm"]
    assert rep.header["trained_vs_floor"] is False and f.loc["model", "note"] == B.NOT_TRAINED
    # The floors are scored on the model's very frames: the flat lift row is the hand computation.
    held = split_motions(load_data(None)[0], "val")[:10]
    assert f.loc[B.FLAT, "mpjpe_mm"] == pytest.approx(_flat_lift_by_hand_mm(load_run_config(ft), held), rel=1e-4)
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert saved["header"]["trained_vs_floor"] is False
    assert [r["predictor"] for r in saved["floors"]] == [B.FLAT, B.MEAN_DEPTH, B.MLP, "model"]
    txt = format_report(rep)
    assert B.NOT_TRAINED in txt and "flat + mean depth" in txt and "MLP floor" in txt
    # Given only held-out motions (as the app does), the mean depth still comes from the run's training data.
    motions, info = load_data(None)
    only_held = evaluate(ft, motions=split_motions(motions, "val")[:2], data_info=info, write=False, mlp_floor=None)
    md = only_held.header["floors"]["mean_depth"]
    assert md["source"].endswith("(the run's training data)")
    np.testing.assert_allclose(md["depth_units"], rep.header["floors"]["mean_depth"]["depth_units"], atol=1e-6)
    np.testing.assert_allclose(md["depth_units"], B.mean_depth_floor(split_motions(motions, "train"),
                                                                      load_run_config(ft)).depth_units, atol=1e-6)
    # Through the CLI, without an MLP floor: the two no-learning floors beside the model.
    capsys.readouterr()
    assert main(["evaluate", "--run", str(ft), "--mlp-floor", "none", "--out", str(tmp_path / "cli")]) == 0
    out = capsys.readouterr().out
    assert "flat lift" in out and B.NOT_TRAINED in out and "(no MLP floor: not asked for" in out


def test_verdict_of_a_model_that_beats_the_floor():
    """The verdict compares the model's MPJPE with flat + mean depth on the same frames."""
    rng = np.random.default_rng(1)
    x2d = np.concatenate([rng.uniform(-0.3, 0.3, (4, 17, 2)), np.ones((4, 17, 1))], axis=-1).astype(np.float32)
    gt = np.zeros((4, 17, 3))
    gt[..., :2] = x2d[..., :2] - x2d[:, :1, :2]
    gt[:, 1:, 2] = 0.1  # every joint 0.1 units (100 mm) behind the root
    floors = _FloorScores({B.FLAT: B.flat_lift, B.MEAN_DEPTH: B.MeanDepthFloor(np.full(17, 0.05, np.float32))})
    from actionpose.data.synthesis import Sample
    floors.add(Sample(x2d, gt.astype(np.float32), np.full(4, 1000.0, np.float32)))
    keep, valid, acts = np.ones(4, bool), np.ones((4, 17), bool), np.array(["a"] * 4)
    gt_mm = gt * 1000.0
    info = {}
    table = floors.table(keep, gt_mm, valid, acts, acts, {}, info, model=("model", "x", 10.0, 8.0))
    rows = table.set_index("predictor")
    assert rows.loc[B.FLAT, "mpjpe_mm"] == pytest.approx(100.0 * 16 / 17)
    assert rows.loc[B.MEAN_DEPTH, "mpjpe_mm"] == pytest.approx(50.0 * 16 / 17)
    assert info["trained_vs_floor"] is True and rows.loc["model", "note"] == ""
    info = {}
    table = floors.table(keep, gt_mm, valid, acts, acts, {}, info, model=("model", "x", 60.0, 8.0))
    assert info["trained_vs_floor"] is False and table.iloc[-1]["note"] == B.NOT_TRAINED


def test_mlp_floor_folder_errors_are_one_line(tmp_path, small_runs):
    with pytest.raises(FileNotFoundError, match="no such MLP floor folder"):
        B.load_mlp_floor(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"not an MLP floor folder \(expected checkpoint.safetensors"):
        B.load_mlp_floor(tmp_path / "empty")
    _, ft = small_runs
    with pytest.raises(ValueError, match=r"checkpoint.safetensors: header field actionpose.format = None"):
        B.load_mlp_floor(ft)  # a run's checkpoint is not an MLP floor


def test_public_api_exposes_the_floors():
    assert ap.baselines is B and ap.flat_lift is B.flat_lift and ap.evaluate_floors is evaluate_floors
    assert "baselines" in dir(ap) and ap.train_mlp_floor is B.train_mlp_floor and ap.load_mlp_floor is B.load_mlp_floor
