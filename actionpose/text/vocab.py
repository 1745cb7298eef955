"""The label vocabulary of a run: the one place that turns label strings into alignment targets.

A vocabulary entry is one *sentence*: labels are keyed by `field` ("full" = content and style,
"content" = content only), rendered by `templates.label_to_sentence`, and keys that render the same
sentence share one entry (e.g. dataset-1's "walk|masculinity" and dataset-2's "walk|masculine"), so
two clips whose texts are identical are never each other's negatives.

Mirroring: a horizontally flipped clip of "wave-left-hand" shows a person waving the *right* hand.
`mirror_index[i]` is the entry of entry i's mirrored label (left <-> right), or -1 when the mirrored
label is not in the vocabulary (the flipped clip then counts as unlabelled rather than mislabelled).
"""
from __future__ import annotations

from collections.abc import Iterable
import dataclasses
from dataclasses import dataclass

import numpy as np

from ..config import TextConfig
from .templates import FIELDS, content_of, label_to_sentence, mirror_label, vocab_key


@dataclass
class LabelVocab:
    """`keys[i]`: the representative key of entry i (sorted); `sentences[i]`: its text;
    `aliases`: other keys rendering the same sentence -> their entry index."""

    keys: list[str]
    field: str = "full"
    sentences: list[str] = dataclasses.field(default_factory=list)
    aliases: dict[str, int] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.field not in FIELDS:
            raise ValueError(f"label vocabulary field {self.field!r}: expected one of {', '.join(FIELDS)}")
        self._index = {k: i for i, k in enumerate(self.keys)}
        self._index.update(self.aliases)
        self.mirror_index = np.array([self._index.get(vocab_key(mirror_label(k), self.field), -1)
                                      for k in self.keys], dtype=np.int64)
        self.contents = sorted({content_of(k) for k in self.keys})
        cidx = {c: i for i, c in enumerate(self.contents)}
        self.content_index = np.array([cidx[content_of(k)] for k in self.keys], dtype=np.int64)

    # -- building -------------------------------------------------------------------------------
    @classmethod
    def build(cls, labels: Iterable[str], field: str = "full", text: TextConfig | None = None,
              mirrors: bool = True) -> LabelVocab:
        """Entries from label strings: keyed by `field`, deduplicated by rendered sentence.

        `mirrors`: add the mirror image of every label ("walk-right|sad" for "walk-left|sad") so a
        flipped clip always has its true text in the vocabulary, even when no unflipped take of it exists.
        """
        if field not in FIELDS:
            raise ValueError(f"config align.label_field = {field!r}: expected one of {', '.join(FIELDS)}")
        by_sentence: dict[str, list[str]] = {}
        labels = list(labels)
        if mirrors:
            labels += [mirror_label(lab) for lab in labels if isinstance(lab, str)]
        for lab in labels:
            if not isinstance(lab, str) or not lab.strip():
                raise ValueError(f"labels hold an empty label text {lab!r} (alignment needs text)")
            key = vocab_key(lab, field)
            members = by_sentence.setdefault(label_to_sentence(key, text, field), [])
            if key not in members:
                members.append(key)
        groups = sorted((sorted(keys), s) for s, keys in by_sentence.items())
        keys = [g[0][0] for g in groups]
        sentences = [g[1] for g in groups]
        aliases = {k: i for i, (members, _) in enumerate(groups) for k in members[1:]}
        return cls(keys, field, sentences, aliases)

    @classmethod
    def from_motions(cls, motions, field: str = "full", text: TextConfig | None = None) -> LabelVocab:
        """The vocabulary of the labels carried by `motions` (a list of `Motion`)."""
        labels = []
        for m in motions:
            for lab in m.labels:
                if not lab or not lab.strip():
                    raise ValueError(f"motion {m.name!r}: field labels holds an empty label text (alignment needs text)")
                labels.append(lab)
        return cls.build(labels, field, text)

    # -- lookups --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.keys)

    def key_of(self, label: str) -> str:
        return vocab_key(label, self.field)

    def index_of(self, label: str) -> int:
        """Entry of a label (any key or alias of it), -1 when not in the vocabulary."""
        return self._index.get(self.key_of(label), -1)

    def frame_indices(self, motion) -> np.ndarray:
        """`[T]` entry per frame of a `Motion` (-1 where unlabelled or not in the vocabulary)."""
        if motion.label_per_frame is None or not motion.labels:
            return np.full(motion.num_frames, -1, dtype=np.int64)
        lut = np.array([self.index_of(lab) for lab in motion.labels] + [-1], dtype=np.int64)
        return lut[motion.label_per_frame.astype(np.int64)]  # -1 indexes the trailing -1

    def weights(self, frame_idx: np.ndarray) -> np.ndarray:
        """`[L]` fraction of labelled frames per entry (all zeros when no frame is labelled)."""
        w = np.bincount(frame_idx[frame_idx >= 0], minlength=len(self.keys)).astype(np.float32)
        total = w.sum()
        return w / total if total > 0 else w

    def mirror_weights(self, w: np.ndarray) -> np.ndarray:
        """`[L]` label weights of a clip -> those of its horizontal mirror image (left <-> right).

        Mass on an entry whose mirror is not in the vocabulary is dropped; if nothing is left the
        row is all zeros (an unlabelled clip), never a wrong label.
        """
        out = np.zeros_like(w)
        ok = self.mirror_index >= 0
        np.add.at(out, self.mirror_index[ok], w[ok])
        total = out.sum()
        if total <= 0:
            return out
        return (out / total * w.sum()).astype(w.dtype)

    def content_scores(self, scores: np.ndarray) -> np.ndarray:
        """`[N, L]` scores over entries -> `[N, C]` over `contents`: each action's best sentence, so
        the top-1 action is the action of the top-1 sentence (recognition whatever the style)."""
        scores = np.asarray(scores)
        out = np.full((scores.shape[0], len(self.contents)), -np.inf, dtype=np.float64)
        for c in range(len(self.contents)):
            out[:, c] = scores[:, self.content_index == c].max(axis=1)
        return out

    def content_weights(self, w: np.ndarray) -> np.ndarray:
        """`[N, L]` label weights -> `[N, C]` per action (styles summed)."""
        w = np.asarray(w)
        out = np.zeros((w.shape[0], len(self.contents)), dtype=np.float64)
        np.add.at(out.T, self.content_index, w.T)
        return out

    def content_of_entry(self, i: int) -> str:
        return self.contents[int(self.content_index[i])]

    def meta(self) -> dict:
        """JSON-able description stored in checkpoints (rebuilt by `from_meta`)."""
        return {"vocab": list(self.keys), "vocab_field": self.field, "sentences": list(self.sentences),
                "vocab_aliases": dict(self.aliases)}

    @classmethod
    def from_meta(cls, meta: dict) -> LabelVocab | None:
        keys = list(meta.get("vocab") or [])
        if not keys:
            return None
        sentences = list(meta.get("sentences") or [])
        return cls(keys, meta.get("vocab_field") or "content", sentences, dict(meta.get("vocab_aliases") or {}))


__all__ = ["LabelVocab"]
