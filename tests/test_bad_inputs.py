"""Bad-input catalogue (issue 15): what a careless user hands each entry point.

Every case asserts: a non-zero exit, exactly one line on stderr that names the file or field and
what was expected (a regular expression per case), no traceback, and nothing written or modified
(every file under the case's folder, the shared run and the package's shipped run/data keep their
bytes and times). Cases run `actionpose.cli.main([...])` in-process; the app's upload and run
picker are library calls (`ap.resolve_run`, `ap.Predictor`, `ap.load_keypoints`) whose exception
must be one line. A few real subprocesses check the exit code and stderr end to end.

`docs/errors.md` is this catalogue's table; `test_errors_doc_is_current` checks it, and
`ACTIONPOSE_WRITE_ERRORS_DOC=1 pytest tests/test_bad_inputs.py` rewrites it.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import actionpose as ap
from actionpose import cli
from actionpose.data.h36m import default_cameras_path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "errors.md"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TINY = {"model": {"dim_feat": 16, "dim_rep": 32, "depth": 1, "num_heads": 2, "maxlen": 27, "embed_hidden": 32},
        "data": {"batch_size": 4, "stride": 27},
        "train": {"log_every": 1, "val_every": 0, "ckpt_every": 2, "max_steps": 3}}
MESSAGES: dict[str, str] = {}  # case id -> normalised message, for the docs table


# ------------------------------------------------------------------------------------ environment

@dataclass
class Env:
    root: Path
    run: Path  # a tiny trained run (motionbert-style: no text model needed); cases copy it first


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Env:
    root = tmp_path_factory.mktemp("bad")
    run = root / "run"
    ap.pretrain("tiny", "motionbert-style", run, overrides=TINY, progress=False)
    return Env(root, run)


def _copy_run(env: Env, d: Path, name: str = "run") -> Path:
    dst = d / name
    shutil.copytree(env.run, dst)
    return dst


def _snapshot(*folders: Path) -> dict:
    """Every file and folder under `folders`: files by (size, mtime_ns, sha1 of the bytes), folders by
    name only (probing a folder for write access creates and removes an entry, which moves its mtime)."""
    out = {}
    for top in folders:
        if not top.exists():
            continue
        for p in sorted(top.rglob("*")):
            if p.is_file():
                st = p.stat()
                out[str(p)] = (st.st_size, st.st_mtime_ns, hashlib.sha1(p.read_bytes()).hexdigest())
            else:
                out[str(p)] = "folder"
    return out


def _shipped() -> list[Path]:
    return [ap.demo_run_dir(), ap.bundled_data_dir()]


# ---------------------------------------------------------------------------------- bad files

def _bvh(n_frames: int, rows: list[str]) -> str:
    """A two-joint BVH (6 + 3 channels) with `n_frames` in its header and the given frame rows."""
    return ("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 0\n  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
            "  JOINT Spine\n  {\n    OFFSET 0 10 0\n    CHANNELS 3 Zrotation Xrotation Yrotation\n"
            "    End Site\n    {\n      OFFSET 0 10 0\n    }\n  }\n}\n"
            f"MOTION\nFrames: {n_frames}\nFrame Time: 0.0333333\n" + "".join(r + "\n" for r in rows))


def _write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)
    return path


def _keypoints_json(path: Path, scale: float = 1.0, offset: float = 0.0, frames: int = 30) -> Path:
    """H36M-17 keypoints of a standing figure in a 1000 x 1000 image (u, v px, score 1), scaled/offset."""
    rng = np.random.default_rng(0)
    base = np.stack([np.linspace(400, 600, 17), np.linspace(200, 800, 17)], axis=-1)
    kp = base[None] + rng.normal(0, 2, size=(frames, 17, 2))
    kp = kp * scale + offset
    data = {"layout": "h36m17", "keypoints": [[[float(x), float(y), 1.0] for x, y in fr] for fr in kp]}
    return _write(path, json.dumps(data))


def _nan_state_dict(path: Path) -> Path:
    from safetensors.torch import load_file, save_file
    sd = load_file(str(FIXTURES / "motionbert" / "dstformer_tiny_state_dict.safetensors"))
    sd["head.weight"][0, 0] = float("nan")
    save_file(sd, str(path))
    return path


def _nan_run(env: Env, d: Path) -> Path:
    from safetensors.torch import load_file, save_file

    from actionpose.train.checkpoint import CKPT_NAME, read_meta
    run = _copy_run(env, d)
    meta = read_meta(run / CKPT_NAME)
    tensors = load_file(str(run / CKPT_NAME))
    key = sorted(k for k in tensors if k.startswith("lifter.") and tensors[k].is_floating_point())[0]
    tensors[key].view(-1)[0] = float("inf")
    save_file(tensors, str(run / CKPT_NAME), metadata={"actionpose": json.dumps(meta)})
    return run


def _bad_meta_run(env: Env, d: Path) -> Path:
    from safetensors.torch import load_file, save_file

    from actionpose.train.checkpoint import CKPT_NAME
    run = _copy_run(env, d)
    tensors = load_file(str(run / CKPT_NAME))
    save_file(tensors, str(run / CKPT_NAME), metadata={"actionpose": '{"step": 3, "preset": '})
    return run


def _truncated(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _h36m_folder(d: Path) -> Path:
    """A VideoPose3D-layout folder whose data_3d_h36m.npz was cut in half (a broken download)."""
    pos = {"S1": {"Walking": np.zeros((5, 32, 3), np.float32)}}
    folder = d / "h36m"
    folder.mkdir()
    np.savez_compressed(folder / "data_3d_h36m.npz", positions_3d=np.array(pos, dtype=object))
    _truncated(folder / "data_3d_h36m.npz")
    return folder


def _baseline_folder(d: Path) -> Path:
    """A 3d-pose-baseline folder as the stock archive has it: S1's 3D and StackedHourglass/ (no fine-tuned SH)."""
    root = d / "h36m"
    (root / "S1" / "MyPoses" / "3D_positions").mkdir(parents=True)
    (root / "S1" / "MyPoses" / "3D_positions" / "Walking.h5").write_bytes(b"")
    (root / "S1" / "StackedHourglass").mkdir()
    return root


