"""Recognition over fixed-length segments, whatever the lifter's window (issue 21)."""
import numpy as np
import pytest

from actionpose.data.windows import covering_windows
from actionpose.recognition_context import CONTEXT_FRAMES, pool_window_scores


def test_segment_scores_are_the_mean_of_the_windows_inside():
    wins = np.array(covering_windows(30, 9, 3))  # starts 0, 3, ..., 21
    scores = np.arange(len(wins) * 2, dtype=float).reshape(-1, 2)
    scores[:, 1] = -scores[:, 1]
    segs, pooled = pool_window_scores(wins, scores, 30, context=15)
    assert segs == covering_windows(30, 15)
    for (s, e), row in zip(segs, pooled):
        inside = [i for i, (a, b) in enumerate(wins) if a >= s and b <= e]
        assert inside, (s, e)
        np.testing.assert_allclose(row, scores[inside].mean(axis=0))
    # first segment 0..15 holds the windows starting at 0, 3, 6 -> rows 0, 1, 2
    np.testing.assert_allclose(pooled[0], [2.0, -3.0])


def test_mean_logit_ranks_texts_like_the_pooled_unit_embedding():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(12, 8))
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    text = rng.normal(size=(5, 8))
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    logits = unit @ text.T / 0.07
    wins = np.array([(i, i + 9) for i in range(0, 12 * 3, 3)])
    _, pooled = pool_window_scores(wins, logits, 12 * 3 + 6, context=45)
    mean_emb = unit[wins[:, 1] <= 45].mean(axis=0)
    cos = mean_emb @ text.T / np.linalg.norm(mean_emb)
    assert np.argsort(-pooled[0]).tolist() == np.argsort(-cos).tolist()


def test_a_lifter_at_the_context_length_gets_its_own_windows_back():
    wins = np.array(covering_windows(200, CONTEXT_FRAMES))
    scores = np.random.default_rng(1).normal(size=(len(wins), 4))
    segs, pooled = pool_window_scores(wins, scores, 200)
    assert np.array_equal(np.array(segs), wins)
    np.testing.assert_allclose(pooled, scores)


def test_short_sequence_is_one_segment_and_gaps_are_refused():
    wins = np.array(covering_windows(20, 9))
    segs, pooled = pool_window_scores(wins, np.ones((len(wins), 3)), 20)
    assert segs == [(0, 20)] and pooled.shape == (1, 3)
    with pytest.raises(ValueError, match="holds no window"):
        pool_window_scores(np.array([[0, 9], [40, 49]]), np.ones((2, 3)), 49, context=20)
    with pytest.raises(ValueError, match=r"expected \[2, L\]"):
        pool_window_scores(np.array([[0, 9], [9, 18]]), np.ones((3, 3)), 18)
