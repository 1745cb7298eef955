"""Aligner: targets, soft targets, label-vocabulary InfoNCE, onehot baseline, temperature, recognition."""
import math

import pytest
import torch
import torch.nn.functional as F

from actionpose.config import AlignConfig
from actionpose.model.aligner import Aligner

LABELS = ["walk", "walk-back", "kick", "bow"]


def texts():
    """Unit text embeddings: 'walk-back' is close to 'walk'; 'kick' and 'bow' are far from both."""
    e = torch.zeros(4, 4)
    e[0, 0] = 1.0
    e[1, 0], e[1, 1] = 0.9, math.sqrt(1 - 0.81)
    e[2, 2] = 1.0
    e[3, 3] = 1.0
    return e


def make(**kw):
    a = Aligner(AlignConfig(**kw), embed_dim=4)
    a.set_vocabulary(texts(), LABELS)
    return a


def test_hard_targets_rows_sum_to_one_and_mix_by_frame_fraction():
    a = make(soft_targets=False)
    # Clip 0: one label; clip 1: 25 % walk, 75 % kick frames (given as counts); clip 2: unlabelled.
    w = torch.tensor([[0.0, 1.0, 0.0, 0.0], [10.0, 0.0, 30.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    t = a.targets(w)
    assert torch.allclose(t[:2].sum(1), torch.ones(2))
    assert torch.allclose(t[1], torch.tensor([0.25, 0.0, 0.75, 0.0]))
    assert torch.equal(t[2], torch.zeros(4))


def test_soft_targets_put_mass_on_similar_labels():
    a = make(soft_targets=True, soft_mix=0.2, soft_temperature=0.05)
    t = a.targets(torch.tensor([[1.0, 0.0, 0.0, 0.0]]))[0]
    assert t.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert t[0] > t[1] > t[2] > 0  # walk-back gets more than kick
    assert t[2] == pytest.approx(t[3].item())
    assert float(t[0]) == pytest.approx(0.8)  # soft_mix is exactly the mass off the true label
    logits = texts() @ texts()[0] / 0.05
    logits[0] = float("-inf")
    soft = torch.softmax(logits, dim=0)
    assert torch.allclose(t, 0.8 * F.one_hot(torch.tensor(0), 4).float() + 0.2 * soft, atol=1e-6)
    assert a.off_target_mass() == pytest.approx(0.2)
    # Mixed clip: the soft part is the frame-fraction mixture of the labels' soft rows.
    tm = a.targets(torch.tensor([[0.5, 0.0, 0.5, 0.0]]))[0]
    assert tm.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(tm, 0.5 * a.targets(torch.eye(4)[[0]])[0] + 0.5 * a.targets(torch.eye(4)[[2]])[0], atol=1e-6)


def test_logits_are_cosine_over_temperature():
    a = make(temperature_init=0.1)
    emb = torch.tensor([[2.0, 0.0, 0.0, 0.0]])  # not unit: logits normalise it
    logits = a.logits(emb)
    assert logits.shape == (1, 4)
    assert torch.allclose(logits, (texts() @ torch.tensor([1.0, 0, 0, 0])) / 0.1, atol=1e-5)


def test_loss_is_cross_entropy_for_one_label_and_skips_unlabelled():
    a = make(soft_targets=False)
    emb = torch.randn(3, 4)
    w = torch.zeros(3, 4)
    w[0, 2] = 1.0
    w[1, 1] = 1.0  # clip 2 unlabelled
    ce = F.cross_entropy(a.logits(emb[:2]), torch.tensor([2, 1]))
    assert a.loss(emb, w).item() == pytest.approx(ce.item(), rel=1e-5)
    none = a.loss(emb.requires_grad_(True), torch.zeros(3, 4))
    assert none.item() == 0.0 and none.requires_grad


def test_clips_sharing_a_label_are_not_negatives():
    a = make(soft_targets=False)
    w = torch.zeros(2, 4)
    w[:, 0] = 1.0
    emb = torch.randn(2, 4, requires_grad=True)
    batch = a.loss(emb, w)
    single = [a.loss(emb[i:i + 1], w[i:i + 1]) for i in range(2)]
    assert batch.item() == pytest.approx((single[0] + single[1]).item() / 2, rel=1e-6)
    # Clip 0's term does not depend on clip 1's embedding: no in-batch repulsion.
    g = torch.autograd.grad(a.loss(emb, torch.stack([w[0], torch.zeros(4)])), emb)[0]
    assert torch.equal(g[1], torch.zeros(4))
    # Two identical clips at their label's text reach the same (minimal) loss as one.
    same = texts()[[0, 0]]
    assert a.loss(same, w).item() == pytest.approx(a.loss(same[:1], w[:1]).item(), rel=1e-6)


def test_temperature_learnable_or_fixed():
    a = make(temperature_init=0.07, learn_temperature=True)
    assert a.temperature.item() == pytest.approx(0.07)
    emb = torch.randn(4, 4)
    a.loss(emb, torch.eye(4)).backward()
    assert a.log_temperature.grad is not None and a.log_temperature.grad.abs() > 0
    before = a.log_temperature.item()
    torch.optim.SGD(a.parameters(), lr=0.1).step()
    assert a.log_temperature.item() != before
    fixed = make(learn_temperature=False)
    assert not fixed.log_temperature.requires_grad
    assert [n for n, p in fixed.named_parameters() if p.requires_grad] == []


def test_text_buffer_not_in_state_dict():
    a = make()
    assert "text_emb" not in a.state_dict() and "log_temperature" in a.state_dict()


def test_recognize_and_score_texts():
    a = make()
    emb = torch.stack([texts()[2], texts()[1]])
    idx, scores = a.recognize(emb, k=2)
    assert idx.tolist()[0][0] == 2 and idx.tolist()[1] == [1, 0]
    assert scores[0, 0].item() == pytest.approx(1.0, abs=1e-5)
    idx_all, _ = a.recognize(emb, k=10)
    assert idx_all.shape == (2, 4)
    _, probs = a.recognize(emb, k=4, as_prob=True)
    assert torch.allclose(probs.sum(1), torch.ones(2), atol=1e-5)
    query = torch.tensor([[0.0, 0.0, 3.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    s = a.score_texts(emb, query)
    assert s.shape == (2, 2) and s[0, 0].item() == pytest.approx(1.0, abs=1e-6)


def test_onehot_mode():
    a = Aligner(AlignConfig(mode="onehot", soft_targets=False), embed_dim=4, labels=LABELS)
    assert a.classifier is not None and a.classifier.out_features == 4
    emb = torch.randn(3, 4)
    logits = a.logits(emb)
    assert logits.shape == (3, 4)
    w = torch.eye(4)[[3, 0, 1]]
    assert a.loss(emb, w).item() == pytest.approx(F.cross_entropy(logits, torch.tensor([3, 0, 1])).item(), rel=1e-5)
    assert "classifier.weight" in a.state_dict()
    with pytest.raises(RuntimeError, match="onehot"):
        a.score_texts(emb, torch.randn(2, 4))


def test_bad_inputs():
    a = make()
    with pytest.raises(ValueError, match=r"label_weights has shape \(2, 3\), expected \[B, 4\]"):
        a.targets(torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"text_emb has shape \(3, 4\), expected \[4, 4\]"):
        a.set_vocabulary(torch.ones(3, 4), LABELS)
    with pytest.raises(ValueError, match=r"motion_emb has shape \(2, 5\)"):
        a.logits(torch.ones(2, 5))
    with pytest.raises(RuntimeError, match="set_vocabulary"):
        Aligner(AlignConfig(), embed_dim=4).logits(torch.ones(1, 4))
