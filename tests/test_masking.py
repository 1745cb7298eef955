"""Joint / frame / body-part / time-window masks."""
import pytest
import torch

from actionpose.config import MaskConfig
from actionpose.masking import describe, mask_batch, window_length_range
from actionpose.skeleton import BODY_PARTS

OFF = {"joint_prob": 0.0, "frame_prob": 0.0, "part_prob": 0.0, "window_prob": 0.0}


def batch(B=6, T=40):
    return torch.rand(B, T, 17, 3, generator=torch.Generator().manual_seed(1)) + 0.1  # no natural zeros


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_all_off_changes_nothing():
    x = batch()
    xm, rec = mask_batch(x, MaskConfig(**OFF), gen())
    assert torch.equal(xm, x) and not rec.mask.any()
    assert rec.parts == [None] * 6 and rec.windows == [None] * 6
    assert "nothing masked" in describe(rec, 0)


def test_masked_entries_are_zero_and_others_untouched():
    x = batch()
    xm, rec = mask_batch(x, MaskConfig(joint_prob=0.3, frame_prob=0.2, part_prob=0.5, window_prob=0.5), gen())
    assert rec.mask.shape == (6, 40, 17) and rec.mask.dtype == torch.bool
    assert torch.all(xm[rec.mask] == 0)
    assert torch.equal(xm[~rec.mask], x[~rec.mask])


def test_deterministic_given_generator():
    x = batch()
    cfg = MaskConfig(part_prob=0.5, window_prob=0.5)
    a = mask_batch(x, cfg, gen(3))[1]
    b = mask_batch(x, cfg, gen(3))[1]
    c = mask_batch(x, cfg, gen(4))[1]
    assert torch.equal(a.mask, b.mask) and a.parts == b.parts and a.windows == b.windows
    assert not torch.equal(a.mask, c.mask)


def test_switching_one_kind_off_keeps_the_others():
    x = batch()
    full = mask_batch(x, MaskConfig(joint_prob=0.1, frame_prob=0.1, part_prob=1.0, window_prob=1.0), gen())[1]
    no_part = mask_batch(x, MaskConfig(joint_prob=0.1, frame_prob=0.1, part_prob=0.0, window_prob=1.0), gen())[1]
    assert no_part.windows == full.windows
    assert torch.equal(no_part.joint_mask, full.joint_mask)


def test_joint_and_frame_rates():
    x = batch(B=32, T=81)
    rec = mask_batch(x, MaskConfig(**{**OFF, "joint_prob": 0.05}), gen())[1]
    assert abs(rec.mask.float().mean().item() - 0.05) < 0.01
    rec = mask_batch(x, MaskConfig(**{**OFF, "frame_prob": 0.1}), gen())[1]
    per_frame = rec.mask.all(dim=2)
    assert torch.equal(per_frame, rec.mask.any(dim=2))  # whole frames only
    assert abs(per_frame.float().mean().item() - 0.1) < 0.02
    assert torch.equal(per_frame, rec.frame_mask)


def test_body_part_mask_hides_one_part_in_every_frame():
    x = batch()
    _, rec = mask_batch(x, MaskConfig(**{**OFF, "part_prob": 1.0}), gen())
    for b in range(6):
        part = rec.parts[b]
        assert part in BODY_PARTS
        hidden = rec.mask[b].all(dim=0).nonzero().flatten().tolist()
        assert sorted(hidden) == sorted(BODY_PARTS[part])
        assert rec.mask[b].sum() == 40 * len(BODY_PARTS[part])
        assert f"body part {part}" in describe(rec, b)


def test_time_window_length_and_span():
    T = 80
    x = batch(B=16, T=T)
    lo, hi = window_length_range(T, MaskConfig())
    assert (lo, hi) == (10, 20)  # U[T/8, T/4]
    _, rec = mask_batch(x, MaskConfig(**{**OFF, "window_prob": 1.0}), gen())
    lengths = set()
    for b in range(16):
        s, e = rec.windows[b]
        lengths.add(e - s)
        assert lo <= e - s <= hi and 0 <= s and e <= T
        frames = rec.mask[b].all(dim=1).nonzero().flatten().tolist()
        assert frames == list(range(s, e))
        assert not rec.mask[b, :s].any() and not rec.mask[b, e:].any()
    assert len(lengths) > 1


def test_numpy_view_and_describe():
    x = batch()
    _, rec = mask_batch(x, MaskConfig(part_prob=1.0, window_prob=1.0), gen())
    d = rec.to_numpy()
    assert d["mask"].shape == (6, 40, 17) and d["mask"].dtype == bool
    text = describe(d, 2)
    assert text.startswith("clip 2:") and "time window" in text
    with pytest.raises(IndexError, match="out of range"):
        describe(rec, 6)


def test_bad_input():
    with pytest.raises(ValueError, match=r"x2d has shape \(2, 10, 17\), expected a tensor \[B, T, J, 3\]"):
        mask_batch(torch.zeros(2, 10, 17), MaskConfig(), gen())
    with pytest.raises(ValueError, match="J = 17"):
        mask_batch(torch.zeros(2, 10, 16, 3), MaskConfig(), gen())
    with pytest.raises(ValueError, match="joint_prob = 1.5"):
        mask_batch(torch.zeros(2, 10, 17, 3), MaskConfig(joint_prob=1.5), gen())
