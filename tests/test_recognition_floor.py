"""The recognition floor (actionpose.recognition_floor): window features written out, training that
learns above chance and replays exactly, held-out scoring that pools segments as `evaluate` does."""
import numpy as np
import pytest
import torch

from actionpose.baselines import training_motions
from actionpose.data.dataset import split_motions
from actionpose.recognition_floor import (FEATURES, INPUT_SCALE, score_heldout, train_recognition_floor,
                                          window_features)
from actionpose.skeleton import ROOT
from actionpose.train.data import load_data
from actionpose.train.model_io import load_bundle


@pytest.fixture(scope="module")
def setup():
    bundle, cfg, _ = load_bundle("demo")
    motions, _ = load_data(None)
    train = training_motions(motions, cfg, "bundled")
    held = split_motions(motions, "val")
    return cfg, bundle.vocab, train, held


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
    cfg, vocab, train, held = setup
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
    cfg, vocab, train, _ = setup
    a, b, c = (train_recognition_floor(train[:40], cfg, vocab, features=f, steps=3, batch_windows=32, seed=s)
               for f, s in (("3d", 0), ("3d", 0), ("3d", 1)))
    for pa, pb in zip(a.net.parameters(), b.net.parameters()):
        assert torch.equal(pa, pb)
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.net.parameters(), c.net.parameters()))
    assert FEATURES == ("2d", "3d")
