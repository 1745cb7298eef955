"""Geometry: projection against genuine Human3.6M frames (mmpose fixtures) + analytic properties."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from actionpose.data.h36m import default_cameras_path
from actionpose.geometry import (
    Camera,
    camera_to_world,
    denormalize_screen,
    look_at_rotation,
    normalize_screen,
    procrustes_align,
    project_camera,
    project_orthographic,
    project_pinhole,
    root_relative,
    world_to_camera,
)

H36M_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "mmpose" / "test_h36m_body3d.npz"
CAMERAS_JSON = default_cameras_path()  # the calibration shipped as package data


def _frames():
    """(subject, camera id, camera-frame 3D mm [17, 3], 2D px [17, 2]) of the 4 genuine frames."""
    z = np.load(H36M_FIXTURE)
    cams = json.loads(CAMERAS_JSON.read_text())["cameras"]
    out = []
    for i, img in enumerate(z["imgname"]):
        subject, folder = str(img).split("/")[:2]  # "S1", "S1_Directions_1.54138969"
        cam_id = folder.rsplit(".", 1)[1]
        cam = Camera.from_dict(dict(cams[f"{subject}/{cam_id}"], name=cam_id))
        out.append((subject, cam, z["S"][i, :, :3] * 1000.0, z["part"][i, :, :2]))
    return out


def test_h36m_projection_reproduces_genuine_2d():
    for subject, cam, x_cam_mm, uv in _frames():
        proj = project_pinhole(x_cam_mm, cam.f, cam.c, cam.k, cam.p)
        assert np.abs(proj - uv).max() < 0.01, (subject, cam.name)


def test_h36m_world_camera_round_trip_and_world_frame():
    for _subject, cam, x_cam_mm, uv in _frames():
        world = camera_to_world(x_cam_mm, cam.R_world_to_cam, cam.T_world_mm)
        back = world_to_camera(world, cam.R_world_to_cam, cam.T_world_mm)
        np.testing.assert_allclose(back, x_cam_mm, atol=1e-9)
        # projecting the world pose through the camera gives the same pixels
        assert np.abs(project_camera(world, cam) - uv).max() < 0.01
        # world is z-up millimetres: the feet are near the floor, the head above the pelvis
        assert min(world[3, 2], world[6, 2]) < 200.0
        assert world[10, 2] > world[0, 2]


def test_world_camera_inverse_random():
    rng = np.random.default_rng(0)
    R = look_at_rotation(np.array([3000.0, -2000.0, 1500.0]), np.zeros(3))
    T = np.array([3000.0, -2000.0, 1500.0])
    x = rng.normal(size=(5, 17, 3)) * 500
    np.testing.assert_allclose(camera_to_world(world_to_camera(x, R, T), R, T), x, atol=1e-9)


def test_project_pinhole_without_distortion_is_plain_pinhole():
    x = np.array([[100.0, -50.0, 2000.0], [0.0, 0.0, 4000.0]])
    uv = project_pinhole(x, np.array([1000.0, 1100.0]), np.array([500.0, 400.0]))
    np.testing.assert_allclose(uv, [[550.0, 372.5], [500.0, 400.0]])
    uv0 = project_pinhole(x, np.array([1000.0, 1100.0]), np.array([500.0, 400.0]), np.zeros(3), np.zeros(2))
    np.testing.assert_allclose(uv0, uv)


def test_screen_normalisation_exact_inverse_and_anchors():
    w, h = 1000.0, 1002.0
    uv = np.random.default_rng(1).uniform(-100, 1100, size=(7, 17, 2))
    np.testing.assert_allclose(denormalize_screen(normalize_screen(uv, w, h), w, h), uv, atol=1e-10)
    corners = normalize_screen(np.array([[0.0, 0.0], [w, h], [w / 2, h / 2]]), w, h)
    np.testing.assert_allclose(corners, [[-1.0, -h / w], [1.0, h / w], [0.0, 0.0]], atol=1e-12)


def _rotation(seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def test_procrustes_recovers_similarity_exactly():
    rng = np.random.default_rng(2)
    gt = rng.normal(size=(4, 17, 3)) * 300
    R = _rotation(3)
    pred = 1.7 * gt @ R.T + np.array([10.0, -20.0, 4000.0])
    np.testing.assert_allclose(procrustes_align(pred, gt), gt, atol=1e-8)


def test_procrustes_excludes_reflections():
    gt = np.random.default_rng(4).normal(size=(1, 17, 3)) * 300
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    aligned = procrustes_align(mirrored, gt)
    assert np.abs(aligned - gt).max() > 10.0  # a mirror image cannot be rotated onto the original
    # the implied map is a proper rotation: distances and handedness of aligned vs mirrored agree
    a0, m0 = aligned[0] - aligned[0].mean(0), mirrored[0] - mirrored[0].mean(0)
    M, *_ = np.linalg.lstsq(m0, a0, rcond=None)
    assert np.linalg.det(M) > 0


def test_root_relative():
    x = np.arange(2 * 17 * 3, dtype=float).reshape(2, 17, 3)
    r = root_relative(x)
    assert np.all(r[:, 0] == 0) and np.allclose(r[:, 5], x[:, 5] - x[:, 0])


def test_orthographic_projection():
    x = np.array([[100.0, -50.0, 2000.0], [-30.0, 20.0, 9000.0]])
    uv = project_orthographic(x, 0.5, np.array([500.0, 500.0]))
    np.testing.assert_allclose(uv, [[550.0, 475.0], [485.0, 510.0]])  # depth has no effect


def test_look_at_rotation_orthonormal_and_centred():
    pos, target = np.array([4000.0, 1000.0, 1800.0]), np.array([0.0, 0.0, 900.0])
    R = look_at_rotation(pos, target)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(R), 1.0)
    cam = Camera("v", R, pos, np.array([1000.0, 1000.0]), np.array([500.0, 500.0]))
    np.testing.assert_allclose(project_camera(target, cam), [500.0, 500.0], atol=1e-9)
    above = project_camera(target + np.array([0.0, 0.0, 500.0]), cam)  # world up -> image up (smaller v)
    assert above[1] < 500.0
    R_down = look_at_rotation(np.array([0.0, 0.0, 5000.0]), np.zeros(3))  # degenerate up vector
    np.testing.assert_allclose(R_down @ R_down.T, np.eye(3), atol=1e-12)


def _camera(**override) -> Camera:
    fields = {"name": "c", "R_world_to_cam": np.eye(3), "T_world_mm": np.zeros(3), "f": np.array([1000.0, 1000.0]),
              "c": np.array([500.0, 500.0]), "k": np.zeros(3), "p": np.zeros(2), "image_size_wh": (1000, 1000)}
    fields.update(override)
    return Camera(**fields)


@pytest.mark.parametrize("field,value", [
    ("R_world_to_cam", np.full((3, 3), np.nan)), ("T_world_mm", np.array([0.0, np.inf, 0.0])),
    ("f", np.array([np.nan, 1000.0])), ("c", np.array([500.0, np.nan])), ("k", np.array([0.0, np.nan, 0.0])),
    ("p", np.array([np.inf, 0.0])),
])
def test_camera_validate_rejects_non_finite(field, value):
    with pytest.raises(ValueError, match=f"field {field} has non-finite") as e:
        _camera(**{field: value}).validate()
    assert "\n" not in str(e.value)


def test_camera_validate_rejects_bad_shapes_and_sizes():
    with pytest.raises(ValueError, match="field f has shape"):
        _camera(f=np.array([1000.0])).validate()
    with pytest.raises(ValueError, match="field image_size_wh"):
        _camera(image_size_wh=(0, 1000)).validate()
    with pytest.raises(ValueError, match="field image_size_wh"):
        _camera(image_size_wh=(1000,)).validate()


def test_camera_dict_round_trip_and_errors():
    cam = _camera(k=np.array([0.1, 0.01, 0.0]), image_size_wh=(1000, 1002))
    back = Camera.from_dict(cam.to_dict())
    assert back.image_size_wh == (1000, 1002) and np.allclose(back.k, cam.k)
    d = cam.to_dict()
    del d["c"]
    with pytest.raises(ValueError, match="missing field c"):
        Camera.from_dict(d, "cams.json S1/1")
    d = cam.to_dict()
    d["f"] = ["a", "b"]
    with pytest.raises(ValueError, match="field f is not numeric"):
        Camera.from_dict(d)
    d = cam.to_dict()
    d["T_world_mm"] = [0.0, float("nan"), 0.0]
    with pytest.raises(ValueError, match="cams.json: 'S1' .*T_world_mm|field T_world_mm has non-finite"):
        Camera.from_dict(d, "cams.json")
