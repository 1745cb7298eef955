import numpy as np

from actionpose.config import NoiseConfig, SynthConfig
from actionpose.data.synthesis import (
    add_noise, fixed_views, flip_array, flip_sample, random_view, render, synthesize,
)
from actionpose.geometry import denormalize_screen
from actionpose.skeleton import H36M17_LR_PAIRS


def _pose(T=5):
    rng = np.random.default_rng(1)
    base = rng.normal(0, 300, size=(17, 3)) + np.array([0, 0, 1000.0])
    return np.stack([base + [10.0 * t, 0, 0] for t in range(T)])


def test_virtual_camera_sees_the_subject_in_front():
    rng = np.random.default_rng(0)
    cfg = SynthConfig(orthographic_prob=0.0)
    pose = _pose()
    for _ in range(20):
        view = random_view(rng, cfg, pose[:, 0].mean(0))
        x_cam, uv = render(pose, view)
        assert (x_cam[..., 2] > 1000).all()  # in front of the camera, metres away
        assert (uv > -500).all() and (uv < 1500).all()  # roughly on a 1000 px image


def test_target_units_match_input_units_at_the_root_depth():
    """x, y of y3d equal the 2D offset from the root for joints at the root's depth (weak perspective)."""
    cfg = SynthConfig(orthographic_prob=0.0)
    view = fixed_views(cfg, np.zeros(3), n=1)[0]
    pose = np.zeros((1, 17, 3))
    pose[0, :, 0] = np.linspace(-200, 200, 17)  # all joints on a line through the root
    s = synthesize(pose, view)
    x_cam, _ = render(pose, view)
    # the line lies in a plane orthogonal to the viewing direction only approximately; check joint 0 = root
    assert np.allclose(s.y3d[0, 0], 0)
    # de-normalising gives millimetres back
    rel = x_cam[0] - x_cam[0, :1]
    np.testing.assert_allclose(s.y3d[0] * s.mm_per_unit[0], rel, rtol=1e-4, atol=1e-3)


def test_orthographic_is_exact_weak_perspective():
    cfg = SynthConfig(orthographic_prob=1.0)
    rng = np.random.default_rng(3)
    pose = _pose()
    view = random_view(rng, cfg, pose[:, 0].mean(0))
    s = synthesize(pose, view)
    x2d_rel = s.x2d[..., :2] - s.x2d[:, :1, :2]
    np.testing.assert_allclose(x2d_rel, s.y3d[..., :2], atol=1e-5)
    w, h = view.camera.image_size_wh
    _, uv = render(pose, view)
    np.testing.assert_allclose(denormalize_screen(s.x2d[..., :2], w, h), uv, atol=1e-3)


def test_flip_swaps_left_and_right_and_is_an_involution():
    rng = np.random.default_rng(0)
    view = random_view(rng, SynthConfig(), np.zeros(3))
    s = synthesize(_pose() - [0, 0, 1000], view)
    f = flip_sample(s)
    for lj, r in H36M17_LR_PAIRS:
        np.testing.assert_allclose(f.y3d[:, lj, 0], -s.y3d[:, r, 0])
        np.testing.assert_allclose(f.x2d[:, lj, 1], s.x2d[:, r, 1])
    ff = flip_sample(f)
    np.testing.assert_allclose(ff.x2d, s.x2d)
    np.testing.assert_allclose(flip_array(flip_array(s.y3d)), s.y3d)


def test_noise_lowers_confidence_where_error_is_large():
    rng = np.random.default_rng(0)
    x = np.zeros((200, 17, 3), np.float32)
    x[..., 2] = 1
    cfg = NoiseConfig(gaussian_std=0.01, lowfreq_std=0.0, outlier_prob=0.05, outlier_std=0.2)
    y = add_noise(x, rng, cfg)
    err = np.linalg.norm(y[..., :2] - x[..., :2], axis=-1)
    big, small = err > 0.1, err < 0.01
    assert big.any() and small.any()
    assert y[..., 2][big].mean() < y[..., 2][small].mean()
    assert add_noise(x, rng, NoiseConfig(enabled=False)) is x


def test_masked_input_joints_stay_masked():
    view = fixed_views(SynthConfig(), np.zeros(3), n=1)[0]
    valid = np.ones(17, bool)
    valid[10] = False
    s = synthesize(_pose() - [0, 0, 1000], view, valid)
    assert (s.x2d[:, 10] == 0).all()
