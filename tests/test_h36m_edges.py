"""Human3.6M as users have it (issue 25): the rough edges between their files and a trustworthy number,
each on a tiny fixture written in the exact on-disk layout (VideoPose3D npz pair, 3d-pose-baseline
folder). Licensed data is never read; the fixtures are synthetic poses through the real calibration."""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from actionpose import api
from actionpose.cli import main
from actionpose.data.cache import load_motions, read_info
from actionpose.data.h36m import CAMERA_IDS, KP2D_VALUES, load_h36m, read_npz_object
from actionpose.data.prepare import prepare
from actionpose.evaluate import evaluate, format_report
from actionpose.skeleton import MPII16_TO_17
from conftest import SMALL
from test_h36m import _cameras, _poses, _project_all, _to32, write_baseline, write_npz_pair

ROOT = Path(__file__).resolve().parents[1]
# (subject, sequence, frames): a training subject, the validation subject S8, a test subject.
SEQS = [("S1", "Directions 1", 12), ("S1", "Walking", 10), ("S8", "Eating", 9), ("S8", "Walking 1", 9),
        ("S9", "Photo 1", 8), ("S9", "WalkDog", 7)]
BLANK = ("S9", "Photo 1", 2)  # this sequence's camera 58860488 (index 2): every detection NaN
TINY = {"model": {**SMALL["model"], "maxlen": 3}, "data": {"batch_size": 2, "stride": 3},
        "train": {**SMALL["train"], "max_steps": 4, "val_every": 2, "ckpt_every": 2, "val_max_windows": 8}}


def _mpii(uv: np.ndarray) -> np.ndarray:
    """H36M-17 px [T, 17, 2] -> MPII-16 order [T, 16, 2] (the Stacked Hourglass files)."""
    out = np.zeros((uv.shape[0], 16, 2), np.float32)
    for h36m_idx, mpii_idx in enumerate(MPII16_TO_17):
        if mpii_idx is not None:
            out[:, mpii_idx] = uv[:, h36m_idx]
    return out


def write_vp3d(folder: Path, det_name: str = "data_2d_h36m_sh_ft_h36m.npz", blank: bool = True) -> dict:
    """VideoPose3D pair: data_3d_h36m.npz + a Stacked-Hourglass-like detections file (MPII-16, 2
    channels) with a NaN joint in S1/Walking and, when `blank`, one camera of S9/Photo 1 all NaN."""
    folder.mkdir(parents=True, exist_ok=True)
    pos3d, pos2d, truth = {}, {}, {}
    for i, (s, a, n) in enumerate(SEQS):
        j17 = _poses(n, i + 1)
        truth[(s, a)] = j17
        pos3d.setdefault(s, {})[a] = (_to32(j17) / 1000.0).astype(np.float32)
        pos2d.setdefault(s, {})[a] = [_mpii(uv) for uv in _project_all(s, j17)]
    pos2d["S1"]["Walking"][1][4, 5] = np.nan  # one missed joint (frame 4: also a frame at 25 fps)
    if blank:
        s, a, c = BLANK
        pos2d[s][a][c][:] = np.nan
    np.savez_compressed(folder / "data_3d_h36m.npz", positions_3d=pos3d)
    np.savez_compressed(folder / det_name, positions_2d=pos2d, metadata={"num_joints": 16})
    return pos2d


