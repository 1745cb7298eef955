"""Training losses: analytic values, weights/masks, shape errors, the combined loss."""
import numpy as np
import pytest
import torch

from actionpose import losses as L
from actionpose.config import AlignConfig, LossConfig
from actionpose.metrics import mpjpe
from actionpose.model.aligner import Aligner


def poses(B=2, T=5, J=17, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, T, J, 3, generator=g)


def test_mpjpe_loss_values():
    gt = poses()
    d = torch.tensor([3.0, 4.0, 0.0])
    assert L.mpjpe_loss(gt + d, gt).item() == pytest.approx(5.0, rel=1e-6)
    pred = poses(seed=1)
    ref = mpjpe(pred.numpy(), gt.numpy(), root=None).value
    assert L.mpjpe_loss(pred, gt).item() == pytest.approx(ref, rel=1e-5)


def test_weights_joint_and_mask():
    gt = poses()
    pred = gt.clone()
    pred[..., 3, :] += 100.0
    jw = torch.ones(17)
    jw[3] = 0.0
    assert L.mpjpe_loss(pred, gt, jw).item() == pytest.approx(0.0)
    mask = torch.ones(2, 5, 17)
    mask[1] = 0.0  # second clip all padding
    pred2 = gt.clone()
    pred2[1] += 7.0
    assert L.mpjpe_loss(pred2, gt, mask).item() == pytest.approx(0.0)
    # Joint weight 2 on one joint with error 1 and the rest exact: 2 / (16 + 2).
    pred3 = gt.clone()
    pred3[..., 0, 0] += 1.0
    jw2 = torch.ones(17)
    jw2[0] = 2.0
    assert L.mpjpe_loss(pred3, gt, jw2).item() == pytest.approx(2 / 18, rel=1e-6)


def test_n_mpjpe_loss_is_scale_invariant():
    gt = poses()
    assert L.n_mpjpe_loss(3.0 * gt, gt).item() == pytest.approx(0.0, abs=1e-6)
    assert L.mpjpe_loss(3.0 * gt, gt).item() > 0.5
    # Scale chosen per frame: different scales in different frames still give 0.
    s = torch.linspace(0.5, 2.0, 5)[None, :, None, None]
    assert L.n_mpjpe_loss(s * gt, gt).item() == pytest.approx(0.0, abs=1e-6)


def test_velocity_loss():
    gt = poses()
    assert L.velocity_loss(gt + 5.0, gt).item() == pytest.approx(0.0, abs=1e-6)  # static offset
    d = torch.tensor([0.0, 0.6, 0.8])
    drift = torch.arange(5.0)[None, :, None, None] * d
    assert L.velocity_loss(gt + drift, gt).item() == pytest.approx(1.0, rel=1e-6)
    one = gt[:, :1].clone().requires_grad_(True)
    z = L.velocity_loss(one, gt[:, :1])
    assert z.item() == 0.0 and z.requires_grad


def test_shape_and_validity_errors():
    gt = poses()
    with pytest.raises(ValueError, match=r"pred has shape \(2, 5, 17, 3\), gt has shape \(2, 4, 17, 3\)"):
        L.mpjpe_loss(gt, gt[:, :4])
    with pytest.raises(ValueError, match="every joint is invalid"):
        L.mpjpe_loss(gt, gt, torch.zeros(17))
    with pytest.raises(ValueError, match="weights"):
        L.mpjpe_loss(gt, gt, torch.ones(2, 17))


def make_aligner():
    aligner = Aligner(AlignConfig(soft_targets=False), embed_dim=4)
    aligner.set_vocabulary(torch.eye(4), ["a", "b", "c", "d"])
    return aligner


def test_total_loss_parts_and_weights():
    gt = poses()
    pred = (gt + 0.1 * poses(seed=3)).requires_grad_(True)
    emb = torch.randn(2, 4, requires_grad=True)
    batch = {"y3d": gt, "frame_valid": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.float32),
             "joint_valid": torch.ones(2, 17), "label_weights": torch.tensor([[1.0, 0, 0, 0], [0, 0.5, 0.5, 0]])}
    cfg = LossConfig()
    aligner = make_aligner()
    loss, parts = L.total_loss({"y3d": pred, "motion_emb": emb}, batch, cfg, aligner)
    assert set(parts) == {"mpjpe", "n_mpjpe", "velocity", "align", "total"}
    expected = (cfg.w_mpjpe * parts["mpjpe"] + cfg.w_nmpjpe * parts["n_mpjpe"]
                + cfg.w_velocity * parts["velocity"] + cfg.w_align * parts["align"])
    assert (cfg.w_mpjpe, cfg.w_velocity, cfg.w_align) == (1.0, 1.0, 0.05)  # the documented defaults (issue 21)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    w = L.batch_weights(batch, gt)
    assert parts["mpjpe"].item() == pytest.approx(L.mpjpe_loss(pred, gt, w).item())
    loss.backward()
    assert pred.grad is not None and emb.grad is not None
    assert pred.grad[1, 3:].abs().sum() == 0  # padded frames get no gradient
    # No aligner (fine-tuning) or w_align = 0: no align term.
    _, parts2 = L.total_loss({"y3d": pred}, batch, cfg)
    assert "align" not in parts2
    _, parts3 = L.total_loss({"y3d": pred, "motion_emb": emb}, batch, LossConfig(w_align=0.0), aligner)
    assert "align" not in parts3


def test_total_loss_missing_keys():
    gt = poses()
    with pytest.raises(KeyError, match="out has no 'y3d'"):
        L.total_loss({}, {"y3d": gt}, LossConfig())
    with pytest.raises(KeyError, match="motion_emb"):
        L.total_loss({"y3d": gt}, {"y3d": gt, "label_weights": torch.zeros(2, 4)}, LossConfig(), make_aligner())
    with pytest.raises(ValueError, match="frame_valid"):
        L.total_loss({"y3d": gt}, {"y3d": gt, "frame_valid": torch.ones(2, 4)}, LossConfig())


def test_align_loss_wraps_aligner():
    aligner = make_aligner()
    emb = torch.randn(3, 4)
    lw = torch.eye(4)[:3]
    assert L.align_loss(emb, lw, aligner).item() == pytest.approx(aligner.loss(emb, lw).item())
    assert np.isfinite(L.align_loss(emb, lw, aligner).item())
