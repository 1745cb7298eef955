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
    # A lifter with windows shorter than the recognition context is also scored over 81-frame
    # segments: one per T = 81 window of each labelled view, fewer than its own windows.
    from actionpose.data.windows import covering_windows
    from actionpose.recognition_context import CONTEXT_FRAMES
    ctx = rep.recognition["context"]
    assert rep.header["frames_per_window"] < CONTEXT_FRAMES and ctx["frames"] == CONTEXT_FRAMES
    n_segments = sum(len(covering_windows(n, CONTEXT_FRAMES)) for n in rep.per_sequence["frames"])
    assert ctx["segments"] == n_segments < rep.recognition["windows"]
    assert 0.0 <= ctx["content_top1_pct"] <= 100.0 and set(ctx["per_content_top1_pct"]) <= set(
        rep.recognition["per_content_top1_pct"])
    assert f"over {CONTEXT_FRAMES}-frame segments ({n_segments};" in txt


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


# ------------------------------------------------------------------------ MPI-INF-3DHP: pooled

def test_3dhp_metrics_pooled_over_valid_frames(small_runs, tmp_path):
    """Published 3DHP numbers pool all valid frames; per-sequence values are only the breakdown."""
    import numpy as np

    from actionpose.data.cache import load_motions
    from test_3dhp import write_test_npz, write_train_npz
    _, ft = small_runs
    src = tmp_path / "3dhp"
    src.mkdir()
    write_test_npz(src / "data_test_3dhp.npz")
    write_train_npz(src / "data_train_3dhp.npz")
    with pytest.warns(UserWarning):  # NaN in an invalid frame, filled
        summary = prepare("3dhp", src, tmp_path / "p", progress=False, fps=30.0)
    assert summary["splits"]["train"]["clips"] == 2 and summary["splits"]["test"]["clips"] == 2  # both splits
    motions, _ = load_motions(tmp_path / "p")
    rep = evaluate(ft, tmp_path / "p", write=False)
    assert rep.header["dataset"] == "MPI-INF-3DHP" and rep.header["aggregation"].startswith("pooled")
    rows = rep.per_sequence.set_index("sequence")
    n_valid = {m.name: int(np.sum(m.meta["valid_frames"])) for m in motions if m.meta["split"] == "test"}
    assert n_valid == {"TS1": 3, "TS5": 2}  # the invalid TS1 frame is nearest to two frames of the 30 fps grid
    pooled = sum(rows.loc[s, "mpjpe_mm"] * n for s, n in n_valid.items()) / sum(n_valid.values())
    s = rep.summary.set_index("metric")["value"]
    assert s["MPJPE"] == pytest.approx(pooled, rel=1e-6)
    per_seq_mean = np.mean([rows.loc[k, "mpjpe_mm"] for k in n_valid])
    assert abs(pooled - per_seq_mean) > 1e-3  # the two aggregations really differ here
    assert set(rep.per_action.index) == {"TS1", "TS5", "Average"}
    assert {"PCK", "AUC"} <= set(rep.summary["metric"])


# ------------------------------------------------------------------ MotionBERT's H36M protocol

def test_motionbert_protocol_steps_on_genuine_frames():
    """Each step of protocol_motionbert checked with values (genuine mmpose Human3.6M frames)."""
    from pathlib import Path

    import numpy as np

    from actionpose import protocol_motionbert as MB
    from actionpose.data.h36m import load_cameras_json
    from actionpose.geometry import normalize_screen
    # Step 2: clips
    clips = MB.clip_indices(500, 243)
    assert [c[[0, -1]].tolist() for c in clips] == [[0, 242], [243, 485]]  # frames 486..499 not evaluated
    assert MB.clip_indices(100, 243)[0].tolist() == np.linspace(0, 100, 243, endpoint=False).astype(int).tolist()
    # Step 4: the 2.5D target of the genuine S1 frame seen by camera 54138969
    z = np.load(Path(__file__).resolve().parent / "fixtures/mmpose/test_h36m_body3d.npz")
    x_cam = z["S"][:1, :, :3] * 1000.0
    cam = load_cameras_json(None, ["S1"])["S1"][0]
    target, factor = MB.image_25d_target(x_cam, cam.f, cam.c)
    zr = x_cam[0, 0, 2]
    np.testing.assert_allclose(target[0, :, :2], x_cam[0, :, :2] / x_cam[0, :, 2:] * cam.f + cam.c, rtol=1e-12)
    np.testing.assert_allclose(factor, [2000.0 / (2000.0 * cam.f[0] / zr + 1.0)], rtol=1e-12)
    np.testing.assert_allclose(target[0, :, 2] * factor[0], x_cam[0, :, 2] - zr, rtol=1e-9)  # z back in mm
    # without distortion the target x, y sit within a few px of the genuine (distorted) 2D
    assert np.abs(target[0, :, :2] - z["part"][0, :, :2]).max() < 10.0
    # Step 5: denormalize is the inverse of the input's screen normalisation (z: times W/2)
    w, h = cam.image_size_wh
    norm = np.concatenate([normalize_screen(target[..., :2], w, h), target[..., 2:] * 2.0 / w], axis=-1)
    np.testing.assert_allclose(MB.denormalize(norm, (w, h)), target, atol=1e-9)
    # Step 6: a prediction shifted as a whole has zero error; one joint 10 px units off -> 10 * factor / 17
    e1, e2 = MB.frame_errors(target + 3.0, target, factor)
    assert e1[0] == pytest.approx(0.0, abs=1e-9) and e2[0] == pytest.approx(0.0, abs=1e-6)
    off = target.copy()
    off[0, 13, 0] += 10.0
    e1, _ = MB.frame_errors(off, target, factor)
    assert e1[0] == pytest.approx(10.0 * factor[0] / 17.0, rel=1e-9)
    # Step 8: mean over actions of per-action frame means (not frame-weighted)
    a = MB.VideoResult("S9/Walking 1", "c", "Walking", np.array([10.0, 20.0, 30.0]), np.zeros(3), np.ones(3, bool))
    b = MB.VideoResult("S9/Eating", "c", "Eating", np.array([50.0, np.nan]), np.zeros(2), np.array([True, False]))
    res = MB.summarize([a, b])
    assert res["mpjpe_mm"] == pytest.approx((20.0 + 50.0) / 2) and res["frames_not_covered"] == 1
    # Step 7: the excluded S9 sequences, in the naming of the prepared data
    assert MB.EXCLUDED_SEQUENCES == ("S9/Greeting", "S9/SittingDown 1", "S9/Waiting 1")


