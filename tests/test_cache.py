"""Prepared-data cache: round trip, refusal of damaged or foreign folders, bundled subset speed."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from actionpose.data.cache import META_NAME, NPZ_NAME, load_motions, read_info, save_motions
from actionpose.data.motion import Motion
from actionpose.data.prepare import bundled_data_dir, resample_motion
from actionpose.geometry import Camera


def motions() -> list[Motion]:
    rng = np.random.default_rng(0)
    cam = Camera(name="54138969", R_world_to_cam=np.eye(3), T_world_mm=np.array([0.0, -4000.0, 1500.0]),
                 f=np.array([1145.0, 1144.0]), c=np.array([512.5, 515.4]), k=np.array([-0.2, 0.2, -0.003]),
                 p=np.array([-0.0009, -0.0018]), image_size_wh=(1000, 1002))
    valid = np.ones(17, dtype=bool)
    valid[9] = False
    joints_b = rng.normal(size=(7, 17, 3)).astype(np.float32)
    joints_b[:, 9] = np.nan  # allowed: the joint is marked invalid
    return [
        Motion(joints3d_world_mm=rng.normal(size=(5, 17, 3)).astype(np.float32), fps=30.0, subject="bandai-1",
               name="clip-a", source="bandai-namco", labels=("walk|happy",),
               label_per_frame=np.zeros(5, np.int16), meta={"split": "train", "take": 1, "nested": {"a": [1, 2]}}),
        Motion(joints3d_world_mm=joints_b, fps=50.0, subject="S1", name="Walking 1", source="h36m",
               labels=("walking", "standing"), label_per_frame=np.array([0, 0, -1, 1, 1, 1, 0], np.int16),
               joint_valid=valid, cameras=[cam],
               kp2d_px={"54138969": rng.normal(size=(7, 17, 3)).astype(np.float32),
                        "55011271": rng.normal(size=(7, 17, 3)).astype(np.float32)},
               kp2d_source="cpn", meta={"split": "val"}),
        Motion(joints3d_world_mm=np.zeros((0, 17, 3), np.float32), fps=30.0, subject="x", name="empty",
               source="bvh"),
    ]


def assert_same(a: Motion, b: Motion) -> None:
    np.testing.assert_array_equal(a.joints3d_world_mm, b.joints3d_world_mm)
    assert (a.fps, a.subject, a.name, a.source, a.labels, a.kp2d_source, a.meta) == \
        (b.fps, b.subject, b.name, b.source, b.labels, b.kp2d_source, b.meta)
    if a.label_per_frame is None:
        assert b.label_per_frame is None
    else:
        np.testing.assert_array_equal(a.label_per_frame, b.label_per_frame)
    np.testing.assert_array_equal(a.joint_valid, b.joint_valid)
    assert [c.to_dict() for c in a.cameras] == [c.to_dict() for c in b.cameras]
    assert list(a.kp2d_px) == list(b.kp2d_px)
    for k in a.kp2d_px:
        np.testing.assert_array_equal(a.kp2d_px[k], b.kp2d_px[k])


def test_round_trip_is_exact(tmp_path):
    ms = motions()
    info = save_motions(ms, tmp_path / "c", {"source": "test", "note": "hello"})
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [META_NAME, NPZ_NAME]
    loaded, info2 = load_motions(tmp_path / "c")
    assert info == info2 and read_info(tmp_path / "c") == info
    assert info["skeleton"] == "h36m17" and info["num_motions"] == 3 and info["num_frames"] == 12
    assert info["fps"] is None and info["source"] == "test" and len(info["data_hash"]) == 64
    assert len(loaded) == 3
    for a, b in zip(ms, loaded):
        assert_same(a, b)
    # No pickle anywhere: the npz loads with allow_pickle=False and holds only plain arrays.
    with np.load(tmp_path / "c" / NPZ_NAME, allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)


def test_hash_is_deterministic_and_content_sensitive(tmp_path):
    h1 = save_motions(motions(), tmp_path / "a")["data_hash"]
    h2 = save_motions(motions(), tmp_path / "b")["data_hash"]
    ms = motions()
    ms[0].meta["take"] = 2
    h3 = save_motions(ms, tmp_path / "c")["data_hash"]
    assert h1 == h2 != h3


def test_foreign_skeleton_is_refused(tmp_path):
    save_motions(motions(), tmp_path / "c")
    meta = json.loads((tmp_path / "c" / META_NAME).read_text())
    meta["info"]["skeleton"] = "coco17"
    (tmp_path / "c" / META_NAME).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"meta\.json: field info\.skeleton = 'coco17', expected 'h36m17'"):
        load_motions(tmp_path / "c")


@pytest.mark.parametrize("cut", [0.5, 0.99])
def test_truncated_npz_is_one_line_error(tmp_path, cut):
    save_motions(motions(), tmp_path / "c")
    npz = tmp_path / "c" / NPZ_NAME
    npz.write_bytes(npz.read_bytes()[: int(npz.stat().st_size * cut)])
    with pytest.raises(ValueError, match=r"motions\.npz: truncated or corrupt npz") as e:
        load_motions(tmp_path / "c")
    assert "\n" not in str(e.value)


def test_modified_data_fails_hash_unless_unverified(tmp_path):
    ms = motions()
    save_motions(ms, tmp_path / "c")
    npz = tmp_path / "c" / NPZ_NAME
    with np.load(npz) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["joints3d_world_mm"][0, 0, 0] += 1.0
    np.savez(npz, **arrays)
    with pytest.raises(ValueError, match=r"field info\.data_hash does not match"):
        load_motions(tmp_path / "c")
    loaded, _ = load_motions(tmp_path / "c", verify=False)
    assert loaded[0].joints3d_world_mm[0, 0, 0] == ms[0].joints3d_world_mm[0, 0, 0] + 1.0


def test_inconsistent_arrays_and_meta_are_refused(tmp_path):
    save_motions(motions(), tmp_path / "c")
    meta = json.loads((tmp_path / "c" / META_NAME).read_text())
    meta["motions"] = meta["motions"][:2]
    (tmp_path / "c" / META_NAME).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"field frame_offsets does not cut 12 frames into the 2 motions"):
        load_motions(tmp_path / "c", verify=False)
    (tmp_path / "c" / META_NAME).write_text('{"info": {')
    with pytest.raises(ValueError, match=r"meta\.json: not valid JSON"):
        load_motions(tmp_path / "c")
    (tmp_path / "c" / META_NAME).unlink()
    with pytest.raises(ValueError, match=r"meta\.json: missing"):
        load_motions(tmp_path / "c")
    with pytest.raises(ValueError, match="no such prepared data folder"):
        load_motions(tmp_path / "nothing")


def test_save_refuses_bad_motions(tmp_path):
    ms = motions()
    ms[0].joints3d_world_mm[2, 3, 1] = np.inf
    with pytest.raises(ValueError, match=r"motion 'clip-a': field joints3d_world_mm has NaN/inf values \(first at frame 2\)"):
        save_motions(ms, tmp_path / "c")
    ms = motions()
    ms[0].meta["bad"] = object()
    with pytest.raises(ValueError, match=r"motion 'clip-a' field meta: not JSON-serialisable"):
        save_motions(ms, tmp_path / "c")
    ms = motions()
    ms[1].name, ms[1].subject = ms[0].name, ms[0].subject
    with pytest.raises(ValueError, match="two motions share"):
        save_motions(ms, tmp_path / "c")
    assert not (tmp_path / "c" / META_NAME).exists()


def test_resample_motion_keeps_labels_aligned():
    m = motions()[1]
    for kp in m.kp2d_px.values():
        kp[..., 2] = np.abs(kp[..., 2]) + 0.1  # valid detections (score > 0)
    r = resample_motion(m, 25.0)  # 7 frames at 50 fps -> 4 frames at 25 fps
    assert r.num_frames == 4 and r.fps == 25.0 and r.meta["source_fps"] == 50.0
    np.testing.assert_array_equal(r.label_per_frame, m.label_per_frame[[0, 2, 4, 6]])
    np.testing.assert_allclose(r.kp2d_px["55011271"], m.kp2d_px["55011271"][[0, 2, 4, 6]])
    assert resample_motion(m, 50.0) is m


def test_resample_motion_never_blends_masked_2d():
    """50 -> 20 fps puts output frames between input frames; a masked joint (0, 0, score 0) next to a
    valid one must stay masked instead of pulling the neighbour towards pixel (0, 0)."""
    m = motions()[1]
    kp = m.kp2d_px["54138969"]
    kp[:] = 0.0
    kp[:, 3] = [[100.0 + 10 * t, 200.0, 0.9] for t in range(7)]  # valid everywhere, linear in time
    kp[:, 5] = [[300.0, 400.0 + 5 * t, 0.8] for t in range(7)]
    kp[3, 5] = 0.0  # one missed detection in frame 3
    r = resample_motion(m, 20.0).kp2d_px["54138969"]  # output times 0, 2.5, 5 input frames
    assert r.shape == (3, 17, 3)
    np.testing.assert_allclose(r[:, 3], [[100.0, 200.0, 0.9], [125.0, 200.0, 0.9], [150.0, 200.0, 0.9]], rtol=1e-6)
    # Frame 2.5 lies between frame 2 (valid) and frame 3 (masked): masked, not (305 * 0.5, ...).
    np.testing.assert_allclose(r[:, 5], [[300.0, 400.0, 0.8], [0.0, 0.0, 0.0], [300.0, 425.0, 0.8]], rtol=1e-6)
    assert np.all(r[:, 0] == 0)  # a joint masked everywhere stays exactly masked


def test_bundled_subset_reloads_fast():
    t0 = time.perf_counter()
    ms, info = load_motions(bundled_data_dir())
    assert time.perf_counter() - t0 < 2.0
    assert info["skeleton"] == "h36m17" and info["source"] == "bandai" and len(ms) == info["num_motions"]
