"""BVH parsing, forward kinematics, H36M-17 mapping and resampling on tiny files written here."""
from __future__ import annotations

import numpy as np
import pytest

from actionpose.data.bvh import (
    Y_UP_TO_Z_UP,
    bvh_to_h36m17,
    euler_to_matrix,
    forward_kinematics,
    frame_time_to_fps,
    map_to_h36m17,
    parse_bvh,
    read_bvh,
    resample_positions,
    to_world_mm,
)
from actionpose.skeleton import H36M17_NAMES


def chain_bvh(frames: list[list[float]], root_channels: str = "Xposition Yposition Zposition Zrotation Xrotation Yrotation",
              child_channels: str = "Zrotation Xrotation Yrotation", child_offset=(10, 0, 0),
              frame_time: str = "0.0333333", n_frames: int | None = None) -> str:
    """A root A and its child B (plus an End Site) with the given per-frame channel values."""
    rc, cc = root_channels.split(), child_channels.split()
    lines = [
        "HIERARCHY", "ROOT A", "{", "  OFFSET 0 0 0", f"  CHANNELS {len(rc)} {' '.join(rc)}",
        "  JOINT B", "  {", f"    OFFSET {' '.join(str(v) for v in child_offset)}", f"    CHANNELS {len(cc)} {' '.join(cc)}",
        "    End Site", "    {", "      OFFSET 5 0 0", "    }", "  }", "}",
        "MOTION", f"Frames: {len(frames) if n_frames is None else n_frames}", f"Frame Time: {frame_time}",
    ]
    lines += [" ".join(str(v) for v in f) for f in frames]
    return "\n".join(lines) + "\n"


def fk(text: str) -> np.ndarray:
    pos, _ = forward_kinematics(parse_bvh(text, "test.bvh"))
    return pos


# ---------------------------------------------------------------------------------------- FK

def test_two_joint_chain_rotated_90_about_z():
    pos = fk(chain_bvh([[1, 2, 3, 90, 0, 0, 0, 0, 0]]))
    np.testing.assert_allclose(pos[0, 0], [1, 2, 3], atol=1e-9)
    np.testing.assert_allclose(pos[0, 1], [1, 12, 3], atol=1e-6)  # (10,0,0) turned onto +y


def test_channel_order_is_respected():
    frame = [[0, 0, 0, 90, 90, 0]]
    zx = fk(chain_bvh(frame, root_channels="Xposition Yposition Zposition Zrotation Xrotation", child_channels="Zrotation"))
    xz = fk(chain_bvh(frame, root_channels="Xposition Yposition Zposition Xrotation Zrotation", child_channels="Zrotation"))
    # Rz @ Rx @ (10,0,0) = Rz @ (10,0,0) = (0,10,0)
    np.testing.assert_allclose(zx[0, 1], [0, 10, 0], atol=1e-6)
    # Rx @ Rz @ (10,0,0) = Rx @ (0,10,0) = (0,0,10)
    np.testing.assert_allclose(xz[0, 1], [0, 0, 10], atol=1e-6)


def test_child_rotation_composes_with_parent():
    # Root turns 90 about z, B a further 90: B's position depends on the root only, its rotation on both.
    pos, rot = forward_kinematics(parse_bvh(chain_bvh([[0, 0, 0, 90, 0, 0, 90, 0, 0]]), "t"))
    np.testing.assert_allclose(pos[0, 1], [0, 10, 0], atol=1e-6)
    np.testing.assert_allclose(rot[0, 1], euler_to_matrix(np.array([[180.0]]), "z")[0], atol=1e-9)


def test_position_channels_replace_offset():
    text = chain_bvh([[0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 0]],
                     child_channels="Xposition Yposition Zposition Zrotation Xrotation Yrotation")
    np.testing.assert_allclose(fk(text)[0, 1], [0, 20, 0], atol=1e-9)


def test_partial_position_channels_keep_other_offset_components():
    text = chain_bvh([[0, 0, 0, 0, 0, 0, 7]], child_channels="Yposition", child_offset=(10, 1, 2))
    np.testing.assert_allclose(fk(text)[0, 1], [10, 7, 2], atol=1e-9)


def test_euler_matrices_are_rotations_and_follow_order():
    rng = np.random.default_rng(0)
    ang = rng.uniform(-180, 180, size=(50, 3))
    R = euler_to_matrix(ang, "zxy")
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    manual = euler_to_matrix(ang[:, :1], "z") @ euler_to_matrix(ang[:, 1:2], "x") @ euler_to_matrix(ang[:, 2:], "y")
    np.testing.assert_allclose(R, manual, atol=1e-12)


