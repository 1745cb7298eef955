"""The ablation end to end on the bundled data with a CI-sized budget."""
import pandas as pd

from actionpose.ablation import AblationSpec, run_ablation, split_for_ablation
from conftest import SMALL


def test_default_split_keeps_heldout_takes_out_of_both_stages():
    pre, tgt, desc = split_for_ablation(AblationSpec(0, 0))
    assert {m.meta["dataset"] for m in pre} == {2} and {m.meta["dataset"] for m in tgt} == {1}
    assert any(m.meta["split"] == "val" for m in tgt) and "dataset-2" in desc


def test_ablation_runs_every_variant_and_writes_tables(tmp_path):
    over = {"model": SMALL["model"], "data": SMALL["data"], "train": {"log_every": 1, "val_max_windows": 8}}
    spec = AblationSpec(pretrain_minutes=0.01, finetune_minutes=0.01, seeds=2, out=tmp_path / "abl",
                        overrides=over, pretrain_steps=2, finetune_steps=2, eval_max_sequences=2)
    md = run_ablation(spec, progress=False)
    table = pd.read_csv(tmp_path / "abl" / "table.csv")
    assert list(table["variant"]) == ["scratch", "motionbert-style", "actionpose", "onehot", "no-part-mask",
                                      "no-window-mask", "scratch (P+F)"]
    assert (table["mpjpe_mm"] > 0).all() and (table["seeds"] == 2).all()
    assert table.set_index("variant").loc["scratch (P+F)", "finetune_steps"] == 4
    top1 = table.set_index("variant")["pretrain_top1_pct"]
    assert pd.isna(top1["motionbert-style"]) and top1[["actionpose", "onehot"]].notna().all()
    assert "| actionpose |" in md and "±" in md
    assert (tmp_path / "abl" / "figure.html").exists() and (tmp_path / "abl" / "runs.csv").exists()
