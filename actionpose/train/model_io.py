"""Building the trainable bundle (lifter + aligner + label vocabulary) and moving it in and out of
checkpoints and run folders."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..config import RunConfig
from ..text.vocab import LabelVocab
from ..data.motion import Motion
from ..model.aligner import Aligner
from ..model.lifter import Lifter, build_lifter
from .checkpoint import load_checkpoint, prefixed, strip_prefix
from .runs import load_run_config, resolve_run

ONEHOT_EMBED_DIM = 384  # embedding width in onehot mode (no text model), kept equal to MiniLM's


class TrainModule(nn.Module):
    """Lifter + aligner in one module so DDP all-reduces every trainable parameter.

    forward(x2d [B, T, 17, 3]) -> dict(y3d, rep, [motion_emb, logits])
    """

    def __init__(self, lifter: Lifter, aligner: Aligner | None):
        super().__init__()
        self.lifter = lifter
        self.aligner = aligner

    def forward(self, x2d: torch.Tensor, frame_valid: torch.Tensor | None = None,
                detach_embedding: bool = False) -> dict[str, torch.Tensor]:
        """frame_valid `[B, T]`: 1 for real frames of padded windows (None: every frame is real);
        `detach_embedding`: see `Lifter.forward`."""
        out = self.lifter(x2d, frame_valid, detach_embedding=detach_embedding)
        # Logits for recognition at evaluation; training computes its loss from motion_emb.
        if not self.training and self.aligner is not None and out.get("motion_emb") is not None:
            out["logits"] = self.aligner.logits(out["motion_emb"].float())
        return out


@dataclass
class ModelBundle:
    lifter: Lifter
    aligner: Aligner | None
    net: TrainModule
    vocab: LabelVocab | None = None
    sentences: list[str] = field(default_factory=list)
    frozen_align: bool = False
    text_model: str = ""

    def trainable_parameters(self):
        return [p for p in self.net.parameters() if p.requires_grad]

    def meta(self, cfg: RunConfig) -> dict:
        vocab = self.vocab.meta() if self.vocab else {"vocab": [], "vocab_field": "", "vocab_aliases": {}}
        return {
            "preset": cfg.model.preset,
            "variant": cfg.variant,
            **vocab,
            "sentences": self.sentences,
            "frozen_align": self.frozen_align,
            "align_mode": self.aligner.cfg.mode if self.aligner is not None else cfg.align.mode,
            "text_model": self.text_model,
        }


def _text_embeddings(vocab: LabelVocab, cfg: RunConfig) -> tuple[list[str], np.ndarray]:
    from ..text.cache import embed_texts
    return list(vocab.sentences), embed_texts(list(vocab.sentences), cfg.text)


def _make(cfg: RunConfig, vocab: LabelVocab | None, sentences: list[str], text_emb: np.ndarray | None,
          mode: str, device) -> ModelBundle:
    if vocab is None:
        lifter = build_lifter(cfg.model, None)
        aligner = None
    else:
        dim = int(text_emb.shape[1]) if text_emb is not None else ONEHOT_EMBED_DIM
        lifter = build_lifter(cfg.model, dim)
        aligner = Aligner(dataclasses.replace(cfg.align, mode=mode), embed_dim=dim)
        aligner.set_vocabulary(None if text_emb is None else torch.as_tensor(text_emb, dtype=torch.float32),
                               list(vocab.keys))
    net = TrainModule(lifter, aligner).to(device)
    return ModelBundle(lifter, aligner, net, vocab, sentences, text_model=cfg.text.model if text_emb is not None else "")


def build_bundle(cfg: RunConfig, train_motions: list[Motion], *, init_from: Path | None = None,
                 resume: tuple[dict, dict] | None = None, device=torch.device("cpu")) -> ModelBundle:
    """The model for a run.

    Pretraining with alignment builds the vocabulary from the training motions' labels and embeds
    the label sentences with the frozen text model. Fine-tuning keeps the source run's embedding
    head and aligner *frozen* (no gradients, no loss) so the fine-tuned model can still score
    actions; the backbone and 3D head train. `resume` = (tensors, meta) of the run's own checkpoint.
    `train.freeze_backbone`: the backbone is frozen after loading (`freeze_backbone`), on resume too.
    """
    bundle = _assemble(cfg, train_motions, init_from, resume, device)
    if cfg.train.freeze_backbone:
        freeze_backbone(bundle)
    return bundle


def freeze_backbone(bundle: ModelBundle) -> None:
    """Stop the backbone (`lifter.backbone`: the DSTformer with its 3D head, what a MotionBERT import
    supplies) from learning: requires_grad off, so the optimizer (`loop.optimizer_groups`), gradient
    clipping and DDP leave it out and its weights stay bit-exact; its forward builds no autograd graph.
    Dropout / drop-path, if configured, still act in training mode (the backbone is not put in eval)."""
    for p in bundle.lifter.backbone.parameters():
        p.requires_grad_(False)


def _assemble(cfg: RunConfig, train_motions: list[Motion], init_from: Path | None,
              resume: tuple[dict, dict] | None, device) -> ModelBundle:
    if resume is not None:
        tensors, meta = resume
        bundle = bundle_from_meta(cfg, tensors, meta, device)
        load_tensors(bundle, tensors, where="checkpoint")
        return bundle
    if cfg.train.stage == "pretrain":
        if cfg.align.enabled:
            vocab = LabelVocab.from_motions(train_motions, cfg.align.label_field, cfg.text)
            if not vocab.keys:
                raise ValueError("training data: alignment is on (align.enabled) but no motion carries a label text; "
                                 "use data with action labels or the motionbert-style variant")
            if cfg.align.mode == "text":
                sentences, emb = _text_embeddings(vocab, cfg)
            else:
                sentences, emb = list(vocab.keys), None
            bundle = _make(cfg, vocab, sentences, emb, cfg.align.mode, device)
        else:
            bundle = _make(cfg, None, [], None, "text", device)
        if init_from is not None:  # continue pretraining from another run (e.g. imported MotionBERT)
            src_t, src_meta = load_checkpoint(resolve_run(init_from))
            _load_backbone(bundle, src_t, str(init_from))
        return bundle
    # Fine-tuning.
    if init_from is None:
        return _make(cfg, None, [], None, "text", device)
    src_dir = resolve_run(init_from)
    src_cfg = load_run_config(src_dir)
    if src_cfg.model.preset != cfg.model.preset or src_cfg.model.dim_feat != cfg.model.dim_feat:
        raise ValueError(f"{src_dir}/config.yaml: model preset {src_cfg.model.preset!r} (dim {src_cfg.model.dim_feat}) "
                         f"differs from this run's {cfg.model.preset!r} (dim {cfg.model.dim_feat})")
    src_t, src_meta = load_checkpoint(src_dir)
    bundle = bundle_from_meta(cfg, src_t, src_meta, device)
    load_tensors(bundle, src_t, where=str(src_dir), model_only=True)
    if bundle.aligner is not None:
        _freeze_alignment(bundle, cfg)
    return bundle


def _freeze_alignment(bundle: ModelBundle, cfg: RunConfig) -> None:
    """Fine-tuning: the aligner (texts, temperature) is frozen; the embedding head trains only when
    distillation keeps it tied to the pretrained embedding (`loss.w_distill > 0`), else it is frozen too."""
    bundle.frozen_align = True
    frozen = list(bundle.aligner.parameters())
    if not cfg.loss.w_distill:
        frozen += _head_params(bundle.lifter)
    for p in frozen:
        p.requires_grad_(False)


def build_teacher(src_run: Path, device) -> Lifter | None:
    """A frozen copy of a source run's lifter (eval mode) whose motion embedding fine-tuning distils;
    None when the source has no embedding head (nothing to keep)."""
    src_dir = resolve_run(src_run)
    src_cfg = load_run_config(src_dir)
    tensors, meta = load_checkpoint(src_dir)
    bundle = bundle_from_meta(src_cfg, tensors, meta, device)
    load_tensors(bundle, tensors, where=str(src_dir))
    if bundle.lifter.motion_head is None:
        return None
    teacher = bundle.lifter.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def _head_params(lifter: Lifter) -> list:
    return list(lifter.motion_head.parameters()) if lifter.motion_head is not None else []


def bundle_from_meta(cfg: RunConfig, tensors: dict, meta: dict, device) -> ModelBundle:
    """An empty bundle shaped like the checkpoint described by `meta` (vocabulary and text embeddings)."""
    vocab = LabelVocab.from_meta(meta)
    if vocab is None:
        bundle = _make(cfg, None, [], None, "text", device)
    else:
        emb = tensors.get("text_emb")
        bundle = _make(cfg, vocab, list(meta.get("sentences") or vocab.keys),
                       emb.numpy() if emb is not None else None, meta.get("align_mode", "text"), device)
        bundle.text_model = meta.get("text_model", "")
    if bool(meta.get("frozen_align", False)) and bundle.aligner is not None:
        _freeze_alignment(bundle, cfg)
    return bundle


def bundle_tensors(bundle: ModelBundle) -> dict[str, torch.Tensor]:
    out = prefixed(bundle.lifter.state_dict(), "lifter.")
    if bundle.aligner is not None:
        out.update(prefixed(bundle.aligner.state_dict(), "aligner."))
        if bundle.aligner.text_emb.numel():
            out["text_emb"] = bundle.aligner.text_emb
    return out


def load_tensors(bundle: ModelBundle, tensors: dict, where: str, model_only: bool = False) -> None:
    """Load lifter (+ aligner) weights strictly; a mismatch names the first offending keys/shapes."""
    _load_strict(bundle.lifter, strip_prefix(tensors, "lifter."), f"{where} lifter")
    if bundle.aligner is not None:
        _load_strict(bundle.aligner, strip_prefix(tensors, "aligner."), f"{where} aligner")


def _load_backbone(bundle: ModelBundle, tensors: dict, where: str) -> None:
    """Backbone + 3D head only (the embedding head/aligner stay freshly initialised)."""
    src = {k: v for k, v in strip_prefix(tensors, "lifter.").items() if not k.startswith("motion_head")}
    own = bundle.lifter.state_dict()
    missing = [k for k in own if not k.startswith("motion_head") and k not in src]
    if missing:
        raise ValueError(f"{where}: checkpoint lacks backbone keys {missing[:4]} (another architecture?)")
    for k, v in src.items():
        if k in own and own[k].shape != v.shape:
            raise ValueError(f"{where}: key {k} has shape {tuple(v.shape)}, this model expects {tuple(own[k].shape)} "
                             "(a checkpoint from another preset?)")
    bundle.lifter.load_state_dict(src, strict=False)


def _load_strict(module: nn.Module, state: dict, where: str) -> None:
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if missing or extra:
        raise ValueError(f"{where}: keys do not match (missing {missing[:4]}, unexpected {extra[:4]}) — "
                         "a checkpoint from another preset or variant?")
    for k, v in state.items():
        if own[k].shape != v.shape:
            raise ValueError(f"{where}: key {k} has shape {tuple(v.shape)}, expected {tuple(own[k].shape)} "
                             "(a checkpoint from another preset?)")
    module.load_state_dict(state, strict=True)


def load_bundle(run: str | Path, device=torch.device("cpu")) -> tuple[ModelBundle, RunConfig, dict]:
    """A trained run's model in eval mode: (bundle, config, checkpoint meta)."""
    run_dir = resolve_run(run)
    cfg = load_run_config(run_dir)
    tensors, meta = load_checkpoint(run_dir)
    bundle = bundle_from_meta(cfg, tensors, meta, device)
    load_tensors(bundle, tensors, where=str(run_dir))
    bundle.net.eval()
    return bundle, cfg, meta