def test_y_up_to_z_up_is_a_proper_rotation_and_scales_to_mm():
    assert np.isclose(np.linalg.det(Y_UP_TO_Z_UP), 1.0)
    np.testing.assert_allclose(to_world_mm(np.array([1.0, 2.0, 3.0]), 10.0, "y"), [10, -30, 20])
    np.testing.assert_allclose(to_world_mm(np.array([1.0, 2.0, 3.0]), 1.0, "z"), [1, 2, 3])
    with pytest.raises(ValueError, match="up_axis"):
        to_world_mm(np.zeros(3), 1.0, "w")


# ------------------------------------------------------------------------------- H36M mapping

def star_bvh(n_frames: int = 3) -> str:
    """17 joints named as H36M-17, all children of the pelvis, each with a distinct offset."""
    lines = ["HIERARCHY", "ROOT pelvis", "{", "  OFFSET 0 0 0", "  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation"]
    for k, name in enumerate(H36M17_NAMES[1:], start=1):
        lines += [f"  JOINT {name}", "  {", f"    OFFSET {k} {2 * k} {-k}", "    CHANNELS 3 Zrotation Xrotation Yrotation",
                  "  }"]
    lines += ["}", "MOTION", f"Frames: {n_frames}", "Frame Time: 0.02"]
    n_ch = 6 + 3 * 16
    lines += [" ".join(["0"] * n_ch) for _ in range(n_frames)]
    return "\n".join(lines) + "\n"


def test_user_mapping_identity_and_units():
    clip = parse_bvh(star_bvh(), "star.bvh")
    joints, valid, fps = bvh_to_h36m17(clip, mapping={n: n for n in H36M17_NAMES}, unit_to_mm=10.0, up_axis="y")
    assert joints.shape == (3, 17, 3) and joints.dtype == np.float32 and valid.all() and fps == 50.0
    k = np.arange(17)
    # offsets (k, 2k, -k) in y-up cm -> (x, -z, y) = (k, k, 2k), x 10 for mm
    expect = np.stack([k, k, 2 * k], axis=-1) * 10.0
    np.testing.assert_allclose(joints[0], expect, atol=1e-5)


def test_virtual_end_site_and_missing_joint():
    clip = parse_bvh(chain_bvh([[0, 0, 0, 90, 0, 0, 0, 0, 0]]), "chain.bvh")
    pos, rot = forward_kinematics(clip)
    mapping = {"pelvis": "A", "r_hip": ("B", 2.0)}
    joints, valid = map_to_h36m17(pos, rot, clip.skeleton, mapping, where="chain.bvh")
    np.testing.assert_allclose(joints[0, 1], [0, 30, 0], atol=1e-6)  # B at (0,10,0) + 2 x (0,10,0)
    assert valid[0] and valid[1] and not valid[2:].any()
    assert np.isnan(joints[0, 2]).all()


def test_unknown_joint_in_mapping_names_file_and_joint():
    clip = parse_bvh(chain_bvh([[0] * 9]), "chain.bvh")
    pos, rot = forward_kinematics(clip)
    with pytest.raises(ValueError, match=r"chain\.bvh.*'Hips'"):
        map_to_h36m17(pos, rot, clip.skeleton, {"pelvis": "Hips"}, where="chain.bvh")
    with pytest.raises(ValueError, match="unknown Human3.6M joint name"):
        map_to_h36m17(pos, rot, clip.skeleton, {"hipz": "A"}, where="chain.bvh")
    with pytest.raises(ValueError, match="unknown BVH preset"):
        map_to_h36m17(pos, rot, clip.skeleton, "nope", where="chain.bvh")
    with pytest.raises(ValueError, match="pelvis"):
        map_to_h36m17(pos, rot, clip.skeleton, {"pelvis": 3}, where="chain.bvh")


# ----------------------------------------------------------------------------------- bad input

GOOD = [[0, 0, 0, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0, 0]]


