"""benchmarks/head_refit.py: a fresh embedding head trained on a frozen, shipped lifter -- the backbone and
its 3D head stay bit-exact, only the head moves, and the run is the demo recipe's pretraining step without masks."""
import importlib.util
from pathlib import Path

import torch

from actionpose.demo import DEMO_HEAD_EMBED_POOL, DEMO_PRETRAIN_LR, demo_overrides
from actionpose.train.model_io import load_bundle

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("head_refit", ROOT / "benchmarks" / "head_refit.py")
head_refit = importlib.util.module_from_spec(spec)
spec.loader.exec_module(head_refit)


def test_head_stage_overrides_freeze_the_backbone_and_drop_the_masks():
    over = demo_overrides("head", 4000, "prepared/bandai", seed=1)
    assert over["train"]["freeze_backbone"] is True and over["train"]["max_steps"] == 4000 and over["train"]["seed"] == 1
    assert over["optim"]["lr"] == DEMO_PRETRAIN_LR and over["model"]["embed_pool"] == DEMO_HEAD_EMBED_POOL
    assert demo_overrides("head", 10, embed_pool="joints_delta")["model"]["embed_pool"] == "joints_delta"
    assert "freeze_backbone" not in demo_overrides("pretrain", 10)["train"]
    assert set(over["mask"].values()) == {0.0} and set(over["mask"]) == {"joint_prob", "frame_prob", "part_prob",
                                                                         "window_prob"}


def test_refit_moves_the_head_only(tmp_path):
    out = tmp_path / "refit"
    assert head_refit.main(["--from", "demo", "--steps", "3", "--out", str(out)]) == 0
    src, _, _ = load_bundle("demo")
    new, cfg, meta = load_bundle(out)
    assert meta["step"] == 3 and cfg.train.freeze_backbone and cfg.mask.part_prob == 0.0
    src_p, new_p = dict(src.net.named_parameters()), dict(new.net.named_parameters())
    head = [k for k in new_p if k.startswith("lifter.motion_head.")]
    lifter = [k for k in new_p if k.startswith("lifter.backbone.")]
    assert head and len(lifter) > 100
    for k in lifter:
        assert torch.equal(new_p[k], src_p[k]), k  # the lifter with its 3D head: bit-exact
    # The head is a fresh one (not demo's) and has trained.
    assert not all(torch.equal(new_p[k], src_p[k]) for k in head)


def test_floor_rows_only_refreshes_the_runs_rows_and_keeps_the_floors(tmp_path):
    """recognition_floor.py --rows-only: the run's rows come back from the committed recognition-context
    results for its current checkpoint; the trained floors are left exactly as they were."""
    import json
    spec = importlib.util.spec_from_file_location("recognition_floor", ROOT / "benchmarks" / "recognition_floor.py")
    floor = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(floor)
    committed = json.loads((ROOT / "benchmarks/results/recognition_floor/floor.json").read_text())
    stale = {**committed, "run_rows": [], "run_step": 1, "run_checkpoint_sha256": "0" * 64}
    (tmp_path / "floor.json").write_text(json.dumps(stale))
    assert floor.main(["--rows-only", "--out", str(tmp_path)]) == 0
    fresh = json.loads((tmp_path / "floor.json").read_text())
    assert fresh["floors"] == committed["floors"]
    assert fresh["run_rows"] == committed["run_rows"] and fresh["run_checkpoint_sha256"] == committed["run_checkpoint_sha256"]
    assert fresh["run_step"] == 4000 and (tmp_path / "table.md").read_text() == (ROOT / "benchmarks/results/recognition_floor/table.md").read_text()
