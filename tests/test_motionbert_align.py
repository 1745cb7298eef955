"""Issue 24: text alignment on MotionBERT's backbone. An imported MotionBERT run starts a pretraining
run that keeps its function (the alignment head goes on top); the backbone can be frozen (bit-exact,
outside the optimizer and DDP) or trained at a lower rate than the new head and aligner; resume stays
exact with either; evaluation under `--protocol motionbert` works for such runs; configs without the
new keys keep their hashes. Fixtures: tests/fixtures/motionbert (dim 32, depth 2, 4 heads, 27 frames)."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from actionpose import api
from actionpose.config import _HASHED_WHEN_SET, _RESUME_FREE, _flatten, config_hash, load_yaml, make_config, to_dict
from actionpose.data.dataset import LiftingWindows
from actionpose.train import distributed as D
from actionpose.train.data import collate_items
from actionpose.train.loop import group_lrs, step_context, to_device, train_step
from actionpose.train.model_io import build_bundle, load_bundle
from actionpose.train.runs import read_metrics

from test_recipe_learns import _motion

FIX = Path(__file__).resolve().parent / "fixtures" / "motionbert"
# onehot alignment: the freezing and learning-rate logic is the same as with texts, and no text model
# is loaded (benchmarks/reproduce_paper.py --smoke below runs the text route).
ALIGN = {"mode": "onehot", "soft_targets": False}
TEMPERATURE = "aligner.log_temperature"


def _over(steps: int = 4, **sections) -> dict:
    over = {"align": dict(ALIGN), "data": {"batch_size": 4, "stride": 9},
            "train": {"max_steps": steps, "log_every": 2, "grad_diag_every": 2, "val_every": 4, "ckpt_every": 2,
                      "val_max_windows": 8}}
    for name, keys in sections.items():
        over[name] = {**over.get(name, {}), **keys}
    return over


def _motions() -> list:
    val = _motion("v", 60, "run|normal")
    val.meta = {"split": "val"}
    return [_motion("a", 60), _motion("b", 60, "run|normal"), _motion("c", 60, "jump|normal"), val]


@pytest.fixture(scope="module")
def mb_run(tmp_path_factory):
    """The fixture checkpoint imported as a run folder (absolute-coordinate input, no head)."""
    return api.import_motionbert(FIX / "dstformer_tiny_state_dict.safetensors", tmp_path_factory.mktemp("mb") / "mb",
                                 config_json=FIX / "dstformer_tiny_config.json")


@pytest.fixture(scope="module")
def frozen_run(mb_run, tmp_path_factory):
    run = tmp_path_factory.mktemp("frozen") / "run"
    api.pretrain(None, "actionpose", run, overrides=_over(train={"freeze_backbone": True}), init_from=mb_run,
                 progress=False, motions=_motions())
    return run


def _io() -> dict:
    z = np.load(FIX / "dstformer_tiny_io.npz")
    return {k: torch.from_numpy(z[k]) for k in z.files}


def _weights(run: Path) -> dict:
    return load_file(str(run / "checkpoint.safetensors"))


# -- the same function before and after import into a pretraining bundle -------------------------------
def test_pretraining_bundle_from_an_import_computes_motionberts_function(mb_run):
    cfg = api.pretrain_config(None, "actionpose", _over(), init_from=mb_run)
    # the source's architecture and input encoding, not a preset's (a centred input would change the function)
    assert (cfg.model.preset, cfg.model.dim_feat, cfg.model.input_center, cfg.model.lift_residual,
            cfg.model.frame_embed) == ("imported", 32, "none", False, False)
    motions = _motions()
    bundle = build_bundle(cfg, [m for m in motions if m.meta["split"] == "train"], init_from=mb_run)
    imported, _, _ = load_bundle(mb_run)
    io = _io()
    bundle.net.eval()
    with torch.no_grad():
        out, ref = bundle.lifter(io["x"]), imported.lifter(io["x"])
        out9 = bundle.lifter(io["x_first9"])
    assert torch.equal(out["y3d"], ref["y3d"]) and torch.equal(out["rep"], ref["rep"])
    assert (out["y3d"] - io["y"]).abs().max() <= 1e-5 and (out["rep"] - io["rep"]).abs().max() <= 1e-5
    assert (out9["y3d"] - io["y_first9"]).abs().max() <= 1e-5
    # the alignment head on top: a unit motion embedding per clip, scored against the 3 labels
    assert out["motion_emb"].shape == (2, 384)
    assert torch.allclose(out["motion_emb"].norm(dim=-1), torch.ones(2), atol=1e-5)
    assert bundle.aligner is not None and len(bundle.aligner.labels) == 3
    with pytest.raises(ValueError, match=r"preset 'base' contradicts .*mb/config.yaml \(model preset 'imported'\)"):
        api.pretrain_config("base", "actionpose", _over(), init_from=mb_run)


# -- one step: where gradients go, what the optimizer holds ----------------------------------------------
def _one_step(mb_run, **sections):
    """A bundle started from the import and one optimisation step (diagnostics due) on a fixed batch:
    (bundle, ctx, parameters before, parts)."""
    cfg = api.pretrain_config(None, "actionpose", _over(**sections), init_from=mb_run)
    train = [m for m in _motions() if m.meta["split"] == "train"]
    torch.manual_seed(0)
    bundle = build_bundle(cfg, train, init_from=mb_run)
    ctx = step_context(cfg, bundle, D.DistInfo(), torch.device("cpu"))
    ds = LiftingWindows(train, cfg, train=True, vocab=bundle.vocab, seed=0)
    batch, fv = to_device(collate_items([ds[i] for i in range(4)]), torch.device("cpu"))
    before = {n: p.detach().clone() for n, p in bundle.net.named_parameters()}
    _, parts, _ = train_step(ctx, batch, fv, 0, diagnose=True)
    return bundle, ctx, before, parts


def _is_backbone(name: str) -> bool:
    return name.startswith("lifter.backbone.")


def test_frozen_backbone_gets_no_gradient_and_the_head_does(mb_run):
    bundle, ctx, before, parts = _one_step(mb_run, train={"freeze_backbone": True})
    named = dict(bundle.net.named_parameters())
    backbone = [n for n in named if _is_backbone(n)]
    head = [n for n in named if not _is_backbone(n)]
    assert backbone and all(named[n].grad is None and not named[n].requires_grad for n in backbone)
    assert all(torch.equal(named[n], before[n]) for n in backbone)
    # every new part the loss reads has a gradient and moved: embedding head and onehot classifier (the
    # temperature scales text logits only, so in onehot mode it has none and AdamW leaves it alone)
    assert {"lifter.motion_head.fc1.weight", "aligner.classifier.weight", TEMPERATURE} <= set(head)
    for n in head:
        if n == TEMPERATURE:
            assert named[n].grad is None and torch.equal(named[n], before[n])
            continue
        assert named[n].grad is not None and named[n].grad.abs().sum() > 0, n
        assert not torch.equal(named[n], before[n]), n
    # the optimizer holds the new parts only; the per-term backbone diagnostics are skipped, the terms kept
    in_opt = {id(p) for g in ctx.opt.param_groups for p in g["params"]}
    assert in_opt == {id(named[n]) for n in head}
    assert {"mpjpe", "align"} <= set(parts) and not any(k.startswith(("gnorm_", "gcos_")) for k in parts)


def test_lower_backbone_rate_moves_the_backbone_by_that_fraction(mb_run):
    full = _one_step(mb_run, optim={"warmup_steps": 0})
    low = _one_step(mb_run, optim={"warmup_steps": 0, "backbone_lr_scale": 0.1})
    (b1, ctx1, before1, parts1), (b2, ctx2, before2, parts2) = full, low
    assert group_lrs(ctx1.opt) == {}  # scale 1: the two-group layout of every earlier checkpoint
    assert len(ctx1.opt.param_groups) == 2 and len(ctx2.opt.param_groups) == 4
    lrs = group_lrs(ctx2.opt)  # after one step of the cosine schedule: both scaled alike
    assert lrs["backbone"] == pytest.approx(0.1 * lrs["head"], rel=1e-12) and lrs["head"] < 5e-4
    assert [g["initial_lr"] for g in ctx2.opt.param_groups] == pytest.approx([5e-4, 5e-4, 5e-5, 5e-5])
    p1, p2 = dict(b1.net.named_parameters()), dict(b2.net.named_parameters())
    assert all(torch.equal(before1[n], before2[n]) for n in p1)  # same start
    # The backbone's gradient flows (diagnostics present) and its step is 0.1x the full-rate step
    # (AdamW's update, decay included, is linear in the rate); the head steps exactly as at full rate.
    assert "gnorm_mpjpe" in parts2 and torch.equal(parts1["gnorm_mpjpe"], parts2["gnorm_mpjpe"])
    d1 = torch.cat([(p1[n] - before1[n]).detach().reshape(-1) for n in p1 if _is_backbone(n)])
    d2 = torch.cat([(p2[n] - before2[n]).detach().reshape(-1) for n in p2 if _is_backbone(n)])
    assert float(d1.norm()) > 0 and float(d2.norm() / d1.norm()) == pytest.approx(0.1, rel=1e-3)
    for n in p1:
        if not _is_backbone(n):
            assert torch.allclose(p1[n], p2[n], rtol=0, atol=1e-9), n


# -- the training loop: frozen run, validation, evaluation under MotionBERT's protocol ---------------------
def test_frozen_pretraining_keeps_the_backbone_bit_exact_and_trains_the_head(mb_run, frozen_run):
    src, out = _weights(mb_run), _weights(frozen_run)
    backbone = [k for k in src if k.startswith("lifter.backbone.")]
    assert len(backbone) == len(src) and all(torch.equal(src[k], out[k]) for k in backbone)
    cfg = load_yaml(frozen_run / "config.yaml")
    assert cfg.train.freeze_backbone and cfg.model.input_center == "none"
    torch.manual_seed(cfg.train.seed)  # the run's own initialisation of the new parts
    init = build_bundle(cfg, [m for m in _motions() if m.meta["split"] == "train"], init_from=mb_run)
    init_t = {**{f"lifter.{k}": v for k, v in init.lifter.state_dict().items()},
              **{f"aligner.{k}": v for k, v in init.aligner.state_dict().items()}}
    head = [k for k in out if k.startswith(("lifter.motion_head.", "aligner.")) and k != TEMPERATURE]
    assert len(head) == 6 and all(not torch.equal(out[k], init_t[k]) for k in head)
    # AdamW state only for those 6 tensors (the onehot run's temperature never had a gradient)
    assert len({k.split(".")[1] for k in out if k.startswith("optim.")}) == 6
    recs = read_metrics(frozen_run)
    train = [r for r in recs if r["split"] == "train"]
    assert [r["step"] for r in train] == [2, 4] and all(np.isfinite(r["mpjpe"]) for r in train)
    assert not any(k.startswith("gnorm_") for r in train for k in r)  # diagnostics were due, and skipped
    val = [r for r in recs if r["split"] == "val"]
    assert val and val[-1]["mpjpe_mm"] > 0 and 0 <= val[-1]["top1"] <= 1


def test_evaluation_under_motionberts_protocol_matches_the_import(mb_run, frozen_run, tmp_path):
    from actionpose.data.prepare import prepare
    from actionpose.evaluate import evaluate
    from test_h36m import write_npz_pair
    write_npz_pair(tmp_path / "h36m")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepare("h36m", tmp_path / "h36m", tmp_path / "p", progress=False, with_framewise_labels=False)
        got = [evaluate(run, tmp_path / "p", flip=True, protocol="motionbert", write=False, mlp_floor=None)
               for run in (mb_run, frozen_run)]
    vals = [{r["metric"]: r["value"] for r in rep.summary.to_dict("records")} for rep in got]
    assert got[1].header["protocol"] == "motionbert" and got[1].header["frames_per_window"] == 27
    assert vals[0]["MPJPE"] > 0 and vals[1] == vals[0]  # the frozen backbone lifts exactly as imported


# -- resume ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("keys", [{"train": {"freeze_backbone": True}}, {"optim": {"backbone_lr_scale": 0.25}}],
                         ids=["frozen", "lr-scale"])
def test_resume_is_exact_with_the_backbone_options(mb_run, tmp_path, keys):
    sections = {"optim": {"decay": "constant", "warmup_steps": 2, **keys.get("optim", {})},
                "train": {"val_every": 0, **keys.get("train", {})}}
    motions = _motions()
    api.pretrain(None, "actionpose", tmp_path / "a", overrides=_over(4, **sections), init_from=mb_run,
                 progress=False, motions=motions)
    api.pretrain(None, "actionpose", tmp_path / "b", overrides=_over(2, **sections), init_from=mb_run,
                 progress=False, motions=motions)
    api.pretrain(None, "actionpose", tmp_path / "b", overrides=_over(4, **sections), init_from=mb_run,
                 progress=False, motions=motions, resume=True)
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert a.keys() == b.keys() and any(k.startswith("optim.") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ra = [r for r in read_metrics(tmp_path / "a") if r["split"] == "train"]
    rb = [r for r in read_metrics(tmp_path / "b") if r["split"] == "train"]
    assert [r["loss"] for r in ra] == [r["loss"] for r in rb]
    src = _weights(mb_run)
    moved = any(not torch.equal(src[k], a[k]) for k in src)
    assert moved == ("optim" in keys)
    if "optim" in keys:  # the log shows both rates
        assert all(r["lr_backbone"] == pytest.approx(0.25 * r["lr"], rel=1e-12) for r in ra)


# -- config: keys, hashes, relations; CLI flags -----------------------------------------------------------------
def test_configs_without_the_new_keys_keep_their_hash(tmp_path):
    """The hash a config had before the keys existed: every key but the resume-free ones and the older
    hash-neutral keys at their legacy values (config._HASHED_WHEN_SET), without the two new keys."""
    cfg = make_config("tiny")
    data = to_dict(cfg)
    del data["optim"]["backbone_lr_scale"], data["train"]["freeze_backbone"]
    older = {k: v for k, v in _HASHED_WHEN_SET.items() if k not in ("optim.backbone_lr_scale", "train.freeze_backbone")}
    flat = {k: v for k, v in _flatten(data).items()
            if k not in _RESUME_FREE and not (k in older and v == older[k])}
    legacy_hash = hashlib.sha256(json.dumps(flat, sort_keys=True).encode()).hexdigest()[:16]
    assert config_hash(cfg) == legacy_hash
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(data))
    old = load_yaml(tmp_path / "config.yaml")
    assert (old.optim.backbone_lr_scale, old.train.freeze_backbone) == (1.0, False)
    assert config_hash(old) == legacy_hash
    assert config_hash(make_config("tiny", overrides={"optim": {"backbone_lr_scale": 0.1}})) != legacy_hash
    assert config_hash(make_config("tiny", overrides={"train": {"freeze_backbone": True}})) != legacy_hash


@pytest.mark.parametrize("over, expect", [
    ({"optim": {"backbone_lr_scale": 0.0}}, r"optim.backbone_lr_scale = 0.0: expected a number > 0"),
    ({"train": {"freeze_backbone": True}, "optim": {"backbone_lr_scale": 0.1}},
     r"train.freeze_backbone = True leaves the backbone no learning rate, but optim.backbone_lr_scale = 0.1"),
    ({"train": {"freeze_backbone": True}, "align": {"enabled": False}},
     r"train.freeze_backbone = True would train nothing here \(train.stage = 'pretrain', align.enabled = False"),
    ({"train": {"freeze_backbone": True, "stage": "finetune"}}, r"train.stage = 'finetune'"),
])
def test_contradictory_backbone_settings_are_refused(over, expect):
    with pytest.raises(ValueError, match=expect):
        make_config("tiny", overrides=over)


def test_cli_flags_set_the_keys():
    from actionpose.cli import _backbone_overrides, build_parser
    p = build_parser()
    args = p.parse_args(["pretrain", "--run", "r", "--freeze-backbone"])
    assert _backbone_overrides(args, {}) == {"train": {"freeze_backbone": True}} and args.preset is None
    args = p.parse_args(["pretrain", "--run", "r", "--backbone-lr-scale", "0.1"])
    assert _backbone_overrides(args, {"optim": {"lr": 1e-3}}) == {"optim": {"lr": 1e-3, "backbone_lr_scale": 0.1}}
    for bad in (["--freeze-backbone", "--backbone-lr-scale", "0.1"], ["--backbone-lr-scale", "0"]):
        with pytest.raises(SystemExit):
            p.parse_args(["pretrain", "--run", "r", *bad])


@pytest.mark.slow
def test_ddp_two_cpu_processes_with_a_frozen_backbone(mb_run, tmp_path):
    """Under DDP the frozen backbone is not registered (no all-reduce, no wait for its gradient): the run
    finishes, the ranks agree and the backbone is still the imported one."""
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29541", "--",
           str(Path(sys.executable).parent / "actionpose"), "pretrain", "--from", str(mb_run), "--freeze-backbone",
           "--variant", "onehot", "--max-steps", "3", "--run", str(run), "--batch-size", "2",
           "--set", "train.log_every=1", "--set", "train.val_every=1000", "--set", "train.grad_diag_every=1",
           "--no-progress"]
    res = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    checks = [r for r in read_metrics(run) if r["split"] == "ddp_check"]
    assert checks and checks[-1]["world_size"] == 2 and checks[-1]["ranks_agree"] is True
    src, out = _weights(mb_run), _weights(run)
    assert all(torch.equal(src[k], out[k]) for k in src)
    assert not torch.equal(out["aligner.classifier.weight"], torch.zeros_like(out["aligner.classifier.weight"]))


# -- the reproduce script's MotionBERT stage ---------------------------------------------------------------------
def _reproduce_script():
    import importlib.util
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("reproduce_paper", root / "benchmarks" / "reproduce_paper.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_reproduce_script_backbone_choice_is_checked():
    mod = _reproduce_script()
    base = ["--work", "w", "--amass", "a", "--body-model", "b", "--babel", "c", "--h36m", "d"]
    with pytest.raises(SystemExit):
        mod.parse_args(base + ["--backbone", "frozen"])  # no MotionBERT backbone to freeze
    with pytest.raises(SystemExit):
        mod.parse_args(base + ["--from-motionbert", "x.bin", "--backbone", "lower-lr", "--backbone-lr-scale", "1.5"])
    args = mod.parse_args(base + ["--from-motionbert", "x.bin", "--backbone", "lower-lr"])
    assert mod.backbone_overrides(args) == {"optim": {"backbone_lr_scale": 0.1}}
    assert mod.backbone_label(args) == "lower-lr x0.1"
    assert mod.backbone_overrides(mod.parse_args(base)) == {}


@pytest.mark.slow
def test_reproduce_smoke_from_motionbert_with_a_frozen_backbone(tmp_path):
    pytest.importorskip("smplx")
    from test_babel import write_tree
    from test_h36m import write_npz_pair
    write_tree(tmp_path)
    write_npz_pair(tmp_path / "h36m")
    work = tmp_path / "work"
    argv = ["--smoke", "--work", str(work), "--amass", str(tmp_path / "amass"), "--body-model", str(tmp_path / "smplh"),
            "--babel", str(tmp_path / "babel"), "--h36m", str(tmp_path / "h36m"), "--kp2d", "cpn",
            "--from-motionbert", str(FIX / "dstformer_tiny_checkpoint_layout.bin"), "--motionbert-heads", "4",
            "--backbone", "frozen"]
    mod = _reproduce_script()
    logs: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = mod.run(mod.parse_args(argv), log=logs.append)
    assert summary["init"] == "motionbert" and summary["backbone"] == "frozen"
    cfg = load_yaml(work / "runs" / "pretrain" / "config.yaml")
    assert cfg.train.freeze_backbone and (cfg.model.preset, cfg.model.input_center) == ("imported", "none")
    assert cfg.align.mode == "text"  # BABEL's texts, through the text model
    src, out = _weights(work / "runs" / "motionbert"), _weights(work / "runs" / "pretrain")
    assert all(torch.equal(src[k], out[k]) for k in src)
    assert any(k.startswith("lifter.motion_head.") for k in out)
    for key in ("h36m_actionpose", "h36m_motionbert"):
        assert summary["measured"][key]["mpjpe_mm"] > 0, key
    assert "backbone: frozen" in mod.format_table(summary)
    # re-run: the pretraining stage (same --from and --backbone) is found done
    logs.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mod.run(mod.parse_args(argv), log=logs.append)
    assert any("[pretrain] done (2 steps), skipped" in line for line in logs)
