"""The training recipe's correctness fixes (issue "The method, working"), each checked by value.

1. a flipped clip carries the mirrored action (left <-> right) in its alignment target;
2. padding frames do not change a clip's 3D output or its embedding;
3. training confidences match GT-2D evaluation (~1 for detector-sized noise; some clips clean);
4. no weight decay on biases / norms / embeddings / temperature; bf16 keeps the 3D head in fp32;
5. the vocabulary is content+style, deduplicated by sentence, and soft targets carry real mass;
6. the loop trains with `losses.total_loss`, which refuses alignment without its inputs;
   fine-tuning has its own learning rate and keeps recognition by distillation.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from actionpose import api
from actionpose import losses as L
from actionpose.config import AlignConfig, LossConfig, ModelConfig, NoiseConfig, make_config
from actionpose.data.dataset import LiftingWindows
from actionpose.data.motion import Motion
from actionpose.data.synthesis import add_noise
from actionpose.model.aligner import Aligner
from actionpose.model.lifter import build_lifter
from actionpose.text.templates import mirror_label
from actionpose.text.vocab import LabelVocab
from actionpose.train.loop import param_groups
from actionpose.train.runs import read_metrics

SMALL_MODEL = {"dim_feat": 16, "dim_rep": 32, "depth": 1, "num_heads": 2, "maxlen": 27, "embed_hidden": 32}


# A standing H36M-17 skeleton `[17, 3]` in mm (z up); tests/test_recipe_learns.py moves it too.
REST_POSE_MM = np.array([[0, 0, 1000], [-100, 0, 1000], [-100, 0, 550], [-100, 0, 100], [100, 0, 1000],
                         [100, 0, 550], [100, 0, 100], [0, 0, 1250], [0, 0, 1500], [0, 0, 1600], [0, 0, 1700],
                         [150, 0, 1450], [300, 0, 1200], [400, 0, 1000], [-150, 0, 1450], [-300, 0, 1200],
                         [-400, 0, 1000]], dtype=np.float64)


def _walk(n: int = 40, seed: int = 0) -> np.ndarray:
    """A plausible moving skeleton `[n, 17, 3]` in mm (z up), so views and flips are well defined."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None, None]
    return (REST_POSE_MM[None] + 30 * np.sin(t / 5 + rng.uniform(0, 6, (1, 17, 3)))).astype(np.float32)


def _motion(name: str, label: str, n: int = 40, split: str = "train") -> Motion:
    return Motion(joints3d_world_mm=_walk(n), fps=30.0, subject="s", name=name, source="test", labels=(label,),
                  label_per_frame=np.zeros(n, dtype=np.int16), meta={"split": split})


# -- 1. flips mirror the action ------------------------------------------------------------------
def test_mirror_label_swaps_sides_as_whole_words_only():
    assert mirror_label("wave-left-hand|happy") == "wave-right-hand|happy"
    assert mirror_label("walk-turn-right|old") == "walk-turn-left|old"
    assert mirror_label("turn Left") == "turn Right"
    assert mirror_label("bow|normal") == "bow|normal"
    assert mirror_label("leftover") == "leftover"


def test_flipped_training_clip_carries_the_mirrored_label():
    motions = [_motion("a", "raise-up-left-hand|sad"), _motion("b", "raise-up-right-hand|sad"),
               _motion("c", "bow|sad")]
    vocab = LabelVocab.from_motions(motions, "full")
    cfg = make_config("tiny", overrides={"model": SMALL_MODEL, "synth": {"flip_prob": 0.5}})
    ds = LiftingWindows(motions, cfg, train=True, vocab=vocab, seed=0)
    left, right = vocab.index_of("raise-up-left-hand|sad"), vocab.index_of("raise-up-right-hand|sad")
    flips = []
    for epoch in range(12):
        ds.set_epoch(epoch)
        item = ds[0]  # the left-hand clip
        expected = right if item["flipped"] else left
        assert item["label_weights"][expected] == 1.0 and item["label_weights"].sum() == pytest.approx(1.0)
        flips.append(bool(item["flipped"]))
    assert any(flips) and not all(flips)  # both cases happened over 12 epochs at p = 0.5


def test_vocabulary_includes_mirror_images_of_one_sided_labels():
    vocab = LabelVocab.build(["walk-left|proud", "bow|proud"], "full")
    assert "walk-right|proud" in vocab.keys
    w = np.zeros(len(vocab), np.float32)
    w[vocab.index_of("walk-left|proud")] = 1.0
    m = vocab.mirror_weights(w)
    assert m[vocab.index_of("walk-right|proud")] == 1.0 and m.sum() == 1.0
    bow = np.zeros(len(vocab), np.float32)
    bow[vocab.index_of("bow|proud")] = 1.0
    assert np.array_equal(vocab.mirror_weights(bow), bow)


