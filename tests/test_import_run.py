"""Issue: start from MotionBERT — the imported checkpoint becomes a normal run folder that evaluate,
finetune and infer accept."""
import json
from pathlib import Path

import numpy as np
import torch

from actionpose import Predictor, api
from actionpose.cli import main
from actionpose.train.model_io import load_bundle

FIX = Path(__file__).resolve().parent / "fixtures" / "motionbert"


def test_import_then_evaluate_finetune_infer(tmp_path, capsys):
    run = tmp_path / "mb"
    assert main(["import-motionbert", str(FIX / "dstformer_tiny_checkpoint_layout.bin"), "--out", str(run),
                 "--config-json", str(FIX / "dstformer_tiny_config.json")]) == 0
    meta = json.loads((run / "checkpoint.json").read_text())
    assert len(meta["provenance"]["sha256"]) == 64 and meta["provenance"]["source"].endswith(".bin")
    # the run computes the reference function
    io = np.load(FIX / "dstformer_tiny_io.npz")
    bundle, cfg, _ = load_bundle(run)
    with torch.no_grad():
        y = bundle.lifter(torch.from_numpy(io["x"]).float())["y3d"].numpy()
    assert np.abs(y - io["y"]).max() <= 1e-5
    capsys.readouterr()
    assert main(["evaluate", "--run", str(run), "--flip"]) == 0
    assert "Bandai-Namco | split val" in capsys.readouterr().out
    api.finetune(run, tmp_path / "ft", overrides={"data": {"batch_size": 2}, "train": {"max_steps": 2, "val_every": 0}},
                 progress=False)
    res = Predictor.from_run(tmp_path / "ft").predict(np.zeros((40, 17, 3), np.float32))
    assert res.y3d.shape == (40, 17, 3)


def test_import_refuses_an_existing_run(tmp_path):
    run = tmp_path / "mb"
    args = ["import-motionbert", str(FIX / "dstformer_tiny_state_dict.safetensors"), "--out", str(run), "--heads", "4"]
    assert main(args) == 0
    assert main(args) == 2