@pytest.mark.parametrize("mutate, pattern", [
    (lambda t: t.replace("1 0 0 0 0 0 0 0 0\n", "1 0 0 0 0 0 0 0\n"), r"frame 1 \(line 20\) has 8 values, expected 9"),
    (lambda t: t.replace("1 0 0 0 0 0 0 0 0\n", "1 0 0 0 0 0 0 0 0 0\n"), r"frame 1 \(line 20\) has 10 values"),
    (lambda t: t[:-6], r"truncated"),
    (lambda t: t.replace("Frames: 2", "Frames: 3"), r"truncated: Frames = 3 but only 2"),
    (lambda t: t.replace("Frames: 2", "Frames: 1"), r"Frames = 1 but the MOTION section has 2"),
    (lambda t: t.replace("1 0 0 0 0 0 0 0 0\n", "nan 0 0 0 0 0 0 0 0\n"), r"frame 1 \(line 20\) has NaN/inf"),
    (lambda t: t.replace("1 0 0 0 0 0 0 0 0\n", "inf 0 0 0 0 0 0 0 0\n"), r"NaN/inf"),
    (lambda t: t.replace("1 0 0 0 0 0 0 0 0\n", "x 0 0 0 0 0 0 0 0\n"), r"non-number"),
    (lambda t: t.split("MOTION")[0], r"no MOTION section"),
    (lambda t: t.split("MOTION")[0][:40], r"no MOTION section"),
    (lambda t: t.replace("Zrotation Xrotation Yrotation\n    End", "Zrotation Wrotation Yrotation\n    End"), r"unknown channel 'Wrotation'"),
    (lambda t: t.replace("OFFSET 10 0 0", "OFFSET 10 zero 0"), r"line 8: OFFSET expects a number"),
    (lambda t: t.replace("OFFSET 10 0 0", "OFFSET 10 nan 0"), r"OFFSET is nan"),
    (lambda t: t.replace("Frame Time: 0.0333333", "Frame Time: 0"), r"Frame Time = 0.0"),
    (lambda t: t.replace("Frame Time: 0.0333333", ""), r"expected 'Frames: N' and 'Frame Time: dt'"),
    (lambda t: t.replace("0 0 0 0 0 0 0 0 0\n1", "0 0 0 0 0 0 0 0 0\n\n1"), r"line 20: blank line inside"),
    (lambda t: t.replace("JOINT B", "JOINT A"), r"joint name 'A' appears twice"),
    (lambda t: t.replace("  }\n}", "  }\n"), r"HIERARCHY ends early"),
])
def test_bad_bvh_raises_one_line_error_naming_file(mutate, pattern):
    text = mutate(chain_bvh(GOOD))
    with pytest.raises(ValueError, match=pattern) as e:
        parse_bvh(text, "bad.bvh")
    msg = str(e.value)
    assert msg.startswith("bad.bvh") and "\n" not in msg


def test_good_file_parses_with_trailing_blank_lines_and_crlf(tmp_path):
    text = chain_bvh(GOOD).replace("\n", "\r\n") + "\r\n\r\n"
    path = tmp_path / "crlf.bvh"
    path.write_bytes(text.encode())
    clip = read_bvh(path)
    assert clip.num_frames == 2 and clip.motion.shape == (2, 9) and clip.where == str(path)
    with pytest.raises(ValueError, match="cannot read"):
        read_bvh(tmp_path / "missing.bvh")


def test_zero_frames_parse():
    clip = parse_bvh(chain_bvh([], n_frames=0), "empty.bvh")
    assert clip.motion.shape == (0, 9)


# ------------------------------------------------------------------------------------ timing

def test_frame_time_snaps_to_integer_fps():
    assert frame_time_to_fps(0.0333333) == 30.0
    assert frame_time_to_fps(0.008333) == 120.0
    assert frame_time_to_fps(0.03) == pytest.approx(33.3333333)


def test_resample_linear_ramp():
    x = np.arange(31, dtype=np.float32).reshape(31, 1, 1) * np.ones((1, 2, 3), np.float32)
    down = resample_positions(x, 30, 15)
    assert down.shape == (16, 2, 3) and down.dtype == np.float32
    np.testing.assert_allclose(down[:, 0, 0], np.arange(0, 31, 2))
    up = resample_positions(x, 30, 60)
    assert up.shape == (61, 2, 3)
    np.testing.assert_allclose(up[:, 1, 2], np.arange(61) / 2)
    odd = resample_positions(x, 30, 25)  # times 0, 1.2, 2.4, ... frames
    np.testing.assert_allclose(odd[:, 0, 0], np.arange(odd.shape[0]) * 1.2, atol=1e-5)
    assert odd.shape[0] == 26
    with pytest.raises(ValueError, match="fps"):
        resample_positions(x, 30, 0)


def test_bvh_to_h36m17_resamples():
    clip = parse_bvh(star_bvh(n_frames=11), "star.bvh")  # 50 fps
    joints, _, fps = bvh_to_h36m17(clip, mapping={n: n for n in H36M17_NAMES}, fps=25)
    assert fps == 25.0 and joints.shape[0] == 6


