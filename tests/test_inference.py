"""In-the-wild inference: keypoint files of any length -> 3D per frame + action text per window."""
import json
import subprocess
import sys

import numpy as np
import pytest

from actionpose import Predictor
from actionpose.cli import main
from actionpose.data.dataset import make_sample, sequence_views, split_motions
from actionpose.evaluate import evaluate
from actionpose.geometry import denormalize_screen
from actionpose.inference import resample_time
from actionpose.skeleton import COCO17_DIRECT
from actionpose.train.data import load_data


def _heldout_clip():
    motions, _ = load_data(None)
    m = max(split_motions(motions, "val"), key=lambda m: m.num_frames)
    return m


def _to_coco(h36m_px: np.ndarray) -> np.ndarray:
    """H36M-17 px [T, 17, 3] -> COCO-17 px [T, 17, 3] (inverse of the documented conversion)."""
    T = h36m_px.shape[0]
    coco = np.zeros((T, 17, 3), np.float32)
    for h, c in COCO17_DIRECT.items():
        coco[:, c] = h36m_px[:, h]
    coco[:, 0] = h36m_px[:, 9]  # nose <- neck_nose
    ears = (h36m_px[:, 10, :2] + 0.5 * h36m_px[:, 8, :2]) / 1.5  # head = ears + 0.5 (ears - thorax)
    for k in (1, 2, 3, 4):
        coco[:, k, :2] = ears
        coco[:, k, 2] = 1.0
    return coco


def test_infer_cli_matches_evaluate_on_a_heldout_clip(small_runs, tmp_path, capsys):
    _, ft = small_runs
    m = _heldout_clip()
    pred = Predictor.from_run(ft)
    view, _ = sequence_views(m, pred.cfg)[0]
    s = make_sample(m, view, None)
    w, h = view.camera.image_size_wh
    rng = np.random.default_rng(0)
    px = np.concatenate([denormalize_screen(s.x2d[..., :2], w, h), s.x2d[..., 2:]], axis=-1)
    px[..., :2] += rng.normal(0, 1.0, px[..., :2].shape)  # ~1 px detector noise
    coco = _to_coco(px)
    path = tmp_path / "kp.json"
    path.write_text(json.dumps([{"keypoints": f.reshape(-1).tolist(), "frame": i} for i, f in enumerate(coco)]))
    out = tmp_path / "out.npz"
    assert main(["infer", "--run", str(ft), "--input", str(path), "--output", str(out), "--format", "coco17",
                 "--image-size", str(w), str(h), "--html", str(tmp_path / "a.html")]) == 0
    printed = capsys.readouterr().out
    z = np.load(out)
    assert z["y3d"].shape == (m.num_frames, 17, 3)
    actions = json.loads(str(z["actions_json"]))
    assert len(actions) == len(z["windows"]) and all(len(a) == 5 for a in actions)
    assert "frames" in printed and (tmp_path / "a.html").stat().st_size > 10_000
    err_infer = np.linalg.norm((z["y3d"] - s.y3d) * s.mm_per_unit[:, None, None], axis=-1).mean()
    rep = evaluate(ft, motions=[m], data_info={"skeleton": "h36m17"}, split=m.meta["split"], write=False)
    err_eval = rep.per_sequence["mpjpe_mm"].iloc[0]
    assert err_infer == pytest.approx(err_eval, rel=0.25, abs=15.0)


def test_missing_frames_are_kept_and_masked(small_runs):
    _, ft = small_runs
    pred = Predictor.from_run(ft)
    kp = np.random.default_rng(0).uniform(100, 900, size=(50, 17, 3)).astype(np.float32)
    kp[..., 2] = 1
    kp[10:20] = 0  # nobody detected
    res = pred.predict(kp, image_size=(1000, 1000))
    assert res.y3d.shape == (50, 17, 3) and res.masked_frames == 10
    assert np.isfinite(res.y3d).all()


def test_resampling_keeps_one_output_per_input_frame(small_runs):
    _, ft = small_runs
    pred = Predictor.from_run(ft)
    kp = np.random.default_rng(1).uniform(-0.5, 0.5, size=(100, 17, 3)).astype(np.float32)
    kp[..., 2] = 1
    res = pred.predict(kp, fps=60.0)
    assert res.y3d.shape == (100, 17, 3) and res.info["frames_model"] == 50
    assert resample_time(np.arange(5.0)[:, None], 9)[:, 0].tolist() == pytest.approx(np.linspace(0, 4, 9).tolist())


def test_pixels_without_image_size_is_an_error(small_runs):
    _, ft = small_runs
    kp = np.full((5, 17, 3), 500.0, np.float32)
    with pytest.raises(ValueError, match="look like pixels.*--image-size"):
        Predictor.from_run(ft).predict(kp)


