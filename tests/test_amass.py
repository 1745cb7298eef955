"""AMASS preparation (issue 24) on fixtures the tests write: a tiny SMPL-H body model with the real
file's keys, shapes and kinematic tree (2 vertices per joint), and sequences in both AMASS forms.
Joint positions are checked against forward kinematics and skinning written out here by hand."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from actionpose.data import amass as A
from actionpose.data.bvh import resample_positions
from actionpose.data.cache import load_motions

pytest.importorskip("smplx")

N_BETAS = 16


# ------------------------------------------------------------------------------------ fixtures

def body_model_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """SMPL-H npz content (keys and shapes as AMASS's model.npz, V = 104): vertices 2j and 2j+1
    straddle joint j, so the joint regressor (0.5, 0.5) puts the rest joint between them."""
    rng = np.random.default_rng(seed)
    J = np.zeros((52, 3))
    for j in range(1, 52):
        J[j] = J[A.SMPLH_PARENTS[j]] + rng.normal(0, 0.1, 3)
    d = rng.normal(0, 0.02, (52, 3))
    v = np.empty((104, 3))
    v[0::2], v[1::2] = J + d, J - d
    reg = np.zeros((52, 104))
    w = np.zeros((104, 52))
    for j in range(52):
        reg[j, 2 * j] = reg[j, 2 * j + 1] = 0.5
        w[2 * j, j] = 1.0
        p = max(A.SMPLH_PARENTS[j], 0)
        w[2 * j + 1, j] += 0.6
        w[2 * j + 1, p] += 0.4
    kin = np.stack([np.array([4294967295] + list(A.SMPLH_PARENTS[1:]), dtype=np.int64), np.arange(52)])
    return {"v_template": v, "shapedirs": rng.normal(0, 0.01, (104, 3, N_BETAS)),
            "posedirs": rng.normal(0, 0.002, (104, 3, 459)), "J_regressor": reg, "weights": w,
            "kintree_table": kin, "f": np.array([[0, 1, 2], [2, 3, 4]], dtype=np.int64),
            "hands_componentsl": np.eye(45), "hands_componentsr": np.eye(45),
            "hands_meanl": np.zeros(45), "hands_meanr": np.zeros(45),
            "bs_style": np.array("lbs"), "bs_type": np.array("lrotmin")}


def write_body_models(folder: Path) -> dict[str, dict]:
    out = {}
    for seed, gender in enumerate(("male", "female", "neutral")):
        (folder / gender).mkdir(parents=True, exist_ok=True)
        out[gender] = body_model_arrays(seed)
        np.savez(folder / gender / "model.npz", **out[gender])
    return out


def write_sequence(path: Path, form: str, poses, trans, betas, gender: str, fps: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if form == "poses":
        np.savez(path, poses=poses, trans=trans, betas=betas, gender=np.array(gender),
                 mocap_framerate=np.array(fps), dmpls=np.zeros((len(poses), 8)))
    else:
        np.savez(path, root_orient=poses[:, :3], pose_body=poses[:, 3:66], pose_hand=poses[:, 66:],
                 poses=poses, trans=trans, betas=betas, gender=np.array(gender), num_betas=np.array(16),
                 mocap_frame_rate=np.array(fps), mocap_time_length=np.array(len(poses) / fps),
                 surface_model_type=np.array("smplh"))


def expected_joints_and_vertices(m: dict, poses, trans, betas):
    """SMPL-H by hand: shape blend, rest joints, pose blend, forward kinematics, linear blend skinning."""
    T = poses.shape[0]
    v_shaped = m["v_template"] + m["shapedirs"] @ betas
    J = m["J_regressor"] @ v_shaped
    R = Rotation.from_rotvec(poses.reshape(-1, 3)).as_matrix().reshape(T, 52, 3, 3)
    feat = (R[:, 1:] - np.eye(3)).reshape(T, -1)
    v_posed = v_shaped[None] + np.einsum("vcp,tp->tvc", m["posedirs"], feat)
    joints = np.zeros((T, 52, 3))
    verts = np.zeros((T, 104, 3))
    for t in range(T):
        G = [None] * 52
        for j in range(52):
            p = A.SMPLH_PARENTS[j]
            local = np.eye(4)
            local[:3, :3] = R[t, j]
            local[:3, 3] = J[j] - (J[p] if p >= 0 else 0)
            G[j] = local if p < 0 else G[p] @ local
            joints[t, j] = G[j][:3, 3]
        for v in range(104):
            x = np.zeros(3)
            for j in np.flatnonzero(m["weights"][v]):
                x += m["weights"][v, j] * (G[j][:3, :3] @ (v_posed[t, v] - J[j]) + G[j][:3, 3])
            verts[t, v] = x
    return joints + trans[:, None], verts + trans[:, None]


def random_motion(T: int, seed: int, scale: float = 0.4):
    rng = np.random.default_rng(seed)
    base, vel = rng.normal(0, scale, 156), rng.normal(0, 0.05, 156)
    poses = base[None] + np.arange(T)[:, None] * vel[None]
    trans = np.cumsum(rng.normal(0, 0.01, (T, 3)), axis=0) + np.array([0.2, -0.1, 0.9])
    return poses, trans, rng.normal(0, 1.0, N_BETAS)


# ------------------------------------------------------------------------------------ unit tests

@pytest.fixture(scope="module")
def model():
    arrays = body_model_arrays(0)
    m, nb = A.make_body_model(arrays)
    return arrays, m, nb


def test_all_16_betas_act(model):
    arrays, m, nb = model
    assert nb == N_BETAS  # smplx alone would keep 10 of a 16-beta model's betas
    poses = np.zeros((2, 156))
    trans = np.zeros((2, 3))
    betas = np.zeros(N_BETAS)
    betas[13] = 3.0
    seq = A.AmassSequence(poses, trans, betas, "male", 30.0, "poses")
    got = A.sequence_to_h36m17_mm(seq, m, nb)
    v_shaped = arrays["v_template"] + arrays["shapedirs"] @ betas
    J = arrays["J_regressor"] @ v_shaped
    np.testing.assert_allclose(got[0], A.h36m_from_smplh_joints(J[None])[0] * 1000, atol=1e-6)


def test_zero_pose_and_root_turn_by_hand(model):
    """Zero pose: the rest joints + trans. A 90-degree turn of the root about z: every joint turns about
    the pelvis (x -> y), then moves by trans. No forward kinematics needed to state either."""
    arrays, m, nb = model
    betas = np.linspace(-1, 1, N_BETAS)
    J = arrays["J_regressor"] @ (arrays["v_template"] + arrays["shapedirs"] @ betas)
    trans = np.array([[0.5, 0.25, 1.0], [0.5, 0.25, 1.0]])
    poses = np.zeros((2, 156))
    poses[1, 2] = np.pi / 2
    seq = A.AmassSequence(poses, trans, betas, "male", 30.0, "poses")
    got = A.sequence_to_h36m17_mm(seq, m, nb)
    rest = J + trans[0]
    Rz = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    turned = (J - J[0]) @ Rz.T + J[0] + trans[1]
    np.testing.assert_allclose(got[0], A.h36m_from_smplh_joints(rest[None])[0] * 1000, atol=1e-5)
    np.testing.assert_allclose(got[1], A.h36m_from_smplh_joints(turned[None])[0] * 1000, atol=1e-5)
    # The mapping itself, joint by joint (Human3.6M r_knee is SMPL-H right_knee = 5; head top estimated).
    np.testing.assert_allclose(got[0, 2], rest[5] * 1000, atol=1e-5)
    np.testing.assert_allclose(got[0, 10], (2 * rest[15] - rest[12]) * 1000, atol=1e-5)


def test_knee_bend_moves_only_the_shin(model):
    arrays, m, nb = model
    betas = np.zeros(N_BETAS)
    J = arrays["J_regressor"] @ arrays["v_template"]
    poses = np.zeros((2, 156))
    poses[1, 3 * 5:3 * 5 + 3] = [np.pi / 3, 0, 0]  # right knee (SMPL-H joint 5) about x
    got = A.sequence_to_h36m17_mm(A.AmassSequence(poses, np.zeros((2, 3)), betas, "male", 30.0, "poses"), m, nb)
    Rx = Rotation.from_rotvec([np.pi / 3, 0, 0]).as_matrix()
    ankle = Rx @ (J[8] - J[5]) + J[5]
    np.testing.assert_allclose(got[1, 3], ankle * 1000, atol=1e-5)  # r_ankle turned about the knee
    np.testing.assert_allclose(got[1, [0, 1, 2, 4, 5, 6, 11, 14]], got[0, [0, 1, 2, 4, 5, 6, 11, 14]], atol=1e-6)


def test_random_poses_match_hand_fk_and_regressor_on_skinned_vertices(model):
    arrays, m, nb = model
    poses, trans, betas = random_motion(4, seed=3)
    seq = A.AmassSequence(poses, trans, betas, "male", 30.0, "poses")
    j52, verts = expected_joints_and_vertices(arrays, poses, trans, betas)
    np.testing.assert_allclose(A.sequence_to_h36m17_mm(seq, m, nb), A.h36m_from_smplh_joints(j52) * 1000,
                               atol=1e-4)
    reg = np.random.default_rng(9).random((17, 104))
    reg /= reg.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(A.sequence_to_h36m17_mm(seq, m, nb, reg), np.einsum("jv,tvc->tjc", reg, verts) * 1000,
                               atol=1e-4)


@pytest.mark.parametrize("fps_out", [30.0, 50.0, 24.0])
def test_resampling_matches_the_project_grid(model, fps_out):
    arrays, m, nb = model
    poses, trans, betas = random_motion(13, seed=4)
    seq = A.AmassSequence(poses, trans, betas, "female", 60.0, "poses")
    full = A.sequence_to_h36m17_mm(seq, m, nb).astype(np.float64)
    got = A.sequence_to_h36m17_mm(seq, m, nb, fps=fps_out)
    np.testing.assert_allclose(got, resample_positions(full, 60.0, fps_out), atol=1e-3)


def test_both_npz_forms_read_the_same(tmp_path):
    poses, trans, betas = random_motion(5, seed=1)
    write_sequence(tmp_path / "a.npz", "poses", poses, trans, betas, "female", 120.0)
    write_sequence(tmp_path / "b.npz", "smplh_g", poses, trans, betas, "female", 120.0)
    a, b = A.read_sequence(tmp_path / "a.npz"), A.read_sequence(tmp_path / "b.npz")
    assert (a.form, b.form) == ("poses", "smplh_g") and a.fps == b.fps == 120.0 and a.gender == "female"
    np.testing.assert_array_equal(a.poses, b.poses)
    np.savez(tmp_path / "shape.npz", betas=betas, gender=np.array("male"))
    assert A.read_sequence(tmp_path / "shape.npz").startswith("shape file")


def test_bad_inputs_are_one_line_errors(tmp_path):
    def fails(match, fn, *args):
        with pytest.raises(ValueError, match=match) as e:
            fn(*args)
        assert "\n" not in str(e.value)
    poses, trans, betas = random_motion(5, seed=1)
    np.savez(tmp_path / "p.npz", poses=poses[:, :72], trans=trans, betas=betas, gender=np.array("male"),
             mocap_framerate=np.array(60.0))
    fails(r"p\.npz: field poses has shape \(5, 72\), expected \[T, 156\]", A.read_sequence, tmp_path / "p.npz")
    np.savez(tmp_path / "t.npz", poses=poses, trans=trans[:4], betas=betas, gender=np.array("male"),
             mocap_framerate=np.array(60.0))
    fails(r"t\.npz: field trans has shape", A.read_sequence, tmp_path / "t.npz")
    np.savez(tmp_path / "g.npz", poses=poses, trans=trans, betas=betas, gender=np.array("other"),
             mocap_framerate=np.array(60.0))
    fails(r"g\.npz: field gender = 'other'", A.read_sequence, tmp_path / "g.npz")
    np.savez(tmp_path / "x.npz", root_orient=poses[:, :3], pose_body=poses[:, 3:66], trans=trans, betas=betas,
             gender=np.array("male"), mocap_frame_rate=np.array(60.0), surface_model_type=np.array("smplx"))
    fails(r"x\.npz: field surface_model_type = 'smplx'", A.read_sequence, tmp_path / "x.npz")
    (tmp_path / "bm").mkdir()
    (tmp_path / "bm" / "SMPLH_MALE.pkl").write_bytes(b"\x80\x04")
    fails(r"no SMPL-H model for gender 'male'.*pickles are never loaded", A.find_body_model, tmp_path / "bm", "male")
    arrays = body_model_arrays(0)
    arrays["kintree_table"] = arrays["kintree_table"][:, ::-1].copy()
    np.savez(tmp_path / "bad_model.npz", **arrays)
    fails(r"bad_model\.npz: field kintree_table", A.load_body_model_arrays, tmp_path / "bad_model.npz")
    np.save(tmp_path / "reg.npy", np.zeros((16, 104)))
    fails(r"reg\.npy: joint regressor has shape \(16, 104\), expected \[17, 104\]", A.load_joint_regressor,
          tmp_path / "reg.npy", 104)


# ------------------------------------------------------------------------------------ through the CLI

def write_amass_tree(root: Path) -> dict:
    """AMASS_DIR with one take per form, a subject's shape.npz and the body models; returns the truth."""
    p1, t1, b1 = random_motion(9, seed=11)
    p2, t2, b2 = random_motion(7, seed=12)
    write_sequence(root / "amass" / "CMU" / "01" / "01_01_poses.npz", "poses", p1, t1, b1, "male", 60.0)
    write_sequence(root / "amass" / "BMLrub" / "rub001" / "0001_treadmill_norm_poses.npz", "smplh_g",
                   p2, t2, b2, "female", 30.0)
    np.savez(root / "amass" / "CMU" / "01" / "shape.npz", betas=b1, gender=np.array("male"))
    models = write_body_models(root / "smplh")
    return {"CMU/01/01_01_poses": (models["male"], p1, t1, b1, 60.0),
            "BMLrub/rub001/0001_treadmill_norm_poses": (models["female"], p2, t2, b2, 30.0)}


@pytest.mark.parametrize("workers", [1, 2])
def test_prepare_amass_cli_exact_joints(tmp_path, capsys, workers):
    from actionpose.cli import main
    truth = write_amass_tree(tmp_path)
    rc = main(["prepare", "amass", "--source", str(tmp_path / "amass"), "--body-model", str(tmp_path / "smplh"),
               "--out", str(tmp_path / "out"), "--fps", "30", "--workers", str(workers), "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "converted 2, skipped 1 shape file" in out and "head top estimated" in out
    assert "forms: poses 1, smplh_g 1" in out
    motions, info = load_motions(tmp_path / "out")
    assert info["source"] == "amass" and info["fps"] == 30.0
    assert sorted(m.name for m in motions) == sorted(truth)
    for m in motions:
        arrays, p, t, b, fps = truth[m.name]
        j52, _ = expected_joints_and_vertices(arrays, p, t, b)
        want = resample_positions(A.h36m_from_smplh_joints(j52) * 1000, fps, 30.0)
        np.testing.assert_allclose(m.joints3d_world_mm, want, atol=1e-3)
        assert m.meta["joints_from"] == "smplh_joint_map" and m.meta["estimated_joints"] == ["head"]
    assert json.loads((tmp_path / "out" / "meta.json").read_text())["info"]["amass"]["skipped"] == {
        "shape file (betas only, no motion)": 1}


def test_prepare_amass_with_the_h36m_regressor(tmp_path, capsys):
    from actionpose.cli import main
    truth = write_amass_tree(tmp_path)
    reg = np.random.default_rng(5).random((17, 104))
    reg /= reg.sum(axis=1, keepdims=True)
    np.save(tmp_path / "J_regressor_h36m.npy", reg)
    rc = main(["prepare", "amass", "--source", str(tmp_path / "amass"), "--body-model", str(tmp_path / "smplh"),
               "--joint-regressor", str(tmp_path / "J_regressor_h36m.npy"), "--out", str(tmp_path / "out"),
               "--fps", "60", "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "H36M joint regressor on the mesh vertices" in out
    motions, _ = load_motions(tmp_path / "out")
    m = next(m for m in motions if m.name == "CMU/01/01_01_poses")
    arrays, p, t, b, _ = truth[m.name]
    _, verts = expected_joints_and_vertices(arrays, p, t, b)
    np.testing.assert_allclose(m.joints3d_world_mm, np.einsum("jv,tvc->tjc", reg, verts) * 1000, atol=1e-3)
    assert m.meta["estimated_joints"] == []
    # The 30 fps take is upsampled to 60 on the same linear grid.
    m2 = next(m for m in motions if m.name.startswith("BMLrub"))
    assert m2.num_frames == 13 and m2.fps == 60.0


def test_prepare_amass_missing_body_model_is_one_line(tmp_path, capsys):
    from actionpose.cli import main
    write_amass_tree(tmp_path)
    rc = main(["prepare", "amass", "--source", str(tmp_path / "amass"), "--body-model", str(tmp_path / "nope"),
               "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "--body-model" in err and err.count("\n") == 1
    rc = main(["prepare", "amass", "--source", str(tmp_path / "amass"), "--out", str(tmp_path / "out2"),
               "--no-progress"])
    assert rc == 2 and "--body-model" in capsys.readouterr().err
