"""Motion-text alignment: InfoNCE from each motion embedding to the label vocabulary's texts.

The contrast is against the *label vocabulary* (L fixed text embeddings), not against the other
clips of the batch: each clip's loss is a cross-entropy between softmax(cos(motion, texts) / tau)
and a target distribution over the L labels, and depends on that clip's embedding alone. So two
clips sharing a label are never pushed apart: they are both pulled to the same text, and neither
appears as the other's negative (the failure of in-batch CLIP losses on datasets with few labels).

Targets:
- hard: the clip's label, or for a clip spanning several labels the frame fractions
  (`label_weights [B, L]`, rows summing to 1; all-zero rows = unlabelled clips, skipped);
- soft ("dark knowledge", `AlignConfig.soft_targets`): `(1 - soft_mix)·hard + soft_mix·soft`, where
  soft = hard @ S and row i of S is softmax over the *other* labels j != i of text_i·text_j /
  soft_temperature: labels whose texts resemble the true one get the mass ("walks backwards" is less
  wrong than "kicks" for a walking clip). Excluding the label itself makes `soft_mix` exactly the
  mass put off the true label, whatever the vocabulary's size; the temperature decides how it spreads.

`mode="onehot"` (the ablation baseline) replaces the texts by a Linear classifier over label ids
with plain cross-entropy on the hard targets; no text is involved.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import AlignConfig

MIN_TEMPERATURE = 0.01  # CLIP's bound (logit scale <= 100): keeps logits finite when tau is learned


class Aligner(nn.Module):
    """Label-vocabulary alignment head.

    embed_dim: D, the motion embedding width (= text width in "text" mode).
    Vocabulary: `set_vocabulary(text_emb [L, D], labels)`; the text matrix is a non-persistent buffer
    (recomputed from the labels with the text encoder, never stored in checkpoints). In "onehot" mode
    `set_vocabulary(None, labels)` builds the classifier, whose weights *are* in the state dict: call
    it before building the optimizer and before loading a checkpoint.
    """

    def __init__(self, cfg: AlignConfig, embed_dim: int, labels: list[str] | None = None,
                 text_emb: torch.Tensor | None = None):
        super().__init__()
        if cfg.mode not in ("text", "onehot"):
            raise ValueError(f"config align.mode = {cfg.mode!r}: expected 'text' or 'onehot'")
        if not cfg.temperature_init > 0:
            raise ValueError(f"config align.temperature_init = {cfg.temperature_init}: expected > 0")
        self.cfg = cfg
        self.embed_dim = int(embed_dim)
        self.log_temperature = nn.Parameter(torch.tensor(math.log(cfg.temperature_init)),
                                            requires_grad=cfg.learn_temperature)
        self.register_buffer("text_emb", torch.zeros(0, self.embed_dim), persistent=False)
        self.register_buffer("soft_matrix", torch.zeros(0, 0), persistent=False)
        self.classifier: nn.Linear | None = None
        self.labels: list[str] = []
        if labels is not None:
            self.set_vocabulary(text_emb, labels)

    # -- vocabulary ---------------------------------------------------------------------------
    def set_vocabulary(self, text_emb: torch.Tensor | None, labels: list[str]) -> None:
        """Install the L labels (and in "text" mode their text embeddings `[L, D]`)."""
        labels = list(labels)
        if not labels:
            raise ValueError("set_vocabulary: labels is empty, expected at least one label")
        if self.cfg.mode == "onehot" and (self.classifier is None or self.classifier.out_features != len(labels)):
            self.classifier = nn.Linear(self.embed_dim, len(labels)).to(self.log_temperature.device)
        if text_emb is None:
            if self.cfg.mode == "text":
                raise ValueError("set_vocabulary: text_emb is None, expected [L, D] text embeddings in align.mode 'text'")
            self.labels = labels
            return
        text_emb = torch.as_tensor(text_emb, dtype=torch.float32)
        if text_emb.shape != (len(labels), self.embed_dim):
            raise ValueError(f"set_vocabulary: text_emb has shape {tuple(text_emb.shape)}, expected "
                             f"[{len(labels)}, {self.embed_dim}] (one row per label)")
        if not torch.isfinite(text_emb).all():
            raise ValueError("set_vocabulary: text_emb has NaN/inf values")
        # Rows already of unit norm are kept bit-exact (normalising twice moves them by an ulp), so a
        # vocabulary reloaded from a checkpoint reproduces training exactly on resume.
        norms = text_emb.norm(dim=-1)
        if not torch.allclose(norms, torch.ones_like(norms), atol=1e-6):
            text_emb = F.normalize(text_emb, dim=-1)
        text_emb = text_emb.to(self.log_temperature.device)
        self.text_emb = text_emb
        # Soft targets depend only on the fixed texts: precompute the row-wise softmax of similarities
        # over the other labels (a one-label vocabulary has no others: its soft row is the label itself).
        sim = text_emb @ text_emb.T / self.cfg.soft_temperature
        if len(labels) > 1:
            sim = sim.masked_fill(torch.eye(len(labels), dtype=torch.bool, device=sim.device), float("-inf"))
        self.soft_matrix = torch.softmax(sim, dim=-1)
        self.labels = labels

    @torch.no_grad()
    def off_target_mass(self) -> float:
        """Mean target mass (over the vocabulary's labels) *off* the true label: how much "dark
        knowledge" the soft targets carry (0 for hard targets)."""
        self._need_vocab("off_target_mass")
        hard = torch.eye(self.num_labels, device=self.log_temperature.device)
        return float(1.0 - self.targets(hard).diagonal().mean())

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def temperature(self) -> torch.Tensor:
        return self.log_temperature.exp().clamp(min=MIN_TEMPERATURE)

    def _need_vocab(self, where: str) -> None:
        if not self.labels:
            raise RuntimeError(f"Aligner.{where}: no vocabulary; call set_vocabulary(text_emb, labels) first")

    def _check_emb(self, motion_emb: torch.Tensor, where: str) -> None:
        if motion_emb.ndim != 2 or motion_emb.shape[1] != self.embed_dim:
            raise ValueError(f"Aligner.{where}: motion_emb has shape {tuple(motion_emb.shape)}, "
                             f"expected [B, {self.embed_dim}]")

    # -- scores -------------------------------------------------------------------------------
    def logits(self, motion_emb: torch.Tensor) -> torch.Tensor:
        """`[B, D]` -> `[B, L]`: cosine(motion, label text) / temperature (text mode), classifier logits (onehot)."""
        self._need_vocab("logits")
        self._check_emb(motion_emb, "logits")
        if self.cfg.mode == "onehot":
            return self.classifier(motion_emb)
        m = F.normalize(motion_emb, dim=-1)
        return (m @ self.text_emb.to(m.dtype).T) / self.temperature.to(m.dtype)

    def targets(self, label_weights: torch.Tensor) -> torch.Tensor:
        """`label_weights [B, L]` (frame fractions) -> target distribution `[B, L]`.

        Rows with positive sum are renormalised to 1 (so counts work too); all-zero rows (unlabelled
        clips) stay zero and are skipped by `loss`. Soft targets apply in "text" mode only.
        """
        self._need_vocab("targets")
        w = torch.as_tensor(label_weights)
        if w.ndim != 2 or w.shape[1] != self.num_labels:
            raise ValueError(f"Aligner.targets: label_weights has shape {tuple(w.shape)}, "
                             f"expected [B, {self.num_labels}] (one column per vocabulary label)")
        w = w.float()
        if (w < 0).any() or not torch.isfinite(w).all():
            raise ValueError("Aligner.targets: label_weights must be finite and >= 0 (frame fractions)")
        total = w.sum(dim=1, keepdim=True)
        hard = torch.where(total > 0, w / total.clamp(min=1e-12), torch.zeros_like(w))
        if self.cfg.mode == "text" and self.cfg.soft_targets and self.cfg.soft_mix > 0:
            soft = hard @ self.soft_matrix.to(hard.device)  # mixture of the true labels' soft rows
            return (1.0 - self.cfg.soft_mix) * hard + self.cfg.soft_mix * soft
        return hard

    def loss(self, motion_emb: torch.Tensor, label_weights: torch.Tensor) -> torch.Tensor:
        """Mean over labelled clips of cross-entropy(target, softmax(logits)); 0 when none is labelled.

        The loss keeps its graph even when no clip is labelled, so DDP sees every parameter used.
        """
        logits = self.logits(motion_emb)
        if label_weights.shape[0] != logits.shape[0]:
            raise ValueError(f"Aligner.loss: label_weights has {label_weights.shape[0]} rows, "
                             f"motion_emb has {logits.shape[0]}")
        target = self.targets(label_weights.to(logits.device))
        labelled = (target.sum(dim=1) > 0).to(logits.dtype)
        per_clip = -(target.to(logits.dtype) * F.log_softmax(logits, dim=-1)).sum(dim=1)
        return (per_clip * labelled).sum() / labelled.sum().clamp(min=1.0)

    # -- recognition --------------------------------------------------------------------------
    @torch.no_grad()
    def recognize(self, motion_emb: torch.Tensor, k: int = 5, as_prob: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k labels: `(indices [B, k], scores [B, k])`, best first, k clipped to L.

        Scores: cosine similarity to the label text ("text" mode) or logits ("onehot");
        `as_prob=True` gives softmax(logits) probabilities instead (uses the learned temperature).
        """
        logits = self.logits(motion_emb)
        if as_prob:
            scores = torch.softmax(logits, dim=-1)
        elif self.cfg.mode == "text":
            scores = logits * self.temperature.to(logits.dtype)  # back to cosine
        else:
            scores = logits
        top = torch.topk(scores, k=min(int(k), self.num_labels), dim=-1)
        return top.indices, top.values

    def score_texts(self, motion_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """Zero-shot: cosine similarity `[B, N]` of motion embeddings `[B, D]` to any texts `[N, D]`."""
        if self.cfg.mode != "text":
            raise RuntimeError("Aligner.score_texts: zero-shot text queries need align.mode 'text' "
                               "(an 'onehot' model has no text space)")
        self._check_emb(motion_emb, "score_texts")
        text_emb = torch.as_tensor(text_emb, dtype=motion_emb.dtype, device=motion_emb.device)
        if text_emb.ndim != 2 or text_emb.shape[1] != self.embed_dim:
            raise ValueError(f"Aligner.score_texts: text_emb has shape {tuple(text_emb.shape)}, "
                             f"expected [N, {self.embed_dim}]")
        return F.normalize(motion_emb, dim=-1) @ F.normalize(text_emb, dim=-1).T