# ------------------------------------------------------------------- prepare bvh (one's own mocap)

def _own_mocap(tmp_path):
    """Two clips with a studio's own joint names (`mocap_<h36m name>`), z-up metres, no nose joint."""
    from pathlib import Path
    folder = Path(tmp_path) / "mocap"
    (folder / "day1").mkdir(parents=True)
    text = star_bvh(5)
    for name in H36M17_NAMES:
        text = text.replace(f" {name}\n", f" mocap_{name}\n")
    (folder / "day1" / "jump.bvh").write_text(text)
    (folder / "wave.bvh").write_text(text)
    joint_map = {"joints": {n: f"mocap_{n}" for n in H36M17_NAMES}, "unit_to_mm": 1000.0, "up_axis": "z"}
    joint_map["joints"]["neck_nose"] = None
    import json
    (folder.parent / "map.json").write_text(json.dumps(joint_map))
    (folder.parent / "labels.csv").write_text("file,label,split\nday1/jump.bvh,jumping jacks,train\n"
                                              "wave,waving with the right hand,val\nmissing.bvh,x,\n")
    return folder


def test_prepare_bvh_with_joint_map_labels_and_archive(tmp_path, capsys):
    import tarfile

    from actionpose.cli import main
    from actionpose.data.cache import load_motions, read_info
    folder = _own_mocap(tmp_path)
    archive = tmp_path / "mocap.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=".")
    k = np.arange(17)
    for source in (folder, archive):
        out = tmp_path / f"prepared-{source.name}"
        assert main(["prepare", "bvh", "--source", str(source), "--out", str(out), "--joint-map",
                     str(tmp_path / "map.json"), "--labels", str(tmp_path / "labels.csv"), "--no-progress"]) == 0
        ms = {m.name.split("/")[-1]: m for m in load_motions(out)[0]}
        assert sorted(ms) == ["jump", "wave"]
        jump, wave = ms["jump"], ms["wave"]
        # z-up metres: offsets (k, 2k, -k) m -> (k, 2k, -k) * 1000 mm, unchanged axes
        expect = np.stack([k, 2 * k, -k], axis=-1) * 1000.0
        valid = np.arange(17) != 9
        np.testing.assert_allclose(jump.joints3d_world_mm[0][valid], expect[valid], atol=1e-3)
        assert jump.joint_valid.tolist() == valid.tolist()  # null in the map -> missing joint
        assert jump.labels == ("jumping jacks",) and np.all(jump.label_per_frame == 0)
        assert jump.meta["split"] == "train" and wave.meta["split"] == "val"
        assert wave.labels == ("waving with the right hand",) and wave.fps == 50.0
        issues = read_info(out)["issues"]
        assert any("1 labelled file(s) not found" in i and "missing" in i for i in issues)
    text = capsys.readouterr().out
    assert "joints missing: neck_nose (2 clips)" in text


def test_joint_map_and_label_csv_errors(tmp_path):
    from actionpose.data.bvh import load_joint_map, load_label_csv
    p = tmp_path / "m.json"
    p.write_text('{"pelvis": "Hips"}')
    with pytest.raises(ValueError, match=r"m\.json: joint map lacks r_hip, r_knee"):
        load_joint_map(p)
    p.write_text('{"joints": {' + ", ".join(f'"{n}": "J"' for n in H36M17_NAMES) + '}, "up_axis": "w"}')
    with pytest.raises(ValueError, match=r"m\.json: field up_axis = 'w'"):
        load_joint_map(p)
    c = tmp_path / "l.csv"
    c.write_text("name,action\na,b\n")
    with pytest.raises(ValueError, match=r"l\.csv: header has action, name; expected columns file, label"):
        load_label_csv(c)
    c.write_text("file,label,split\na.bvh,walk,holdout\n")
    with pytest.raises(ValueError, match=r"l\.csv: line 2: field split = 'holdout'"):
        load_label_csv(c)


def test_bandai_map_is_the_builtin_example():
    """The example joint map shipped with the data card template is the built-in Bandai preset."""
    import json
    from pathlib import Path

    from actionpose.data.bvh import load_joint_map, resolve_mapping
    example = Path(__file__).resolve().parents[1] / "data_cards" / "bvh-joint-map.example.json"
    mapping, settings = load_joint_map(example)
    assert mapping == resolve_mapping("bandai")
    assert settings == {"unit_to_mm": 10.0, "up_axis": "y"}
    assert json.loads(example.read_text())["joints"]["head"] == ["Head", 2.0]
