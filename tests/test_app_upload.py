"""Upload checks (issue 22), in the library so `actionpose infer` and the explorer's upload say the same:
0-1 coordinates given with an image size, missing frames (refused, or interpolated when allowed), NaN
joints, several people in one file, 3D positions given as 2D, and a metric scale from a height.
The explorer's side of the same files is in test_app.py (AppTest) and test_app_browser.py."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from app_support import write_coco17_file

import actionpose as ap
from actionpose.cli import main

SIZE = (1920, 1080)


@pytest.fixture(scope="module")
def coco(tmp_path_factory) -> np.ndarray:
    """A real COCO-17 clip (pixels of a 1920x1080 image, 60 frames) from a held-out take."""
    path = write_coco17_file(tmp_path_factory.mktemp("kp") / "clip.json", size_wh=SIZE)
    return np.array(json.loads(path.read_text())["keypoints"], dtype=np.float64)


@pytest.fixture(scope="module")
def predictor():
    return ap.Predictor.from_run("demo")


def _records(kp: np.ndarray, field: str = "frame", skip=()) -> list[dict]:
    return [{"keypoints": f.reshape(-1).tolist(), field: i} for i, f in enumerate(kp) if i not in skip]


def _one_line(e: pytest.ExceptionInfo, path: Path, *parts: str) -> str:
    msg = str(e.value)
    assert msg.startswith(f"{path}: ") and "\n" not in msg, msg
    for p in parts:
        assert p in msg, msg
    return msg


def test_zero_to_one_coordinates_with_an_image_size_are_refused(tmp_path, coco, predictor, capsys):
    unit = coco.copy()
    unit[..., 0] /= SIZE[0]
    unit[..., 1] /= SIZE[1]
    path = tmp_path / "unit.json"
    path.write_text(json.dumps({"layout": "coco17", "keypoints": unit.tolist()}))
    with pytest.raises(ValueError) as e:
        predictor.predict_file(path, image_size=SIZE)
    msg = _one_line(e, path, "field keypoints", "normalised to 0–1", "1920x1080")
    tall = float(msg.split("the skeleton is ")[1].split(" px")[0])
    body = np.median([np.ptp(f[:, :2], axis=0).max() for f in unit])
    assert tall == pytest.approx(body, rel=1e-2) and tall < 2  # the number the message gives is measured
    # the pixel file of the same clip is accepted: the check does not fire on real people
    good = tmp_path / "px.json"
    good.write_text(json.dumps({"layout": "coco17", "keypoints": coco.tolist()}))
    assert predictor.predict_file(good, image_size=SIZE).y3d.shape == (60, 17, 3)
    # the CLI says the same, on one line
    assert main(["infer", "--run", "demo", "--input", str(path), "--output", str(tmp_path / "o.json"),
                 "--image-size", *map(str, SIZE)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"actionpose infer: error: {path}: field keypoints") and "normalised to 0–1" in err


def test_metre_coordinates_as_pixels_are_not_called_normalised(tmp_path, coco):
    metres = coco.copy()
    metres[..., :2] = (coco[..., :2] - 900) / 500  # about +-1: a skeleton ~1.5 units tall, some negative
    with pytest.raises(ValueError) as e:
        ap.check_body_size(metres, SIZE, "m.json")
    assert "expected pixel coordinates of this image" in str(e.value) and "0–1" not in str(e.value)


def test_missing_frames_refused_then_interpolated(tmp_path, coco, predictor):
    path = tmp_path / "gap.json"
    path.write_text(json.dumps(_records(coco, skip=(12, 30, 31))))
    with pytest.raises(ValueError) as e:
        predictor.predict_file(path, image_size=SIZE)
    _one_line(e, path, "field frame: 3 frames missing in 2 gaps", "first: frame 12", "longest 2 frames",
              "fill_gaps=N", "N >= 2")
    with pytest.raises(ValueError, match="longest 2 frames"):
        predictor.predict_file(path, image_size=SIZE, fill_gaps=1)
    kp, layout = ap.read_checked_keypoints(path, fill_gaps=2)
    assert layout == "coco17" and kp.shape == (60, 17, 3)
    assert (kp[[12, 30, 31], :, 2] == 0).all()  # kept as masked frames...
    filled, n = ap.fill_short_gaps(kp, 2)
    assert n == 3 * 17  # ...then every joint of the three frames is interpolated
    assert np.allclose(filled[12, :, :2], (coco[11, :, :2] + coco[13, :, :2]) / 2, atol=1e-3)
    assert np.allclose(filled[30, :, :2], (2 * coco[29, :, :2] + coco[32, :, :2]) / 3, atol=1e-3)
    assert np.allclose(filled[31, :, 2], np.minimum(coco[29, :, 2], coco[32, :, 2]))
    res = predictor.predict_file(path, image_size=SIZE, fill_gaps=2)
    assert res.y3d.shape == (60, 17, 3) and res.masked_frames == 0 and res.info["filled_keypoints"] == 51
    json.dumps(res.info)  # the info is written into the output file


def test_fill_short_gaps_leaves_long_and_edge_gaps_masked():
    kp = np.zeros((10, 1, 3), np.float32)
    kp[:, 0] = [[t, 2 * t, 1.0] for t in range(10)]
    kp[[0, 3, 5, 6, 7], 0] = 0  # edge gap (0), a 1-frame gap (3), a 3-frame gap (5-7)
    out, n = ap.fill_short_gaps(kp, 2)
    assert n == 1 and out[3, 0].tolist() == [3.0, 6.0, 1.0] and (out[[0, 5, 6, 7], 0] == 0).all()
    out, n = ap.fill_short_gaps(kp, 3)
    assert n == 4 and np.allclose(out[5:8, 0, :2], [[5, 10], [6, 12], [7, 14]])


def test_nan_joints_are_named_and_bridged(tmp_path, coco, predictor):
    nan = coco.copy()
    nan[20, 9, :2] = np.nan  # a wrist lost for one frame
    path = tmp_path / "nan.json"
    path.write_text(json.dumps({"layout": "coco17", "keypoints": json.loads(json.dumps(nan.tolist()).replace("NaN", "null"))}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = predictor.predict_file(path, image_size=SIZE, fill_gaps=1)
    lines = [str(w.message) for w in caught]
    assert any(m.startswith(f"{path}: 1 keypoints with NaN") and "frame 20" in m for m in lines), lines
    assert res.info["filled_keypoints"] == 1


def test_several_people_refused_then_one_picked(tmp_path, coco, predictor):
    recs = []
    for i, f in enumerate(coco):
        other = f.copy()
        other[:, 0] += 400
        recs += [{"keypoints": f.reshape(-1).tolist(), "image_id": i}, {"keypoints": other.reshape(-1).tolist(), "image_id": i}]
    path = tmp_path / "two.json"
    path.write_text(json.dumps(recs))
    with pytest.raises(ValueError) as e:
        predictor.predict_file(path, image_size=SIZE)
    _one_line(e, path, "field image_id: several people", "60 of 60 frames", "up to 2", "person=K, K in 0..1")
    kp1, _ = ap.read_checked_keypoints(path, person=1)
    assert np.allclose(kp1[..., 0], coco[..., 0] + 400, atol=1e-3)
    with pytest.raises(ValueError, match="person=2, but the frames hold at most 2 entries"):
        ap.read_checked_keypoints(path, person=2)
    # frames nested one level deeper ([frames][people][joints][3]) are seen as people too
    nested = tmp_path / "nested.json"
    nested.write_text(json.dumps([[f.tolist(), (f + [400, 0, 0]).tolist()] for f in coco]))
    with pytest.raises(ValueError, match=r"nested.json: field keypoints: several people"):
        ap.read_checked_keypoints(nested)
    res = predictor.predict_file(nested, image_size=SIZE, person=0)
    assert res.info["person"] == 0 and res.y3d.shape == (60, 17, 3)


@pytest.mark.parametrize("unit, scale", [("millimetres", 1.0), ("metres", 1e-3)])
def test_3d_positions_given_as_2d_are_refused(tmp_path, unit, scale, predictor):
    motions, _ = ap.load_data(None)
    m = ap.split_motions(motions, "val")[0]
    path = tmp_path / f"{unit}.npz"
    np.savez(path, keypoints=m.joints3d_world_mm[:60] * scale)  # root-relative-free world 3D
    with pytest.raises(ValueError) as e:
        predictor.predict_file(path, image_size=SIZE)
    _one_line(e, path, "field keypoints: the third value", "not a confidence", f"x, y, z in {unit}")


def test_metric_scale_from_a_height():
    # a straight standing skeleton with known bones: head-to-ankle path = 0.1+0.1+0.2+0.2+0 (hip) ...
    y = np.zeros((3, 17, 3))
    chain = {10: -0.9, 9: -0.8, 8: -0.7, 7: -0.4, 0: 0.0}
    for j, h in chain.items():
        y[:, j, 1] = h
    for hip, knee, ankle, x in ((1, 2, 3, -0.1), (4, 5, 6, 0.1)):
        y[:, hip] = (x, 0.0, 0)
        y[:, knee] = (x, 0.4, 0)
        y[:, ankle] = (x, 0.8, 0)
    path_len = 0.1 + 0.1 + 0.3 + 0.4 + 0.1 + 0.4 + 0.4
    assert ap.skeleton_height_units(y) == pytest.approx(path_len)
    assert ap.mm_per_unit_from_height(y, 1700) == pytest.approx(1700 / path_len)
    with pytest.raises(ValueError, match="expected a positive length"):
        ap.mm_per_unit_from_height(y, 0)


def test_cli_infer_picks_a_person_and_fills_gaps(tmp_path, coco, capsys):
    recs = []
    for i, f in enumerate(coco):
        if i == 7:
            continue
        recs += [{"keypoints": f.reshape(-1).tolist(), "frame": i},
                 {"keypoints": (f + [300, 0, 0]).reshape(-1).tolist(), "frame": i}]
    path = tmp_path / "crowd.json"
    path.write_text(json.dumps(recs))
    out = tmp_path / "out.json"
    assert main(["infer", "--run", "demo", "--input", str(path), "--output", str(out), "--image-size", *map(str, SIZE),
                 "--person", "1", "--fill-gaps", "1"]) == 0
    got = json.loads(out.read_text())
    assert got["frames"] == 60 and got["info"]["person"] == 1 and got["info"]["filled_keypoints"] == 17
    assert main(["infer", "--run", "demo", "--input", str(path), "--output", str(out), "--image-size", *map(str, SIZE),
                 "--person", "1"]) == 2
    assert "field frame: 1 frame missing in 1 gap (first: frame 7" in capsys.readouterr().err
