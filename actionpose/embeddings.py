"""Motion and text embeddings of a run, and their joint 2D projection (UMAP) (L4)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data.dataset import make_sample, sequence_views, split_motions
from .data.motion import Motion
from .model.sequence import predict_sequence
from .train.data import load_data
from .train.model_io import load_bundle
from .train.runs import resolve_run


@dataclass
class EmbeddingSet:
    """motion: `[W, D]` window embeddings with `motion_labels [W]` (vocab key of the window's majority
    label, '' if none) and `motion_source [W]` (sequence name); text: `[L, D]` with `text_labels [L]`
    (vocab keys) and `sentences [L]`."""

    motion: np.ndarray
    motion_labels: np.ndarray
    motion_source: np.ndarray
    text: np.ndarray
    text_labels: np.ndarray
    sentences: np.ndarray

    def save(self, path: Path) -> Path:
        np.savez(path, **{k: getattr(self, k) for k in self.__dataclass_fields__})
        return path

    @classmethod
    def load(cls, path: Path) -> "EmbeddingSet":
        with np.load(path, allow_pickle=False) as z:
            return cls(**{k: z[k] for k in cls.__dataclass_fields__})


def extract_embeddings(run: str | Path, data: str | Path | None = None, split: str = "val",
                       motions: list[Motion] | None = None, max_sequences: int | None = None,
                       views_per_sequence: int = 1, write: bool = True) -> EmbeddingSet:
    """Window embeddings of the held-out motions + the run's label-text embeddings (`embeddings.npz`)."""
    run_dir = resolve_run(run)
    bundle, cfg, meta = load_bundle(run_dir)
    if bundle.aligner is None or bundle.vocab is None:
        raise ValueError(f"{run_dir}: this run has no motion embedding head (trained without alignment)")
    if motions is None:
        motions, _ = load_data(data or cfg.data.path or None)
    held = split_motions(motions, split)
    if not held:
        raise ValueError(f"{data or 'data'}: no motions in split {split!r}")
    held = held[:max_sequences] if max_sequences else held
    embs, labels, sources = [], [], []
    for m in held:
        frame_vocab = bundle.vocab.frame_indices(m)
        for view, kp_cam in sequence_views(m, cfg)[:views_per_sequence]:
            s = make_sample(m, view, kp_cam)
            pred = predict_sequence(bundle.net, s.x2d, cfg.model.maxlen)
            for (a, b), e in zip(pred.windows, pred.motion_emb):
                w = bundle.vocab.weights(frame_vocab[a:b])
                labels.append(bundle.vocab.keys[int(w.argmax())] if w.sum() > 0 else "")
                embs.append(e)
                sources.append(m.name)
    text = bundle.aligner.text_emb.numpy() if bundle.aligner.text_emb.numel() else np.zeros((0, embs[0].shape[0]))
    es = EmbeddingSet(np.stack(embs).astype(np.float32), np.array(labels), np.array(sources),
                      text.astype(np.float32), np.array(bundle.vocab.keys), np.array(bundle.sentences))
    if write:
        es.save(run_dir / "embeddings.npz")
    return es


def project_2d(es: EmbeddingSet, method: str = "umap", seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """Joint 2D projection of motion and text embeddings: `[W + L, 2]` (motion rows first).

    UMAP with cosine distance (embeddings are unit vectors); `method="pca"` is a fast, deterministic
    alternative for very small sets where UMAP's neighbour graph is degenerate.
    """
    x = np.concatenate([es.motion, es.text]).astype(np.float32)
    if method == "pca" or len(x) < 6:
        xc = x - x.mean(axis=0)
        _, _, vt = np.linalg.svd(xc, full_matrices=False)
        return xc @ vt[:2].T
    if method != "umap":
        raise ValueError(f"project_2d: method {method!r}, expected 'umap' or 'pca'")
    import umap
    reducer = umap.UMAP(n_components=2, metric="cosine", random_state=seed,
                        n_neighbors=min(n_neighbors, len(x) - 1), init="random")
    return reducer.fit_transform(x)


def recognition_from_embeddings(es: EmbeddingSet) -> float:
    """Top-1 (%) of nearest label text by cosine, over labelled windows."""
    keep = es.motion_labels != ""
    sims = es.motion[keep] @ es.text.T
    pred = es.text_labels[sims.argmax(axis=1)]
    return float((pred == es.motion_labels[keep]).mean() * 100.0)


__all__ = ["EmbeddingSet", "extract_embeddings", "project_2d", "recognition_from_embeddings"]
