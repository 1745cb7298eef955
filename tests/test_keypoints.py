"""2D keypoint files for inference and COCO/MPII -> H36M conversion."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from actionpose.data.keypoints import coco17_to_h36m17, load_keypoints, mpii16_to_h36m17, to_h36m17
from actionpose.skeleton import COCO17_NAMES, H36M17_NAMES


# An upright COCO-17 person facing the camera (image coordinates, y down), 2 frames.
COCO_POSE = {
    "nose": (500, 100), "l_eye": (510, 90), "r_eye": (490, 90), "l_ear": (520, 100), "r_ear": (480, 100),
    "l_shoulder": (560, 180), "r_shoulder": (440, 180), "l_elbow": (580, 280), "r_elbow": (420, 280),
    "l_wrist": (590, 370), "r_wrist": (410, 370), "l_hip": (540, 400), "r_hip": (460, 400),
    "l_knee": (545, 560), "r_knee": (455, 560), "l_ankle": (550, 720), "r_ankle": (450, 720),
}


def coco_frames(n: int = 2) -> np.ndarray:
    xy = np.array([COCO_POSE[name] for name in COCO17_NAMES], dtype=np.float32)
    score = np.linspace(0.5, 0.9, 17, dtype=np.float32)[:, None]
    frame = np.concatenate([xy, score], axis=1)
    return np.stack([frame + np.array([3.0 * t, 0, 0], np.float32) for t in range(n)])


def _write(tmp_path: Path, obj, name: str = "kp.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(obj))
    return p


def _one_line(match: str, fn, *args, **kwargs) -> str:
    with pytest.raises(ValueError, match=match) as e:
        fn(*args, **kwargs)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_json_list_of_frames(tmp_path):
    kp = coco_frames()
    got, layout = load_keypoints(_write(tmp_path, kp.tolist()))
    assert layout == "coco17" and got.dtype == np.float32 and got.shape == (2, 17, 3)
    np.testing.assert_allclose(got, kp)


def test_json_records_with_frame_index_and_dict(tmp_path):
    kp = coco_frames(3)
    records = [{"image_id": 10 + t, "keypoints": kp[t].reshape(-1).tolist(), "score": 0.9} for t in range(3)]
    got, layout = load_keypoints(_write(tmp_path, records), layout="coco17")
    np.testing.assert_allclose(got, kp)
    got, layout = load_keypoints(_write(tmp_path, {"keypoints": [r["keypoints"] for r in records], "layout": "coco17"}))
    assert layout == "coco17"
    np.testing.assert_allclose(got, kp)


def test_npz(tmp_path):
    kp = coco_frames()
    np.savez(tmp_path / "kp.npz", keypoints=kp)
    got, layout = load_keypoints(tmp_path / "kp.npz")
    assert layout == "coco17"
    np.testing.assert_allclose(got, kp)
    np.savez(tmp_path / "h.npz", keypoints=kp, layout="h36m17")
    assert load_keypoints(tmp_path / "h.npz")[1] == "h36m17"
    np.savez(tmp_path / "xy.npz", keypoints=kp[..., :2])
    _one_line(r"xy\.npz: field keypoints has shape \(2, 17, 2\).*without scores", load_keypoints, tmp_path / "xy.npz")


def test_auto_layout_recognises_h36m_from_genuine_frames(tmp_path):
    fixture = Path(__file__).resolve().parent / "fixtures/mmpose/test_h36m_body3d.npz"
    part = np.load(fixture)["part"]  # genuine Human3.6M 2D, H36M-17 order, visibility as score
    assert load_keypoints(_write(tmp_path, part.tolist()))[1] == "h36m17"
    assert load_keypoints(_write(tmp_path, coco_frames().tolist(), "c.json"))[1] == "coco17"


def test_layout_errors(tmp_path):
    p = _write(tmp_path, coco_frames().tolist())
    _one_line("unknown layout 'openpose25'", load_keypoints, p, layout="openpose25")
    _one_line("declares layout 'coco17' but layout='h36m17'", load_keypoints,
              _write(tmp_path, {"keypoints": coco_frames().tolist(), "layout": "coco17"}, "d.json"), layout="h36m17")
    _one_line("layout = 'body25' is unknown", load_keypoints,
              _write(tmp_path, {"keypoints": coco_frames().tolist(), "layout": "body25"}, "e.json"))
    _one_line("12 joints per frame", load_keypoints, _write(tmp_path, coco_frames()[:, :12].tolist(), "f.json"))


def test_value_count_and_missing_scores(tmp_path):
    kp = coco_frames()
    flat = [{"frame": t, "keypoints": kp[t].reshape(-1).tolist()} for t in range(2)]
    flat[1]["keypoints"] = flat[1]["keypoints"][:-1]
    _one_line(r"frame 1 has 50 values, not a multiple of 3", load_keypoints, _write(tmp_path, flat))
    xy_only = [{"frame": t, "keypoints": kp[t, :, :2].reshape(-1).tolist()} for t in range(2)]
    _one_line(r"frame 0 has 34 values.*x, y pairs without scores", load_keypoints, _write(tmp_path, xy_only, "b.json"))
    nested = kp.tolist()
    nested[1] = [p[:2] for p in nested[1]]
    _one_line(r"frame 1 keypoint 0 has x, y but no score", load_keypoints, _write(tmp_path, nested, "c.json"))


def test_mixed_lengths_and_frame_indices(tmp_path):
    kp = coco_frames(3).tolist()
    kp[2] = kp[2][:16]
    _one_line(r"frame 2 has 16 keypoints, frame 0 has 17", load_keypoints, _write(tmp_path, kp))
    flat = [{"frame": f, "keypoints": coco_frames(1)[0].reshape(-1).tolist()} for f in (0, 1, 1)]
    _one_line(r"frame indices not increasing: entry 2 has frame 1 after 1", load_keypoints, _write(tmp_path, flat, "b.json"))
    flat = [{"frame": f, "keypoints": coco_frames(1)[0].reshape(-1).tolist()} for f in (0, 1, 3)]
    _one_line(r"frame 2 is missing", load_keypoints, _write(tmp_path, flat, "c.json"))
    flat[2].pop("frame")
    _one_line(r"frame 2 has no 'frame'/'image_id'", load_keypoints, _write(tmp_path, flat, "d.json"))


def test_empty_and_malformed_files(tmp_path):
    (tmp_path / "e.json").write_text("")
    _one_line(r"e\.json: empty file", load_keypoints, tmp_path / "e.json")
    _one_line(r"empty file \(no frames\)", load_keypoints, _write(tmp_path, [], "l.json"))
    _one_line(r"empty file \(no frames\)", load_keypoints, _write(tmp_path, {"keypoints": []}, "d.json"))
    (tmp_path / "bad.json").write_text("[[1, 2, ")
    _one_line(r"bad\.json: not valid JSON", load_keypoints, tmp_path / "bad.json")
    _one_line("not found", load_keypoints, tmp_path / "missing.json")
    _one_line("unsupported keypoint file type", load_keypoints, _write(tmp_path, [], "k.txt"))
    np.savez(tmp_path / "z.npz", keypoints=np.zeros((0, 17, 3)))
    _one_line(r"z\.npz: empty file", load_keypoints, tmp_path / "z.npz")
    np.savez(tmp_path / "w.npz", poses=np.zeros((2, 17, 3)))
    _one_line(r"w\.npz: missing field 'keypoints'", load_keypoints, tmp_path / "w.npz")
    raw = (tmp_path / "w.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(raw[: len(raw) // 2])
    _one_line(r"t\.npz: not a readable npz", load_keypoints, tmp_path / "t.npz")


def test_nan_masked_with_warning(tmp_path):
    kp = coco_frames(3).tolist()
    kp[1][4] = [float("nan"), 3.0, 0.9]
    kp[2][7] = [None, None, None]
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(kp))  # json writes NaN
    with pytest.warns(UserWarning, match=r"nan\.json: 2 keypoints with NaN/inf values in 2 frames"):
        got, _ = load_keypoints(path, layout="coco17")
    assert got[1, 4].tolist() == [0, 0, 0] and got[2, 7].tolist() == [0, 0, 0]
    assert np.all(got[0] == coco_frames(1)[0])


def test_scores_checked(tmp_path):
    kp = coco_frames()
    kp[0, 3, 2] = 1.5
    with pytest.warns(UserWarning, match="1 scores above 1 clipped"):
        got, _ = load_keypoints(_write(tmp_path, kp.tolist()), layout="coco17")
    assert got[0, 3, 2] == 1.0
    kp[0, 3, 2] = -0.1
    _one_line(r"frame 0 keypoint 3 has negative score", load_keypoints, _write(tmp_path, kp.tolist(), "n.json"))


def test_coco17_to_h36m17_known_pose():
    coco = coco_frames()
    h = coco17_to_h36m17(coco)
    idx = {n: i for i, n in enumerate(H36M17_NAMES)}
    c = {n: coco[:, i] for i, n in enumerate(COCO17_NAMES)}
    for name in ("r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "l_shoulder", "l_elbow",
                 "l_wrist", "r_shoulder", "r_elbow", "r_wrist"):
        np.testing.assert_array_equal(h[:, idx[name]], c[name])
    pelvis = (c["l_hip"][:, :2] + c["r_hip"][:, :2]) / 2
    thorax = (c["l_shoulder"][:, :2] + c["r_shoulder"][:, :2]) / 2
    np.testing.assert_allclose(h[:, 0, :2], pelvis)
    np.testing.assert_allclose(h[:, 8, :2], thorax)
    np.testing.assert_allclose(h[:, 7, :2], (pelvis + thorax) / 2)
    np.testing.assert_array_equal(h[:, 9], c["nose"])
    ears = (c["l_ear"][:, :2] + c["r_ear"][:, :2]) / 2
    np.testing.assert_allclose(h[:, 10, :2], ears + 0.5 * (ears - thorax))
    assert np.all(h[:, 10, 1] < h[:, 9, 1] + 1) and np.all(h[:, 10, 1] < ears[:, 1])  # crown above the ears
    # scores: min of the contributing joints
    np.testing.assert_allclose(h[:, 0, 2], np.minimum(c["l_hip"][:, 2], c["r_hip"][:, 2]))
    np.testing.assert_allclose(h[:, 7, 2], np.minimum.reduce([c[n][:, 2] for n in ("l_hip", "r_hip", "l_shoulder", "r_shoulder")]))
    np.testing.assert_allclose(h[:, 10, 2], np.minimum.reduce([c[n][:, 2] for n in ("l_ear", "r_ear", "l_shoulder", "r_shoulder")]))
    with pytest.raises(ValueError, match=r"expected \[T, 17, 3\]"):
        coco17_to_h36m17(coco[:, :16])


def test_mpii16_and_to_h36m17():
    mpii = np.zeros((2, 16, 2), np.float32) + np.arange(16, dtype=np.float32)[None, :, None]
    h = mpii16_to_h36m17(mpii)
    assert h[0, 0, 0] == 6 and h[0, 3, 0] == 0 and h[0, 16, 0] == 10 and h[0, 9].tolist() == [0, 0, 0]
    assert np.all(h[:, [j for j in range(17) if j != 9], 2] == 1)
    np.testing.assert_array_equal(to_h36m17(h, "h36m17"), h)
    np.testing.assert_array_equal(to_h36m17(coco_frames(), "coco17"), coco17_to_h36m17(coco_frames()))
    with pytest.raises(ValueError, match="unknown layout"):
        to_h36m17(h, "smpl24")
