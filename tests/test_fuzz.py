"""Fuzzing (issue 15): the file readers get random bytes and structured mutations of valid files and
must answer with a clean one-line ValueError that names the file, never another exception; the
geometry keeps its invariants for random inputs.

Example counts are bounded for CI (`ACTIONPOSE_FUZZ_EXAMPLES`, default 30 per property) and the
examples are derandomised, so a CI failure reproduces; search harder locally with e.g.
`ACTIONPOSE_FUZZ_EXAMPLES=2000 ACTIONPOSE_FUZZ_RANDOM=1 pytest tests/test_fuzz.py`.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actionpose.config import from_dict, load_yaml, make_config, to_dict
from actionpose.data.bvh import bvh_to_h36m17, parse_bvh
from actionpose.data.h36m import load_h36m
from actionpose.data.keypoints import load_keypoints
from actionpose.data.mpi_inf_3dhp import load_3dhp
from actionpose.skeleton import H36M17_NAMES
from actionpose.geometry import (
    camera_to_world,
    denormalize_screen,
    look_at_rotation,
    normalize_screen,
    procrustes_align,
    project_pinhole,
    world_to_camera,
)

EXAMPLES = int(os.environ.get("ACTIONPOSE_FUZZ_EXAMPLES", "30"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                derandomize=not os.environ.get("ACTIONPOSE_FUZZ_RANDOM"),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def clean_error(fn, *args, where: str, **kwargs):
    """Call `fn`; it may succeed or raise a one-line ValueError naming `where`, nothing else."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(*args, **kwargs)
        except ValueError as e:
            text = str(e)
            assert text.strip() and "\n" not in text.strip(), f"not one line: {text!r}"
            assert where in text, f"error does not name {where!r}: {text!r}"
            return None


