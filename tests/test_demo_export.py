"""The shipped-run export: float16 storage that loads as float32 and predicts what the float32 run does."""
import numpy as np
import torch
from safetensors import safe_open

from actionpose.demo import export_run
from actionpose.train.checkpoint import ROW_SCALE_SUFFIX, dequantize_rows, load_checkpoint, quantize_rows
from actionpose.train.model_io import load_bundle


def test_export_stores_half_weights_and_loads_float32(small_runs, tmp_path):
    _, ft = small_runs
    # int8_min_numel: the small test model's head is below the shipped threshold; lower it to reach that path
    dest = export_run(ft, tmp_path / "demo", "demo", started_from="demo-pretrain", int8_min_numel=15_000)
    with safe_open(str(dest / "checkpoint.safetensors"), framework="pt") as f:
        dtypes = {k: f.get_slice(k).get_dtype() for k in f.keys()}
        sizes = {k: int(np.prod(f.get_slice(k).get_shape())) for k in f.keys()}
    assert not any(k.startswith("optim.") for k in dtypes)
    int8 = [k for k in dtypes if dtypes[k] == "I8"]
    # the matrices past 15,000 elements here (the embedding head's first layer, the label texts) as int8
    # rows + float32 row scales
    assert int8 == ["lifter.motion_head.fc1.weight", "text_emb"], {k: sizes[k] for k in dtypes if sizes[k] >= 15_000}
    assert dtypes[int8[0] + ROW_SCALE_SUFFIX] == "F32"
    big = [k for k in dtypes if sizes[k] >= 1024 and k not in int8]
    assert big and all(dtypes[k] == "F16" for k in big), {k: dtypes[k] for k in big}
    # scalars (the learned temperature) keep float32
    assert all(dtypes[k] == "F32" for k in dtypes if sizes[k] < 1024 and dtypes[k].startswith("F"))
    tensors, meta = load_checkpoint(dest)
    assert meta["stored_dtype"] == "float16" and meta["started_from"]["run"] == "demo-pretrain"
    assert meta["int8_rows"] == int8 and not any(k.endswith(ROW_SCALE_SUFFIX) for k in tensors)
    assert all(v.dtype == torch.float32 for v in tensors.values() if v.is_floating_point())
    assert tensors[int8[0]].dtype == torch.float32
    # The exported model computes what the training run computes, up to float16 rounding of the weights.
    src, _, _ = load_bundle(ft)
    half, _, _ = load_bundle(dest)
    x = torch.randn(2, 27, 17, 3) * 0.2
    x[..., 2] = 1.0
    with torch.no_grad():
        out_a, out_b = src.net(x), half.net(x)
    a, b = out_a["y3d"], out_b["y3d"]
    assert torch.allclose(a, b, atol=5e-3), float((a - b).abs().max())
    assert not torch.equal(a, b)  # the rounding is real: this test would notice a float32 export
    # the motion embedding through the int8 head points where the float32 one does
    cos = torch.nn.functional.cosine_similarity(out_a["motion_emb"], out_b["motion_emb"], dim=-1)
    assert (cos > 0.999).all(), cos


def test_half_embeddings_load_as_float32_and_match_what_extraction_returned(tmp_path):
    """The shipped runs store embeddings in float16 (at T = 9 a run has ~2,000 held-out windows): loading
    gives float32 equal to the float16-rounded values, and the file is smaller than the float32 one."""
    from actionpose.embeddings import EmbeddingSet
    rng = np.random.default_rng(0)
    w, d = 300, 64
    es = EmbeddingSet(rng.normal(size=(w, d)).astype(np.float32), np.array(["walk"] * w), np.array(["take-a"] * w),
                      rng.normal(size=(5, d)).astype(np.float32), np.array(list("abcde")), np.array(list("abcde")))
    full, half = es.save(tmp_path / "full.npz"), es.save(tmp_path / "half.npz", half=True)
    back_full, back_half = EmbeddingSet.load(full), EmbeddingSet.load(half)
    assert back_full.motion.dtype == back_half.motion.dtype == np.float32
    np.testing.assert_array_equal(back_full.motion, es.motion)
    np.testing.assert_array_equal(back_half.motion, es.motion.astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(back_half.text, es.text.astype(np.float16).astype(np.float32))
    assert not np.array_equal(back_half.motion, es.motion)  # the rounding is real
    assert half.stat().st_size < 0.6 * full.stat().st_size


def test_int8_rows_round_each_row_to_its_own_scale():
    """quantize_rows: q * scale is within half a step of every weight, each row's largest weight maps to
    +-127 (a row of tiny weights keeps its precision), and dequantize_rows restores float32 and refuses a
    scale without its matrix in one line."""
    import pytest
    g = torch.Generator().manual_seed(0)
    w = torch.randn(4, 50, generator=g) * torch.tensor([[1.0], [1e-3], [10.0], [0.2]])
    q, scale = quantize_rows(w)
    assert q.dtype == torch.int8 and scale.shape == (4, 1)
    assert (q.abs().amax(dim=1) == 127).all()
    back = dequantize_rows({"m": q, "m" + ROW_SCALE_SUFFIX: scale})["m"]
    assert back.dtype == torch.float32
    assert ((back - w).abs() <= scale / 2 + 1e-12).all()
    assert (back - w).abs()[1].max() < 2e-5  # the 1e-3 row is not rounded on the 10.0 row's grid
    assert not torch.equal(back, w)
    with pytest.raises(ValueError, match="m.int8_row_scale"):
        dequantize_rows({"m" + ROW_SCALE_SUFFIX: scale}, "x.safetensors")


def test_shipped_evaluations_name_the_shipped_runs_not_a_build_folder(tmp_path):
    """ship_demo renames the trainer's build folder in eval.json to the run's shipped name; nothing else changes."""
    import importlib.util
    import json
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    for folder, name in (("demo_run", "demo"), ("demo_pretrain_run", "demo-pretrain")):
        header = json.loads((root / "actionpose" / "assets" / folder / "eval.json").read_text())["header"]
        assert header["run"] == name
    spec = importlib.util.spec_from_file_location("ship_demo", root / "benchmarks" / "ship_demo.py")
    ship = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship)
    built = tmp_path / "out" / "demo"
    f = tmp_path / "eval.json"
    f.write_text(json.dumps({"header": {"run": str(built), "split": "val"}, "floors": [{"run": str(built)}, {"run": 3.5}]}))
    assert ship.rename_run(f, built, "demo") == 2
    assert json.loads(f.read_text()) == {"header": {"run": "demo", "split": "val"}, "floors": [{"run": "demo"}, {"run": 3.5}]}


