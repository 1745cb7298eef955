"""Bandai-Namco loader: layout, labels, split rule, archives, the real data (when the folder named by
$ACTIONPOSE_BANDAI_DIR holds the upstream archives) and the bundled subset."""
from __future__ import annotations

import json
import os
import tarfile
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from actionpose.data.bandai import assign_splits, load_bandai, locate_datasets, split_counts
from actionpose.data.cache import load_motions
from actionpose.data.motion import Motion
from actionpose.data.prepare import (
    bundled_data_dir,
    card_statistics,
    format_card_statistics,
    format_summary,
    prepare,
    summarize,
)

# Folder holding the upstream archives Bandai-Namco-Research-Motiondataset-{1,2}.tar.xz (CC BY-NC 4.0;
# too big to ship). Tests that need them skip, naming the file, when it is unset or lacks them.
BANDAI_DIR = os.environ.get("ACTIONPOSE_BANDAI_DIR", "")
ROOT_NAME = "Bandai-Namco-Research-Motiondataset-1"

# The Bandai-Namco hierarchy (names, parents, offsets in cm, parent-local axes: x along the bone).
BANDAI_JOINTS = [
    ("joint_Root", None, (0, 0, 0)), ("Hips", "joint_Root", (0, 94, 0)), ("Spine", "Hips", (15.7, 0, 0)),
    ("Chest", "Spine", (9.0, -0.4, 0)), ("Neck", "Chest", (16.4, 0, 0)), ("Head", "Neck", (6.5, 0, 0)),
    ("Shoulder_L", "Chest", (13.0, -0.2, 5.0)), ("UpperArm_L", "Shoulder_L", (5.3, 0, 0)),
    ("LowerArm_L", "UpperArm_L", (24.3, 0, 0)), ("Hand_L", "LowerArm_L", (22.3, 0, 0)),
    ("Shoulder_R", "Chest", (13.0, -0.2, -5.0)), ("UpperArm_R", "Shoulder_R", (-5.3, 0, 0)),
    ("LowerArm_R", "UpperArm_R", (-24.3, 0, 0)), ("Hand_R", "LowerArm_R", (-22.3, 0, 0)),
    ("UpperLeg_L", "Hips", (-2.2, -6.5, 0)), ("LowerLeg_L", "UpperLeg_L", (39.1, 0, 0)),
    ("Foot_L", "LowerLeg_L", (41.0, 0, 0)), ("UpperLeg_R", "Hips", (-2.2, 6.5, 0)),
    ("LowerLeg_R", "UpperLeg_R", (-39.1, 0, 0)), ("Foot_R", "LowerLeg_R", (-41.0, 0, 0)),
]
CHANNELS = "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation"


def bandai_bvh(n_frames: int, seed: int) -> str:
    """A BVH with the Bandai joint names, 6 channels per joint, small random rotations."""
    children = defaultdict(list)
    for name, parent, _ in BANDAI_JOINTS:
        children[parent].append(name)
    offsets = {name: off for name, _, off in BANDAI_JOINTS}
    lines = ["HIERARCHY"]

    def emit(name, depth):
        pad = "  " * depth
        lines.extend([f"{pad}{'ROOT' if depth == 0 else 'JOINT'} {name}", pad + "{",
                      f"{pad}  OFFSET {' '.join(map(str, offsets[name]))}", f"{pad}  {CHANNELS}"])
        for c in children[name]:
            emit(c, depth + 1)
        if not children[name]:
            lines.extend([f"{pad}  End Site", pad + "  {", f"{pad}    OFFSET 0 0 0", pad + "  }"])
        lines.append(pad + "}")

    emit("joint_Root", 0)
    rng = np.random.default_rng(seed)
    lines += ["MOTION", f"Frames: {n_frames}", "Frame Time: 0.0333333"]
    order = []
    stack = ["joint_Root"]
    while stack:  # depth-first, as written
        name = stack.pop(0)
        order.append(name)
        stack = children[name] + stack
    for t in range(n_frames):
        vals = []
        for name in order:
            pos = list(offsets[name])
            rot = list(rng.uniform(-10, 10, size=3))
            if name == "joint_Root":
                rot = [0.0, 0.0, 0.0]
            elif name == "Hips":
                pos = [t * 2.0, 94.0, 0.0]
                rot = [90.0, 0.0, 0.0]  # spine (local x) points up (+y)
            vals += pos + rot
        lines.append(" ".join(f"{v:.5g}" for v in vals))
    return "\n".join(lines) + "\n"


