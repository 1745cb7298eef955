"""MPI-INF-3DHP loader on tiny npz fixtures in the P-STMO layout, built from the genuine mmpose frames."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from actionpose.data.mpi_inf_3dhp import (
    CAM_TO_WORLD,
    TEST_CAMERAS,
    TRAIN_NOMINAL_C,
    TRAIN_NOMINAL_F,
    load_3dhp,
    valid_mask,
)
from actionpose.geometry import Camera, project_camera, world_to_camera
from actionpose.skeleton import H36M17_LR_PAIRS, H36M17_PARENTS, MPI3DHP17_NAMES, MPI3DHP17_TO_17

MMPOSE = Path(__file__).resolve().parent / "fixtures" / "mmpose"


def _mmpose(split: str):
    z = np.load(MMPOSE / f"test_3dhp_{split}.npz")
    return [str(n) for n in z["imgname"]], z["S"][..., :3] * 1000.0, z["part"][..., :2]  # MPI order, mm, px


def _seq(pose_mm: np.ndarray, uv: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    steps = np.arange(n)[:, None, None]
    return pose_mm[None] + steps * np.array([5.0, 0.0, 10.0]), uv[None] + steps * np.array([1.0, 0.0])


def write_test_npz(path: Path, nan_in_invalid: bool = True) -> dict:
    _, S, part = _mmpose("test")
    ts1_3d, ts1_2d = _seq(S[0], part[0], 5)
    ts5_3d, ts5_2d = _seq(S[1], part[1], 4)
    valid = np.array([1, 1, 0, 1, 1], dtype=np.float64)
    if nan_in_invalid:
        ts1_3d[2, 3] = np.nan
    data = {"TS1": {"data_3d": ts1_3d, "data_2d": ts1_2d, "valid": valid},
            "TS5": {"data_3d": ts5_3d, "data_2d": ts5_2d, "valid": np.ones(4)}}
    np.savez_compressed(path, data=data)
    return data


def write_train_npz(path: Path) -> dict:
    _, S, part = _mmpose("train")  # S4_Seq2_Cam0, S8_Seq1_Cam8
    a3, a2 = _seq(S[0], part[0], 3)
    b3, b2 = _seq(S[1], part[1], 2)
    data = {"S4 Seq2": [{"0": {"data_3d": a3, "data_2d": a2}}, 25],
            "S8 Seq1": [{"8": {"data_3d": b3, "data_2d": b2}}, 50]}
    np.savez_compressed(path, data=data)
    return data


def test_test_split_loads(tmp_path):
    data = write_test_npz(tmp_path / "data_test_3dhp.npz")
    with pytest.warns(UserWarning, match="1 invalid frames had NaN"):
        ms = {m.name: m for m in load_3dhp(tmp_path)}
    assert sorted(ms) == ["TS1", "TS5"]
    ts1, ts5 = ms["TS1"], ms["TS5"]
    assert ts1.meta["image_size_wh"] == [2048, 2048] and ts5.meta["image_size_wh"] == [1920, 1080]
    assert ts1.cameras[0].image_size_wh == (2048, 2048) and ts5.cameras[0].image_size_wh == (1920, 1080)
    assert ts1.fps == 25 and ts5.fps == 50
    assert ts1.meta["valid_frames"] == [True, True, False, True, True]
    assert valid_mask(ts1).tolist() == [True, True, False, True, True] and valid_mask(ts5).all()
    assert ts1.meta["split"] == "test" and ts1.meta["intrinsics"] == "calibrated" and ts1.kp2d_source == "gt"
    cam = ts1.cameras[0]
    assert cam.name == "TS1" and np.allclose(cam.f, TEST_CAMERAS["TS1"][0]) and np.allclose(cam.T_world_mm, 0)
    x_cam = world_to_camera(ts1.joints3d_world_mm.astype(np.float64), cam.R_world_to_cam, cam.T_world_mm)
    src, ok = data["TS1"]["data_3d"], valid_mask(ts1)
    np.testing.assert_allclose(x_cam[ok, 0], src[ok, 14], atol=1e-3)  # pelvis <- root, camera frame back
    np.testing.assert_allclose(x_cam[ok, 10], src[ok, 0], atol=1e-3)  # head <- head_top
    np.testing.assert_allclose(ts1.joints3d_world_mm[2], ts1.joints3d_world_mm[1])  # NaN frame filled
    up = ts1.joints3d_world_mm[ok, 10, 2] - ts1.joints3d_world_mm[ok, 0, 2]
    assert np.all(up > 400)  # world is z-up: head top well above the pelvis of an upright person
    kp = ts1.kp2d_px["TS1"]
    assert kp.shape == (5, 17, 3) and np.all(kp[..., 2] == 1)
    np.testing.assert_allclose(kp[:, 8, :2], data["TS1"]["data_2d"][:, 1])  # thorax <- neck
    assert all(json.dumps(m.meta) for m in ms.values())  # meta is JSON-safe


def test_intrinsics_match_fixture_and_project_genuine_frames():
    cams = json.loads((MMPOSE / "3dhp_cameras_test.json").read_text())
    for seq, (f, c, size) in TEST_CAMERAS.items():
        assert np.allclose(f, np.ravel(cams[seq]["f"])) and np.allclose(c, np.ravel(cams[seq]["c"]))
        assert size == (cams[seq]["w"], cams[seq]["h"])
    names, S, part = _mmpose("test")
    for name, pose, uv in zip(names, S, part):  # mmpose keeps annot3, which reprojects onto annot2
        f, c, size = TEST_CAMERAS[name[:3]]
        cam = Camera(name[:3], CAM_TO_WORLD.T, np.zeros(3), np.array(f), np.array(c), image_size_wh=size)
        assert np.abs(project_camera(pose @ CAM_TO_WORLD.T, cam) - uv).max() < 3.0
    _, S, part = _mmpose("train")  # nominal training intrinsics: within ~10 px on the genuine frames
    for pose, uv in zip(S, part):
        cam = Camera("cam", np.eye(3), np.zeros(3), np.array(TRAIN_NOMINAL_F), np.array(TRAIN_NOMINAL_C))
        assert np.abs(project_camera(pose, cam) - uv).max() < 10.0


@pytest.mark.parametrize("split", ["test", "train"])
def test_joint_mapping_is_anatomical(split):
    """After MPI3DHP17_TO_17 the genuine frames form a plausible H36M skeleton."""
    _, S, _ = _mmpose(split)
    for pose in S[:, list(MPI3DHP17_TO_17)]:
        bones = {j: np.linalg.norm(pose[j] - pose[p]) for j, p in enumerate(H36M17_PARENTS) if p >= 0}
        assert all(40 < b < 600 for b in bones.values()), bones
        # left/right hips, upper arms, forearms and shins match (the thighs and clavicles do not in
        # the genuine data: 3DHP has intermediate joints there that the 17-joint set leaves out)
        for left, right in H36M17_LR_PAIRS:
            if left in (4, 6, 12, 13):
                assert abs(bones[left] - bones[right]) < 0.05 * bones[left], (left, right, bones)
        # thorax (3DHP neck) sits between the shoulders; the head top is the farthest head point
        assert np.linalg.norm(pose[8] - (pose[11] + pose[14]) / 2) < 120
        assert np.linalg.norm(pose[10] - pose[0]) > np.linalg.norm(pose[9] - pose[0])
        assert np.linalg.norm(pose[1] - pose[0]) < 200 and np.linalg.norm(pose[4] - pose[0]) < 200
    assert MPI3DHP17_NAMES[MPI3DHP17_TO_17[0]] == "pelvis"


def test_train_split_loads(tmp_path):
    write_train_npz(tmp_path / "data_train_3dhp.npz")
    ms = {m.name: m for m in load_3dhp(tmp_path / "data_train_3dhp.npz", split="train")}
    assert sorted(ms) == ["S4/Seq2/cam0", "S8/Seq1/cam8"]
    a = ms["S4/Seq2/cam0"]
    assert a.fps == 25 and ms["S8/Seq1/cam8"].fps == 50 and a.subject == "S4"
    assert [c.name for c in a.cameras] == ["cam0"] and list(a.kp2d_px) == ["cam0"]
    assert a.cameras[0].image_size_wh == (2048, 2048) and a.meta["intrinsics"] == "nominal"
    assert a.meta["split"] == "train" and "valid_frames" not in a.meta and valid_mask(a).all()


def _one_line(match, fn, *args, **kwargs):
    with pytest.raises(ValueError, match=match) as e:
        fn(*args, **kwargs)
    assert "\n" not in str(e.value)


def test_bad_inputs(tmp_path):
    _one_line("unknown split 'val'", load_3dhp, tmp_path, split="val")
    _one_line(r"data_test_3dhp\.npz: not found", load_3dhp, tmp_path)
    data = write_test_npz(tmp_path / "data_test_3dhp.npz", nan_in_invalid=False)
    raw = (tmp_path / "data_test_3dhp.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(raw[: len(raw) // 2])
    _one_line(r"t\.npz: not a readable npz", load_3dhp, tmp_path / "t.npz")
    bad = {k: dict(v) for k, v in data.items()}
    bad["TS1"]["data_3d"] = data["TS1"]["data_3d"] / 1000.0
    np.savez_compressed(tmp_path / "m.npz", data=bad)
    _one_line("looks like metres", load_3dhp, tmp_path / "m.npz")
    bad["TS1"]["data_3d"] = data["TS1"]["data_3d"][:, :16]
    np.savez_compressed(tmp_path / "j.npz", data=bad)
    _one_line(r"data\['TS1'\]\['data_3d'\]: has shape \(5, 16, 3\)", load_3dhp, tmp_path / "j.npz")
    bad["TS1"]["data_3d"] = data["TS1"]["data_3d"].copy()
    bad["TS1"]["data_3d"][1, 2, 0] = np.nan  # frame 1 is valid
    np.savez_compressed(tmp_path / "n.npz", data=bad)
    _one_line(r"NaN/inf values in valid frame 1", load_3dhp, tmp_path / "n.npz")
    del bad["TS1"]["valid"]
    np.savez_compressed(tmp_path / "v.npz", data=bad)
    _one_line(r"data\['TS1'\]: missing field 'valid'", load_3dhp, tmp_path / "v.npz")
    np.savez_compressed(tmp_path / "x.npz", data={"TS9": data["TS1"]})
    _one_line("'TS9' is not a test sequence", load_3dhp, tmp_path / "x.npz")
