"""Human3.6M framewise labels: reading, length policy, join report (the shipped labels file + tiny fixtures)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from actionpose.data.framewise import (
    LABEL8_CLASSES,
    LABEL11_CLASSES,
    default_framewise_path,
    fit_length,
    join_framewise,
    load_framewise_labels,
)
from actionpose.data.motion import Motion

REPO = Path(__file__).resolve().parents[1]
REAL = REPO / "actionpose/assets/h36m/framewise_labels_int8.npz"


def _motion(name: str, n: int) -> Motion:
    return Motion(joints3d_world_mm=np.zeros((n, 17, 3), np.float32), fps=50.0, subject=name.split("/")[0],
                  name=name, source="h36m")


def test_real_file_both_schemes():
    assert default_framewise_path() == REAL.resolve() or default_framewise_path() == REAL
    t11, t8 = load_framewise_labels(), load_framewise_labels(REAL, "label8")
    assert len(t11) == len(t8) == 210 and set(t11) == set(t8)
    assert sorted(k for k in t11 if "#" in k) == [
        "S5/Discussion#expmap_1", "S5/Discussion#expmap_2", "S7/Discussion#expmap_2",
        "S7/SittingDown#expmap_2", "S9/Discussion#expmap_1"]
    classes, walking = t11["S1/Walking 1"]
    assert classes == LABEL11_CLASSES and walking.dtype == np.int16
    assert t8["S1/Walking 1"][0] == LABEL8_CLASSES
    assert len(walking) == len(t8["S1/Walking 1"][1])
    assert classes[np.bincount(walking).argmax()] == "walking"  # a walking take is mostly walking
    sits = t11["S1/Sitting 1"][1]
    assert {"sitting chair"} <= {classes[i] for i in np.unique(sits)}


def test_real_join_reports_unmatched():
    table = load_framewise_labels(REAL)
    n = len(table["S5/Walking 1"][1])
    motions = [_motion("S5/Walking 1", n), _motion("S5/Discussion 2", 100)]
    report = join_framewise(motions, table)
    assert report.joined == ["S5/Walking 1"] and report.motions_without_labels == ["S5/Discussion 2"]
    assert "S5/Discussion#expmap_1" in report.labels_without_motion
    assert all(k.startswith("S5/") for k in report.labels_without_motion)  # only loaded subjects
    assert motions[0].meta["framewise"]["trimmed"] == 0 and motions[0].meta["framewise"]["padded"] == 0
    assert motions[0].validate() and motions[1].validate()
    assert "S5/Discussion 2" in report.summary()


def test_fit_length():
    a = np.array([1, 2, 3], np.int16)
    assert fit_length(a, 2)[0].tolist() == [1, 2] and fit_length(a, 2)[1:] == (1, 0)
    assert fit_length(a, 5)[0].tolist() == [1, 2, 3, -1, -1] and fit_length(a, 5)[1:] == (0, 2)
    assert fit_length(a, 3)[1:] == (0, 0)


def test_join_remaps_to_distinct_labels(tmp_path):
    np.savez(tmp_path / "l.npz", **{"S1/Sitting 1|label11": np.array([3, 3, 8, 7, 7], np.int8),
                                    "S1/Sitting 1|label8": np.array([3, 3, 6, 0, 0], np.int8)})
    m = _motion("S1/Sitting 1", 6)
    report = join_framewise([m], load_framewise_labels(tmp_path / "l.npz"))
    assert m.labels == ("sitting chair", "standing", "standing up")
    assert m.label_per_frame.tolist() == [0, 0, 2, 1, 1, -1]
    assert m.frame_labels()[-1] == "" and m.frame_labels()[2] == "standing up"
    assert report.padded == {"S1/Sitting 1": 1} and m.validate()


def test_bad_files(tmp_path):
    with pytest.raises(ValueError, match="unknown scheme 'label5'"):
        load_framewise_labels(tmp_path / "x.npz", "label5")
    with pytest.raises(ValueError, match=r"x\.npz: framewise labels file not found"):
        load_framewise_labels(tmp_path / "x.npz")
    np.savez(tmp_path / "k.npz", **{"S1/Walking": np.zeros(3, np.int8)})
    with pytest.raises(ValueError, match=r"key 'S1/Walking' is not of the form"):
        load_framewise_labels(tmp_path / "k.npz")
    np.savez(tmp_path / "r.npz", **{"S1/Walking|label11": np.array([0, 11], np.int8)})
    with pytest.raises(ValueError, match=r"'S1/Walking\|label11' has class indices outside -1..10"):
        load_framewise_labels(tmp_path / "r.npz")
    np.savez(tmp_path / "f.npz", **{"S1/Walking|label11": np.array([0.5])})
    with pytest.raises(ValueError, match="expected a 1-D integer array"):
        load_framewise_labels(tmp_path / "f.npz")
    np.savez(tmp_path / "o.npz", **{"S1/Walking|label8": np.array([0], np.int8)})
    with pytest.raises(ValueError, match="no keys for scheme 'label11'"):
        load_framewise_labels(tmp_path / "o.npz")
    raw = (tmp_path / "o.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"t\.npz: not a readable npz") as e:
        load_framewise_labels(tmp_path / "t.npz")
    assert "\n" not in str(e.value)


def test_stats_script_runs():
    out = subprocess.run([sys.executable, str(REPO / "benchmarks/framewise_stats.py")], capture_output=True,
                         text=True, check=True, cwd=REPO).stdout
    assert "label11: 210 sequences" in out and "| walking | 142909 |" in out
    assert "keys that match no 3D sequence name (5)" in out