def _zip_without_field(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("other.npy", b"")
    return path


# --------------------------------------------------------------------------------------- cases

@dataclass(frozen=True)
class Case:
    id: str
    entry: str  # entry point, as the docs table names it
    what: str  # the bad input in words
    make: Callable[[Path, Env], list | Callable]  # -> argv for cli.main, or a library call
    expect: str  # regular expression the one-line message must match


CASES: list[Case] = []


def case(id, entry, what, expect):
    def wrap(make):
        CASES.append(Case(id, entry, what, make, expect))
        return make
    return wrap


# prepare -----------------------------------------------------------------------------------
case("prepare-missing-source", "prepare bandai", "--source does not exist",
     r"<tmp>/nope: no such bandai source")(
    lambda d, e: ["prepare", "bandai", "--source", str(d / "nope"), "--out", str(d / "out"), "--no-progress"])
case("prepare-bandai-empty-folder", "prepare bandai", "--source is a folder without the dataset",
     r"<tmp>/src: dataset 1 not found \(expected Bandai-Namco-Research-Motiondataset-1/data/ or")(
    lambda d, e: (d.joinpath("src").mkdir(), ["prepare", "bandai", "--source", str(d / "src"), "--out", str(d / "out"),
                                              "--no-progress"])[1])
case("prepare-bvh-zero-frames", "prepare bvh", "a BVH file with `Frames: 0`",
     r"<tmp>/empty.bvh: Frames = 0; expected at least one frame")(
    lambda d, e: ["prepare", "bvh", "--source", str(_write(d / "empty.bvh", _bvh(0, []))), "--out", str(d / "out"),
                  "--no-progress"])
case("prepare-bvh-truncated", "prepare bvh", "a BVH file cut in the middle of a frame",
     r"<tmp>/cut.bvh: truncated: frame 1 .* Frames = 3")(
    lambda d, e: ["prepare", "bvh", "--source", str(_write(d / "cut.bvh", _bvh(3, ["0 0 0 0 0 0 0 0 0"])
                                                               + "0 0 0 0")), "--out", str(d / "out"), "--no-progress"])
case("prepare-fps-zero", "prepare", "--fps 0",
     r"argument --fps: expected a number > 0, got 0")(
    lambda d, e: ["prepare", "bvh", "--source", str(d), "--out", str(d / "out"), "--fps", "0"])
case("prepare-fps-nan", "prepare", "--fps nan",
     r"argument --fps: expected a finite number > 0, got 'nan'")(
    lambda d, e: ["prepare", "bvh", "--source", str(d), "--out", str(d / "out"), "--fps", "nan"])
case("prepare-h36m-truncated-npz", "prepare h36m", "data_3d_h36m.npz cut in half (broken download)",
     r"<tmp>/h36m/data_3d_h36m.npz: not a readable npz file")(
    lambda d, e: ["prepare", "h36m", "--source", str(_h36m_folder(d)), "--out", str(d / "out"), "--no-progress"])
case("prepare-h36m-out-is-source", "prepare h36m", "--out is the --source folder",
     r"<tmp>/h36m: --out is the --source itself")(
    lambda d, e: ["prepare", "h36m", "--source", str(_h36m_folder(d)), "--out", str(d / "h36m")])
case("prepare-h36m-out-not-empty", "prepare h36m", "--out an existing prepared folder, without --overwrite",
     r"<tmp>/out: --out already exists and is not empty \(a prepared data folder\); pass --overwrite")(
    lambda d, e: ["prepare", "h36m", "--source", str(_h36m_folder(d)), "--out", str(_prepared(d / "out")),
                  "--no-progress"])
case("prepare-h36m-val-subject-test", "prepare h36m", "--val-subjects S9 (a test subject)",
     r"<tmp>/h36m: val_subjects 'S9' is not a training subject; .*\(never from the test subjects S9, S11\)")(
    lambda d, e: ["prepare", "h36m", "--source", str(_h36m_folder(d)), "--out", str(d / "out"), "--val-subjects", "S9",
                  "--no-progress"])
case("prepare-h36m-kp2d-sh-stock-folder", "prepare h36m",
     "--kp2d sh on a 3d-pose-baseline folder with the stock StackedHourglass/ only",
     r"<tmp>/h36m/S1: kp2d='sh' needs folder StackedHourglassFineTuned240/, which is missing "
     r"\(2D folders here: StackedHourglass/ \(use --kp2d sh_pt\)\)")(
    lambda d, e: ["prepare", "h36m", "--source", str(_baseline_folder(d)), "--out", str(d / "out"), "--kp2d", "sh",
                  "--cameras", str(default_cameras_path()), "--no-progress"])
case("prepare-3dhp-missing-field", "prepare 3dhp", "an npz without the field `data`",
     r"<tmp>/data_test_3dhp.npz: missing field 'data'")(
    lambda d, e: ["prepare", "3dhp", "--source", str(_zip_without_field(d / "data_test_3dhp.npz")), "--split", "test",
                  "--out", str(d / "out"), "--no-progress"])
case("prepare-out-under-file", "prepare 3dhp", "--out inside a path that is a file",
     r"<tmp>/file/out: cannot create the output folder: <tmp>/file is a file, not a folder")(
    lambda d, e: ["prepare", "3dhp", "--source", str(_write(d / "data_test_3dhp.npz", b"x")),
                  "--out", str(_write(d / "file", "x") / "out")])
case("prepare-unknown-kind", "prepare", "an unknown dataset kind",
     r"argument kind: invalid choice: 'kinetics'")(
    lambda d, e: ["prepare", "kinetics", "--source", str(d), "--out", str(d / "out")])

# pretrain ----------------------------------------------------------------------------------
def _pretrain(d: Path, *extra: str) -> list[str]:
    return ["pretrain", "--run", str(d / "new-run"), "--no-progress", *extra]


for _key, _val, _expect in [
    ("train.ckpt_every", "0", r"config train.ckpt_every = 0: expected an integer > 0"),
    ("train.log_every", "0", r"config train.log_every = 0: expected an integer > 0"),
    ("model.num_heads", "0", r"config model.num_heads = 0: expected an integer > 0"),
    ("data.stride", "0", r"config data.stride = 0: expected an integer > 0"),
    ("model.depth", "2.5", r"config.model.depth: expected an integer, got 2.5"),
    ("optim.lr", ".nan", r"config optim.lr = nan: expected a finite number"),
    ("mask.joint_prob", "1.5", r"config mask.joint_prob = 1.5: expected a probability in \[0, 1\]"),
    ("synth.distance_mm", "[6000, 3000]", r"config synth.distance_mm = \(6000.0, 3000.0\): expected a \(low, high\) pair"),
    ("optim.betas", "[0.9]", r"config.optim.betas: expected a list of 2 values, got \[0.9\]"),
    ("model.dim_feat", "30", r"config model.dim_feat = 30 must be divisible by model.num_heads = 4"),
    ("optim.decay", "linear", r"config optim.decay = 'linear': expected one of 'cosine', 'constant'"),
    ("nosuch.key", "1", r"config: unknown key\(s\) nosuch"),
]:
    extra = ("--set", "model.num_heads=4") if _key == "model.dim_feat" else ()
    case(f"pretrain-set-{_key}={_val}", "pretrain", f"`--set {_key}={_val}`", _expect)(
        lambda d, e, k=_key, v=_val, x=extra: _pretrain(d, "--set", f"{k}={v}", *x))
case("pretrain-set-no-equals", "pretrain", "`--set optim.lr` (no value)",
     r"override 'optim.lr': expected KEY=VALUE")(lambda d, e: _pretrain(d, "--set", "optim.lr"))
case("pretrain-set-bad-yaml", "pretrain", "`--set optim.lr=[1` (not YAML)",
     r"override 'optim.lr=\[1': the value is not valid YAML")(lambda d, e: _pretrain(d, "--set", "optim.lr=[1"))
case("pretrain-config-binary", "pretrain", "--config is a binary file",
     r"<tmp>/c.yaml: cannot read config overrides")(
    lambda d, e: _pretrain(d, "--config", str(_write(d / "c.yaml", b"\xff\xfe\x00garbage"))))
case("pretrain-config-folder", "pretrain", "--config is a folder",
     r"<tmp>: is a folder; expected a config file")(lambda d, e: _pretrain(d, "--config", str(d)))
case("pretrain-config-list", "pretrain", "--config holds a YAML list",
     r"<tmp>/c.yaml: expected a mapping of config sections")(
    lambda d, e: _pretrain(d, "--config", str(_write(d / "c.yaml", "- 1\n- 2\n"))))
case("pretrain-run-under-file", "pretrain", "--run inside a path that is a file",
     r"<tmp>/file/run: cannot create the run folder: <tmp>/file is a file, not a folder")(
    lambda d, e: ["pretrain", "--run", str(_write(d / "file", "x") / "run"), "--no-progress"])
case("pretrain-run-not-writable", "pretrain", "--run where nothing can be created (/proc)",
     r"/proc/actionpose-run: cannot create the run folder: /proc is not writable")(
    lambda d, e: ["pretrain", "--run", "/proc/actionpose-run", "--no-progress"])
case("pretrain-max-steps-zero", "pretrain", "--max-steps 0",
     r"argument --max-steps: expected an integer > 0, got 0")(lambda d, e: _pretrain(d, "--max-steps", "0"))
case("pretrain-batch-negative", "pretrain", "--batch-size -4",
     r"argument --batch-size: expected an integer > 0, got -4")(lambda d, e: _pretrain(d, "--batch-size", "-4"))
case("pretrain-max-minutes-negative", "pretrain", "--max-minutes -1",
     r"argument --max-minutes: expected a number > 0, got -1")(lambda d, e: _pretrain(d, "--max-minutes", "-1"))
case("pretrain-seed-text", "pretrain", "--seed abc",
     r"argument --seed: expected an integer >= 0, got 'abc'")(lambda d, e: _pretrain(d, "--seed", "abc"))
case("pretrain-preset-unknown", "pretrain", "--preset huge (argparse choice, one line)",
     r"argument --preset: invalid choice: 'huge'")(lambda d, e: _pretrain(d, "--preset", "huge"))
case("pretrain-data-missing", "pretrain", "--data does not exist",
     r"<tmp>/nodata: no such prepared data dir")(lambda d, e: _pretrain(d, "--data", str(d / "nodata")))
case("pretrain-data-not-prepared", "pretrain", "--data is a folder without meta.json",
     r"<tmp>/raw: not a prepared data dir")(
    lambda d, e: (d.joinpath("raw").mkdir(), _pretrain(d, "--data", str(d / "raw")))[1])
case("pretrain-from-missing", "pretrain", "--from a run folder that does not exist",
     r"<tmp>/nosuchrun: no such run folder")(lambda d, e: _pretrain(d, "--from", str(d / "nosuchrun")))
case("pretrain-existing-run", "pretrain", "--run already holds a checkpoint, no --resume",
     r"<tmp>/run: already holds a checkpoint; pass --resume")(
    lambda d, e: ["pretrain", "--variant", "motionbert-style", "--run", str(_copy_run(e, d)), "--no-progress",
                  "--set", f"model={json.dumps(TINY['model'])}"])
case("pretrain-resume-other-config", "pretrain", "--resume with a changed config",
     r"<tmp>/run/config.yaml: cannot resume with a different config; differing keys: optim.lr")(
    lambda d, e: ["pretrain", "--variant", "motionbert-style", "--run", str(_copy_run(e, d)), "--resume", "--no-progress",
                  "--set", f"model={json.dumps(TINY['model'])}", "--set", f"data={json.dumps(TINY['data'])}",
                  "--set", f"train={json.dumps(TINY['train'])}", "--set", "optim.lr=0.001"])
case("pretrain-resume-other-max-steps", "pretrain", "--resume of an unfinished run with another --max-steps",
     r"<tmp>/run/config.yaml: train.max_steps = 5 but the resume asks for 9; the run stopped at step 3")(
    lambda d, e: _unfinished_resume(d, e))


case("pretrain-resume-other-data", "pretrain", "--resume on other data than the run was trained on",
     r"<tmp>/run/checkpoint.safetensors: trained on data [0-9a-f]+, but data.path <tmp>/data holds [0-9a-f]+")(
    lambda d, e: ["pretrain", "--variant", "motionbert-style", "--run", str(_copy_run(e, d)), "--resume", "--no-progress",
                  "--data", str(_prepared(d / "data")), "--set", f"model={json.dumps(TINY['model'])}",
                  "--set", f"data={json.dumps(TINY['data'])}", "--set", f"train={json.dumps(TINY['train'])}"])


def _prepared(out: Path, fps: float = 30.0) -> Path:
    """A prepared data dir of two synthetic 60-frame takes (a slowly swaying figure)."""
    from actionpose.data.cache import save_motions
    from actionpose.data.motion import Motion
    t = np.linspace(0, 1, 60, dtype=np.float32)[:, None, None]
    base = np.stack([np.zeros(17), np.zeros(17), np.linspace(0, 1700, 17)], -1).astype(np.float32)[None]
    motions = [Motion(joints3d_world_mm=base + 100 * np.sin(2 * np.pi * (t + i / 2)), fps=fps, subject="s",
                      name=f"take{i}", source="synthetic", meta={"split": split})
               for i, split in enumerate(("train", "val"))]
    save_motions(motions, out, {"source": "synthetic"})
    return out


def _unfinished_resume(d: Path, e: Env) -> list[str]:
    """The shared run stopped at step 3; its config is rewritten to say max_steps 5 (as if it had been
    killed at step 3 of 5), and the resume asks for 9."""
    import yaml
    run = _copy_run(e, d)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["train"]["max_steps"] = 5
    (run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    over = dict(TINY["train"], max_steps=9)
    return ["pretrain", "--variant", "motionbert-style", "--run", str(run), "--resume", "--no-progress",
            "--set", f"model={json.dumps(TINY['model'])}", "--set", f"data={json.dumps(TINY['data'])}",
            "--set", f"train={json.dumps(over)}"]


# finetune ----------------------------------------------------------------------------------
case("finetune-from-not-a-run", "finetune", "--from a folder without config.yaml",
     r"<tmp>: not a run folder \(expected config.yaml inside")(
    lambda d, e: ["finetune", "--from", str(d), "--run", str(d / "ft"), "--no-progress"])
case("finetune-from-nan-weights", "finetune", "--from a run whose checkpoint holds inf",
     r"<tmp>/run/checkpoint.safetensors: tensor lifter\.\S+ holds 1 NaN/inf value\(s\)")(
    lambda d, e: ["finetune", "--from", str(_nan_run(e, d)), "--run", str(d / "ft"), "--no-progress",
                  "--set", f"data={json.dumps(TINY['data'])}", "--set", "train.max_steps=2"])
case("finetune-from-truncated", "finetune", "--from a run whose checkpoint was cut short",
     r"<tmp>/run/checkpoint.safetensors: truncated or corrupt")(
    lambda d, e: ["finetune", "--from", str(_truncated(_copy_run(e, d) / "checkpoint.safetensors").parent),
                  "--run", str(d / "ft"), "--no-progress", "--set", "train.max_steps=2"])
case("finetune-scratch-preset", "finetune", "--from scratch --preset huge",
     r"unknown preset 'huge'; expected one of tiny, lite, base")(
    lambda d, e: ["finetune", "--from", "scratch", "--preset", "huge", "--run", str(d / "ft"), "--no-progress"])
case("finetune-val-every-negative", "finetune", "`--set train.val_every=-1`",
     r"config train.val_every = -1: expected an integer >= 0")(
    lambda d, e: ["finetune", "--from", "scratch", "--run", str(d / "ft"), "--set", "train.val_every=-1"])
case("finetune-source-config-unknown-key", "finetune", "--from a run whose config.yaml has an unknown key",
     r"<tmp>/run/config.yaml: config.optim: unknown key\(s\) lrr")(
    lambda d, e: ["finetune", "--from", str(_append(_copy_run(e, d) / "config.yaml", "\n  lrr: 1\n", after="optim:")),
                  "--run", str(d / "ft"), "--no-progress"])

case("finetune-other-fps", "finetune", "--from a 30 fps run, --data prepared at 50 fps",
     r"<tmp>/data50: data is at 50 fps but the run <tmp>/run was trained at 30 fps; prepare the data with --fps 30")(
    lambda d, e: ["finetune", "--from", str(_copy_run(e, d)), "--run", str(d / "ft"), "--no-progress",
                  "--data", str(_prepared(d / "data50", fps=50.0))])


def _append(path: Path, text: str, after: str) -> Path:
    """Insert `text` after the line `after` of a YAML file; returns the file's folder."""
    body = path.read_text().replace(after, after + text.rstrip("\n"), 1)
    path.write_text(body)
    return path.parent


# evaluate ----------------------------------------------------------------------------------
case("evaluate-missing-run", "evaluate", "--run does not exist",
     r"<tmp>/norun: no such run folder")(lambda d, e: ["evaluate", "--run", str(d / "norun")])
case("evaluate-noise-negative", "evaluate", "--noise -1",
     r"argument --noise: expected a number >= 0, got -1")(lambda d, e: ["evaluate", "--run", "demo", "--noise", "-1"])
case("demo-seed-negative", "demo", "--seed -1",
     r"argument --seed: expected an integer >= 0, got -1")(lambda d, e: ["demo", "--out", str(d / "demo"), "--seed", "-1"])
case("evaluate-meta-bad-json", "evaluate", "a checkpoint whose metadata is not JSON",
     r"<tmp>/run/checkpoint.safetensors: header field 'actionpose' is not valid JSON")(
    lambda d, e: ["evaluate", "--run", str(_bad_meta_run(e, d))])
case("evaluate-config-bad-yaml", "evaluate", "a run whose config.yaml is not YAML",
     r"<tmp>/run/config.yaml: not valid YAML")(
    lambda d, e: ["evaluate", "--run", str(_write(_copy_run(e, d) / "config.yaml", "model: [1, 2\n").parent)])
case("evaluate-no-checkpoint", "evaluate", "a run folder without its checkpoint",
     r"<tmp>/run/checkpoint.safetensors: no checkpoint")(
    lambda d, e: ["evaluate", "--run", str(_unlink(_copy_run(e, d) / "checkpoint.safetensors"))])
case("evaluate-data-missing", "evaluate", "--data does not exist",
     r"<tmp>/nodata: no such prepared data dir")(
    lambda d, e: ["evaluate", "--run", str(_copy_run(e, d)), "--data", str(d / "nodata")])
case("evaluate-data-raw-h36m", "evaluate", "--data a raw (unprepared) Human3.6M npz folder",
     r"<tmp>/h36m: a raw Human3.6M \(VideoPose3D npz layout, with the 3D\) folder, not a prepared data dir "
     r"\(no meta.json\); run `actionpose prepare h36m --source <tmp>/h36m --out PREPARED` on it")(
    lambda d, e: ["evaluate", "--run", str(_copy_run(e, d)), "--data", str(_h36m_folder(d))])


def _unlink(path: Path) -> Path:
    path.unlink()
    return path.parent


# infer -------------------------------------------------------------------------------------
def _infer(d: Path, e: Env, *extra: str, kp: Path | None = None, out: str = "out.json") -> list[str]:
    kp = kp if kp is not None else _keypoints_json(d / "kp.json")
    return ["infer", "--run", str(e.run), "--input", str(kp), "--output", str(d / out), *extra]


case("infer-input-folder", "infer", "--input is a folder",
     r"<tmp>/frames: is a folder; expected a keypoint file")(
    lambda d, e: (d.joinpath("frames").mkdir(), _infer(d, e, kp=d / "frames"))[1])
case("infer-input-missing", "infer", "--input does not exist",
     r"<tmp>/none.json: no such keypoint file")(lambda d, e: _infer(d, e, kp=d / "none.json"))
case("infer-output-suffix", "infer", "--output with an unknown suffix",
     r"<tmp>/out.txt: output file must end in .npz or .json")(lambda d, e: _infer(d, e, out="out.txt"))
case("infer-output-no-folder", "infer", "--output in a folder that does not exist",
     r"<tmp>/missing/out.json: the folder <tmp>/missing does not exist")(lambda d, e: _infer(d, e, out="missing/out.json"))
case("infer-output-is-folder", "infer", "--output names a folder",
     r"<tmp>/out.json: is a folder; expected an output file")(
    lambda d, e: (d.joinpath("out.json").mkdir(), _infer(d, e))[1])
case("infer-output-is-input", "infer", "--output is the input file",
     r"<tmp>/kp.json: the output would overwrite the input keypoint file")(lambda d, e: _infer(d, e, out="kp.json"))
case("infer-html-suffix", "infer", "--html with the wrong suffix",
     r"<tmp>/anim.png: HTML file must end in .html or .htm")(lambda d, e: _infer(d, e, "--html", str(d / "anim.png")))
case("infer-fps-zero", "infer", "--fps 0", r"argument --fps: expected a number > 0, got 0")(
    lambda d, e: _infer(d, e, "--fps", "0"))
case("infer-fps-negative", "infer", "--fps -30", r"argument --fps: expected a number > 0, got -30")(
    lambda d, e: _infer(d, e, "--fps", "-30"))
case("infer-top-k-negative", "infer", "--top-k -1", r"argument --top-k: expected an integer > 0, got -1")(
    lambda d, e: _infer(d, e, "--top-k", "-1"))
case("infer-scale-negative", "infer", "--scale-mm -1", r"argument --scale-mm: expected a number > 0, got -1")(
    lambda d, e: _infer(d, e, "--scale-mm", "-1"))
case("infer-image-size-zero", "infer", "--image-size 0 480",
     r"argument --image-size: expected an integer > 0, got 0")(lambda d, e: _infer(d, e, "--image-size", "0", "480"))
case("infer-keypoints-1e30", "infer", "keypoints at 1e30 px with --image-size",
     r"<tmp>/kp.json: 510 of 510 confident keypoints lie more than 1 image size\(s\) outside the 1000x1000 image")(
    lambda d, e: _infer(d, e, "--image-size", "1000", "1000", kp=_keypoints_json(d / "kp.json", scale=1e30)))
case("infer-keypoints-km-offscreen", "infer", "keypoints a kilometre (1e6 px) off-screen",
     r"<tmp>/kp.json: 510 of 510 confident keypoints lie more than 1 image size\(s\) outside .* at \(1e\+06")(
    lambda d, e: _infer(d, e, "--image-size", "1000", "1000", kp=_keypoints_json(d / "kp.json", offset=1e6)))
case("infer-pixels-without-size", "infer", "pixel keypoints without --image-size",
     r"<tmp>/kp.json: coordinates look like pixels .* pass --image-size W H")(lambda d, e: _infer(d, e))
case("infer-invalid-json", "infer", "a keypoint file that is not JSON",
     r"<tmp>/kp.json: not valid JSON")(lambda d, e: _infer(d, e, kp=_write(d / "kp.json", "[[1, 2, ")))
case("infer-npz-without-scores", "infer", "an npz of [T, 17, 2] (no scores)",
     r"<tmp>/kp.npz: field keypoints has shape \(4, 17, 2\), expected \[T, J, 3\] \(x, y without scores\)")(
    lambda d, e: _infer(d, e, kp=_savez(d / "kp.npz", keypoints=np.ones((4, 17, 2)))))


def _savez(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


# import-motionbert -------------------------------------------------------------------------
def _import(d: Path, ckpt: Path, *extra: str) -> list[str]:
    return ["import-motionbert", str(ckpt), "--out", str(d / "imported"), *extra]


_CFG_JSON = FIXTURES / "motionbert" / "dstformer_tiny_config.json"
case("import-missing", "import-motionbert", "the checkpoint does not exist",
     r"<tmp>/best_epoch.bin: no such checkpoint file")(lambda d, e: _import(d, d / "best_epoch.bin"))
case("import-folder", "import-motionbert", "the checkpoint is a folder",
     r"<tmp>: is a folder; expected a checkpoint file")(lambda d, e: _import(d, d))
case("import-nan-weights", "import-motionbert", "a checkpoint with a NaN weight",
     r"<tmp>/nan.safetensors: tensor head.weight holds 1 NaN/inf value\(s\) of 144")(
    lambda d, e: _import(d, _nan_state_dict(d / "nan.safetensors"), "--config-json", str(_CFG_JSON)))
case("import-pickled-object", "import-motionbert", "a checkpoint that needs arbitrary unpickling",
     r"<tmp>/evil.bin: refused by safe loading \(torch.load weights_only=True\) \(it references datetime.date\)")(
    lambda d, e: _import(d, _torch_save(d / "evil.bin", {"model_pos": {"x": datetime.date(2020, 1, 1)}})))
case("import-config-json-invalid", "import-motionbert", "--config-json that is not JSON",
     r"<tmp>/cfg.json: not valid JSON")(
    lambda d, e: _import(d, FIXTURES / "motionbert" / "dstformer_tiny_state_dict.safetensors",
                         "--config-json", str(_write(d / "cfg.json", "{'num_heads': 4}"))))
case("import-config-json-heads-text", "import-motionbert", "--config-json with num_heads \"four\"",
     r"<tmp>/cfg.json: field num_heads = 'four', expected a finite number")(
    lambda d, e: _import(d, FIXTURES / "motionbert" / "dstformer_tiny_state_dict.safetensors",
                         "--config-json", str(_write(d / "cfg.json", '{"num_heads": "four"}'))))
case("import-heads-zero", "import-motionbert", "--heads 0",
     r"argument --heads: expected an integer > 0, got 0")(lambda d, e: _import(d, d / "x.bin", "--heads", "0"))
case("import-out-under-file", "import-motionbert", "--out inside a path that is a file",
     r"<tmp>/file/imported: cannot create the output run folder: <tmp>/file is a file")(
    lambda d, e: ["import-motionbert", str(FIXTURES / "motionbert" / "dstformer_tiny_state_dict.safetensors"),
                  "--out", str(_write(d / "file", "x") / "imported")])


def _torch_save(path: Path, obj) -> Path:
    import torch
    torch.save(obj, str(path))
    return path


# ablate / bench ----------------------------------------------------------------------------
def _ablate(d: Path, *extra: str) -> list[str]:
    base = {"--pretrain-steps": "2", "--finetune-steps": "2", "--out": str(d / "abl")}
    for k, v in zip(extra[::2], extra[1::2]):
        base[k] = v
    return ["ablate", "--no-progress", *[x for kv in base.items() for x in kv]]


case("ablate-steps-zero", "ablate", "--pretrain-steps 0",
     r"argument --pretrain-steps: expected an integer > 0, got 0")(lambda d, e: _ablate(d, "--pretrain-steps", "0"))
case("ablate-out-under-file", "ablate", "--out inside a path that is a file",
     r"<tmp>/file/abl: cannot create the output folder: <tmp>/file is a file")(
    lambda d, e: _ablate(d, "--out", str(_write(d / "file", "x") / "abl")))
case("ablate-data-missing", "ablate", "--pretrain-data does not exist",
     r"<tmp>/nodata: no such prepared data dir \(--pretrain-data\)")(
    lambda d, e: _ablate(d, "--pretrain-data", str(d / "nodata")))
case("ablate-setting-unknown", "ablate", "--setting not among the --sweep settings",
     r"--setting 'loss.w_align=3': not a setting of this sweep; expected one of 'loss.w_align=0.1', 'loss.w_align=1'")(
    lambda d, e: _ablate(d, "--sweep", "loss.w_align=0.1,1", "--setting", "loss.w_align=3"))
case("ablate-reuse-missing", "ablate", "--reuse-pretraining folder without an ablation",
     r"<tmp>/old/ablation_spec.json: no such ablation folder's spec \(--reuse-pretraining\)")(
    lambda d, e: _ablate(d, "--reuse-pretraining", str(d / "old")))
case("bench-steps-zero", "bench", "--steps 0", r"argument --steps: expected an integer > 0, got 0")(
    lambda d, e: ["bench", "--steps", "0"])


# the app's run picker and upload (library calls), config and checkpoint loading ----------------
def _predict_file(run: Path, path: Path, **kw):
    return lambda: ap.Predictor.from_run(run).predict_file(path, **kw)


case("app-pick-missing-run", "app run picker (`ap.resolve_run`)", "a run folder that does not exist",
     r"<tmp>/gone: no such run folder")(lambda d, e: lambda: ap.resolve_run(d / "gone"))
case("app-pick-no-checkpoint", "app run picker (`ap.Predictor.from_run`)", "a run folder with config.yaml only",
     r"<tmp>/run/checkpoint.safetensors: no checkpoint")(
    lambda d, e: (lambda run: lambda: ap.Predictor.from_run(run))(_unlink(_copy_run(e, d) / "checkpoint.safetensors")))
case("app-pick-nan-run", "app run picker (`ap.Predictor.from_run`)", "a run whose weights hold inf",
     r"<tmp>/run/checkpoint.safetensors: tensor lifter\.\S+ holds 1 NaN/inf")(
    lambda d, e: (lambda run: lambda: ap.Predictor.from_run(run))(_nan_run(e, d)))
case("app-upload-txt", "app upload (`ap.load_keypoints`)", "a .txt upload",
     r"<tmp>/kp.txt: unsupported keypoint file type '.txt'; expected .json or .npz")(
    lambda d, e: (lambda p: lambda: ap.load_keypoints(p))(_write(d / "kp.txt", "1 2 3")))
case("app-upload-empty", "app upload (`Predictor.predict_file`)", "an empty JSON list",
     r"<tmp>/kp.json: empty file \(no frames\)")(
    lambda d, e: _predict_file(e.run, _write(d / "kp.json", "[]")))
case("app-upload-offscreen", "app upload (`Predictor.predict_file`)", "keypoints far outside the given image",
     r"<tmp>/kp.json: 510 of 510 confident keypoints lie more than 1 image size\(s\) outside the 640x480 image")(
    lambda d, e: _predict_file(e.run, _keypoints_json(d / "kp.json", offset=5e4), image_size=(640, 480)))
case("config-load-binary", "config loading (`ap.load_yaml`)", "a config file of random bytes",
     r"<tmp>/config.yaml: not a UTF-8 text file \(byte 0\); expected YAML")(
    lambda d, e: (lambda p: lambda: ap.load_yaml(p))(_write(d / "config.yaml", bytes(range(255, 0, -1)))))
case("config-load-float-int", "config loading (`ap.load_yaml`)", "an int field holding 2.5",
     r"<tmp>/config.yaml: config.train.seed: expected an integer, got 2.5")(
    lambda d, e: (lambda p: lambda: ap.load_yaml(p))(_write(d / "config.yaml", "train:\n  seed: 2.5\n")))
case("checkpoint-load-foreign", "checkpoint loading (`load_checkpoint`)", "a safetensors file from another program",
     r"<tmp>/foreign.safetensors: safetensors header lacks the field 'actionpose'")(
    lambda d, e: (lambda p: lambda: _load_ckpt(p))(_foreign_safetensors(d / "foreign.safetensors")))
case("checkpoint-load-bad-step", "checkpoint loading (`load_checkpoint`)", "metadata with step = -3",
     r"<tmp>/run/checkpoint.safetensors: header field actionpose.step = -3, expected an integer >= 0")(
    lambda d, e: (lambda p: lambda: _load_ckpt(p))(_with_meta(_copy_run(e, d), {"step": -3})))


def _load_ckpt(path: Path):
    from actionpose.train.checkpoint import load_checkpoint
    return load_checkpoint(path)


def _foreign_safetensors(path: Path) -> Path:
    import torch
    from safetensors.torch import save_file
    save_file({"w": torch.zeros(2)}, str(path))
    return path


def _with_meta(run: Path, meta: dict) -> Path:
    from safetensors.torch import load_file, save_file
    path = run / "checkpoint.safetensors"
    save_file(load_file(str(path)), str(path), metadata={"actionpose": json.dumps(meta)})
    return path


# -------------------------------------------------------------------------------------- runner

def _normalise(text: str, d: Path, env: Env) -> str:
    for path, name in ((d, "<tmp>"), (env.root, "<root>"), (ap.demo_run_dir(), "<demo>")):
        text = text.replace(str(path), name)
    return text


def run_case(c: Case, env: Env, capsys) -> str:
    """Run one case; return its normalised one-line message."""
    d = env.root / "cases" / c.id
    d.mkdir(parents=True)
    action = c.make(d, env)
    watched = [d, env.run, *_shipped()]
    before = _snapshot(*watched)
    capsys.readouterr()
    if callable(action):
        with pytest.raises(Exception) as info:  # noqa: B017, PT011 - the class is checked below
            action()
        assert isinstance(info.value, (ValueError, OSError)), f"{c.id}: {type(info.value).__name__}: {info.value}"
        text = str(info.value)
        assert text and "\n" not in text.strip(), f"{c.id}: message is not one line: {text!r}"
        line = cli.one_line(info.value)
    else:
        try:
            rc = cli.main([str(a) for a in action])
        except SystemExit as e:  # argparse errors
            rc = e.code
        out, err = capsys.readouterr()
        assert rc not in (0, None), f"{c.id}: exit code {rc}; stdout {out!r}"
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert "Traceback" not in err, err
        assert len(lines) == 1, f"{c.id}: expected one line on stderr, got {lines}"
        line = lines[0]
        assert ": error: " in line, line
        line = line.split(": error: ", 1)[1]
    message = _normalise(line, d, env)
    assert re.search(c.expect, message), f"{c.id}: {message!r} does not match {c.expect!r}"
    after = _snapshot(*watched)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, f"{c.id}: files were written or modified: {changed[:5]}"
    MESSAGES[c.id] = message
    return message


def test_catalogue_is_large_and_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 40
    entries = {c.entry.split(" (")[0].split()[0] for c in CASES}
    assert entries >= {"prepare", "pretrain", "finetune", "evaluate", "infer", "import-motionbert", "ablate",
                       "app", "config", "checkpoint"}


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_bad_input(c: Case, env, capsys):
    run_case(c, env, capsys)


def _table() -> str:
    lines = ["# Error catalogue", "",
             "What each entry point answers to a bad input, as checked by `tests/test_bad_inputs.py` (every case:",
             "non-zero exit, this one line on stderr after `actionpose <verb>: error: `, no traceback, nothing",
             "written). `<tmp>` stands for the folder holding the case's files. Library calls (the app) raise",
             "a `ValueError`/`OSError` with this message. Generated: `ACTIONPOSE_WRITE_ERRORS_DOC=1 pytest",
             "tests/test_bad_inputs.py`; a test fails when this page and the messages disagree.", "",
             "Other behaviour worth knowing:", "",
             "- Keypoints given with an image size: a confident keypoint more than one image width/height",
             "  outside the image is implausible. Up to 5 % of the confident keypoints (at least one) are",
             "  masked with a warning that counts them; more is the error shown below.",
             "- Any unexpected exception is reported the same way, prefixed with its class name; set",
             "  `ACTIONPOSE_DEBUG=1` to see the traceback instead.",
             "- Warnings print as one line: `actionpose <verb>: warning: ...`.", "",
             "| entry point | bad input | message |", "|---|---|---|"]
    for c in CASES:
        msg = MESSAGES[c.id].replace("|", "\\|")
        lines.append(f"| {c.entry} | {c.what.replace('|', chr(92) + '|')} | `{msg}` |")
    return "\n".join(lines) + "\n"


def test_errors_doc_is_current(env, capsys):
    for c in CASES:  # cases not run in this session (e.g. `-k doc`) run now
        if c.id not in MESSAGES:
            run_case(c, env, capsys)
    table = _table()
    if os.environ.get("ACTIONPOSE_WRITE_ERRORS_DOC"):
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(table)
    assert DOC.exists(), f"{DOC}: missing; run ACTIONPOSE_WRITE_ERRORS_DOC=1 pytest {Path(__file__).name}"
    assert DOC.read_text() == table, (f"{DOC} is out of date; regenerate with "
                                      f"ACTIONPOSE_WRITE_ERRORS_DOC=1 pytest tests/{Path(__file__).name}")


# ------------------------------------------------------------------------- the CLI's own handling

def test_unexpected_exception_is_one_line_with_its_class(monkeypatch, capsys):
    def boom(args):
        return 1 / 0
    monkeypatch.setattr(cli, "cmd_bench", boom)
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    assert cli.main(["bench", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("actionpose bench: error: ZeroDivisionError: division by zero")
    assert cli.DEBUG_ENV in err
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    with pytest.raises(ZeroDivisionError):
        cli.main(["bench", "--steps", "1"])


def test_keyboard_interrupt_exits_130(monkeypatch, capsys):
    def stop(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "cmd_bench", stop)
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    assert cli.main(["bench"]) == 130
    assert capsys.readouterr().err == "actionpose bench: interrupted\n"


def test_few_offscreen_keypoints_are_masked_with_a_count(tmp_path):
    from actionpose.data.keypoints import check_plausible
    kp = np.full((10, 17, 3), 500.0, np.float32)
    kp[..., 2] = 1.0
    kp[3, 5, :2] = (1e30, 20.0)  # one wild detection among 170
    with pytest.warns(UserWarning, match=r"kp: 1 of 170 confident keypoints .* masked .* frame 3 keypoint 5"):
        out = check_plausible(kp, (1000, 1000), "kp")
    assert out[3, 5].tolist() == [0.0, 0.0, 0.0]
    assert np.array_equal(np.delete(out.reshape(-1, 3), 3 * 17 + 5, 0), np.delete(kp.reshape(-1, 3), 3 * 17 + 5, 0))
    kp[4, :, 0] = -5000.0  # 17 more: above 5 %
    with pytest.raises(ValueError, match=r"kp: 18 of 170 confident keypoints lie more than 1 image size"):
        check_plausible(kp, (1000, 1000), "kp")
    kp[4, :, 2] = 0.0  # unconfident (missing) keypoints are not judged
    with pytest.warns(UserWarning, match="1 of 153"):
        check_plausible(kp, (1000, 1000), "kp")


def test_paths_checks_leave_nothing_behind(tmp_path):
    from actionpose.paths import require_writable_dir, require_writable_file
    target = tmp_path / "a" / "b" / "run"
    assert require_writable_dir(target) == target
    assert list(tmp_path.iterdir()) == []
    assert require_writable_file(tmp_path / "x.json", suffixes=(".json",)) == tmp_path / "x.json"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_read_only_folder_refused_when_not_root(tmp_path):
    from actionpose.paths import require_writable_dir
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match=r"ro/run: cannot create the run folder: .*ro is not writable"):
            require_writable_dir(ro / "run", "run folder")
    finally:
        ro.chmod(0o700)


# ------------------------------------------------------------------------------ real processes

@pytest.mark.parametrize("argv, expect", [
    (["pretrain", "--preset", "huge", "--run", "{d}/r"], r"^actionpose pretrain: error: argument --preset: invalid choice"),
    (["infer", "--run", "demo", "--input", "{d}", "--output", "{d}/o.json"], r"is a folder; expected a keypoint file"),
    (["prepare", "bvh", "--source", "{d}/missing.bvh", "--out", "{d}/out"], r"missing.bvh: no such bvh source"),
])
def test_subprocess_exit_code_and_one_line(tmp_path, argv, expect):
    argv = [a.format(d=tmp_path) for a in argv]
    envv = {k: v for k, v in os.environ.items() if k != cli.DEBUG_ENV}
    envv["OMP_NUM_THREADS"] = "1"
    res = subprocess.run([sys.executable, "-m", "actionpose.cli", *argv], capture_output=True, text=True,
                         env=envv, timeout=120, cwd=tmp_path)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and re.search(expect, lines[0]), res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
