"""Human3.6M loaders on tiny fixtures written in the exact on-disk layouts (VideoPose3D npz pair and
3d-pose-baseline folder), cross-checked against the genuine mmpose Human3.6M frames."""
from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest

from actionpose.data.h36m import (
    CAMERA_IDS,
    base_action,
    default_cameras_path,
    canonical_sequence_name,
    load_cameras_json,
    load_h36m,
    read_npz_object,
)
from actionpose.geometry import Camera, camera_to_world, project_camera
from actionpose.skeleton import H36M32_TO_17, MPII16_TO_17

MMPOSE = Path(__file__).resolve().parent / "fixtures/mmpose/test_h36m_body3d.npz"
CAMERAS_JSON = default_cameras_path()  # the calibration shipped as package data

# (subject, sequence as written on disk, frames); the first sequence starts with the genuine S1 frame.
SEQUENCES = [("S1", "Directions 1", 6), ("S1", "Walking", 5), ("S9", "Photo 1", 4), ("S9", "WalkDog", 3)]


def _cameras(subject: str) -> list[Camera]:
    table = json.loads(CAMERAS_JSON.read_text())["cameras"]
    return [Camera.from_dict(dict(table[f"{subject}/{c}"], name=c)) for c in CAMERA_IDS]


def _genuine_world_pose() -> tuple[np.ndarray, np.ndarray]:
    """World mm [17, 3] of the genuine S1 Directions 1 frame and its 2D px [17, 2] in camera 54138969."""
    z = np.load(MMPOSE)
    cam = _cameras("S1")[0]
    world = camera_to_world(z["S"][0, :, :3] * 1000.0, cam.R_world_to_cam, cam.T_world_mm)
    return world, z["part"][0, :, :2]


def _poses(n: int, seed: int) -> np.ndarray:
    """[n, 17, 3] world mm: the genuine pose walking forward with a little jitter."""
    base, _ = _genuine_world_pose()
    rng = np.random.default_rng(seed)
    steps = np.arange(n)[:, None, None] * np.array([30.0, 10.0, 0.0])
    out = base[None] + steps + rng.normal(scale=2.0, size=(n, 17, 3))
    out[0] = base + (0 if seed == 0 else steps[0])
    return out


def _to32(j17: np.ndarray) -> np.ndarray:
    j32 = np.repeat(j17[:, :1], 32, axis=1).copy()  # unused joints sit on the pelvis
    j32[:, list(H36M32_TO_17)] = j17
    return j32


def _truth() -> dict[tuple[str, str], np.ndarray]:
    return {(s, a): _poses(n, i) for i, (s, a, n) in enumerate(SEQUENCES)}


def _project_all(subject: str, j17: np.ndarray) -> list[np.ndarray]:
    return [project_camera(j17, cam).astype(np.float32) for cam in _cameras(subject)]