def test_head_stage_keeps_the_fine_tuned_3d_and_records_its_lineage(small_runs, tmp_path):
    """The recipe's third stage: a fresh time-ordered head trained on the frozen fine-tuned lifter; the
    exported `demo` predicts the fine-tuned run's 3D (up to the same float16 rounding), names the stage,
    lists the stages that made it (with their float32 checkpoints' sha256) and ships the fine-tuning log."""
    import hashlib
    import json

    from actionpose import api
    from actionpose.demo import DEMO_HEAD_EMBED_POOL, HEAD_STAGE, demo_overrides, run_lineage
    from actionpose.train.runs import FINETUNE_LOG as FINETUNE_METRICS
    from conftest import SMALL
    pre, ft = small_runs
    ft_cfg = api.load_run_config(ft)
    over = demo_overrides("head", 3, window=(ft_cfg.model.maxlen, 8))
    assert over["train"]["freeze_backbone"] and set(over["mask"].values()) == {0.0}
    assert over["model"]["embed_pool"] == DEMO_HEAD_EMBED_POOL == "joints_delta_window"
    over["data"] = SMALL["data"]
    head = tmp_path / "head"
    api.pretrain(run=head, overrides=over, init_from=ft, progress=False)
    lineage = run_lineage([("pretrain", pre, "demo-pretrain"), ("finetune", ft, ""), ("head re-fit", head, "demo")])
    dest = export_run(head, tmp_path / "demo", "demo", started_from="demo (fine-tuning stage, not shipped)",
                      lineage=lineage, stage=HEAD_STAGE, extra_files={FINETUNE_METRICS: ft / "metrics.jsonl"})
    _, meta = load_checkpoint(dest)
    assert meta["stage"] == HEAD_STAGE and [r["stage"] for r in meta["lineage"]] == ["pretrain", "finetune", "head re-fit"]
    assert meta["lineage"][1]["checkpoint_sha256"] == hashlib.sha256((ft / "checkpoint.safetensors").read_bytes()).hexdigest()
    assert meta["lineage"][2]["step"] == 3 and meta["started_from"]["checkpoint_sha256"] == meta["lineage"][1]["checkpoint_sha256"]
    assert (dest / FINETUNE_METRICS).read_text() == (ft / "metrics.jsonl").read_text()
    assert [json.loads(x)["step"] for x in (dest / "metrics.jsonl").read_text().splitlines()][-1] == 3
    # The 3D: the fine-tuned run's exported alone and the head stage's export agree exactly (same frozen
    # weights, same rounding); the embedding does not (a new head).
    ft_only = export_run(ft, tmp_path / "ft_only", "ft")
    a, _, _ = load_bundle(ft_only)
    b, cfg, _ = load_bundle(dest)
    assert cfg.model.embed_pool == "joints_delta_window"
    x = torch.randn(2, cfg.model.maxlen, 17, 3) * 0.2
    x[..., 2] = 1.0
    with torch.no_grad():
        out_a, out_b = a.net(x), b.net(x)
    assert torch.equal(out_a["y3d"], out_b["y3d"])
    assert not torch.allclose(out_a["motion_emb"], out_b["motion_emb"], atol=1e-3)
    # the lifter digest names that: equal for the two exports, changed by the float16 rounding of the export
    from actionpose.evaluate import lifter_sha256
    assert lifter_sha256(ft_only) == lifter_sha256(dest) != lifter_sha256(ft)
