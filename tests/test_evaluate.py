"""Evaluation protocol tables on the bundled data and on a Human3.6M-layout fixture."""
import json

import pytest

from actionpose import api
from actionpose.cli import main
from actionpose.data.prepare import prepare
from actionpose.evaluate import evaluate, format_report
from conftest import SMALL
from test_h36m import write_labels, write_npz_pair


def test_evaluate_bundled_heldout(small_runs):
    _, ft = small_runs
    rep = evaluate(ft, flip=True)
    metrics = set(rep.summary["metric"])
    assert {"MPJPE", "P-MPJPE", "N-MPJPE", "MPJVE"} <= metrics
    s = rep.summary.set_index("metric")["value"]
    assert s["P-MPJPE"] <= s["MPJPE"] and s["MPJPE"] > 0
    assert rep.header["dataset"] == "Bandai-Namco" and rep.header["split"] == "val"
    assert rep.header["flip_tta"] is True and rep.header["2d_source"] == "gt (projected)"
    assert "Average" in rep.per_action.index and len(rep.per_joint) == 17
    # every frame of every held-out view is predicted exactly once
    assert rep.header["frames"] == int(rep.per_sequence["frames"].sum())
    saved = json.loads((ft / "eval.json").read_text())
    assert saved["header"]["split"] == "val" and saved["summary"][0]["metric"] == "MPJPE"
    txt = format_report(rep)
    assert "Bandai-Namco | split val | 2D: gt (projected)" in txt and "per action" in txt
    assert rep.recognition["windows"] > 0  # the frozen aligner still scores actions


def test_h36m_fixture_per_action_table(tmp_path, capsys):
    src = tmp_path / "h36m"
    write_npz_pair(src)
    prepared = tmp_path / "prepared"
    with pytest.warns(UserWarning):
        prepare("h36m", src, prepared, progress=False, with_framewise_labels=write_labels(tmp_path / "labels.npz"))
    over = {"model": {**SMALL["model"], "maxlen": 9}, "data": {"batch_size": 2, "stride": 3},
            "train": {**SMALL["train"], "max_steps": 2, "val_every": 0}}
    api.finetune("scratch", tmp_path / "run", overrides={**over, "data": {**over["data"], "path": str(prepared)}},
                 progress=False)
    capsys.readouterr()
    assert main(["evaluate", "--run", str(tmp_path / "run"), "--data", str(prepared), "--flip"]) == 0
    out = capsys.readouterr().out
    assert "Human3.6M | split test | 2D: cpn" in out
    saved = json.loads((tmp_path / "run" / "eval.json").read_text())
    actions = {r["action"] for r in saved["per_action"]}
    assert "Average" in actions and len(actions) >= 2
    assert saved["header"]["views"] == 4 * saved["header"]["sequences"]  # all 4 real cameras


def test_evaluate_refuses_other_fps(small_runs, tmp_path):
    _, ft = small_runs
    src = tmp_path / "h36m"
    write_npz_pair(src)
    with pytest.warns(UserWarning):
        prepare("h36m", src, tmp_path / "p", progress=False, with_framewise_labels=False)
    with pytest.raises(ValueError, match="50.* fps but the run was trained at 30"):
        evaluate(ft, tmp_path / "p")


def test_data_without_3d_says_inference_only(small_runs, tmp_path):
    _, ft = small_runs
    d = tmp_path / "kp"
    d.mkdir()
    (d / "clip.json").write_text(json.dumps([[[0, 0, 1]] * 17]))
    with pytest.raises(ValueError, match="only inference is possible"):
        evaluate(ft, d)


def test_from_a_folder_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "notarun").mkdir()
    code = main(["finetune", "--from", str(tmp_path / "notarun"), "--run", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and "not a run folder (expected config.yaml" in err and err.count("\n") == 1
