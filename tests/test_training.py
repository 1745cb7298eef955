"""Integration: pretraining / fine-tuning on the bundled real data, exact resume after SIGKILL, DDP."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from actionpose import api
from actionpose.train.loop import TrainingDiverged
from actionpose.train.runs import read_metrics

# A very small model so each step takes milliseconds on 2 cores.
SMALL = {"model": {"dim_feat": 16, "dim_rep": 32, "depth": 1, "num_heads": 2, "maxlen": 27, "embed_hidden": 32},
         "data": {"batch_size": 4, "stride": 27},
         "train": {"log_every": 1, "val_every": 4, "ckpt_every": 2, "val_max_windows": 16, "max_steps": 8}}
SMALL_ARGS = ["--set", "model.dim_feat=16", "--set", "model.dim_rep=32", "--set", "model.depth=1",
              "--set", "model.num_heads=2", "--set", "model.maxlen=27", "--set", "model.embed_hidden=32",
              "--set", "data.batch_size=4", "--set", "train.log_every=1", "--set", "train.val_every=1000",
              "--set", "train.val_max_windows=16", "--no-progress"]


def _weights(run: Path) -> dict:
    return {k: v for k, v in load_file(str(run / "checkpoint.safetensors")).items() if k.startswith("lifter.")}


def test_pretrain_writes_a_complete_run_folder(tmp_path):
    res = api.pretrain("tiny", "actionpose", tmp_path / "r", overrides=SMALL, progress=False)
    run = tmp_path / "r"
    assert res.step == 8
    for name in ("config.yaml", "metrics.jsonl", "checkpoint.safetensors", "checkpoint.json"):
        assert (run / name).exists(), name
    recs = read_metrics(run)
    train = [r for r in recs if r["split"] == "train"]
    val = [r for r in recs if r["split"] == "val"]
    assert len(train) == 8 and {"mpjpe", "n_mpjpe", "velocity", "align"} <= set(train[0])
    assert val and "top1" in val[-1] and val[-1]["mpjpe_mm"] > 0
    meta = json.loads((run / "checkpoint.json").read_text())
    assert meta["step"] == 8 and meta["vocab"] and len(meta["sentences"]) == len(meta["vocab"])
    # resuming the finished run (as `actionpose demo` does when re-run) reports its last validation and
    # logs nothing new: before, every re-run appended another copy of the step-8 validation
    log = (run / "metrics.jsonl").read_text()
    again = api.pretrain("tiny", "actionpose", run, overrides=SMALL, progress=False, resume=True)
    assert (run / "metrics.jsonl").read_text() == log
    assert again.step == 8 and again.last_val == val[-1]


def test_refuses_to_overwrite_or_resume_with_another_config(tmp_path):
    api.pretrain("tiny", "actionpose", tmp_path / "r", overrides=SMALL, progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        api.pretrain("tiny", "actionpose", tmp_path / "r", overrides=SMALL, progress=False)
    other = {**SMALL, "optim": {"lr": 0.01}}
    with pytest.raises(ValueError, match=r"differing keys: optim.lr"):
        api.pretrain("tiny", "actionpose", tmp_path / "r", overrides=other, resume=True, progress=False)


def test_checkpoint_of_another_preset_is_refused(tmp_path):
    api.pretrain("tiny", "actionpose", tmp_path / "r", overrides=SMALL, progress=False)
    bigger = {**SMALL, "model": {**SMALL["model"], "dim_feat": 32}}
    with pytest.raises(ValueError, match="dim"):
        api.finetune(tmp_path / "r", tmp_path / "f", overrides={"model": bigger["model"]}, progress=False)


def test_nan_loss_stops_with_step_and_keeps_last_good_checkpoint(tmp_path):
    bad = {**SMALL, "optim": {"lr": 1e30, "grad_clip": 0.0, "warmup_steps": 0}}
    with pytest.raises(TrainingDiverged, match=r"at step \d+ \(batch windows \["):
        api.pretrain("tiny", "motionbert-style", tmp_path / "r", overrides=bad, progress=False)


def test_finetune_keeps_a_frozen_aligner_and_distils_the_embedding_head(tmp_path):
    api.pretrain("tiny", "actionpose", tmp_path / "p", overrides=SMALL, progress=False)
    before = load_file(str(tmp_path / "p" / "checkpoint.safetensors"))
    ft = {"data": SMALL["data"], "train": SMALL["train"]}
    api.finetune(tmp_path / "p", tmp_path / "f", overrides=ft, progress=False)
    after = load_file(str(tmp_path / "f" / "checkpoint.safetensors"))
    assert torch.equal(before["aligner.log_temperature"], after["aligner.log_temperature"])  # frozen
    assert torch.equal(before["text_emb"], after["text_emb"])
    # the embedding head trains, tied to the pretrained embedding by the distillation term
    assert not torch.equal(before["lifter.motion_head.fc2.weight"], after["lifter.motion_head.fc2.weight"])
    assert not torch.equal(before["lifter.backbone.head.weight"], after["lifter.backbone.head.weight"])
    recs = read_metrics(tmp_path / "f")
    assert all("align" not in r and "distill" in r for r in recs if r["split"] == "train")
    # without distillation the head is frozen with the aligner (it cannot follow the backbone)
    api.finetune(tmp_path / "p", tmp_path / "g", overrides={**ft, "loss": {"w_distill": 0.0}}, progress=False)
    frozen = load_file(str(tmp_path / "g" / "checkpoint.safetensors"))
    head = [k for k in before if k.startswith("lifter.motion_head")]
    assert head and all(torch.equal(before[k], frozen[k]) for k in head)


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "actionpose.cli", *args]


def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path):
    args = ["pretrain", "--preset", "tiny", "--max-steps", "30", "--set", "train.ckpt_every=3", *SMALL_ARGS]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ref = subprocess.run(_cli(*args, "--run", str(tmp_path / "ref")), env=env, capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr[-2000:]

    run = tmp_path / "killed"
    proc = subprocess.Popen(_cli(*args, "--run", str(run)), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:
        ck = run / "checkpoint.json"
        if ck.exists() and json.loads(ck.read_text())["step"] >= 6:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = json.loads((run / "checkpoint.json").read_text())["step"]
    assert killed_at < 30, "the run finished before it could be killed; make it longer"
    res = subprocess.run(_cli(*args, "--run", str(run), "--resume"), env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    a, b = _weights(tmp_path / "ref"), _weights(run)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resume (killed at step {killed_at})"
    la = [r["loss"] for r in read_metrics(tmp_path / "ref") if r["split"] == "train"]
    lb = [r["loss"] for r in read_metrics(run) if r["split"] == "train"]
    assert la == lb


@pytest.mark.parametrize("frame_embed", [
    False,
    # Once failed (ranks 1 ulp apart): the aligner's temperature was outside DDP, so each rank clipped the
    # shared gradient by its own norm; with the frame embedding the norm crossed the clip threshold.
    True,
])
def test_ddp_two_cpu_processes_agree(tmp_path, frame_embed):
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(29533 + frame_embed), "--",
           str(Path(sys.executable).parent / "actionpose"), "pretrain", "--preset", "tiny", "--max-steps", "4", "--run", str(run), *SMALL_ARGS,
           "--set", f"model.frame_embed={str(frame_embed).lower()}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    checks = [r for r in read_metrics(run) if r["split"] == "ddp_check"]
    assert checks and checks[-1]["world_size"] == 2 and checks[-1]["ranks_agree"] is True
    c = checks[-1]["checksums"]
    assert c[0] == c[1]
