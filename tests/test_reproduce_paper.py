"""benchmarks/reproduce_paper.py --smoke: every stage of the paper's pipeline (AMASS+BABEL prepare,
pretrain, Human3.6M fine-tune, both evaluation protocols, 3DHP) on fixtures, on CPU, and resumable."""
from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path

import pytest

from test_3dhp import write_test_npz, write_train_npz
from test_babel import write_tree
from test_h36m import write_npz_pair

pytest.importorskip("smplx")
ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("reproduce_paper", ROOT / "benchmarks" / "reproduce_paper.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_reproduce_paper_smoke_runs_every_stage_and_resumes(tmp_path):
    write_tree(tmp_path)
    write_npz_pair(tmp_path / "h36m")
    (tmp_path / "3dhp").mkdir()
    write_test_npz(tmp_path / "3dhp" / "data_test_3dhp.npz")
    write_train_npz(tmp_path / "3dhp" / "data_train_3dhp.npz")
    argv = ["--smoke", "--work", str(tmp_path / "work"), "--amass", str(tmp_path / "amass"),
            "--body-model", str(tmp_path / "smplh"), "--babel", str(tmp_path / "babel"),
            "--h36m", str(tmp_path / "h36m"), "--kp2d", "cpn", "--3dhp", str(tmp_path / "3dhp")]
    mod = _script()
    logs: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = mod.run(mod.parse_args(argv + ["--estimate-only"]), log=logs.append)
        assert est["estimate"]["training_steps"] == 6 and est["estimate"]["seconds_per_step"] > 0
        assert "pretrain" in est["pending"] and "3dhp" in est["pending"]
        summary = mod.run(mod.parse_args(argv), log=logs.append)
    m = summary["measured"]
    for key in ("h36m_actionpose", "h36m_motionbert", "3dhp"):
        assert m[key]["mpjpe_mm"] > 0 and m[key]["p_mpjpe_mm"] > 0, key
    assert m["h36m_motionbert"]["protocol"] == "motionbert" and m["h36m_actionpose"]["flip"] is True
    assert m["3dhp"]["setting"] == "fine-tuned on 3DHP train" and "cpn" in m["h36m_actionpose"]["2d_source"]
    table = mod.format_table(summary)
    assert "36.7" in table and "15.5" in table and "SMOKE RUN" in table
    assert json.loads((tmp_path / "work" / "reproduce.json").read_text())["measured"] == json.loads(json.dumps(m))
    # Re-running the same command finds every stage done and trains nothing.
    assert mod.plan(mod.parse_args(argv), tmp_path / "work") and all(d for _, d in mod.plan(mod.parse_args(argv), tmp_path / "work"))
    logs.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = mod.run(mod.parse_args(argv), log=logs.append)
    assert any("[pretrain] done (2 steps), skipped" in line for line in logs)
    assert again["measured"] == summary["measured"]