def _prepare_quiet(*args, **kwargs) -> dict:
    """prepare() with its loader warnings silenced: they are kept in the summary's `issues`, checked there."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return prepare(*args, progress=False, with_framewise_labels=False, **kwargs)


@pytest.fixture(scope="module")
def h36m(tmp_path_factory):
    """(raw npz folder, prepared folder at 50 fps, a tiny scratch run fine-tuned (and validated) on it)."""
    root = tmp_path_factory.mktemp("h36m_edges")
    write_vp3d(root / "vp3d")
    _prepare_quiet("h36m", root / "vp3d", root / "p50")
    api.finetune("scratch", root / "run", overrides={**TINY, "data": {**TINY["data"], "path": str(root / "p50")}},
                 progress=False)
    return root / "vp3d", root / "p50", root / "run"


# ------------------------------------------------------------- 1. a camera whose detections are all NaN

def test_all_nan_camera_is_flagged_at_prepare_npz(h36m, tmp_path):
    raw, prepared, _ = h36m
    info = read_info(prepared)
    assert info["cameras_without_2d"] == ["S9/Photo 1: 58860488"]
    assert any("no 2D for camera(s) 58860488 (every detection of 58860488 is NaN" in i for i in info["issues"])
    photo = {m.name: m for m in load_motions(prepared)[0]}["S9/Photo 1"]
    assert sorted(photo.kp2d_px) == sorted(c for c in CAMERA_IDS if c != "58860488")
    assert photo.meta["kp2d_missing_cameras"] == ["58860488"] and photo.meta["kp2d_blank_cameras"] == ["58860488"]
    assert "kp2d_nan_joints" not in photo.meta  # the dropped camera's NaNs are not counted as masked joints


def test_all_nan_camera_is_skipped_at_evaluation_npz(h36m, tmp_path):
    _, prepared, run = h36m
    with pytest.warns(UserWarning, match=r"1 camera view\(s\) without 2D detections skipped.*S9/Photo 1:58860488"):
        rep = evaluate(run, prepared, write=False, mlp_floor=None)
    assert rep.header["cameras_without_2d"] == ["S9/Photo 1:58860488"]
    assert rep.header["views"] == 2 * 4 - 1  # S9's two sequences, the blank view not scored
    assert "58860488" not in set(rep.per_sequence[rep.per_sequence["sequence"] == "S9/Photo 1"]["view"])
    assert "WARNING 1 camera view(s) have no 2D detections and were skipped" in format_report(rep)


def test_every_camera_blank_is_never_scored_on_projected_ground_truth(h36m, tmp_path):
    raw, _, run = h36m
    pos2d = read_npz_object(raw / "data_2d_h36m_sh_ft_h36m.npz", "positions_2d")
    for cam in pos2d["S9"]["WalkDog"]:
        cam[:] = np.nan
    src = tmp_path / "vp3d"
    src.mkdir()
    (src / "data_3d_h36m.npz").write_bytes((raw / "data_3d_h36m.npz").read_bytes())
    np.savez_compressed(src / "data_2d_h36m_sh_ft_h36m.npz", positions_2d=pos2d, metadata={"num_joints": 16})
    summary = _prepare_quiet("h36m", src, tmp_path / "p")
    assert "S9/WalkDog: " + ", ".join(CAMERA_IDS) in summary["cameras_without_2d"]
    with pytest.warns(UserWarning, match="5 camera view"):
        rep = evaluate(run, tmp_path / "p", write=False, mlp_floor=None)
    assert "gt (projected)" not in rep.header["2d_source"] and rep.header["views"] == 3


def test_all_nan_camera_is_flagged_and_skipped_in_the_baseline_folder(h36m, tmp_path):
    _, _, run = h36m
    root = tmp_path / "h36m"
    write_baseline(root)
    f = root / "S9" / "StackedHourglass" / "TakingPhoto_1.58860488.h5"
    with h5py.File(f, "r+") as hf:
        hf["poses"][...] = np.nan
    summary = _prepare_quiet("h36m", root, tmp_path / "p")
    assert summary["cameras_without_2d"] == ["S9/Photo 1: 58860488"]
    # The baseline fixture has no S8: no validation part (said), fine-tuned on 50 fps like the run.
    assert any("no validation part" in i for i in summary["issues"])
    with pytest.warns(UserWarning, match="S9/Photo 1:58860488"):
        rep = evaluate(run, tmp_path / "p", write=False, mlp_floor=None)
    assert rep.header["cameras_without_2d"] == ["S9/Photo 1:58860488"] and rep.header["views"] == 7


# ------------------------------------------------------------- 2. a declared validation part

def test_prepared_h36m_has_a_validation_part_of_the_training_subjects(h36m, tmp_path, capsys):
    raw, prepared, run = h36m
    ms = load_motions(prepared)[0]
    splits = {m.name: m.meta["split"] for m in ms}
    assert {n for n, s in splits.items() if s == "val"} == {"S8/Eating", "S8/Walking 1"}
    assert {n for n, s in splits.items() if s == "test"} == {"S9/Photo 1", "S9/WalkDog"}
    assert next(m for m in ms if m.subject == "S8").meta["split_rule"].startswith("validation part: subject(s) S8")
    vals = [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["split"] == "val"]
    assert [r["step"] for r in vals] == [2, 4] and all(r["mpjpe_mm"] > 0 for r in vals)  # a curve
    best = api.best_validation(run)
    assert best["validations"] == 2 and best["mpjpe_mm"] == min(r["mpjpe_mm"] for r in vals)
    out = tmp_path / "p-cli"
    assert main(["prepare", "h36m", "--source", str(raw), "--out", str(out), "--labels", "none", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "split val    clips      2" in text and "split val = validation part: subject(s) S8" in text
    assert read_info(out)["num_motions"] == 6


def test_validation_subjects_option(h36m, tmp_path):
    raw, _, _ = h36m
    with pytest.warns(UserWarning):
        ms = load_h36m(raw, with_framewise_labels=False, val_subjects="none")
    assert {m.meta["split"] for m in ms if m.subject == "S8"} == {"train"}
    with pytest.warns(UserWarning):
        ms = load_h36m(raw, with_framewise_labels=False, val_subjects=["S1"])
    assert {m.subject for m in ms if m.meta["split"] == "val"} == {"S1"}
    with pytest.raises(ValueError, match=r"val_subjects 'S9' is not a training subject.*never from the test") as e:
        load_h36m(raw, with_framewise_labels=False, val_subjects="S9")
    assert "\n" not in str(e.value)
    with pytest.warns(UserWarning, match="would leave no training subject"):  # only S8 of the training subjects
        ms = load_h36m(raw, with_framewise_labels=False, subjects=["S8", "S9"])
    assert {m.meta["split"] for m in ms if m.subject == "S8"} == {"train"}


# ------------------------------------------------------------- 3. frame rate at fine-tuning

def test_finetune_refuses_data_at_another_fps(h36m, tmp_path, capsys):
    raw, p50, _ = h36m
    _prepare_quiet("h36m", raw, tmp_path / "p25", fps=25)
    run25 = tmp_path / "run25"
    api.finetune("scratch", run25, overrides={**TINY, "train": {**TINY["train"], "max_steps": 1, "val_every": 0},
                                              "data": {**TINY["data"], "path": str(tmp_path / "p25")}}, progress=False)
    over = {**TINY, "data": {**TINY["data"], "path": str(p50)}}
    with pytest.raises(ValueError, match=r"p50: data is at 50 fps but the run .*run25 was trained at 25 fps; "
                                         r"prepare the data with --fps 25"):
        api.finetune(run25, tmp_path / "ft", overrides=over, progress=False)
    assert not (tmp_path / "ft").exists()  # refused before any work
    with pytest.raises(ValueError, match="data is at 50 fps but the run was trained at 25 fps"):  # same as evaluate
        evaluate(run25, p50, write=False, mlp_floor=None)
    assert main(["finetune", "--from", str(run25), "--run", str(tmp_path / "ft"), "--data", str(p50),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "data is at 50 fps but the run" in err and err.count("\n") == 1


# ------------------------------------------------------------- 4. counts after resampling

def test_missing_joint_counts_are_for_the_resampled_frames(h36m, tmp_path, capsys):
    raw, _, _ = h36m
    out = tmp_path / "p25"
    assert main(["prepare", "h36m", "--source", str(raw), "--out", str(out), "--fps", "25", "--labels", "none",
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    ms, info = load_motions(out)
    masked = nan = 0
    for m in ms:
        assert m.fps == 25 and m.meta["source_fps"] == 50
        assert m.meta["kp2d_absent_joints"] == ["neck_nose"]  # SH has no nose
        for cam, kp in m.kp2d_px.items():
            n_missing = int((kp[..., 2] <= 0).sum())
            assert m.meta["kp2d_missing_joints"][cam] == n_missing <= kp.shape[0] * 17
            assert m.meta.get("kp2d_nan_joints", {}).get(cam, 0) == n_missing - kp.shape[0]  # all but the nose
            masked += n_missing
        nan += sum(m.meta.get("kp2d_nan_joints", {}).values())
    walk = next(m for m in ms if m.name == "S1/Walking")
    # 10 frames at 50 fps -> 5 at 25 fps: the nose in each, plus the NaN joint of (50 fps) frame 4
    assert walk.num_frames == 5 and walk.meta["kp2d_missing_joints"]["55011271"] == 5 + 1
    assert walk.meta["kp2d_nan_joints"] == {"55011271": 1}
    assert f"2D joints missing (score 0, masked in the model): {masked} ({nan} NaN detections)" in text


# ------------------------------------------------------------- 5. which 2D was used is discoverable

def test_kp2d_usage_lists_every_value(capsys):
    with pytest.raises(SystemExit):
        main(["prepare", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for value in KP2D_VALUES:
        assert value in text, value
    assert "sh_pt: Stacked Hourglass pretrained on MPII" in text and "StackedHourglass/ folder" in text


def test_readme_human36m_section_lists_every_kp2d_value():
    readme = (ROOT / "README.md").read_text()
    start = readme.index("Human3.6M as users have it")
    section = readme[start:readme.index("\n## ", start)]
    for value in KP2D_VALUES:
        assert f"`{value}`" in section, value
    assert "sh_pt" in section and "StackedHourglass/" in section


def test_kp2d_sh_on_the_stock_folder_suggests_sh_pt(tmp_path, capsys):
    root = tmp_path / "h36m"
    write_baseline(root)  # StackedHourglass/ only, as in the stock archive
    with pytest.raises(ValueError, match=r"kp2d='sh' needs folder StackedHourglassFineTuned240/.*"
                                         r"StackedHourglass/ \(use --kp2d sh_pt\)") as e:
        load_h36m(root, with_framewise_labels=False, kp2d="sh")
    assert "\n" not in str(e.value)
    assert main(["prepare", "h36m", "--source", str(root), "--out", str(tmp_path / "p"), "--kp2d", "cpn"]) == 2
    assert "use --kp2d sh_pt" in capsys.readouterr().err


def test_auto_lists_the_2d_files_and_says_which_was_taken(tmp_path):
    src = tmp_path / "vp3d"
    pos2d = write_vp3d(src, det_name="data_2d_h36m_gt.npz", blank=False)
    for name in ("data_2d_h36m_hrnet_w48.npz", "my_detections.npz"):
        np.savez_compressed(src / name, positions_2d=pos2d, metadata={"num_joints": 16})
    with pytest.warns(UserWarning) as rec:
        ms = load_h36m(src, with_framewise_labels=False)
    msg = next(str(w.message) for w in rec if "2D files present" in str(w.message))
    assert "data_2d_h36m_gt.npz (gt)" in msg and "data_2d_h36m_hrnet_w48.npz (not a VideoPose3D detection name" in msg
    assert "my_detections.npz (not a VideoPose3D detection name" in msg
    assert re.search(r"took data_2d_h36m_gt\.npz because auto takes the first present of cpn, gt, sh", msg)
    assert {m.kp2d_source for m in ms} == {"gt"}
    # nothing recognised and several files: auto refuses to guess
    (src / "data_2d_h36m_gt.npz").unlink()
    with pytest.raises(ValueError, match="cannot choose between the 2D files .*pass --kp2d NAME=FILE"):
        load_h36m(src, with_framewise_labels=False)
    # one unrecognised file: taken, and said so
    (src / "my_detections.npz").unlink()
    with pytest.warns(UserWarning, match=r"took data_2d_h36m_hrnet_w48\.npz because it is the only 2D file"):
        load_h36m(src, with_framewise_labels=False)


def test_a_user_named_file_is_labelled_by_what_the_user_says(tmp_path, capsys):
    src = tmp_path / "vp3d"
    write_vp3d(src, blank=False)
    det = tmp_path / "dets" / "hourglass_run3.npz"
    det.parent.mkdir()
    det.write_bytes((src / "data_2d_h36m_sh_ft_h36m.npz").read_bytes())
    assert main(["prepare", "h36m", "--source", str(src), "--out", str(tmp_path / "p"), "--kp2d", f"sh_pt={det}",
                 "--labels", "none", "--no-progress"]) == 0
    assert "2D source: sh_pt (hourglass_run3.npz) (6 clips)" in capsys.readouterr().out
    assert read_info(tmp_path / "p")["kp2d_sources"] == {"sh_pt (hourglass_run3.npz)": 6}
    ms = load_h36m(src, with_framewise_labels=False, kp2d=str(det))  # no label: the file's name
    assert {m.kp2d_source for m in ms} == {"hourglass_run3"}


# ------------------------------------------------------------- 6. messages that point the right way

def test_evaluate_on_an_unprepared_folder_says_run_prepare(h36m, capsys):
    raw, _, run = h36m
    assert main(["evaluate", "--run", str(run), "--data", str(raw)]) == 2
    err = capsys.readouterr().err
    assert "raw Human3.6M (VideoPose3D npz layout, with the 3D) folder" in err
    assert "run `actionpose prepare h36m --source" in err and "only inference" not in err
    assert err.count("\n") == 1


def test_cameras_h5_is_accepted_in_both_layouts(tmp_path):
    root = tmp_path / "h36m"
    write_baseline(root)  # writes cameras.h5 from the shipped calibration
    src = tmp_path / "vp3d"
    write_npz_pair(src)
    with pytest.warns(UserWarning):
        ms = load_h36m(src, with_framewise_labels=False, cameras_json=root / "cameras.h5")
    for m in ms:
        for got, ref in zip(m.cameras, _cameras(m.subject)):
            np.testing.assert_allclose(got.R_world_to_cam, ref.R_world_to_cam, atol=1e-12)
            np.testing.assert_allclose(got.T_world_mm, ref.T_world_mm)
    renamed = tmp_path / "calib.bin"  # told apart by content, not by suffix
    renamed.write_bytes((root / "cameras.h5").read_bytes())
    ms = load_h36m(root, with_framewise_labels=False, cameras_json=renamed)
    assert len(ms) == 4
    assert main(["prepare", "h36m", "--source", str(src), "--out", str(tmp_path / "p"), "--cameras",
                 str(root / "cameras.h5"), "--labels", "none", "--no-progress"]) == 0


# ------------------------------------------------------------- 7. small things

def test_motionbert_table_prints_frame_counts_as_integers(h36m):
    _, prepared, run = h36m
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the blank camera's warning: checked above
        rep = evaluate(run, prepared, write=False, protocol="motionbert")
    assert rep.per_action["frames"].dtype.kind == "i"
    table = format_report(rep).split("per action (mean over actions of per-action frame means):\n")[1]
    rows = [ln.split() for ln in table.split("\n\n")[0].splitlines()[2:]]
    assert rows and all(re.fullmatch(r"\d+", r[-1]) for r in rows), rows  # 'frames' column: no '.0'
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = evaluate(run, prepared, write=False, mlp_floor=None)
    assert rep.per_action["frames"].dtype.kind == "i"


def test_prepare_into_an_existing_out_needs_overwrite(h36m, tmp_path, capsys):
    raw, _, _ = h36m
    out = tmp_path / "p"
    argv = ["prepare", "h36m", "--source", str(raw), "--out", str(out), "--labels", "none", "--no-progress"]
    assert main(argv) == 0
    before = (out / "meta.json").read_bytes()
    capsys.readouterr()
    assert main(argv + ["--split", "test"]) == 2
    err = capsys.readouterr().err
    assert "--out already exists and is not empty (a prepared data folder); pass --overwrite" in err
    assert (out / "meta.json").read_bytes() == before
    assert main(argv + ["--split", "test", "--overwrite"]) == 0
    assert {m.subject for m in load_motions(out)[0]} == {"S9"}
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    assert main(argv[:5] + [str(other)] + argv[6:] + ["--overwrite"]) == 2
    assert "also holds 1 other entries, e.g. notes.txt" in capsys.readouterr().err
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]


def test_finetune_help_lists_demo_pretrain(capsys):
    with pytest.raises(SystemExit):
        main(["finetune", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "'demo-pretrain'" in text and "'scratch'" in text and "'demo'" in text
