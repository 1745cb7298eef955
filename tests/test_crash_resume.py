"""Crash safety (issue 15): a training process killed with SIGKILL at any moment — in the middle of
writing the checkpoint's weights, between the weights and their json mirror, after the new weights
are complete but before they replace the old file, at random steps, and while DataLoader workers run —
and resumed each time, ends with bit-identical weights, optimizer state and metrics to a run that
was never interrupted.

The trainings run in child processes (one thread each, a very small model, the bundled data); the
child patches the checkpoint writer only to kill itself at the chosen moment.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

STEPS = 12
OVERRIDES = {"model": {"dim_feat": 32, "dim_rep": 32, "depth": 1, "num_heads": 2, "maxlen": 27, "embed_hidden": 32},
             "data": {"batch_size": 4, "stride": 27, "num_workers": 0},
             "train": {"max_steps": STEPS, "log_every": 1, "val_every": 6, "ckpt_every": 3, "val_max_windows": 8}}
TIMING_KEYS = ("clips_per_s", "seconds", "time", "per_s")

CHILD = textwrap.dedent('''
    import json, os, signal, sys
    import torch
    torch.set_num_threads(1)
    from actionpose import api
    from actionpose.train import checkpoint as ck

    run, overrides = sys.argv[1], json.loads(sys.argv[2])
    mode, nth = os.environ.get("CRASH_MODE", ""), int(os.environ.get("CRASH_AT_SAVE", "0"))
    saves = 0
    real_save_file, real_replace, real_write_text = ck.save_file, ck.os.replace, ck.atomic_write_text

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def save_file(tensors, path, metadata=None):
        global saves
        saves += 1
        real_save_file(tensors, path, metadata=metadata)
        if saves == nth and mode == "mid-weights":  # the temp file holds half of the new weights
            data = open(path, "rb").read()
            open(path, "wb").write(data[: len(data) // 2])
            die()

    def replace(src, dst):
        if saves == nth and mode == "before-rename" and str(dst).endswith(ck.CKPT_NAME):
            die()  # complete new weights in the temp file, the old checkpoint still in place
        real_replace(src, dst)

    def atomic_write_text(path, text):
        if saves == nth and mode == "between-files" and str(path).endswith(ck.CKPT_JSON):
            die()  # new weights in place, the json mirror still the old one
        real_write_text(path, text)

    ck.save_file, ck.atomic_write_text = save_file, atomic_write_text
    ck.os.replace = replace
    api.pretrain("tiny", "motionbert-style", run, overrides=overrides, resume=True, progress=False)
''')


def _child(tmp: Path, run: Path, overrides: dict, mode: str = "", at_save: int = 0) -> subprocess.Popen:
    script = tmp / "child.py"
    if not script.exists():
        script.write_text(CHILD)
    env = dict(os.environ, OMP_NUM_THREADS="1", CRASH_MODE=mode, CRASH_AT_SAVE=str(at_save))
    return subprocess.Popen([sys.executable, str(script), str(run), json.dumps(overrides)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(p: subprocess.Popen, expect_kill: bool) -> None:
    out, err = p.communicate(timeout=300)
    if expect_kill:
        assert p.returncode == -signal.SIGKILL, f"child was not killed (rc {p.returncode}): {err[-2000:]}"
    else:
        assert p.returncode == 0, err[-3000:]


def _steps_logged(run: Path) -> int:
    path = run / "metrics.jsonl"
    if not path.exists():
        return 0
    steps = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if rec.get("split") == "train":
            steps.append(rec["step"])
    return max(steps, default=0)


def _kill_after_step(p: subprocess.Popen, run: Path, step: int, extra_s: float) -> bool:
    """SIGKILL the child once it has logged `step` (plus `extra_s` seconds); False if it finished first."""
    deadline = time.time() + 300
    while time.time() < deadline:
        if p.poll() is not None:
            return False
        if _steps_logged(run) >= step:
            time.sleep(extra_s)
            if p.poll() is not None:
                return False
            p.kill()
            return True
        time.sleep(0.005)
    raise TimeoutError(f"{run}: step {step} not reached")


def _metrics(run: Path) -> list[dict]:
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [{k: v for k, v in r.items() if not any(t in k for t in TIMING_KEYS)} for r in recs]


def test_sigkill_at_any_moment_then_resume_is_bit_identical(tmp_path):
    ref, crashed = tmp_path / "ref", tmp_path / "crashed"
    _finish(_child(tmp_path, ref, OVERRIDES), expect_kill=False)

    # 1. half of the new weights written to the temp file (2nd checkpoint, step 6)
    _finish(_child(tmp_path, crashed, OVERRIDES, "mid-weights", 2), expect_kill=True)
    assert json.loads((crashed / "checkpoint.json").read_text())["step"] == 3
    assert list(crashed.glob(".*.tmp")), "the kill left the half-written temp file behind"
    # 2. new weights complete in the temp file, not yet renamed over the checkpoint
    _finish(_child(tmp_path, crashed, OVERRIDES, "before-rename", 1), expect_kill=True)
    # 3. new weights in place, the json mirror not yet rewritten
    _finish(_child(tmp_path, crashed, OVERRIDES, "between-files", 1), expect_kill=True)
    # 4. random moments, the second with DataLoader workers running
    rng = np.random.default_rng(15)
    workers = dict(OVERRIDES, data=dict(OVERRIDES["data"], num_workers=2))
    for over in (OVERRIDES, workers):
        start = _steps_logged(crashed)
        p = _child(tmp_path, crashed, over)
        killed = _kill_after_step(p, crashed, min(STEPS - 1, start + int(rng.integers(1, 4))), float(rng.uniform(0, 0.05)))
        _finish(p, expect_kill=killed)
    # 5. to the end
    _finish(_child(tmp_path, crashed, OVERRIDES), expect_kill=False)

    assert not list(crashed.glob(".*.tmp")), "resuming removes the temp files a kill left behind"
    a, b = load_file(str(ref / "checkpoint.safetensors")), load_file(str(crashed / "checkpoint.safetensors"))
    assert sorted(a) == sorted(b)
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert different == [], f"tensors differ after crashes and resumes: {different[:5]}"
    meta_a = json.loads((ref / "checkpoint.json").read_text())
    meta_b = json.loads((crashed / "checkpoint.json").read_text())
    assert meta_a["step"] == meta_b["step"] == STEPS
    assert meta_a == meta_b
    ma, mb = _metrics(ref), _metrics(crashed)
    assert [r["step"] for r in mb if r["split"] == "train"] == list(range(1, STEPS + 1))
    assert ma == mb