# -- 2. padding is not motion ----------------------------------------------------------------------
def test_padding_changes_neither_output_nor_embedding():
    torch.manual_seed(0)
    lifter = build_lifter(ModelConfig(**SMALL_MODEL), text_dim=8).eval()
    x = torch.randn(1, 12, 17, 3)
    padded = torch.cat([x, x[:, -1:].expand(1, 15, 17, 3)], dim=1)  # last frame repeated, like pad_to_length
    fv = torch.zeros(1, 27)
    fv[:, :12] = 1
    with torch.no_grad():
        ref = lifter(x)
        out = lifter(padded, fv)
        unmasked = lifter(padded)
    assert torch.allclose(out["y3d"][:, :12], ref["y3d"], atol=1e-5)
    assert torch.allclose(out["motion_emb"], ref["motion_emb"], atol=1e-5)
    # without the mask the padding leaks into both (the defect this guards against)
    assert (unmasked["y3d"][:, :12] - ref["y3d"]).abs().max() > 1e-4
    assert (unmasked["motion_emb"] - ref["motion_emb"]).abs().max() > 1e-4


def test_manual_attention_path_masks_padding_too():
    torch.manual_seed(0)
    a = build_lifter(ModelConfig(**SMALL_MODEL), text_dim=8).eval()
    b = build_lifter(ModelConfig(**{**SMALL_MODEL, "attention": "manual"}), text_dim=8).eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 27, 17, 3)
    fv = torch.ones(2, 27)
    fv[1, 20:] = 0
    with torch.no_grad():
        assert torch.allclose(a(x, fv)["y3d"], b(x, fv)["y3d"], atol=1e-5)


# -- 3. confidence at train time matches test time -------------------------------------------------
def test_detector_sized_noise_keeps_confidence_near_one_and_outliers_low():
    x = np.zeros((81, 17, 3), np.float32)
    x[..., 2] = 1.0
    rng = np.random.default_rng(0)
    conf = np.stack([add_noise(x, rng, NoiseConfig())[..., 2] for _ in range(100)])
    assert conf.mean() > 0.95 and (conf > 0.9).mean() > 0.85
    loud = NoiseConfig(gaussian_std=0.0, lowfreq_std=0.0, outlier_prob=1.0, outlier_std=0.2)
    assert add_noise(x, rng, loud)[..., 2].mean() < 0.2


def test_some_training_clips_are_clean():
    motions = [_motion(f"m{i}", "bow|sad") for i in range(40)]
    cfg = make_config("tiny", overrides={"model": SMALL_MODEL, "noise": {"clean_prob": 0.5}})
    ds = LiftingWindows(motions, cfg, train=True, seed=0)
    clean = [bool((ds[i]["x2d"][..., 2] == 1.0).all()) for i in range(len(ds))]
    assert 0.25 < np.mean(clean) < 0.75


# -- 4. optimiser groups and precision ------------------------------------------------------------
def test_no_weight_decay_on_biases_norms_embeddings_and_temperature():
    bundle_cfg = make_config("tiny", overrides={"model": SMALL_MODEL})
    lifter = build_lifter(bundle_cfg.model, text_dim=8)
    aligner = Aligner(AlignConfig(), 8, ["a", "b"], torch.eye(2, 8))
    module = torch.nn.ModuleDict({"lifter": lifter, "aligner": aligner})
    decay, no_decay = param_groups(module, 0.01)
    names = {id(p): n for n, p in module.named_parameters()}
    nd = {names[id(p)] for p in no_decay["params"]}
    d = {names[id(p)] for p in decay["params"]}
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert {"aligner.log_temperature", "lifter.backbone.temp_embed", "lifter.backbone.pos_embed",
            "lifter.backbone.norm.weight", "lifter.backbone.head.bias"} <= nd
    assert "lifter.backbone.head.weight" in d and "lifter.backbone.joints_embed.weight" in d
    assert all(p.ndim >= 2 for p in decay["params"])


