"""benchmarks/turn_by_view.py: the body's facing and net turn written out on a skeleton turned by hand,
and the committed results table agreeing with its JSON."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from actionpose.skeleton import H36M17_NAMES

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("turn_by_view", ROOT / "benchmarks" / "turn_by_view.py")
tbv = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tbv)


def _body_facing(heading_deg: np.ndarray) -> np.ndarray:
    """`[N, 17, 3]` a body (pelvis, hips, thorax placed; the rest at the pelvis) facing heading h: forward
    (sin h, 0, cos h) in camera coordinates (x right, y down, z forward); its left at -x when h = 0."""
    h = np.radians(heading_deg)
    y = np.zeros((len(h), 17, 3))
    left = np.stack([-np.cos(h), np.zeros_like(h), np.sin(h)], axis=1)  # forward rotated 90 deg to the body's left
    y[:, H36M17_NAMES.index("l_hip")] = 0.1 * left
    y[:, H36M17_NAMES.index("r_hip")] = -0.1 * left
    y[:, H36M17_NAMES.index("thorax")] = [0.0, -0.5, 0.0]
    return y


def test_facing_away_and_towards_the_camera():
    np.testing.assert_allclose(tbv.facing_depth(_body_facing(np.array([0.0, 180.0, 60.0]))), [1.0, -1.0, 0.5],
                               atol=1e-9)


@pytest.mark.parametrize("start", [0.0, 150.0, -100.0])
def test_net_turn_is_signed_by_the_bodys_left_and_survives_wrapping(start):
    left_turn = start - np.linspace(0.0, 120.0, 25)  # heading towards -x from facing +z: the body's left
    assert tbv.net_turn_deg(_body_facing(left_turn)) == pytest.approx(-120.0)
    assert tbv.net_turn_deg(_body_facing(left_turn[::-1])) == pytest.approx(120.0)


def test_span_turn_signs_follow_each_spans_heading_change():
    """Turn left for 20 frames, then right for 20: per 10 frames -1, -1, +1, +1; per 20 frames -1, +1 and
    a trailing 5-frame part left out; across the +-180 degree seam the unwrapped heading keeps the sign."""
    heading = np.concatenate([np.linspace(0.0, -60.0, 20), np.linspace(-57.0, 0.0, 20), [0.0] * 5])
    assert tbv.span_turn_signs(_body_facing(heading), 10).tolist() == [-1, -1, 1, 1]
    assert tbv.span_turn_signs(_body_facing(heading), 20).tolist() == [-1, 1]
    seam = np.linspace(170.0, 200.0, 10)  # a right turn through 180 deg
    assert tbv.span_turn_signs(_body_facing(seam), 10).tolist() == [1]


def test_committed_table_is_generated_from_its_json():
    out = ROOT / "benchmarks" / "results" / "turn_by_view"
    res = json.loads((out / "turn_by_view.json").read_text())
    assert (out / "table.md").read_text() == tbv.table(res)
    for row in res["rows"]:
        assert row["called_left_pct"] + row["called_right_pct"] + row["called_other_pct"] == pytest.approx(100.0)
