"""Metrics against values computed by hand."""
import math

import numpy as np
import pytest
import torch

from actionpose import metrics as M
from actionpose.skeleton import MPI3DHP_PCK14


def ring_pose(radius=100.0, frames=3):
    """Root at the origin, the 16 other joints on a circle of `radius` in the xy plane (z varies)."""
    phi = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    pose = np.zeros((17, 3))
    pose[1:, 0] = radius * np.cos(phi)
    pose[1:, 1] = radius * np.sin(phi)
    pose[1:, 2] = np.linspace(-300, 300, 16)
    return np.repeat(pose[None], frames, axis=0)


def rot_z(theta):
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def test_rotation_gives_zero_pmpjpe_and_exact_mpjpe():
    gt = ring_pose()
    theta = math.pi / 2
    pred = gt @ rot_z(theta).T
    # A rotation by theta about z moves a point at xy-radius r by the chord 2 r sin(theta / 2);
    # the root (r = 0) does not move: MPJPE = 16/17 · 2 · 100 · sin(45°).
    expected = 16 / 17 * 2 * 100 * math.sin(theta / 2)
    assert M.mpjpe(pred, gt).value == pytest.approx(expected, rel=1e-12)
    assert M.p_mpjpe(pred, gt).value == pytest.approx(0.0, abs=1e-9)


def test_pmpjpe_ignores_scale_and_translation_nmpjpe_ignores_scale():
    gt = ring_pose()
    pred = 1.7 * gt @ rot_z(0.4).T + np.array([10.0, -20.0, 30.0])
    assert M.p_mpjpe(pred, gt).value == pytest.approx(0.0, abs=1e-9)
    assert M.n_mpjpe(2.0 * gt, gt).value == pytest.approx(0.0, abs=1e-9)
    # MPJPE of 2·gt: every joint is off by its own distance to the root.
    dist = np.linalg.norm(gt[0], axis=-1).mean()
    assert M.mpjpe(2.0 * gt, gt).value == pytest.approx(dist)


def test_constant_offset():
    gt = ring_pose()
    d = np.array([3.0, 4.0, 12.0])  # |d| = 13
    # Root-relative (protocol #1) removes a whole-body translation...
    assert M.mpjpe(gt + d, gt).value == pytest.approx(0.0, abs=1e-12)
    # ...and without root subtraction the error is |d| at every joint.
    assert M.mpjpe(gt + d, gt, root=None).value == pytest.approx(13.0)
    # Offset on the non-root joints only: |d| on 16 of 17 joints.
    pred = gt.copy()
    pred[:, 1:] += d
    assert M.mpjpe(pred, gt).value == pytest.approx(13.0 * 16 / 17)


def test_valid_mask_excludes_joints():
    gt = ring_pose()
    pred = gt.copy()
    pred[:, 5] += 1000.0
    valid = np.ones(17, bool)
    valid[5] = False
    assert M.mpjpe(pred, gt, valid=valid).value == pytest.approx(0.0)
    assert M.mpjpe(pred, gt, valid=valid).protocol["joints"] == "valid (16 of 17)"
    nan_gt = gt.copy()
    nan_gt[:, 5] = np.nan  # NaN where invalid is fine
    assert M.p_mpjpe(pred, nan_gt, valid=valid).value == pytest.approx(0.0, abs=1e-9)


def test_pck_of_known_offsets():
    gt = ring_pose(frames=2)
    pred = gt.copy()
    pred[:, :, 0] += 10.0 * np.arange(17)  # joint j off by 10·j mm (root too: use root=None)
    res = M.pck(pred, gt, root=None)
    assert res.value == pytest.approx(100 * 15 / 17)  # errors 0..140 < 150; 150 and 160 fail (strict)
    assert res.unit == "%" and res.protocol["joints"] == "all17"
    res14 = M.pck(pred, gt, joints="pck14", root=None)
    passed = sum(10 * j < 150 for j in MPI3DHP_PCK14)
    assert passed == 12
    assert res14.value == pytest.approx(100 * 12 / 14)
    assert res14.protocol["joints"] == "pck14"


def test_auc_of_known_errors():
    gt = ring_pose(frames=2)
    pred = gt.copy()
    pred[:, :, 0] += 10.0 * np.arange(17)
    # Thresholds 5k (k = 0..30); error 10j passes when 5k > 10j, i.e. for 30 - 2j thresholds.
    expected = 100 * sum(max(0, 30 - 2 * j) for j in range(17)) / (31 * 17)
    assert M.auc(pred, gt, root=None).value == pytest.approx(expected)
    assert len(M.AUC_THRESHOLDS_MM) == 31 and M.AUC_THRESHOLDS_MM[-1] == 150.0