def test_bf16_autocast_keeps_head_output_and_embedding_in_fp32():
    torch.manual_seed(0)
    lifter = build_lifter(ModelConfig(**SMALL_MODEL), text_dim=8).eval()
    x = torch.randn(2, 27, 17, 3)
    with torch.no_grad():
        ref = lifter(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = lifter(x)
    assert out["y3d"].dtype == torch.float32 and out["motion_emb"].dtype == torch.float32
    # bf16 rounds the backbone only: the error is ~1 % of the output's spread (the old fp32-free
    # path allowed 0.05 units, ~100 mm at typical scales)
    spread = ref["y3d"].std()
    assert (out["y3d"] - ref["y3d"]).abs().max() < 0.05 * spread
    assert torch.allclose(out["motion_emb"], ref["motion_emb"], atol=0.03)


# -- 5. vocabulary and soft targets -----------------------------------------------------------------
def test_default_vocabulary_is_content_and_style_deduplicated_by_sentence():
    assert make_config("tiny").align.label_field == "full"
    vocab = LabelVocab.build(["run|masculinity", "run|masculine", "run|sad", "walk|sad"], "full")
    # dataset-1's "masculinity" and dataset-2's "masculine" render the same sentence: one entry
    assert len({vocab.index_of("run|masculinity"), vocab.index_of("run|masculine")}) == 1
    assert len(vocab) == 3 and len(set(vocab.sentences)) == 3
    assert vocab.contents == ["run", "walk"]
    assert vocab.content_of_entry(vocab.index_of("run|sad")) == "run"


def test_soft_targets_carry_real_mass_at_the_defaults():
    from actionpose.text.cache import embed_texts
    vocab = LabelVocab.build(["walk|sad", "walk|happy", "run|sad", "kick|normal", "bow|proud"], "full")
    cfg = make_config("tiny")
    emb = torch.as_tensor(embed_texts(vocab.sentences, cfg.text))
    aligner = Aligner(cfg.align, emb.shape[1], vocab.keys, emb)
    assert 0.1 < aligner.off_target_mass() < 0.5
    hard = Aligner(AlignConfig(soft_targets=False), emb.shape[1], vocab.keys, emb)
    assert hard.off_target_mass() == pytest.approx(0.0)


# -- 6. one loss composition, fine-tuning rate, recognition kept -------------------------------------
def test_total_loss_refuses_alignment_without_its_inputs():
    aligner = Aligner(AlignConfig(), 4, ["a", "b"], torch.eye(2, 4))
    y = torch.zeros(2, 5, 17, 3)
    with pytest.raises(KeyError, match="label_weights"):
        L.total_loss({"y3d": y, "motion_emb": torch.ones(2, 4)}, {"y3d": y}, LossConfig(), aligner)
    with pytest.raises(KeyError, match="motion_emb"):
        L.total_loss({"y3d": y}, {"y3d": y}, LossConfig(), teacher_emb=torch.ones(2, 4))


def test_distill_loss_values():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert float(L.distill_loss(a, a)) == pytest.approx(0.0)
    assert float(L.distill_loss(a, torch.tensor([[0.0, 1.0], [0.0, -1.0]]))) == pytest.approx(1.5)


def test_training_loop_uses_total_loss(monkeypatch, tmp_path):
    calls = []
    real = L.total_loss

    def spy(*args, **kw):
        loss, parts = real(*args, **kw)
        calls.append({k: float(v) for k, v in parts.items()})
        return loss, parts

    monkeypatch.setattr(L, "total_loss", spy)
    over = {"model": SMALL_MODEL, "data": {"batch_size": 4}, "train": {"max_steps": 3, "log_every": 1, "val_every": 0}}
    api.pretrain("tiny", "actionpose", tmp_path / "p", overrides=over, progress=False)
    logged = [r for r in read_metrics(tmp_path / "p") if r["split"] == "train"]
    assert len(calls) == 3 and "align" in calls[0]
    assert [c["total"] for c in calls] == pytest.approx([r["loss"] for r in logged])


def test_finetune_has_its_own_learning_rate_and_distils_the_embedding(tmp_path):
    over = {"model": SMALL_MODEL, "data": {"batch_size": 4}, "train": {"max_steps": 4, "log_every": 1, "val_every": 0}}
    api.pretrain("tiny", "actionpose", tmp_path / "p", overrides=over, progress=False)
    cfg = api.finetune_config(tmp_path / "p")
    assert cfg.optim.lr == api.FINETUNE_LR < make_config("tiny").optim.lr
    api.finetune(tmp_path / "p", tmp_path / "f", overrides={"data": over["data"], "train": over["train"]}, progress=False)
    recs = [r for r in read_metrics(tmp_path / "f") if r["split"] == "train"]
    assert all("distill" in r and "align" not in r for r in recs)
    assert recs[0]["distill"] < 1e-3  # the student starts as the teacher
    import json
    meta = json.loads((tmp_path / "f" / "checkpoint.json").read_text())
    assert meta["started_from"]["run"] == str(tmp_path / "p") and len(meta["started_from"]["checkpoint_sha256"]) == 64


def test_shipping_strips_the_trainers_data_folders():
    from actionpose.demo import _without_trainer_paths
    rec = {"source_path": "/home/trainer/data/bandai-namco", "clips": 3076,
           "issues": ["/home/trainer/data/bandai-namco/Bandai-Namco-Research-Motiondataset-1.tar.xz: x.json skipped"]}
    out = _without_trainer_paths(rec)
    assert out == {"source_path": "bandai-namco", "clips": 3076,
                   "issues": ["Bandai-Namco-Research-Motiondataset-1.tar.xz: x.json skipped"]}
    assert _without_trainer_paths({"clips": 1}) == {"clips": 1}