CONTENTS = ["walk", "bow", "kick"]
STYLES = ["normal", "happy"]
# (content, style) -> number of takes: 7 takes -> 2 val; 2 -> 1 val; 1 -> 0 val.
TAKES = {("walk", "normal"): 7, ("walk", "happy"): 2, ("bow", "happy"): 1, ("kick", "normal"): 1}


def write_dataset(root: Path, takes=TAKES, extra_json: str | None = None) -> Path:
    """A tiny dataset-1 folder in the release layout (takes numbered from 1)."""
    d = root / ROOT_NAME
    (d / "data").mkdir(parents=True)
    (d / "cfg").mkdir()
    (d / "cfg" / "content_label.txt").write_text("\n".join(f"dataset-1_{c}" for c in CONTENTS) + "\n")
    (d / "cfg" / "style_label.txt").write_text("\n".join(f"dataset-1_{s}" for s in STYLES))
    (d / "LICENSE").write_text("CC BY-NC 4.0 (test copy)\n")
    seed = 0
    for (c, s), n in takes.items():
        for take in range(1, n + 1):
            stem = f"dataset-1_{c}_{s}_{take:03d}"
            (d / "data" / f"{stem}.bvh").write_text(bandai_bvh(5 + take, seed))
            (d / "data" / f"{stem}.json").write_text(json.dumps({"content": CONTENTS.index(c), "style": STYLES.index(s)}))
            seed += 1
    if extra_json:
        (d / "data" / f"{extra_json}.json").write_text(json.dumps({"content": 0, "style": 0}))
    return d