def test_zero_shot_text_scores(small_runs):
    _, ft = small_runs
    pred = Predictor.from_run(ft)
    kp = np.random.default_rng(0).uniform(-0.3, 0.3, size=(40, 17, 3)).astype(np.float32)
    kp[..., 2] = 1
    res = pred.predict(kp)
    sc = pred.score_texts(res.motion_emb, ["a person waves", "a person kicks"])
    assert sc.shape == (len(res.windows), 2) and np.all(np.abs(sc) <= 1 + 1e-5)


@pytest.mark.parametrize("n", [100_000])
def test_long_input_memory_is_bounded(small_runs, tmp_path, n):
    """A 100k-frame input runs in a subprocess whose peak memory stays far below a per-frame blow-up."""
    _, ft = small_runs
    kp = np.random.default_rng(0).uniform(-0.5, 0.5, size=(n, 17, 3)).astype(np.float32)
    kp[..., 2] = 1
    np.savez(tmp_path / "long.npz", keypoints=kp)
    code = (
        "import resource, sys, numpy as np\n"
        "from actionpose import Predictor\n"
        f"p = Predictor.from_run({str(ft)!r})\n"
        f"z = np.load({str(tmp_path / 'long.npz')!r})['keypoints']\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "r = p.predict(z, layout='h36m17')\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(r.y3d.shape[0], (after - before) / 1024)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    frames, grew_mb = res.stdout.split()[-2:]
    assert int(frames) == n
    # Output + input + blend buffers are ~60 MB for 100k frames; a non-streaming run would need GBs.
    assert float(grew_mb) < 400, grew_mb


def test_resampling_interpolates_only_between_valid_samples(small_runs):
    """60 -> 30 fps input with a missed joint: the model sees the valid neighbours' values, never a
    blend with the masked (0, 0, 0) sample, and a joint missing on one side stays masked."""
    from actionpose.data.keypoints import interpolate_keypoints
    kp = np.zeros((5, 17, 3), np.float32)
    kp[:, 4] = [[0.1 * t, -0.2, 0.9] for t in range(5)]
    kp[2, 4] = 0.0  # missed in frame 2
    out = interpolate_keypoints(kp, np.array([0.0, 0.5, 1.5, 2.0, 3.5, 4.0]))
    np.testing.assert_allclose(out[:, 4], [[0.0, -0.2, 0.9], [0.05, -0.2, 0.9], [0, 0, 0], [0, 0, 0],
                                           [0.35, -0.2, 0.9], [0.4, -0.2, 0.9]], atol=1e-6)
    # through the Predictor: what reaches the network is exactly that
    _, ft = small_runs
    pred = Predictor.from_run(ft)
    seen = {}
    import actionpose.inference as inf
    real = inf.predict_sequence

    def spy(net, x2d, *a, **k):
        seen["x2d"] = x2d.copy()
        return real(net, x2d, *a, **k)

    inf.predict_sequence = spy
    try:
        long = np.zeros((9, 17, 3), np.float32)
        long[..., 2] = 1.0
        long[:, 7, 0] = np.linspace(0.0, 0.8, 9)
        long[4, 7] = 0.0  # masked sample in the middle
        res = pred.predict(long, fps=60.0)  # the run's rate is 30 fps: 9 frames -> 4 or 5 model frames
    finally:
        inf.predict_sequence = real
    x = seen["x2d"]
    n = res.info["frames_model"]
    pos = np.linspace(0, 8, n)
    for k, p in enumerate(pos):
        lo, hi = int(np.floor(p)), min(int(np.floor(p)) + 1, 8)
        touches_mask = (lo == 4 and p - lo > 1e-6) or (hi == 4 and p - lo > 1e-6) or abs(p - 4) < 1e-6
        if touches_mask:
            assert x[k, 7].tolist() == [0.0, 0.0, 0.0]
        else:
            assert x[k, 7, 0] == pytest.approx(0.1 * p, abs=1e-5) and x[k, 7, 2] == 1.0


def test_flip_tta_is_the_mean_of_plain_and_mirrored_predictions(small_runs):
    from actionpose.data.synthesis import flip_array
    _, ft = small_runs
    pred = Predictor.from_run(ft, batch_size=2)
    kp = np.random.default_rng(3).uniform(-0.6, 0.6, size=(40, 17, 3)).astype(np.float32)
    kp[..., 2] = 1.0
    plain = pred.predict(kp).y3d
    mirrored = pred.predict(flip_array(kp)).y3d
    both = pred.predict(kp, flip=True).y3d
    np.testing.assert_allclose(both, 0.5 * (plain + flip_array(mirrored)), atol=1e-5)
    assert np.abs(both - plain).max() > 1e-4  # the mirrored pass really changes the answer