def write_npz_pair(folder: Path, extra_2d_frames: int = 2) -> dict:
    truth = _truth()
    pos3d, pos2d = {}, {"S2": {"Walking": [np.zeros((3, 17, 2), np.float32)] * 4}}  # 2D-only subject
    for (s, a), j17 in truth.items():
        pos3d.setdefault(s, {})[a] = (_to32(j17) / 1000.0).astype(np.float32)
        cams = _project_all(s, j17)
        pos2d.setdefault(s, {})[a] = [np.concatenate([c, np.repeat(c[-1:], extra_2d_frames, 0)]) for c in cams]
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / "data_3d_h36m.npz", positions_3d=pos3d)
    meta = {"layout_name": "h36m", "num_joints": 17,
            "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    np.savez_compressed(folder / "data_2d_h36m_cpn_ft_h36m_dbb.npz", positions_2d=pos2d, metadata=meta)
    return truth


def write_labels(path: Path) -> Path:
    """Tiny framewise file in the real key format: one trimmed, one padded, one unmatched key."""
    np.savez(path, **{
        "S1/Directions 1|label11": np.array([7, 7, 9, 9, 10, 10, 10, 10], np.int8),  # 8 > 6 frames
        "S1/Directions 1|label8": np.array([0, 0, 1, 1, 1, 1, 1, 1], np.int8),
        "S1/Walking|label11": np.array([10, 10, 10], np.int8),  # 3 < 5 frames
        "S1/Walking|label8": np.array([1, 1, 1], np.int8),
        "S9/Photo 1|label11": np.array([7, 7, 7, 7], np.int8),
        "S9/Photo 1|label8": np.array([0, 0, 0, 0], np.int8),
        "S9/Discussion#expmap_1|label11": np.array([7], np.int8),
        "S9/Discussion#expmap_1|label8": np.array([0], np.int8),
    })
    return path


def write_baseline(root: Path, with_cameras: bool = True) -> dict:
    """3d-pose-baseline folder: S*/MyPoses/3D_positions/*.h5, S*/StackedHourglass/*.h5, cameras.h5."""
    truth = _truth()
    names = {("S9", "Photo 1"): "TakingPhoto 1"}  # original Human3.6M spelling on disk
    for (s, a), j17 in truth.items():
        d3 = root / s / "MyPoses" / "3D_positions"
        d3.mkdir(parents=True, exist_ok=True)
        stem = names.get((s, a), a)
        flat = _to32(j17).reshape(j17.shape[0], 96)
        with h5py.File(d3 / f"{stem}.h5", "w") as hf:
            hf["3D_positions"] = flat.T  # (96, T), as in the archive
        dsh = root / s / "StackedHourglass"
        dsh.mkdir(parents=True, exist_ok=True)
        for cam_id, uv in zip(CAMERA_IDS, _project_all(s, j17)):
            mpii = np.zeros((uv.shape[0], 16, 2), np.float32)
            for h36m_idx, mpii_idx in enumerate(MPII16_TO_17):
                if mpii_idx is not None:
                    mpii[:, mpii_idx] = uv[:, h36m_idx]
            with h5py.File(dsh / f"{stem.replace(' ', '_')}.{cam_id}.h5", "w") as hf:
                hf["poses"] = mpii
    if with_cameras:
        with h5py.File(root / "cameras.h5", "w") as hf:
            for s in ("S1", "S9"):
                for m, cam in enumerate(_cameras(s), start=1):
                    g = hf.create_group(f"subject{int(s[1:])}/camera{m}")
                    g["R"] = cam.R_world_to_cam.T  # stored transposed
                    g["T"] = cam.T_world_mm.reshape(3, 1)
                    g["f"] = cam.f.reshape(2, 1)
                    g["c"] = cam.c.reshape(2, 1)
                    g["k"] = cam.k.reshape(3, 1)
                    g["p"] = cam.p.reshape(2, 1)
                    g["Name"] = np.array([ord(ch) for ch in cam.name], dtype=np.uint8)
    return truth


@pytest.fixture
def npz_folder(tmp_path):
    truth = write_npz_pair(tmp_path / "vp3d")
    return tmp_path / "vp3d", truth


def _load_quiet(*args, **kwargs):
    with pytest.warns(UserWarning):
        return load_h36m(*args, **kwargs)


def test_npz_pair_loads_every_field(npz_folder, tmp_path):
    folder, truth = npz_folder
    labels = write_labels(tmp_path / "labels.npz")
    with pytest.warns(UserWarning) as record:
        motions = load_h36m(folder, with_framewise_labels=labels)
    messages = " | ".join(str(w.message) for w in record)
    assert "S2" in messages and "not loaded" in messages  # 2D-only subject reported
    assert "S9/WalkDog" in messages and "S9/Discussion#expmap_1" in messages  # unjoined both ways
    by_name = {m.name: m for m in motions}
    assert sorted(by_name) == ["S1/Directions 1", "S1/Walking", "S9/Photo 1", "S9/WalkDog"]
    for (s, a), j17 in truth.items():
        m = by_name[f"{s}/{a}"]
        np.testing.assert_allclose(m.joints3d_world_mm, j17, atol=0.05)  # float32 metres on disk
        assert m.fps == 50 and m.subject == s and m.source == "h36m" and m.kp2d_source == "cpn"
        assert [c.name for c in m.cameras] == list(CAMERA_IDS)
        assert m.meta["split"] == ("train" if s == "S1" else "test")
        assert sorted(m.kp2d_px) == sorted(CAMERA_IDS)
        kp = m.kp2d_px["54138969"]
        assert kp.shape == (j17.shape[0], 17, 3) and kp.dtype == np.float32 and np.all(kp[..., 2] == 1)
        assert m.meta["kp2d_trimmed_frames"] == {c: 2 for c in CAMERA_IDS}
        assert m.joint_valid.all()
    assert by_name["S9/Photo 1"].meta["action"] == "Photo"
    assert by_name["S9/WalkDog"].meta["action"] == "WalkDog"
    # genuine 2D of the first frame (independent source) through the loaded camera
    _, uv = _genuine_world_pose()
    m = by_name["S1/Directions 1"]
    assert np.abs(project_camera(m.joints3d_world_mm[0].astype(np.float64), m.cameras[0]) - uv).max() < 0.05
    assert np.abs(m.kp2d_px["54138969"][0, :, :2] - uv).max() < 0.01


def test_npz_framewise_join_trims_pads_and_reports(npz_folder, tmp_path):
    folder, _ = npz_folder
    motions = {m.name: m for m in _load_quiet(folder, with_framewise_labels=write_labels(tmp_path / "l.npz"))}
    d = motions["S1/Directions 1"]
    assert d.labels == ("standing", "steps", "walking")
    assert d.label_per_frame.tolist() == [0, 0, 1, 1, 2, 2]
    assert d.meta["framewise"] == {"status": "joined", "scheme": "label11", "label_frames": 8, "trimmed": 2, "padded": 0}
    w = motions["S1/Walking"]
    assert w.labels == ("walking",) and w.label_per_frame.tolist() == [0, 0, 0, -1, -1]
    assert motions["S9/WalkDog"].meta["framewise"]["status"] == "no labels"
    assert motions["S9/WalkDog"].label_per_frame.tolist() == [-1, -1, -1]
    eight = {m.name: m for m in _load_quiet(folder, with_framewise_labels=tmp_path / "l.npz", label_scheme="label8")}
    assert eight["S1/Directions 1"].labels == ("standing", "walking")


def test_npz_options_subjects_and_kp2d(npz_folder):
    folder, _ = npz_folder
    ms = load_h36m(folder / "data_3d_h36m.npz", subjects=["S9"], with_framewise_labels=False, kp2d="none")
    assert [m.name for m in ms] == ["S9/Photo 1", "S9/WalkDog"]
    assert all(m.kp2d_px == {} and m.kp2d_source == "" for m in ms)
    ms = _load_quiet(folder, subjects=[1], with_framewise_labels=False, kp2d="cpn")
    assert {m.subject for m in ms} == {"S1"}
    with pytest.raises(ValueError, match="data_2d_h36m_gt.npz"):
        load_h36m(folder, with_framewise_labels=False, kp2d="gt")
    with pytest.raises(ValueError, match="subjects S3 not found"):
        load_h36m(folder, subjects=["S3"], with_framewise_labels=False)


def test_npz_coco_and_mpii_2d_layouts(tmp_path):
    folder = tmp_path / "vp3d"
    write_npz_pair(folder, extra_2d_frames=0)
    pos2d = read_npz_object(folder / "data_2d_h36m_cpn_ft_h36m_dbb.npz", "positions_2d")
    ramp16 = np.arange(16, dtype=np.float32)[None, :, None]
    sh = {s: {a: [np.zeros((len(c), 16, 2), np.float32) + ramp16 for c in cams] for a, cams in acts.items()}
          for s, acts in pos2d.items()}
    np.savez_compressed(folder / "data_2d_h36m_sh_ft_h36m.npz", positions_2d=sh, metadata={"num_joints": 16})
    with pytest.warns(UserWarning):
        ms = load_h36m(folder, with_framewise_labels=False, kp2d="sh")
    kp = ms[0].kp2d_px["54138969"]
    assert ms[0].kp2d_source == "sh"
    assert kp[0, 0, 0] == 6 and kp[0, 10, 0] == 9 and kp[0, 9].tolist() == [0, 0, 0]  # pelvis, head, neck_nose
    ramp17 = np.arange(17, dtype=np.float32)[None, :, None]
    coco = {s: {a: [np.concatenate([np.zeros((len(c), 17, 2), np.float32) + ramp17,
                                    np.full((len(c), 17, 1), 0.9, np.float32)], axis=2) for c in cams]
                for a, cams in acts.items()} for s, acts in pos2d.items()}
    np.savez_compressed(folder / "data_2d_h36m_mydet.npz", positions_2d=coco,
                        metadata={"layout_name": "coco", "num_joints": 17})
    with pytest.warns(UserWarning):
        ms = load_h36m(folder, with_framewise_labels=False, kp2d="mydet")
    kp = ms[0].kp2d_px["58860488"]
    assert ms[0].kp2d_source == "mydet"
    assert kp[0, 0, 0] == 11.5 and kp[0, 1, 0] == 12 and kp[0, 9, 0] == 0  # mid-hips, r_hip, nose
    assert np.allclose(kp[..., 2], 0.9)


def test_baseline_folder_loads_and_matches(tmp_path):
    root = tmp_path / "h36m"
    truth = write_baseline(root)
    ms = {m.name: m for m in load_h36m(root, with_framewise_labels=False)}
    assert sorted(ms) == ["S1/Directions 1", "S1/Walking", "S9/Photo 1", "S9/WalkDog"]
    photo = ms["S9/Photo 1"]
    assert photo.meta["source_name"] == "TakingPhoto 1" and photo.meta["action"] == "Photo"
    for (s, a), j17 in truth.items():
        m = ms[f"{s}/{a}"]
        np.testing.assert_allclose(m.joints3d_world_mm, j17, atol=1e-3)
        assert m.kp2d_source == "sh_pt" and m.meta["layout"] == "3d-pose-baseline"
        for cam, ref in zip(_cameras(s), m.cameras):  # cameras.h5 (R stored transposed) == JSON
            np.testing.assert_allclose(ref.R_world_to_cam, cam.R_world_to_cam, atol=1e-12)
            np.testing.assert_allclose(ref.T_world_mm, cam.T_world_mm)
            assert ref.image_size_wh == cam.image_size_wh
        kp = m.kp2d_px["55011271"]
        proj = project_camera(j17, m.cameras[1])
        others = [j for j in range(17) if j != 9]
        assert np.abs(kp[:, others, :2] - proj[:, others]).max() < 1e-3
        assert np.all(kp[:, 9] == 0) and np.all(kp[:, others, 2] == 1)  # neck_nose: no MPII joint
        assert m.joint_valid.all()  # 3D has all 17 joints
    _, uv = _genuine_world_pose()
    kp = ms["S1/Directions 1"].kp2d_px["54138969"][0]
    assert np.abs(kp[[j for j in range(17) if j != 9], :2] - uv[[j for j in range(17) if j != 9]]).max() < 0.01


def test_baseline_real_framewise_labels_join(tmp_path):
    root = tmp_path / "h36m"
    write_baseline(root)
    with pytest.warns(UserWarning, match="label keys unmatched") as rec:
        ms = {m.name: m for m in load_h36m(root, with_framewise_labels=True)}
    assert "S1/Directions 1" not in str(rec[0].message).split("unmatched:")[-1]
    assert ms["S1/Directions 1"].meta["framewise"]["status"] == "joined"
    assert ms["S1/Directions 1"].labels  # real classes, e.g. ('standing', ...)
    assert "S9/Discussion#expmap_1" in str(rec[0].message)


def test_baseline_missing_cameras_h5(tmp_path):
    root = tmp_path / "h36m"
    write_baseline(root, with_cameras=False)
    with pytest.raises(ValueError, match=r"h36m: missing camera file cameras\.h5") as e:
        load_h36m(root, with_framewise_labels=False)
    assert "\n" not in str(e.value)
    ms = load_h36m(root, with_framewise_labels=False, cameras_json=CAMERAS_JSON)  # explicit calibration
    assert len(ms) == 4


def test_sequence_names_and_actions():
    assert canonical_sequence_name("TakingPhoto_1") == "Photo 1"
    assert canonical_sequence_name("WalkingDog") == "WalkDog"
    assert canonical_sequence_name("WalkTogether 1") == "WalkTogether 1"
    assert base_action("Photo 1") == "Photo" and base_action("WalkingDog 1") == "WalkDog"
    assert base_action("SittingDown 2") == "SittingDown" and base_action("Discussion#expmap_1") == "Discussion"
    with pytest.raises(ValueError, match="not a Human3.6M action"):
        base_action("Dancing 1")


# ------------------------------------------------------------------------------ bad input


def _one_line_error(match: str, fn, *args, **kwargs):
    with pytest.raises(ValueError, match=match) as e:
        fn(*args, **kwargs)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_truncated_npz_and_h5(tmp_path, npz_folder):
    folder, _ = npz_folder
    raw = (folder / "data_3d_h36m.npz").read_bytes()
    (folder / "data_3d_h36m.npz").write_bytes(raw[: len(raw) // 2])
    _one_line_error(r"data_3d_h36m\.npz: not a readable npz", load_h36m, folder, with_framewise_labels=False)
    root = tmp_path / "h36m"
    write_baseline(root)
    f = root / "S1" / "MyPoses" / "3D_positions" / "Walking.h5"
    f.write_bytes(f.read_bytes()[:300])
    _one_line_error(r"Walking\.h5: not a readable HDF5", load_h36m, root, with_framewise_labels=False)


def test_nan_and_wrong_joint_count(tmp_path):
    folder = tmp_path / "vp3d"
    write_npz_pair(folder)
    pos = read_npz_object(folder / "data_3d_h36m.npz", "positions_3d")
    pos["S1"]["Walking"][2, 5, 1] = np.nan
    np.savez_compressed(folder / "data_3d_h36m.npz", positions_3d=pos)
    _one_line_error(r"positions_3d\['S1'\]\['Walking'\].*NaN/inf.*frame 2", load_h36m, folder,
                    with_framewise_labels=False, kp2d="none")
    pos["S1"]["Walking"] = pos["S1"]["Walking"][:, :17]
    np.savez_compressed(folder / "data_3d_h36m.npz", positions_3d=pos)
    _one_line_error(r"positions_3d\['S1'\]\['Walking'\]: has shape \(5, 17, 3\), expected \[T, 32, 3\]",
                    load_h36m, folder, with_framewise_labels=False, kp2d="none")
    root = tmp_path / "h36m"
    write_baseline(root)
    with h5py.File(root / "S9" / "MyPoses" / "3D_positions" / "WalkDog.h5", "w") as hf:
        hf["3D_positions"] = np.zeros((51, 3))
    _one_line_error(r"WalkDog\.h5: dataset '3D_positions' has shape \(51, 3\), expected \(96, T\)",
                    load_h36m, root, with_framewise_labels=False)


def test_units_checked(tmp_path):
    folder = tmp_path / "vp3d"
    write_npz_pair(folder)
    pos = read_npz_object(folder / "data_3d_h36m.npz", "positions_3d")
    pos["S1"]["Walking"] = pos["S1"]["Walking"] * 1000  # millimetres where metres are expected
    np.savez_compressed(folder / "data_3d_h36m.npz", positions_3d=pos)
    _one_line_error("look like millimetres", load_h36m, folder, with_framewise_labels=False, kp2d="none")


def test_non_finite_and_missing_cameras(tmp_path, npz_folder):
    folder, _ = npz_folder
    data = json.loads(CAMERAS_JSON.read_text())
    data["cameras"]["S9/58860488"]["f"][1] = float("nan")
    bad = tmp_path / "cams.json"
    bad.write_text(json.dumps(data))
    _one_line_error(r"cams\.json cameras\['S9/58860488'\].*field f has non-finite", load_h36m, folder,
                    cameras_json=bad, with_framewise_labels=False)
    del data["cameras"]["S9/58860488"]
    bad.write_text(json.dumps(data))
    _one_line_error(r"cams\.json: field cameras has no entry 'S9/58860488'", load_cameras_json, bad, ["S9"])


def test_unknown_folder(tmp_path):
    _one_line_error("no Human3.6M data", load_h36m, tmp_path)
    _one_line_error("not found", load_h36m, tmp_path / "nope")


def test_restricted_unpickler_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": ()})
    pickle.dump(Evil(), buf, protocol=3)
    import zipfile
    with zipfile.ZipFile(tmp_path / "data_3d_h36m.npz", "w") as zf:
        zf.writestr("positions_3d.npy", buf.getvalue())
    _one_line_error(r"refusing to load global builtins\.print", load_h36m, tmp_path, with_framewise_labels=False)


# --------------------------------------------------------------- detections as users have them

def _sh_detections(folder: Path, path: Path) -> dict:
    """A Stacked-Hourglass-like detections npz (MPII-16 order, 2 channels) with real-file defects:
    NaN joints and a whole NaN frame in S1/Walking camera 0, and no detections for S9/WalkDog camera 3."""
    pos2d = read_npz_object(folder / "data_2d_h36m_cpn_ft_h36m_dbb.npz", "positions_2d")
    sh = {}
    for s, acts in pos2d.items():
        for a, cams in acts.items():
            out = []
            for c in cams:
                mpii = np.zeros((len(c), 16, 2), np.float32)
                for h36m_idx, mpii_idx in enumerate(MPII16_TO_17):
                    if mpii_idx is not None:
                        mpii[:, mpii_idx] = c[:, h36m_idx, :2]
                out.append(mpii)
            sh.setdefault(s, {})[a] = out
    sh["S1"]["Walking"][0][1, 0, 0] = np.nan  # MPII r_ankle -> H36M r_ankle (3), frame 1
    sh["S1"]["Walking"][0][2] = np.nan  # the whole of frame 2 missed
    sh["S9"]["WalkDog"][3] = None  # camera 60457274: no detections at all
    np.savez_compressed(path, positions_2d=sh, metadata={"num_joints": 16})
    return sh


def test_kp2d_file_nan_missing_camera_and_absent_nose(npz_folder, tmp_path):
    folder, truth = npz_folder
    det = tmp_path / "elsewhere" / "data_2d_h36m_sh_ft_h36m.npz"
    det.parent.mkdir()
    _sh_detections(folder, det)
    with pytest.warns(UserWarning) as rec:
        ms = {m.name: m for m in load_h36m(folder, with_framewise_labels=False, kp2d=str(det))}
    assert any("no 2D for camera(s) 60457274" in str(w.message) for w in rec)
    walk = ms["S1/Walking"]
    assert walk.kp2d_source == "sh" and walk.meta["kp2d_file"] == det.name
    kp = walk.kp2d_px["54138969"]
    # NaN joint and NaN frame: missing (x = y = score = 0), the rest untouched
    assert kp[1, 3].tolist() == [0, 0, 0] and np.all(kp[2] == 0)
    proj = _project_all("S1", truth[("S1", "Walking")])[0]
    np.testing.assert_allclose(kp[1, 1, :2], proj[1, 1], atol=1e-3)
    assert kp[1, 1, 2] == 1
    assert walk.meta["kp2d_nan_joints"] == {"54138969": 1 + 16}
    # the nose (no MPII joint) has the same encoding as a missed joint in every frame and camera
    for m in ms.values():
        for cam_kp in m.kp2d_px.values():
            assert np.all(cam_kp[:, 9] == 0)
    # 5 frames x 4 cameras of nose + 1 NaN joint + 17 joints of the NaN frame
    assert sum(walk.meta["kp2d_missing_joints"].values()) == 5 * 4 + 1 + 16
    dog = ms["S9/WalkDog"]
    assert dog.meta["kp2d_missing_cameras"] == ["60457274"] and "60457274" not in dog.kp2d_px


def test_prepare_h36m_summary_and_meta_record_2d_defects(npz_folder, tmp_path):
    from actionpose.cli import main
    from actionpose.data.cache import load_motions, read_info
    folder, _ = npz_folder
    det = tmp_path / "my_detector.npz"
    _sh_detections(folder, det)
    out = tmp_path / "prepared"
    rc = main(["prepare", "h36m", "--source", str(folder), "--out", str(out), "--kp2d", str(det),
               "--split", "test", "--labels", "none", "--no-progress"])
    assert rc == 0
    info = read_info(out)
    ms, _ = load_motions(out)
    assert sorted(m.name for m in ms) == ["S9/Photo 1", "S9/WalkDog"]  # --split test: S9 only
    assert info["kp2d_sources"] == {"my_detector (my_detector.npz)": 2}
    assert info["cameras_without_2d"] == ["S9/WalkDog: 60457274"]
    assert any("no 2D for camera(s) 60457274" in i for i in info["issues"])  # warnings kept in meta.json
    assert info["loader_args"]["split"] == "test"


def test_prepare_h36m_cli_prints_2d_source_and_warnings(npz_folder, tmp_path, capsys):
    from actionpose.cli import main
    folder, _ = npz_folder
    det = tmp_path / "data_2d_h36m_sh_ft_h36m.npz"
    _sh_detections(folder, det)
    assert main(["prepare", "h36m", "--source", str(folder), "--out", str(tmp_path / "p"), "--kp2d", str(det),
                 "--cameras", str(CAMERAS_JSON), "--labels", "none", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "2D source: sh (data_2d_h36m_sh_ft_h36m.npz) (4 clips)" in text
    assert "(17 NaN detections)" in text
    assert "WARNING cameras without 2D detections (1 clips" in text and "S9/WalkDog: 60457274" in text
    assert main(["prepare", "bandai", "--source", str(folder), "--out", str(tmp_path / "q"), "--kp2d", "x"]) == 2
    assert "--kp2d do not apply" in capsys.readouterr().err


def test_split_selects_subjects(npz_folder):
    folder, _ = npz_folder
    ms = load_h36m(folder, with_framewise_labels=False, kp2d="none", split="train")
    assert {m.subject for m in ms} == {"S1"}
    ms = load_h36m(folder, with_framewise_labels=False, kp2d="none", split="test", subjects=["S1", "S9"])
    assert {m.subject for m in ms} == {"S9"}
    _one_line_error("unknown split 'dev'", load_h36m, folder, split="dev")


def test_missing_joint_enters_the_model_masked(npz_folder, tmp_path):
    """SH has no nose: the lifter input for joint 9 must be (0, 0, 0), exactly like a synthetic invalid
    joint, and never the normalised image corner (-1, -H/W) that pixel (0, 0) maps to."""
    from actionpose.data.dataset import make_sample
    from actionpose.data.synthesis import View
    folder, _ = npz_folder
    det = tmp_path / "data_2d_h36m_sh_ft_h36m.npz"
    _sh_detections(folder, det)
    with pytest.warns(UserWarning):
        m = next(m for m in load_h36m(folder, with_framewise_labels=False, kp2d=str(det)) if m.name == "S1/Walking")
    x2d = make_sample(m, View(m.cameras[0]), "54138969").x2d
    assert np.all(x2d[:, 9] == 0)  # absent joint
    assert np.all(x2d[2] == 0)  # the frame with no detection at all
    assert x2d[1, 3].tolist() == [0, 0, 0]  # NaN joint
    assert np.all(x2d[0, [0, 1, 2, 10], 2] == 1)