def make_archive(folder: Path, out: Path, reverse: bool = False) -> Path:
    """Tar.xz the folder; `reverse` writes members in reverse order (order must not matter)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if reverse:
        files = files[::-1]
    with tarfile.open(out, "w:xz") as tar:
        for p in files:
            tar.add(p, arcname=f"{folder.name}/{p.relative_to(folder).as_posix()}")
    return out


def load(source, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_bandai(source, datasets=(1,), workers=1, **kw)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("bn")
    folder = write_dataset(root / "extracted", extra_json="dataset-1_kick_happy_001")
    archive = make_archive(folder, root / f"{ROOT_NAME}.tar.xz", reverse=True)
    return folder, archive


# ----------------------------------------------------------------------------------- tiny data

def test_split_counts_rule():
    assert [split_counts(n) for n in (0, 1, 2, 3, 6, 7, 20, 41, 74)] == [0, 0, 1, 1, 1, 2, 3, 7, 12]
    assert split_counts(5, 0.0) == 0
    with pytest.raises(ValueError, match="val_fraction"):
        split_counts(5, 1.0)


def test_load_folder_records_labels_and_split(tiny):
    folder, _ = tiny
    issues: list[str] = []
    with pytest.warns(UserWarning, match="kick_happy_001.json has no BVH"):
        motions = load_bandai(folder, datasets=(1,), workers=1, issues=issues)
    assert len(issues) == 1 and "dataset-1_kick_happy_001" in issues[0]
    assert len(motions) == sum(TAKES.values())
    m = next(m for m in motions if m.name == "dataset-1_walk_normal_003")
    assert m.labels == ("walk|normal",) and m.subject == "bandai-1" and m.source == "bandai-namco"
    assert m.meta["dataset"] == 1 and m.meta["take"] == 3 and m.meta["content"] == "walk"
    assert m.meta["estimated_joints"] == ["head"] and m.joint_valid.all()
    assert m.fps == 30.0 and m.num_frames == 8 and m.joints3d_world_mm.dtype == np.float32
    assert (m.label_per_frame == 0).all() and m.label_per_frame.dtype == np.int16
    split = {m.name: m.meta["split"] for m in motions}
    val = sorted(n for n, s in split.items() if s == "val")
    assert val == ["dataset-1_walk_happy_002", "dataset-1_walk_normal_006", "dataset-1_walk_normal_007"]
    # Head (virtual end site) is above the neck_nose joint, which is above the thorax; z is up.
    z = m.joints3d_world_mm[:, [8, 9, 10], 2]
    assert (np.diff(z, axis=1) > 0).all()
    np.testing.assert_allclose(m.joints3d_world_mm[:, 0, 2], 940.0, atol=1e-3)  # 94 cm y-up -> 940 mm z


def test_archive_equals_folder_and_split_is_order_independent(tiny):
    folder, archive = tiny
    a, b = load(folder), load(archive)
    assert [m.name for m in a] == [m.name for m in b]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.joints3d_world_mm, y.joints3d_world_mm)
        assert x.meta == y.meta
    shuffled = list(reversed(a))
    for m in shuffled:
        m.meta["split"] = ""
    assign_splits(shuffled)
    assert {m.name: m.meta["split"] for m in shuffled} == {m.name: m.meta["split"] for m in b}


def test_archive_with_workers_and_resampling(tiny):
    _, archive = tiny
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        motions = load_bandai(archive.parent, datasets=(1,), workers=2, fps=15)
    m = next(m for m in motions if m.name == "dataset-1_walk_normal_007")
    assert m.fps == 15.0 and m.num_frames == 6  # 12 frames at 30 fps span 11/30 s -> 6 frames at 15 fps
    assert m.label_per_frame.shape == (6,)


def test_truncated_archive_names_it(tiny, tmp_path):
    _, archive = tiny
    bad = tmp_path / f"{ROOT_NAME}.tar.xz"
    bad.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"Motiondataset-1\.tar\.xz: truncated or corrupt \.tar\.xz") as e:
        load(bad)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("edit, pattern", [
    (lambda d: (d / "data" / "dataset-1_bow_happy_001.json").unlink(), r"dataset-1_bow_happy_001\.json: missing"),
    (lambda d: (d / "data" / "dataset-1_bow_happy_001.json").write_text('{"content": 0, "style": 1}'),
     r"bow_happy_001\.json: field content = 0 \('walk'\) disagrees with the file name's content 'bow'"),
    (lambda d: (d / "data" / "dataset-1_bow_happy_001.json").write_text('{"content": 9, "style": 1}'),
     r"field content = 9, expected < 3"),
    (lambda d: (d / "data" / "dataset-1_bow_happy_001.json").write_text('{"content": "bow", "style": 1}'),
     r"field content = 'bow', expected a non-negative integer"),
    (lambda d: (d / "data" / "dataset-1_bow_happy_001.json").write_text('{"content": 1,'), r"not valid JSON"),
    (lambda d: (d / "cfg" / "style_label.txt").write_text("normal\nhappy\n"), r"style_label\.txt: line 1: expected 'dataset-1_<name>'"),
    (lambda d: (d / "cfg" / "style_label.txt").unlink(), r"cfg/style_label\.txt missing"),
    (lambda d: (d / "data" / "dataset-1_bow_happy_001.bvh").write_text(
        (d / "data" / "dataset-1_bow_happy_001.bvh").read_text()[:-40]), r"bow_happy_001\.bvh: truncated"),
    (lambda d: (d / "data" / "dataset-1_bow_happy_001.bvh").write_text(
        (d / "data" / "dataset-1_bow_happy_001.bvh").read_text().replace("Hand_L", "Hand_Left")),
     r"bow_happy_001\.bvh: mapping entry 'l_wrist' names joint 'Hand_L', which is not in the file"),
    (lambda d: (d / "data" / "dataset-1_bow_happy_001.bvh").rename(d / "data" / "dataset-1_bow_happy.bvh"),
     r"file name 'dataset-1_bow_happy' does not look like"),
])
def test_bad_dataset_content_raises_naming_file(tmp_path, edit, pattern):
    folder = write_dataset(tmp_path, takes={("walk", "normal"): 1, ("bow", "happy"): 1})
    edit(folder)
    with pytest.raises(ValueError, match=pattern) as e:
        load(folder)
    assert "\n" not in str(e.value)


def test_locate_datasets_errors(tmp_path, tiny):
    folder, archive = tiny
    assert locate_datasets(folder, (1,)) == {1: folder}
    assert locate_datasets(archive.parent, (1,)) == {1: archive}
    with pytest.raises(ValueError, match="dataset 2 not found"):
        locate_datasets(archive.parent, (1, 2))
    with pytest.raises(ValueError, match="no such file"):
        locate_datasets(tmp_path / "nope")
    with pytest.raises(ValueError, match="expected 1 and/or 2"):
        locate_datasets(folder, (3,))
    with pytest.raises(ValueError, match="is dataset 1, but datasets"):
        locate_datasets(folder, (2,))


def test_prepare_writes_cache_and_summary(tiny, tmp_path):
    folder, _ = tiny
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = prepare("bandai", folder, tmp_path / "prep", progress=False, datasets=(1,), workers=1)
    assert summary["clips"] == 11 and summary["splits"]["val"]["clips"] == 3
    assert summary["joints_estimated"] == {"head": 11} and summary["joints_missing"] == {}
    assert len(summary["issues"]) == 1
    text = format_summary(summary)
    assert "clips 11" in text and len(text.splitlines()) < 25
    motions, info = load_motions(tmp_path / "prep")
    assert info["source"] == "bandai" and info["issues"] == summary["issues"] and len(motions) == 11
    with pytest.raises(ValueError, match="unknown kind 'nope'"):
        prepare("nope", folder, tmp_path / "x")
    with pytest.raises(ValueError, match="fps = -1"):
        prepare("bandai", folder, tmp_path / "x", fps=-1)


def test_prepare_generic_bvh_folder(tiny, tmp_path):
    folder, _ = tiny
    summary = prepare("bvh", folder / "data", tmp_path / "bvh", progress=False, fps=15)
    assert summary["clips"] == 11 and summary["fps"] == [15.0]


# ----------------------------------------------------------------------------------- real data

@pytest.fixture(scope="module")
def real_d1():
    archive = Path(BANDAI_DIR or ".") / f"{ROOT_NAME}.tar.xz"
    if not BANDAI_DIR or not archive.is_file():
        pytest.skip(f"needs {ROOT_NAME}.tar.xz (set ACTIONPOSE_BANDAI_DIR to the folder holding it; "
                    f"{'unset' if not BANDAI_DIR else 'not found in ' + BANDAI_DIR})")
    issues: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        motions = load_bandai(archive, datasets=(1,), workers=2, issues=issues)
    return motions, issues


def test_real_dataset1_counts_and_geometry(real_d1):
    motions, issues = real_d1
    assert len(motions) == 174 and sum(m.num_frames for m in motions) == 31914
    assert len(issues) == 1 and "dataset-1_dance-long_normal_001.json has no BVH" in issues[0]
    assert sum(m.meta["split"] == "val" for m in motions) == 18
    assert {m.fps for m in motions} == {30.0}
    j = np.concatenate([m.joints3d_world_mm for m in motions])
    # Floor at z ~ 0: ankles never below it, head top the highest joint on average, pelvis ~0.9 m.
    assert j[:, [3, 6], 2].min() > 50 and 850 < np.median(j[:, 0, 2]) < 950
    assert np.argmax(j[..., 2].mean(axis=0)) == 10
    # Rigid skeleton: every bone length is constant over all clips (one shared skeleton).
    for c, p in ((2, 1), (3, 2), (12, 11), (13, 12)):
        length = np.linalg.norm(j[:, c] - j[:, p], axis=-1)
        assert length.std() < 0.05
    # Left is left: in a right-handed z-up frame, forward x (left hip - right hip) points up.
    walk = next(m for m in motions if m.name == "dataset-1_walk_normal_001").joints3d_world_mm
    fwd = walk[-1, 0] - walk[0, 0]
    left = (walk[:, 4] - walk[:, 1]).mean(axis=0)
    assert np.cross(fwd, left)[2] > 0


def test_real_card_statistics(real_d1):
    motions, _ = real_d1
    stats = card_statistics(motions)
    assert stats["summary"]["clips"] == 174 and stats["pairs"] == 156
    assert stats["per_key"]["content"]["1:walk"]["val"] == 15
    assert "| 1:walk |" in format_card_statistics(stats)


# ------------------------------------------------------------------------------- bundled subset

D1_CONTENTS = {"walk", "run", "dash", "walk-back", "walk-left", "walk-right", "bow", "bye", "guide", "byebye",
               "respond", "call", "punch", "kick", "slash", "dance-short"}  # dance-long is absent upstream
D1_STYLES = {"normal", "happy", "sad", "angry", "proud", "not-confident", "masculinity", "feminine", "childish",
             "old", "tired", "active", "musical", "giant", "chimpira"}
D2_CONTENTS = {"walk", "walk-turn-left", "walk-turn-right", "run", "wave-both-hands", "wave-left-hand",
               "wave-right-hand", "raise-up-both-hands", "raise-up-left-hand", "raise-up-right-hand"}
D2_STYLES = {"active", "elderly", "exhausted", "feminine", "masculine", "normal", "youthful"}


@pytest.fixture(scope="module")
def bundled():
    return load_motions(bundled_data_dir())


def test_bundled_subset_covers_everything(bundled):
    motions, info = bundled
    d = bundled_data_dir()
    assert sum(f.stat().st_size for f in d.iterdir()) <= 8_000_000
    assert (d / "LICENSE").is_file() and "Attribution-NonCommercial 4.0" in (d / "LICENSE").read_text()
    assert info["skeleton"] == "h36m17" and info["fps"] == 30.0
    assert 25_000 <= sum(m.num_frames for m in motions) <= 35_000
    for n, contents, styles in ((1, D1_CONTENTS, D1_STYLES), (2, D2_CONTENTS, D2_STYLES)):
        ms = [m for m in motions if m.meta["dataset"] == n]
        assert {m.meta["content"] for m in ms} == contents
        assert {m.meta["style"] for m in ms} == styles
        assert {m.meta["split"] for m in ms} == {"train", "val"}
    pairs2 = {(m.meta["content"], m.meta["style"], m.meta["split"]) for m in motions if m.meta["dataset"] == 2}
    assert len(pairs2) == 140  # every dataset-2 pair has train and val takes
    assert all(isinstance(m, Motion) and m.labels == (f"{m.meta['content']}|{m.meta['style']}",) for m in motions)


def test_bundled_dataset1_clips_are_crops_of_the_full_data_with_its_split(bundled, real_d1):
    sub, _ = bundled
    full = {m.name: m for m in real_d1[0]}
    d1 = [m for m in sub if m.meta["dataset"] == 1]
    assert len(d1) >= 16
    for m in d1:
        src = full[m.name]
        assert m.meta["split"] == src.meta["split"]
        s, e = m.meta["crop"]
        np.testing.assert_array_equal(m.joints3d_world_mm, src.joints3d_world_mm[s:e])


def test_bundled_val_takes_follow_the_rule(bundled):
    sub, _ = bundled
    groups = defaultdict(list)
    for m in sub:
        groups[(m.meta["dataset"], m.meta["content"], m.meta["style"])].append(m)
    for ms in groups.values():
        train = [m.meta["take"] for m in ms if m.meta["split"] == "train"]
        val = [m.meta["take"] for m in ms if m.meta["split"] == "val"]
        # Held-out takes are the last ones of their group; a group showing a val take has >= 2 takes.
        assert not val or not train or max(train) < min(val)
        assert all(t >= 2 for t in val)


def test_summarize_counts(bundled):
    motions, _ = bundled
    s = summarize(motions)
    assert s["clips"] == len(motions) and s["subjects"] == 2 and s["unlabelled_clips"] == 0
    assert s["splits"]["train"]["clips"] + s["splits"]["val"]["clips"] == len(motions)
