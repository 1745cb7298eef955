"""The shipped-run export: float16 storage that loads as float32 and predicts what the float32 run does."""
import numpy as np
import torch
from safetensors import safe_open

from actionpose.demo import export_run
from actionpose.train.checkpoint import load_checkpoint
from actionpose.train.model_io import load_bundle


def test_export_stores_half_weights_and_loads_float32(small_runs, tmp_path):
    _, ft = small_runs
    dest = export_run(ft, tmp_path / "demo", "demo", started_from="demo-pretrain")
    with safe_open(str(dest / "checkpoint.safetensors"), framework="pt") as f:
        dtypes = {k: f.get_slice(k).get_dtype() for k in f.keys()}
        sizes = {k: int(np.prod(f.get_slice(k).get_shape())) for k in f.keys()}
    assert not any(k.startswith("optim.") for k in dtypes)
    big = [k for k in dtypes if sizes[k] >= 1024]
    assert big and all(dtypes[k] == "F16" for k in big), {k: dtypes[k] for k in big}
    # scalars (the learned temperature) keep float32
    assert all(dtypes[k] == "F32" for k in dtypes if sizes[k] < 1024 and dtypes[k].startswith("F"))
    tensors, meta = load_checkpoint(dest)
    assert meta["stored_dtype"] == "float16" and meta["started_from"]["run"] == "demo-pretrain"
    assert all(v.dtype == torch.float32 for v in tensors.values() if v.is_floating_point())
    # The exported model computes what the training run computes, up to float16 rounding of the weights.
    src, _, _ = load_bundle(ft)
    half, _, _ = load_bundle(dest)
    x = torch.randn(2, 27, 17, 3) * 0.2
    x[..., 2] = 1.0
    with torch.no_grad():
        a, b = src.net(x)["y3d"], half.net(x)["y3d"]
    assert torch.allclose(a, b, atol=5e-3), float((a - b).abs().max())
    assert not torch.equal(a, b)  # the rounding is real: this test would notice a float32 export


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