def test_evaluate_motionbert_protocol_end_to_end(tmp_path, capsys):
    from actionpose.data.cache import load_motions, save_motions
    src = tmp_path / "h36m"
    write_npz_pair(src)
    with pytest.warns(UserWarning):
        prepare("h36m", src, tmp_path / "p0", progress=False, with_framewise_labels=False)
    motions, info = load_motions(tmp_path / "p0")
    for m in motions:  # one test sequence renamed to a sequence MotionBERT excludes
        if m.name == "S9/WalkDog":
            m.name, m.meta["action"] = "S9/Waiting 1", "Waiting"
    save_motions(motions, tmp_path / "p", {"source": "h36m"})
    over = {"model": {**SMALL["model"], "maxlen": 3}, "data": {"batch_size": 2, "stride": 3, "path": str(tmp_path / "p")},
            "train": {**SMALL["train"], "max_steps": 2, "val_every": 0}}
    api.finetune("scratch", tmp_path / "run", overrides=over, progress=False)
    capsys.readouterr()
    assert main(["evaluate", "--run", str(tmp_path / "run"), "--data", str(tmp_path / "p"), "--protocol", "motionbert",
                 "--batch-size", "2"]) == 0
    out = capsys.readouterr().out
    assert "== protocol motionbert | Human3.6M | split test" in out
    assert "excluded (MotionBERT's corrupted S9 sequences): S9/Waiting 1" in out
    saved = json.loads((tmp_path / "run" / "eval.json").read_text())
    h = saved["header"]
    assert h["protocol"] == "motionbert" and h["excluded_sequences"] == ["S9/Waiting 1"]
    # S9/Photo 1 (4 frames, T = 3): one clip per camera, the 4th frame of each camera not evaluated
    assert h["views"] == 4 and h["frames"] == 4 * 3 and h["frames_not_covered"] == 4
    rows = saved["summary"]
    assert [r["metric"] for r in rows] == ["MPJPE", "P-MPJPE"] and rows[1]["value"] <= rows[0]["value"]
    assert len(h["checkpoint_sha256"]) == 64 and h["code_version"].startswith("0.")


# --------------------------------------------------------- shipped runs: read-only package, staleness

def test_demo_evaluation_goes_to_a_user_folder(tmp_path, monkeypatch):
    import hashlib

    import actionpose as ap
    from actionpose.evaluate import checkpoint_sha256, eval_is_stale, eval_path
    from actionpose.train.runs import demo_run_dir
    monkeypatch.setenv("ACTIONPOSE_HOME", str(tmp_path / "home"))
    shipped = demo_run_dir() / "eval.json"
    before = hashlib.sha256(shipped.read_bytes()).hexdigest() if shipped.exists() else None
    assert eval_path("demo") == tmp_path / "home" / "runs" / "demo" / "eval.json"
    assert eval_is_stale("demo") is None  # nothing evaluated yet in this home
    evaluate("demo", max_sequences=1)
    after = hashlib.sha256(shipped.read_bytes()).hexdigest() if shipped.exists() else None
    assert before == after  # the package was not written to
    saved = json.loads(eval_path("demo").read_text())
    assert saved["header"]["checkpoint_sha256"] == checkpoint_sha256(demo_run_dir())
    assert saved["header"]["protocol"] == "actionpose" and saved["header"]["made_at"]
    assert ap.eval_is_stale("demo") is False
    saved["header"]["checkpoint_sha256"] = "0" * 64  # an evaluation of an older checkpoint
    eval_path("demo").write_text(json.dumps(saved))
    assert ap.eval_is_stale("demo") is True


def test_recognition_over_several_context_lengths(small_runs):
    """`recognition_contexts`: one block per length longer than the run's windows; a length beyond every
    take scores each labelled view once, as a whole."""
    _, ft = small_runs
    rep = evaluate(ft, write=False, mlp_floor=None, max_sequences=6, recognition_contexts=(4, 27, 81, 10**6))
    T = rep.header["frames_per_window"]
    by = rep.recognition["by_context"]
    assert sorted(int(k) for k in by) == sorted(c for c in (27, 81, 10**6) if c > T)  # 4 <= T: no pooling
    assert rep.recognition["context"] == by["81"]
    assert by[str(10**6)]["segments"] == len(rep.per_sequence)  # every bundled view is labelled
    n = [by[k]["segments"] for k in sorted(by, key=int)]
    assert n == sorted(n, reverse=True) and n[0] < rep.recognition["windows"]
