"""Shared fixtures: a very small model trained for a few steps on the bundled real data."""
import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")

# Small enough that a step takes milliseconds on 2 cores, large enough to exercise every code path.
SMALL_MODEL = {"dim_feat": 16, "dim_rep": 32, "depth": 1, "num_heads": 2, "maxlen": 27, "embed_hidden": 32}
SMALL = {"model": SMALL_MODEL, "data": {"batch_size": 4, "stride": 27},
         "train": {"log_every": 1, "val_every": 4, "ckpt_every": 4, "val_max_windows": 16, "max_steps": 8}}


@pytest.fixture(scope="session")
def small_runs(tmp_path_factory):
    """(pretrain run, fine-tune run) of a small model on the bundled Bandai-Namco subset."""
    from actionpose import api
    root = tmp_path_factory.mktemp("runs")
    api.pretrain("tiny", "actionpose", root / "pre", overrides=SMALL, progress=False)
    api.finetune(root / "pre", root / "ft", overrides={"data": SMALL["data"], "train": SMALL["train"]}, progress=False)
    return root / "pre", root / "ft"
