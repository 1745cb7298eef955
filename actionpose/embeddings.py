"""Motion and text embeddings of a run, their 2D projection, and dataset-wide text retrieval (L4).

Projection (what the app's projector and notebook 05 draw): UMAP (cosine) or PCA is fitted on the
*motion* windows only; each label text and each typed query is then placed at the mean position of
its `k` most similar motion windows (cosine, the score recognition uses). A text therefore sits among
the motions the model would name with it, and the plot shows alignment rather than the modality gap
(motion and text embeddings occupy different regions of the sphere even when perfectly aligned, so a
joint fit would draw every text apart from every motion). Projections are stored in
`embeddings.npz` when a run writes it, and otherwise cached under the user cache dir
(`$ACTIONPOSE_CACHE/projections` or `~/.cache/actionpose/projections`), keyed by the embeddings' bytes.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .data.dataset import make_sample, sequence_views, split_motions
from .data.motion import Motion
from .model.sequence import predict_sequence
from .train.checkpoint import atomic_savez
from .train.data import load_data
from .train.model_io import load_bundle
from .train.runs import resolve_run


PROJECTION_VERSION = 1  # bump when the projection recipe changes (invalidates stored/cached ones)
PLACE_K = 10  # texts and queries sit at the mean position of this many most similar motion windows


@dataclass
class EmbeddingSet:
    """motion: `[W, D]` window embeddings with `motion_labels [W]` (vocab key of the window's majority
    label, '' if none), `motion_source [W]` (sequence name), `motion_view [W]` (view index in
    `sequence_views`) and `motion_frames [W, 2]` ((start, end) frames; -1 when the file predates
    them); text: `[L, D]` with `text_labels [L]` (vocab keys) and `sentences [L]`.
    `provenance`: which checkpoint made the embeddings (run, stage, step, config hash, checkpoint
    sha256, time); empty for files written before it was recorded. `projections`: stored 2D
    projections `{"umap_s0": [W + L, 2], ...}` (motion rows first, texts placed as in the module doc)."""

    motion: np.ndarray
    motion_labels: np.ndarray
    motion_source: np.ndarray
    text: np.ndarray
    text_labels: np.ndarray
    sentences: np.ndarray
    motion_view: np.ndarray | None = None
    motion_frames: np.ndarray | None = None
    provenance: dict = field(default_factory=dict)
    projections: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        w = len(self.motion)
        if self.motion_view is None:
            self.motion_view = np.zeros(w, dtype=np.int64)
        if self.motion_frames is None:
            self.motion_frames = np.full((w, 2), -1, dtype=np.int64)

    _ARRAYS = ("motion", "motion_labels", "motion_source", "text", "text_labels", "sentences",
               "motion_view", "motion_frames")

    def save(self, path: Path, half: bool = False) -> Path:
        """Write the npz (compressed: the per-window names repeat). `half` stores the motion and text
        embeddings as float16 (half the bytes; cosine scores move by ~1e-3); `load` returns float32 either
        way. The shipped demo runs use it: at T = 9 a run has ~2,000 held-out windows (issue 21)."""
        arrays = {k: getattr(self, k) for k in self._ARRAYS}
        if half:
            arrays["motion"] = np.asarray(self.motion, dtype=np.float16)
            arrays["text"] = np.asarray(self.text, dtype=np.float16)
        arrays["provenance_json"] = np.array(json.dumps(self.provenance))
        for name, xy in self.projections.items():
            arrays[f"projection__{name}"] = np.asarray(xy, dtype=np.float32)
        atomic_savez(path, compressed=True, **arrays)
        return path

    @classmethod
    def load(cls, path: Path) -> "EmbeddingSet":
        """Reads files of every version (older ones lack view, frames, provenance and projections)."""
        path = Path(path)
        try:
            z = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: not a readable embeddings npz ({e})") from None
        with z:
            missing = [k for k in cls._ARRAYS[:6] if k not in z.files]
            if missing:
                raise ValueError(f"{path}: missing field(s) {', '.join(missing)} (expected an embeddings.npz "
                                 "written by `extract_embeddings`)")
            kw = {k: z[k] for k in cls._ARRAYS if k in z.files}
            kw["motion"], kw["text"] = kw["motion"].astype(np.float32), kw["text"].astype(np.float32)
            prov = json.loads(str(z["provenance_json"])) if "provenance_json" in z.files else {}
            proj = {k.split("__", 1)[1]: z[k] for k in z.files if k.startswith("projection__")}
        return cls(**kw, provenance=prov, projections=proj)

    def window_table(self) -> list[dict]:
        """One row per motion window: row, sequence, view, start, end, ground truth (vocab key)."""
        return [{"row": i, "sequence": str(src), "view": int(v), "start": int(f[0]), "end": int(f[1]),
                 "truth": str(lab)}
                for i, (src, v, f, lab) in enumerate(zip(self.motion_source, self.motion_view, self.motion_frames,
                                                         self.motion_labels))]


def checkpoint_provenance(run_dir: str | Path, meta: dict | None = None) -> dict:
    """Which checkpoint a run folder holds: run, stage, step, config hash, sha256 (16 hex) and mtime."""
    run_dir = Path(run_dir)
    ckpt = run_dir / "checkpoint.safetensors"
    if meta is None:
        try:
            meta = json.loads((run_dir / "checkpoint.json").read_text())
        except (OSError, json.JSONDecodeError):
            meta = {}
    sha = ""
    if ckpt.exists():
        h = hashlib.sha256()
        with open(ckpt, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        sha = h.hexdigest()[:16]
    mtime = _dt.datetime.fromtimestamp(ckpt.stat().st_mtime).isoformat(timespec="seconds") if ckpt.exists() else ""
    return {"run": str(run_dir), "stage": meta.get("stage", ""), "step": meta.get("step"),
            "config_hash": meta.get("config_hash", ""), "checkpoint_sha256": sha, "checkpoint_mtime": mtime}


def describe_provenance(prov: dict) -> str:
    """One line naming the checkpoint that made a set of embeddings (or saying it is unrecorded)."""
    if not prov:
        return "checkpoint not recorded (file written before provenance was stored)"
    name = Path(str(prov.get("run", "?"))).name
    made = f", made {prov['made_at']}" if prov.get("made_at") else ""
    return (f"{name} · {prov.get('stage') or '?'} checkpoint, step {prov.get('step', '?')} · "
            f"sha256 {prov.get('checkpoint_sha256') or '?'}{made}")


def extract_embeddings(run: str | Path, data: str | Path | None = None, split: str = "val",
                       motions: list[Motion] | None = None, max_sequences: int | None = None,
                       views_per_sequence: int = 1, write: bool = True, project: bool = True,
                       device: str = "cpu", batch_size: int = 8, half_storage: bool = False) -> EmbeddingSet:
    """Window embeddings of the held-out motions + the run's label-text embeddings (`embeddings.npz`).

    With `write`, the file also stores the 2D projections the app draws (UMAP seed 0 and PCA, see the
    module doc) when `project` is on, so the projector opens without fitting UMAP. `device` runs the
    model there ("cpu", "cuda", "cuda:1", "mps"); `batch_size` windows go through it at once;
    `half_storage` writes the embeddings as float16 (`EmbeddingSet.save`)."""
    run_dir = resolve_run(run)
    bundle, cfg, meta = load_bundle(run_dir, torch.device(device))
    if bundle.aligner is None or bundle.vocab is None:
        raise ValueError(f"{run_dir}: this run has no motion embedding head (trained without alignment)")
    if motions is None:
        motions, _ = load_data(data or cfg.data.path or None)
    held = split_motions(motions, split)
    if not held:
        raise ValueError(f"{data or 'data'}: no motions in split {split!r}")
    held = held[:max_sequences] if max_sequences else held
    embs, labels, sources, views, frames = [], [], [], [], []
    for m in held:
        frame_vocab = bundle.vocab.frame_indices(m)
        for vi, (view, kp_cam) in enumerate(sequence_views(m, cfg)[:views_per_sequence]):
            s = make_sample(m, view, kp_cam)
            pred = predict_sequence(bundle.net, s.x2d, cfg.model.maxlen, device=device, windows_per_batch=batch_size)
            for (a, b), e in zip(pred.windows, pred.motion_emb):
                w = bundle.vocab.weights(frame_vocab[a:b])
                labels.append(bundle.vocab.keys[int(w.argmax())] if w.sum() > 0 else "")
                embs.append(e)
                sources.append(m.name)
                views.append(vi)
                frames.append((int(a), int(b)))
    text = bundle.aligner.text_emb.numpy() if bundle.aligner.text_emb.numel() else np.zeros((0, embs[0].shape[0]))
    prov = checkpoint_provenance(run_dir, meta)
    prov["made_at"] = _dt.datetime.now().isoformat(timespec="seconds")
    prov["split"] = split
    es = EmbeddingSet(np.stack(embs).astype(np.float32), np.array(labels), np.array(sources),
                      text.astype(np.float32), np.array(bundle.vocab.keys), np.array(bundle.sentences),
                      np.array(views, dtype=np.int64), np.array(frames, dtype=np.int64).reshape(-1, 2), prov)
    if half_storage:  # round first, so the returned set, its projections and the file agree exactly
        es.motion = es.motion.astype(np.float16).astype(np.float32)
        es.text = es.text.astype(np.float16).astype(np.float32)
    if write:
        if project:
            for method in ("umap", "pca"):
                p = project_embeddings(es, method=method, seed=0, cache=False)
                es.projections[p.key] = p.points
        es.save(run_dir / "embeddings.npz", half=half_storage)
    return es


def fill_window_frames(es: EmbeddingSet, num_frames: dict[str, int], maxlen: int) -> EmbeddingSet:
    """For files that predate `motion_frames`: rebuild each window's (start, end) from the sequence
    lengths, as `predict_sequence` cut them (consecutive rows of one sequence = its windows in order).
    Rows whose sequence is unknown, or whose count does not match, keep -1."""
    from .data.windows import covering_windows
    if (es.motion_frames >= 0).all():
        return es
    frames = es.motion_frames.copy()
    src = es.motion_source.tolist()
    i = 0
    while i < len(src):
        j = i
        while j < len(src) and src[j] == src[i]:
            j += 1
        n = num_frames.get(src[i])
        if n is not None:
            wins = covering_windows(int(n), int(maxlen))
            # a run of rows may hold several views of one sequence back to back
            if (j - i) % len(wins) == 0:
                frames[i:j] = np.array(wins * ((j - i) // len(wins)), dtype=np.int64)
                if (j - i) > len(wins):
                    es.motion_view[i:j] = np.repeat(np.arange((j - i) // len(wins)), len(wins))
        i = j
    es.motion_frames = frames
    return es


# ------------------------------------------------------------------------------------ projection

@dataclass
class Projection:
    """A 2D projection: `motion_xy [W, 2]`, `text_xy [L, 2]`; method, seed, where it came from
    ('stored' in embeddings.npz, 'cache', 'computed') and a one-line `note` explaining the placement."""

    motion_xy: np.ndarray
    text_xy: np.ndarray
    method: str
    seed: int
    source: str
    seconds: float
    k_place: int = PLACE_K

    @property
    def key(self) -> str:
        return f"{self.method}_s{self.seed}_v{PROJECTION_VERSION}"

    @property
    def points(self) -> np.ndarray:
        return np.concatenate([self.motion_xy, self.text_xy]).astype(np.float32)

    @property
    def note(self) -> str:
        fit = "UMAP (cosine, 15 neighbours" if self.method == "umap" else "PCA (2 components"
        return (f"{fit}, seed {self.seed}) fitted on the motion windows only; each text ★ / query ✚ is placed at "
                f"the mean position of its {self.k_place} most similar windows (cosine, the recognition score), "
                "so a text sits among the motions the model would name with it — not the modality gap")


def projection_cache_dir() -> Path:
    """User cache folder for projections (never inside the package, which may be read-only)."""
    env = os.environ.get("ACTIONPOSE_CACHE", "")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "actionpose"
    return root / "projections"


def _digest(es: EmbeddingSet) -> str:
    h = hashlib.sha256()
    for a in (es.motion, es.text):
        h.update(np.ascontiguousarray(a, dtype=np.float32).tobytes())
    return h.hexdigest()[:24]


def place_near_motions(motion_emb: np.ndarray, motion_xy: np.ndarray, emb: np.ndarray, k: int = PLACE_K) -> np.ndarray:
    """`emb [Q, D]` -> `[Q, 2]`: the mean 2D position of each row's `k` most cosine-similar motion
    windows (`motion_emb [W, D]`, `motion_xy [W, 2]`)."""
    m = _unit(motion_emb)
    q = _unit(np.atleast_2d(emb))
    if len(m) == 0:
        raise ValueError("place_near_motions: no motion windows to place texts among")
    k = max(1, min(int(k), len(m)))
    sims = q @ m.T
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    return np.asarray(motion_xy, dtype=np.float64)[top].mean(axis=1).astype(np.float32)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _fit_motion_2d(x: np.ndarray, method: str, seed: int, n_neighbors: int) -> np.ndarray:
    if method == "pca" or len(x) < 6:
        xc = x - x.mean(axis=0)
        _, _, vt = np.linalg.svd(xc, full_matrices=False)
        out = xc @ vt[:2].T
        # fix the sign of each axis (SVD's is arbitrary): the largest-|value| point is positive
        for a in range(out.shape[1]):
            if out[np.abs(out[:, a]).argmax(), a] < 0:
                out[:, a] = -out[:, a]
        return out if out.shape[1] == 2 else np.pad(out, ((0, 0), (0, 2 - out.shape[1])))
    import warnings

    import umap
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs overridden by random_state: intended (reproducible)
        reducer = umap.UMAP(n_components=2, metric="cosine", random_state=seed,
                            n_neighbors=min(n_neighbors, len(x) - 1), init="random")
        return reducer.fit_transform(x)


def project_embeddings(es: EmbeddingSet, method: str = "umap", seed: int = 0, *, cache: bool = True,
                       n_neighbors: int = 15, k_place: int = PLACE_K) -> Projection:
    """Motion windows -> 2D (UMAP or PCA fitted on motions), texts placed among their nearest windows.

    Looks in `es.projections` (stored with the run), then the user cache, then computes (and caches)."""
    if method not in ("umap", "pca"):
        raise ValueError(f"project_embeddings: method {method!r}, expected 'umap' or 'pca'")
    t0 = time.perf_counter()
    W = len(es.motion)
    proj = Projection(np.zeros((0, 2)), np.zeros((0, 2)), method, int(seed), "", 0.0, k_place)
    stored = es.projections.get(proj.key)
    if stored is not None and len(stored) == W + len(es.text) and k_place == PLACE_K:
        proj.motion_xy, proj.text_xy, proj.source = stored[:W], stored[W:], "stored"
        proj.seconds = time.perf_counter() - t0
        return proj
    path = projection_cache_dir() / f"{_digest(es)}_{proj.key}_n{n_neighbors}.npy"
    if cache and path.exists():
        try:
            motion_xy = np.load(path, allow_pickle=False)
            if motion_xy.shape == (W, 2):
                proj.motion_xy, proj.source = motion_xy, "cache"
        except (OSError, ValueError):
            pass  # a damaged cache file is recomputed and replaced
    if not proj.source:
        proj.motion_xy = _fit_motion_2d(es.motion.astype(np.float32), method, seed, n_neighbors).astype(np.float32)
        proj.source = "computed"
        if cache:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
                np.save(tmp, proj.motion_xy)
                os.replace(tmp, path)
            except OSError:
                pass  # caching is an optimisation; a read-only home still works
    proj.text_xy = (place_near_motions(es.motion, proj.motion_xy, es.text, k_place) if len(es.text)
                    else np.zeros((0, 2), dtype=np.float32))
    proj.seconds = time.perf_counter() - t0
    return proj


def project_2d(es: EmbeddingSet, method: str = "umap", seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """`[W + L, 2]` (motion rows first): `project_embeddings(...).points` (see the module doc)."""
    return project_embeddings(es, method=method, seed=seed, n_neighbors=n_neighbors).points


# ------------------------------------------------------------------------ recognition and retrieval

def window_top1(es: EmbeddingSet) -> tuple[np.ndarray, np.ndarray]:
    """Per motion window: index of the most similar label text `[W]` and its cosine `[W]`."""
    if len(es.text) == 0:
        raise ValueError("window_top1: the embedding set has no label texts")
    sims = _unit(es.motion) @ _unit(es.text).T
    idx = sims.argmax(axis=1)
    return idx, sims[np.arange(len(idx)), idx]


def recognition_from_embeddings(es: EmbeddingSet) -> float:
    """Top-1 (%) of nearest label text by cosine, over labelled windows."""
    keep = es.motion_labels != ""
    sims = es.motion[keep] @ es.text.T
    pred = es.text_labels[sims.argmax(axis=1)]
    return float((pred == es.motion_labels[keep]).mean() * 100.0)


def confusion_from_embeddings(es: EmbeddingSet) -> tuple[np.ndarray, list[str], list[str]]:
    """Counts `[R, C]` of labelled windows: rows = ground-truth labels present, columns = every
    label text (top-1 by cosine). Returns (counts, row labels, column labels)."""
    keep = es.motion_labels != ""
    idx, _ = window_top1(es)
    cols = es.text_labels.tolist()
    rows = sorted(set(es.motion_labels[keep].tolist()))
    counts = np.zeros((len(rows), len(cols)), dtype=np.int64)
    for t, p in zip(es.motion_labels[keep].tolist(), idx[keep].tolist()):
        counts[rows.index(t), p] += 1
    return counts, rows, cols


def rank_windows(es: EmbeddingSet, query_emb: np.ndarray, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Dataset-wide retrieval: windows ranked by cosine to each query `[Q, D]` ->
    (row indices `[Q, k]`, cosines `[Q, k]`), best first; k = all windows by default."""
    q = _unit(np.atleast_2d(query_emb))
    sims = q @ _unit(es.motion).T
    k = len(es.motion) if k is None else max(1, min(int(k), len(es.motion)))
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(sims, order, axis=1)


__all__ = ["EmbeddingSet", "extract_embeddings", "project_2d", "project_embeddings", "Projection",
           "place_near_motions", "projection_cache_dir", "recognition_from_embeddings", "window_top1",
           "confusion_from_embeddings", "rank_windows", "fill_window_frames", "checkpoint_provenance",
           "describe_provenance"]
