"""The recognition floor (actionpose.recognition_floor): window features written out, training that
learns above chance and replays exactly, held-out scoring that pools segments as `evaluate` does."""
import numpy as np
import pytest
import torch

from actionpose.baselines import training_motions
from actionpose.data.dataset import split_motions
from actionpose.recognition_floor import (FEATURES, INPUT_SCALE, RecognitionFloor, lift_windows, score_heldout,
                                          train_recognition_floor, window_features)
from actionpose.skeleton import ROOT
from actionpose.train.data import load_data
from actionpose.train.model_io import load_bundle


@pytest.fixture(scope="module")
def setup():
    bundle, cfg, _ = load_bundle("demo")
    motions, _ = load_data(None)
    train = training_motions(motions, cfg, "bundled")
    held = split_motions(motions, "val")
    return cfg, bundle.vocab, train, held, bundle


def test_2d_features_are_root_centred_pose_confidence_and_root_track():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(2, 4, 17, 3)).astype(np.float32)
    w[..., 2] = 1.0
    w[1, 2, 5, 2] = 0.0  # one missed joint
    f = window_features(w, "2d").reshape(2, 4, 17 * 3 + 2).numpy() / INPUT_SCALE
    xy = f[:, :, :51].reshape(2, 4, 17, 3)
    np.testing.assert_allclose(xy[0, 1, 3, :2], w[0, 1, 3, :2] - w[0, 1, ROOT, :2], atol=1e-6)
    np.testing.assert_allclose(xy[1, 2, 5], 0.0)  # masked joint: x = y = 0 and confidence 0
    assert xy[0, 0, 0, 2] == 1.0
    track = w[:, :, ROOT, :2] - w[:, :, ROOT, :2].mean(axis=1, keepdims=True)
    np.testing.assert_allclose(f[:, :, 51:], track, atol=1e-6)
    # A whole-window translation moves nothing: the floor reads the pose and where it moves, not where it is.
    moved = w.copy()
    moved[..., :2] += 0.3
    torch.testing.assert_close(window_features(moved, "2d"), window_features(w, "2d"), atol=1e-5, rtol=0)


def test_3d_features_flatten_and_bad_inputs_are_refused():
    w = np.arange(2 * 3 * 17 * 3, dtype=np.float32).reshape(2, 3, 17, 3)
    np.testing.assert_allclose(window_features(w, "3d").numpy(), w.reshape(2, -1) * INPUT_SCALE)
    with pytest.raises(ValueError, match="features 'depth': expected one of 2d, 3d"):
        window_features(w, "depth")
    with pytest.raises(ValueError, match=r"shape \(3, 17, 3\): expected \[N, T, 17, 3\]"):
        window_features(w[0], "2d")


def test_floor_learns_above_chance_and_pools_like_evaluate(setup):
    cfg, vocab, train, held, _ = setup
    floor = train_recognition_floor(train, cfg, vocab, features="2d", steps=200, batch_windows=96, seed=0)
    assert floor.meta["steps"] == 200 and floor.meta["window_frames"] == cfg.model.maxlen
    held = held[::4]
    res = score_heldout(floor, held, cfg, (81, 10**6))
    chance = res["window"]["content_chance_top1_pct"]
    assert chance == pytest.approx(100 / 24)
    # 200 steps already name the action in well over a quarter of the windows (chance 4.2 %).
    assert res["window"]["content_top1_pct"] > 25.0
    # Whole take: one segment per take and view.
    views = cfg.synth.fixed_eval_cameras
    assert res[str(10**6)]["clips"] == len(held) * views
    assert res["window"]["clips"] > res["81"]["clips"] > res[str(10**6)]["clips"]


def test_same_seed_same_weights_other_seed_other_weights(setup):
    cfg, vocab, train, _, _ = setup
    a, b, c = (train_recognition_floor(train[:40], cfg, vocab, features=f, steps=3, batch_windows=32, seed=s)
               for f, s in (("3d", 0), ("3d", 0), ("3d", 1)))
    for pa, pb in zip(a.net.parameters(), b.net.parameters()):
        assert torch.equal(pa, pb)
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.net.parameters(), c.net.parameters()))
    assert FEATURES == ("2d", "3d", "lifted")


