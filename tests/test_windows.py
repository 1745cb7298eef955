import numpy as np
import pytest

from actionpose.data.windows import WindowBlender, covering_windows, pad_to_length, window_starts


def test_window_starts_cover_the_end():
    assert window_starts(10, 4, 3) == [0, 3, 6]
    assert window_starts(11, 4, 3) == [0, 3, 6, 7]
    assert window_starts(4, 4, 2) == [0]


def test_short_sequence_is_an_error():
    with pytest.raises(ValueError, match="walk_001: 3 frames is shorter than the window of 4 frames"):
        window_starts(3, 4, 1, where="walk_001")


@pytest.mark.parametrize("n", [1, 5, 27, 28, 100, 243])
def test_covering_windows_cover_every_frame(n):
    wins = covering_windows(n, 27)
    covered = np.zeros(n, int)
    for s, e in wins:
        assert e - s <= 27
        covered[s:e] += 1
    assert covered.min() >= 1


def test_blender_reproduces_a_consistent_signal():
    n, T = 100, 27
    truth = np.random.default_rng(0).normal(size=(n, 17, 3))
    b = WindowBlender(n, (17, 3))
    for s, e in covering_windows(n, T):
        b.add(s, truth[s:e])
    np.testing.assert_allclose(b.result(), truth, atol=1e-6)


def test_blender_detects_uncovered_frames():
    b = WindowBlender(10, (2,))
    b.add(0, np.ones((5, 2)))
    with pytest.raises(ValueError, match="5 frames were not covered"):
        b.result()


def test_pad_to_length_repeats_last_frame():
    x = np.arange(6).reshape(3, 2)
    p = pad_to_length(x, 5)
    assert p.shape == (5, 2) and (p[3:] == x[-1]).all()
