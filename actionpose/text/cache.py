"""On-disk cache of text embeddings, keyed by model name + text.

Layout: `<root>/<model slug>-<8 hex of the model name>/<sha256(text)>.npy`, one float32 `[D]` row per
file. Label vocabularies are small (tens to hundreds of sentences), so one file per text keeps writes
atomic and lets concurrent runs (DDP ranks, notebooks) share the cache without locks: a writer
renames a finished temp file into place, so a reader sees a whole row or nothing.

Root: `TextConfig.cache_dir` if set, else `$ACTIONPOSE_CACHE/text`, else `~/.cache/actionpose/text`.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from ..config import TextConfig
from .encoder import TextEncoder, get_encoder


def cache_root(cfg: TextConfig | None = None) -> Path:
    """Folder holding all text-embedding caches (not created here)."""
    if cfg is not None and cfg.cache_dir:
        return Path(cfg.cache_dir).expanduser()
    env = os.environ.get("ACTIONPOSE_CACHE", "")
    if env:
        return Path(env).expanduser() / "text"
    return Path.home() / ".cache" / "actionpose" / "text"


def _sha(s: str) -> str:
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Rows of one model's embeddings, one `.npy` file per text."""

    def __init__(self, root: str | Path, model_name: str):
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_name)[-48:].strip("_") or "model"
        # The hash suffix keeps two models with the same slug (e.g. two local paths) apart.
        self.dir = Path(root) / f"{slug}-{_sha(model_name)[:8]}"
        self.model_name = model_name

    def path(self, text: str) -> Path:
        return self.dir / f"{_sha(text)}.npy"

    def get(self, text: str) -> np.ndarray | None:
        """The cached `[D]` row for `text`, or None when absent."""
        p = self.path(text)
        if not p.is_file():
            return None
        try:
            row = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ValueError(f"{p}: unreadable text-embedding cache entry ({e}); delete the file") from None
        if row.ndim != 1 or row.dtype != np.float32:
            raise ValueError(f"{p}: cache entry has shape {row.shape} {row.dtype}, expected a float32 [D] row; "
                             "delete the file")
        return row

    def put(self, text: str, row: np.ndarray) -> None:
        """Write `row` `[D]` atomically (temp file in the same folder, then rename)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-", suffix=".npy")
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, np.asarray(row, dtype=np.float32))
            os.replace(tmp, self.path(text))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def embed_texts(texts: list[str], cfg: TextConfig | None = None, encoder: TextEncoder | None = None,
                device: str = "cpu") -> np.ndarray:
    """`texts` (N strings) -> `[N, D]` float32 unit rows, encoding only texts not yet cached.

    `encoder` defaults to the process-wide `get_encoder(cfg)`, loaded only when a text is missing:
    the cache is keyed by the name that encoder would have, so a warm cache needs no model at all.
    """
    cfg = cfg or TextConfig()
    if isinstance(texts, str):
        raise TypeError("embed_texts(texts): expected a list of strings, got a single string")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"embed_texts(texts): texts[{i}] is {type(t).__name__}, expected str")
    name = encoder.name if encoder is not None else _default_name(cfg)
    cache = EmbeddingCache(cache_root(cfg), name)
    rows: dict[str, np.ndarray] = {}
    for t in dict.fromkeys(texts):  # unique, first-seen order
        row = cache.get(t)
        if row is not None:
            rows[t] = row
    missing = [t for t in dict.fromkeys(texts) if t not in rows]
    if missing:
        enc = encoder if encoder is not None else get_encoder(cfg, device=device)
        new = enc.encode(missing)
        if new.shape != (len(missing), enc.dim):
            raise ValueError(f"text encoder {enc.name!r} returned shape {new.shape}, "
                             f"expected [{len(missing)}, {enc.dim}]")
        for t, row in zip(missing, new):
            cache.put(t, row)
            rows[t] = row.astype(np.float32)
    if not texts:
        dim = encoder.dim if encoder is not None else 0
        return np.zeros((0, dim), dtype=np.float32)
    dims = {r.shape[0] for r in rows.values()}
    if len(dims) != 1:
        raise ValueError(f"{cache.dir}: cached rows have mixed widths {sorted(dims)}; delete the folder")
    return np.stack([rows[t] for t in texts]).astype(np.float32)


def _default_name(cfg: TextConfig) -> str:
    """Cache name of the encoder `get_encoder(cfg)` would build, without loading it."""
    p = Path(cfg.model).expanduser()
    return str(p.resolve()) if p.is_dir() else cfg.model