def test_lifted_features_are_the_runs_own_root_relative_3d(setup):
    cfg, vocab, _, _, bundle = setup
    rng = np.random.default_rng(1)
    x2d = rng.normal(scale=0.2, size=(5, cfg.model.maxlen, 17, 3)).astype(np.float32)
    x2d[..., 2] = 1.0
    lifted = lift_windows(bundle, x2d, batch_windows=2)  # batches of 2: batching must not change a window's 3D
    with torch.no_grad():
        y = bundle.net(torch.as_tensor(x2d), None)["y3d"].numpy()
    np.testing.assert_allclose(lifted, y - y[:, :, ROOT:ROOT + 1], atol=1e-5)
    assert np.abs(lifted[:, :, ROOT]).max() == 0.0 and np.abs(lifted).max() > 0.01
    # A "lifted" floor is fed the lifter's input and reads the lifter's 3D.
    net = torch.nn.Linear(cfg.model.maxlen * 51, len(vocab))
    floor = RecognitionFloor(net, "lifted", cfg.model.maxlen, vocab, {}, bundle)
    with torch.no_grad():
        want = net(torch.as_tensor(lifted).reshape(5, -1) * INPUT_SCALE).double().numpy()
    np.testing.assert_allclose(floor.scores(x2d), want, atol=1e-5)


def test_lifted_needs_a_lifter_and_only_lifted_takes_one(setup):
    cfg, vocab, train, _, bundle = setup
    with pytest.raises(ValueError, match="a lifter is needed for, and only for, features 'lifted'"):
        train_recognition_floor(train[:20], cfg, vocab, features="lifted", steps=1)
    with pytest.raises(ValueError, match="a lifter is needed for, and only for, features 'lifted'"):
        train_recognition_floor(train[:20], cfg, vocab, features="2d", steps=1, lifter=bundle)
    with pytest.raises(ValueError, match="reuse_epochs = 0; expected >= 1 or None"):
        train_recognition_floor(train[:20], cfg, vocab, features="2d", steps=1, reuse_epochs=0)


def test_learning_curve_points_do_not_disturb_training_and_reused_epochs_cycle(setup):
    cfg, vocab, train, _, _ = setup
    kw = dict(features="3d", steps=12, batch_windows=64, seed=0)
    seen = []

    def on_curve(step, floor):
        seen.append((step, floor.meta["step"], floor.meta["epochs_touched"],
                     [p.detach().clone() for p in floor.net.parameters()]))
        floor.scores(np.zeros((2, cfg.model.maxlen, 17, 3), np.float32))  # scoring puts the net in eval mode

    sub = train[:12]
    plain = train_recognition_floor(sub, cfg, vocab, **kw)
    curved = train_recognition_floor(sub, cfg, vocab, **kw, curve_steps=(4, 12), on_curve=on_curve)
    assert [s[:2] for s in seen] == [(4, 4), (12, 12)]
    for pa, pb in zip(plain.net.parameters(), curved.net.parameters()):
        assert torch.equal(pa, pb)
    for pa, pb in zip(plain.net.parameters(), seen[-1][3]):
        assert torch.equal(pa, pb)
    assert not all(torch.equal(pa, pb) for pa, pb in zip(seen[0][3], seen[1][3]))
    # These 12 takes hold fewer than 12 x 64 windows: the run crosses epochs; with reuse_epochs = 1 it
    # keeps re-reading epoch 0's windows (reshuffled), so its weights differ from the fresh-epoch run's.
    assert plain.meta["epochs_touched"] > 1
    reused = train_recognition_floor(sub, cfg, vocab, **kw, reuse_epochs=1)
    assert reused.meta["epochs_touched"] == plain.meta["epochs_touched"] and reused.meta["reuse_epochs"] == 1
    assert not all(torch.equal(pa, pb) for pa, pb in zip(plain.net.parameters(), reused.net.parameters()))