def in_tmp(name: str, data: bytes, fn, **kwargs):
    """Write `data` to a fresh temporary file called `name` and run `clean_error(fn, path)`."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        return clean_error(fn, path, where=str(path), **kwargs)


# ------------------------------------------------------------------------------------------ BVH

def _bvh_text(n_frames: int, values: list[float]) -> str:
    rows = [" ".join(f"{v:g}" for v in values[i * 9:(i + 1) * 9]) for i in range(n_frames)]
    return ("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 0\n  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation "
            "Yrotation\n  JOINT Spine\n  {\n    OFFSET 0 10 0\n    CHANNELS 3 Zrotation Xrotation Yrotation\n"
            "    End Site\n    {\n      OFFSET 0 10 0\n    }\n  }\n}\n"
            f"MOTION\nFrames: {n_frames}\nFrame Time: 0.0333333\n" + "".join(r + "\n" for r in rows))


VALID_BVH = _bvh_text(3, [float(i % 7) for i in range(27)])


def _parse_and_map(data: bytes) -> None:
    clip = parse_bvh(data, "fuzz.bvh")
    mapping = dict.fromkeys(H36M17_NAMES)
    bvh_to_h36m17(clip, mapping={**mapping, "pelvis": "Hips", "spine": "Spine"})


@FUZZ
@given(st.binary(max_size=400))
def test_bvh_random_bytes(data):
    clean_error(parse_bvh, data, "fuzz.bvh", where="fuzz.bvh")


@st.composite
def mutated_bvh(draw) -> bytes:
    lines = VALID_BVH.split("\n")
    op = draw(st.sampled_from(["delete", "duplicate", "replace_token", "truncate", "insert"]))
    i = draw(st.integers(0, len(lines) - 1))
    if op == "delete":
        del lines[i]
    elif op == "duplicate":
        lines.insert(i, lines[i])
    elif op == "replace_token":
        tokens = lines[i].split() or [""]
        j = draw(st.integers(0, len(tokens) - 1))
        tokens[j] = draw(st.sampled_from(["nan", "inf", "-1", "0", "1e40", "{", "}", "x", "", "JOINT", "99999",
                                          "End", "Frames:", "3.5"]))
        lines[i] = " ".join(tokens)
    elif op == "insert":
        lines.insert(i, draw(st.text(alphabet="{} \tMOTIONJ0123456789.-:\n", max_size=20)))
    text = "\n".join(lines).encode()
    if op == "truncate":
        text = text[:draw(st.integers(0, len(text)))]
    return text


@FUZZ
@given(mutated_bvh())
def test_bvh_structured_mutations(data):
    clean_error(_parse_and_map, data, where="fuzz.bvh")


def test_bvh_valid_file_maps():
    _parse_and_map(VALID_BVH.encode())


# ------------------------------------------------------------------------------------ keypoints

JSON_SCALARS = (st.none() | st.booleans() | st.integers(-10**6, 10**20) | st.text(max_size=4)
                | st.floats(allow_nan=True, allow_infinity=True))
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(
        st.sampled_from(["keypoints", "layout", "frame", "image_id", "score"]), children, max_size=4),
    max_leaves=40)


@st.composite
def keypoint_documents(draw):
    """Near-valid keypoint JSON: frames of [x, y, score] triples with random sizes, values and wrappers."""
    frames = draw(st.integers(0, 4))
    joints = draw(st.sampled_from([0, 2, 16, 17, 18]))
    width = draw(st.sampled_from([2, 3, 3, 3, 4]))
    value = st.one_of(st.floats(-1e40, 1e40), st.just(float("nan")), st.none(), st.integers(-5, 5))
    body = [[[draw(value) for _ in range(width)] for _ in range(joints)] for _ in range(frames)]
    shape = draw(st.sampled_from(["list", "records", "dict"]))
    if shape == "records":
        body = [{"keypoints": [v for p in fr for v in p], "frame": draw(st.sampled_from([i, i + 1, "x", None]))}
                for i, fr in enumerate(body)]
    if shape == "dict":
        body = {"keypoints": body, "layout": draw(st.sampled_from(["coco17", "h36m17", "mpii16", "other", 3]))}
    return body


@FUZZ
@given(st.binary(max_size=300), st.sampled_from([".json", ".npz"]))
def test_keypoints_random_bytes(data, suffix):
    in_tmp("kp" + suffix, data, load_keypoints)


@FUZZ
@given(JSON_VALUES)
def test_keypoints_random_json(doc):
    in_tmp("kp.json", json.dumps(doc).encode(), load_keypoints)


@FUZZ
@given(keypoint_documents(), st.sampled_from(["auto", "coco17", "h36m17", "mpii16"]))
def test_keypoints_structured_json(doc, layout):
    in_tmp("kp.json", json.dumps(doc).encode(), load_keypoints, layout=layout)


ARRAYS = st.one_of(
    st.tuples(st.integers(0, 3), st.sampled_from([1, 16, 17]), st.integers(1, 4)).flatmap(
        lambda shape: st.sampled_from([np.float32, np.float64, np.int16, np.bool_]).map(
            lambda dtype: np.linspace(-1e6, 1e6, int(np.prod(shape))).reshape(shape).astype(dtype))),
    st.sampled_from([np.zeros(3), np.array("text"), np.array(["a", "b"]), np.zeros((2, 2, 2, 2)),
                     np.full((2, 17, 3), np.nan), np.full((1, 17, 3), 1e39)]),
)


def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@FUZZ
@given(ARRAYS, st.sampled_from([None, "coco17", "nonsense", 7]), st.sampled_from(["keypoints", "kps"]))
def test_keypoints_structured_npz(arr, layout, key):
    arrays = {key: arr} if layout is None else {key: arr, "layout": np.array(layout)}
    in_tmp("kp.npz", _npz_bytes(**arrays), load_keypoints)


# ------------------------------------------------------------------------------- H36M and 3DHP

def _obj_npz(**objs) -> bytes:
    return _npz_bytes(**{k: np.array(v, dtype=object) if isinstance(v, (dict, list)) else v for k, v in objs.items()})


POSE_ARRAYS = st.tuples(st.integers(0, 4), st.sampled_from([16, 17, 32]), st.sampled_from([2, 3])).flatmap(
    lambda s: st.sampled_from([1.0, 1000.0, np.nan, 1e38]).map(
        lambda scale: _pose_array(s, scale)))


def _pose_array(shape: tuple, scale: float) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):  # 1e38 * 10 overflows float32 to inf on purpose
        return (np.arange(np.prod(shape), dtype=np.float64).reshape(shape) % 11 * scale).astype(np.float32)


def _load_h36m_folder(folder: Path):
    return load_h36m(folder, kp2d="none", with_framewise_labels=False)


@FUZZ
@given(st.binary(max_size=300))
def test_h36m_random_bytes(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data_3d_h36m.npz"
        path.write_bytes(data)
        clean_error(_load_h36m_folder, Path(tmp), where=str(path))


@FUZZ
@given(st.one_of(
    st.dictionaries(st.sampled_from(["S1", "S9", "S99", "X", ""]),
                    st.one_of(st.dictionaries(st.sampled_from(["Walking", "Eating 1", ""]), POSE_ARRAYS, max_size=2),
                              POSE_ARRAYS, st.integers()), max_size=2),
    st.lists(st.integers(), max_size=3), st.integers(), POSE_ARRAYS))
def test_h36m_structured(positions):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data_3d_h36m.npz"
        path.write_bytes(_obj_npz(positions_3d=positions))
        clean_error(_load_h36m_folder, Path(tmp), where=str(path))


@FUZZ
@given(st.binary(max_size=300), st.sampled_from(["test", "train"]))
def test_3dhp_random_bytes(data, split):
    in_tmp(f"data_{split}_3dhp.npz", data, load_3dhp, split=split)


@FUZZ
@given(st.dictionaries(
    st.sampled_from(["TS1", "TS5", "TS9", "S1 Seq1"]),
    st.one_of(st.fixed_dictionaries({"data_3d": POSE_ARRAYS, "data_2d": POSE_ARRAYS,
                                     "valid": st.sampled_from([np.ones(3), np.ones(4, bool), np.zeros(0)])}),
              st.lists(st.one_of(st.integers(), st.dictionaries(st.sampled_from(["0", "1"]), st.integers())),
                       max_size=2),
              POSE_ARRAYS),
    max_size=2), st.sampled_from(["test", "train"]))
def test_3dhp_structured(data, split):
    in_tmp(f"data_{split}_3dhp.npz", _obj_npz(data=data), load_3dhp, split=split)


# -------------------------------------------------------------------------------------- config

@FUZZ
@given(st.binary(max_size=300))
def test_config_random_bytes(data):
    in_tmp("config.yaml", data, load_yaml)


@FUZZ
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_config_random_text(text):
    in_tmp("config.yaml", text.encode(), load_yaml)


CONFIG_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.integers(10**20, 10**400), st.floats(allow_nan=True),
    st.text(max_size=6), st.lists(st.one_of(st.integers(), st.floats(), st.text(max_size=2), st.lists(st.none())),
                                  max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _leaf_keys(d: dict, prefix=()) -> list[tuple]:
    out = []
    for k, v in d.items():
        out += _leaf_keys(v, prefix + (k,)) if isinstance(v, dict) else [prefix + (k,)]
    return out


LEAVES = _leaf_keys(to_dict(make_config()))


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(LEAVES), CONFIG_VALUES), min_size=1, max_size=3))
def test_config_structured_mutations(edits):
    data = to_dict(make_config())
    for key, value in edits:
        node = data
        for k in key[:-1]:
            node = node[k]
        node[key[-1]] = value
    cfg = clean_error(from_dict, data, where="config")
    if cfg is not None:  # accepted: then it must survive a YAML round trip unchanged
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "c.yaml"
            path.write_text(yaml.safe_dump(to_dict(cfg)))
            assert to_dict(load_yaml(path)) == to_dict(cfg)


# ------------------------------------------------------------------------------------ geometry

FINITE = st.floats(-1e3, 1e3, allow_nan=False)


def _rotation(angles) -> np.ndarray:
    a, b, c = angles
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rx = np.array([[1, 0, 0], [0, np.cos(c), -np.sin(c)], [0, np.sin(c), np.cos(c)]])
    return rz @ ry @ rx


ANGLES = st.tuples(*[st.floats(-np.pi, np.pi)] * 3)


@FUZZ
@given(st.lists(st.tuples(FINITE, FINITE, st.floats(100, 1e4)), min_size=1, max_size=17),
       st.floats(100, 5000), st.floats(100, 5000), FINITE, FINITE)
def test_project_then_unproject_recovers_the_point(points, fx, fy, cx, cy):
    x_cam = np.array(points)
    f, c = np.array([fx, fy]), np.array([cx, cy])
    uv = project_pinhole(x_cam, f, c)
    z = x_cam[:, 2:3]
    back = np.concatenate([(uv - c) / f * z, z], axis=1)  # pinhole back-projection at the known depth
    np.testing.assert_allclose(back, x_cam, rtol=1e-9, atol=1e-6)


@FUZZ
@given(st.lists(st.tuples(FINITE, FINITE, FINITE), min_size=1, max_size=17), ANGLES,
       st.tuples(FINITE, FINITE, FINITE))
def test_world_camera_round_trip(points, angles, t):
    R = _rotation(angles)
    x = np.array(points)
    np.testing.assert_allclose(camera_to_world(world_to_camera(x, R, np.array(t)), R, np.array(t)), x, atol=1e-8)


@FUZZ
@given(st.tuples(FINITE, FINITE, FINITE), st.tuples(FINITE, FINITE, FINITE))
def test_look_at_is_a_rotation_facing_the_target(pos, target):
    pos, target = np.array(pos), np.array(target)
    if np.linalg.norm(pos - target) < 1.0 or np.linalg.norm(np.cross(target - pos, [0, 0, 1])) < 1e-3 * np.linalg.norm(pos - target):
        return  # degenerate: the camera sits on the target or looks straight up/down
    R = look_at_rotation(pos, target)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(R) == pytest.approx(1.0)
    ahead = world_to_camera(target[None], R, pos)[0]
    assert ahead[2] > 0 and np.allclose(ahead[:2], 0, atol=1e-6 * max(1.0, ahead[2]))


@FUZZ
@given(st.lists(st.tuples(st.floats(-5000, 5000), st.floats(-5000, 5000)), min_size=1, max_size=17),
       st.integers(1, 8000), st.integers(1, 8000))
def test_normalise_denormalise_round_trip(uv, w, h):
    uv = np.array(uv)
    n = normalize_screen(uv, w, h)
    np.testing.assert_allclose(denormalize_screen(n, w, h), uv, rtol=1e-12, atol=1e-9)
    # the image's corners map to x = -1 / +1 and y = -H/W / +H/W (aspect kept)
    corners = normalize_screen(np.array([[0.0, 0.0], [w, h]]), w, h)
    np.testing.assert_allclose(corners, [[-1, -h / w], [1, h / w]], atol=1e-12)


POSES = st.lists(st.tuples(FINITE, FINITE, FINITE), min_size=17, max_size=17).map(np.array)


@FUZZ
@given(POSES, ANGLES, st.floats(0.01, 100), st.tuples(FINITE, FINITE, FINITE))
def test_procrustes_undoes_a_similarity_transform(gt, angles, scale, t):
    if np.linalg.matrix_rank(gt - gt.mean(0), tol=1e-3) < 3:
        return  # a flat or collinear pose has no unique rotation
    moved = scale * gt @ _rotation(angles).T + np.array(t)
    aligned = procrustes_align(moved[None], gt[None])[0]
    np.testing.assert_allclose(aligned, gt, atol=1e-6 * max(1.0, np.abs(gt).max()))


@FUZZ
@given(POSES, POSES, ANGLES, st.floats(0.01, 100), st.tuples(FINITE, FINITE, FINITE))
def test_procrustes_is_invariant_to_a_similarity_of_the_prediction(pred, gt, angles, scale, t):
    if np.linalg.matrix_rank(pred - pred.mean(0), tol=1e-3) < 3:
        return
    a = procrustes_align(pred[None], gt[None])[0]
    b = procrustes_align((scale * pred @ _rotation(angles).T + np.array(t))[None], gt[None])[0]
    np.testing.assert_allclose(a, b, atol=1e-6 * max(1.0, np.abs(gt).max()))
    # and never worse than the unaligned prediction centred on gt
    centred = pred - pred.mean(0) + gt.mean(0)
    assert np.sum((a - gt) ** 2) <= np.sum((centred - gt) ** 2) + 1e-6