def test_per_action_is_mean_of_action_means():
    gt = np.zeros((4, 17, 3))
    pred = gt.copy()
    pred[0, :, 0] = 10.0     # action "a": one frame, every joint 10 mm off
    pred[1:, :, 0] = 30.0    # action "b": three frames, 30 mm off
    actions = ["a", "b", "b", "b"]
    res = M.mpjpe(pred, gt, actions=actions, root=None)
    assert res.value == pytest.approx(20.0)           # (10 + 30) / 2
    assert res.breakdown == pytest.approx({"a": 10.0, "b": 30.0})
    assert res.protocol["aggregation"] == "per action"
    assert M.mpjpe(pred, gt, root=None).value == pytest.approx(25.0)  # per frame: (10 + 90) / 4
    # One action name per clip broadcasts over its frames.
    res_clip = M.mpjpe(pred.reshape(2, 2, 17, 3), gt.reshape(2, 2, 17, 3), actions=["a", "b"], root=None)
    assert res_clip.breakdown == pytest.approx({"a": 20.0, "b": 30.0})


def test_per_joint_and_per_frame():
    gt = np.zeros((3, 17, 3))
    pred = gt.copy()
    pred[:, 16, 1] = 17.0
    pred[2, :, 2] = 1.0
    pj = M.mpjpe_per_joint(pred, gt, root=None)
    assert pj.breakdown["pelvis"] == pytest.approx(1 / 3)
    assert pj.protocol["breakdown"] == "per joint"
    pf = M.mpjpe_per_frame(pred, gt, root=None)
    assert pf.values.shape == (3,)
    assert pf.values[0] == pytest.approx(1.0)
    assert pf.values[2] == pytest.approx((16 * 1.0 + math.sqrt(17**2 + 1)) / 17)


def test_mpjve_constant_velocity_offset():
    T = 6
    gt = np.repeat(ring_pose(frames=1), T, axis=0)
    d = np.array([0.0, 6.0, 8.0])
    pred = gt + np.arange(T)[:, None, None] * d  # drifts by d per frame
    res = M.mpjve(pred, gt, root=None)
    assert res.value == pytest.approx(10.0)
    assert res.unit == "mm/frame"
    assert M.mpjve(pred, gt).value == pytest.approx(0.0)  # whole-body drift is root motion
    batched = M.mpjve(np.stack([pred, gt]), np.stack([gt, gt]), root=None)
    assert batched.value == pytest.approx(5.0)


def test_torch_input_matches_numpy():
    rng = np.random.default_rng(0)
    gt, pred = rng.normal(size=(2, 5, 17, 3)) * 100
    a = M.p_mpjpe(torch.tensor(pred), torch.tensor(gt)).value
    b = M.p_mpjpe(pred, gt).value
    assert a == pytest.approx(b, rel=1e-5)


def test_protocol_tags():
    gt = ring_pose()
    res = M.mpjpe(gt, gt, context={"dataset": "h36m", "split": "test", "source_2d": "gt"})
    for key in ("metric", "protocol", "aggregation", "joints", "frames", "dataset", "source_2d"):
        assert key in res.protocol
    assert res.protocol["protocol"] == "#1" and M.p_mpjpe(gt, gt).protocol["protocol"] == "#2"
    assert res.to_dict()["value"] == 0.0


def test_bad_inputs():
    gt = ring_pose()
    with pytest.raises(ValueError, match=r"pred has shape \(3, 17, 3\), gt has shape \(3, 16, 3\)"):
        M.mpjpe(gt, gt[:, :16])
    with pytest.raises(ValueError, match="every joint is invalid"):
        M.mpjpe(gt, gt, valid=np.zeros(17, bool))
    bad = gt.copy()
    bad[0, 3, 1] = np.nan
    with pytest.raises(ValueError, match="pred has NaN"):
        M.mpjpe(bad, gt)
    no_root = np.ones(17, bool)
    no_root[0] = False
    with pytest.raises(ValueError, match="root joint 0 is invalid"):
        M.mpjpe(gt, gt, valid=no_root)
    with pytest.raises(ValueError, match="joints = 'x'"):
        M.pck(gt, gt, joints="x")
    with pytest.raises(ValueError, match="actions has shape"):
        M.mpjpe(gt, gt, actions=["a"])


def test_topk_accuracy():
    scores = np.array([
        [0.9, 0.5, 0.1, 0.0],   # true 0: top-1 hit
        [0.9, 0.5, 0.1, 0.0],   # true 1: top-2 hit
        [0.1, 0.2, 0.3, 0.4],   # true 0: rank 4
        [0.0, 0.1, 0.9, 0.2],   # true 2: top-1 hit
    ])
    targets = np.array([0, 1, 0, 2])
    assert M.topk_accuracy(scores, targets, k=1).value == pytest.approx(50.0)
    assert M.topk_accuracy(scores, targets, k=2).value == pytest.approx(75.0)
    assert M.topk_accuracy(scores, targets, k=5).value == pytest.approx(100.0)  # k clipped to L
    # Label weights: majority label counts, unlabelled rows are skipped.
    w = np.zeros((5, 4))
    w[np.arange(4), targets] = 1.0
    w[1] = [0.0, 0.6, 0.4, 0.0]
    res = M.topk_accuracy(np.vstack([scores, scores[:1]]), w, k=1, labels=["a", "b", "c", "d"])
    assert res.value == pytest.approx(50.0) and res.protocol["clips"] == 4
    assert res.breakdown == {"a": 50.0, "b": 0.0, "c": 100.0}
    with pytest.raises(ValueError, match="label ids"):
        M.topk_accuracy(scores, np.array([0, 1, 2, 7]))
