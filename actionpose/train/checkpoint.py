"""Checkpoints: safetensors only, written atomically, metadata inside the same file.

The step, config hash and everything else needed to resume travel in the safetensors header's
metadata, so weights and bookkeeping can never disagree after a kill between two writes.
`checkpoint.json` is a human-readable mirror written after the weights.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

CKPT_NAME = "checkpoint.safetensors"
CKPT_JSON = "checkpoint.json"


def _atomic_replace(path: Path, write) -> None:
    """Write through `write(tmp_path)` to a temp file beside `path`, fsync, then rename over it:
    a kill at any moment leaves either the old file or the new one, never a partial file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600; run folders are meant to be shared/read
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def remove_stale_temps(folder: Path) -> list[str]:
    """Delete the temp files `_atomic_replace` leaves when a process is killed (SIGKILL, power loss)
    between creating and renaming them: `.<name>.<random>.tmp`. Called when a run resumes, when no
    writer of that folder is alive; returns the names removed."""
    removed = []
    for p in Path(folder).glob(".*.tmp"):
        if p.is_file():
            p.unlink()
            removed.append(p.name)
    return sorted(removed)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    _atomic_replace(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_savez(path: Path, compressed: bool = False, **arrays) -> None:
    """`np.savez` (`np.savez_compressed` with `compressed`) that leaves either the old file or the complete
    new one, never a truncated npz."""
    import io

    import numpy as np
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    atomic_write_bytes(Path(path), buf.getvalue())


def save_checkpoint(run_dir: Path, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """Write `checkpoint.safetensors` (+ json mirror) atomically; `meta` must be JSON-serialisable."""
    run_dir = Path(run_dir)
    path = run_dir / CKPT_NAME
    clean = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    _atomic_replace(path, lambda tmp: save_file(clean, tmp, metadata={"actionpose": json.dumps(meta)}))
    atomic_write_text(run_dir / CKPT_JSON, json.dumps(meta, indent=1))
    return path


def read_meta(path: Path) -> dict:
    """The metadata of a checkpoint file without loading its tensors."""
    from safetensors import safe_open
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            md = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{path}: truncated or corrupt, not a readable safetensors checkpoint "
                         f"({str(e).splitlines()[0]})") from None
    if "actionpose" not in md:
        raise ValueError(f"{path}: safetensors header lacks the field 'actionpose' (not an actionpose checkpoint)")
    try:
        meta = json.loads(md["actionpose"])
    except (json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{path}: header field 'actionpose' is not valid JSON ({str(e).splitlines()[0]})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: header field 'actionpose' is a JSON {type(meta).__name__}, expected an object")
    step = meta.get("step", 0)
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"{path}: header field actionpose.step = {step!r}, expected an integer >= 0")
    return meta


def check_finite(tensors: dict[str, torch.Tensor], where: str) -> None:
    """Every floating-point tensor must be free of NaN/inf; the error names the first bad key."""
    for key in sorted(tensors):
        t = tensors[key]
        if t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise ValueError(f"{where}: tensor {key} holds {bad} NaN/inf value(s) of {t.numel()}; "
                             "expected finite weights (a diverged or corrupted checkpoint?)")


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """-> (tensors, meta). Raises one line naming the file when it is truncated or foreign."""
    path = Path(path)
    if path.is_dir():
        path = path / CKPT_NAME
    if not path.exists():
        raise FileNotFoundError(f"{path}: no checkpoint (expected {CKPT_NAME} in the run folder)")
    meta = read_meta(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{path}: truncated or corrupt safetensors file ({str(e).splitlines()[0]})") from None
    check_finite(tensors, str(path))
    tensors = dequantize_rows(tensors, str(path))
    # Shipped runs store their weights in half precision (package size); every computation is float32.
    tensors = {k: (v.float() if v.dtype in (torch.float16, torch.bfloat16) else v) for k, v in tensors.items()}
    return tensors, meta


# A shipped matrix stored as int8 rows carries its per-row scales under this suffix (float32 [R, 1]).
ROW_SCALE_SUFFIX = ".int8_row_scale"


def quantize_rows(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`w [R, C]` float -> (`q` int8 `[R, C]`, `scale` float32 `[R, 1]`) with `w ≈ q * scale`: symmetric,
    one scale per row (its largest magnitude maps to 127), so a row of small weights keeps its precision."""
    w = w.detach().float()
    scale = w.abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny) / 127.0
    return torch.round(w / scale).clamp(-127, 127).to(torch.int8), scale


def dequantize_rows(tensors: dict[str, torch.Tensor], where: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Replace every int8 matrix that has a `ROW_SCALE_SUFFIX` partner by `q * scale` (float32)."""
    scales = [k for k in tensors if k.endswith(ROW_SCALE_SUFFIX)]
    if not scales:
        return tensors
    out = dict(tensors)
    for key in scales:
        name = key[: -len(ROW_SCALE_SUFFIX)]
        q, scale = out.get(name), out.pop(key)
        if q is None or q.dtype != torch.int8 or q.ndim != 2 or tuple(scale.shape) != (q.shape[0], 1):
            raise ValueError(f"{where}: tensor {key!r} expects an int8 matrix {name!r} with one scale per row")
        out[name] = q.float() * scale.float()
    return out


def prefixed(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {f"{prefix}{k}": v for k, v in state.items()}


def strip_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def optimizer_to_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Flatten an optimizer's state into tensors (`optim.<param>.<key>`) + JSON-safe scalars."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict = {"param_groups": sd["param_groups"], "state": {}}
    for pid, st in sd["state"].items():
        for key, val in st.items():
            if torch.is_tensor(val):
                tensors[f"optim.{pid}.{key}"] = val.detach().clone()  # never alias live state
            else:
                scalars["state"].setdefault(str(pid), {})[key] = val
    return tensors, scalars


def optimizer_from_tensors(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], scalars: dict) -> None:
    state: dict = {}
    for name, val in tensors.items():
        if not name.startswith("optim."):
            continue
        _, pid, key = name.split(".", 2)
        state.setdefault(int(pid), {})[key] = val
    for pid, st in scalars.get("state", {}).items():
        state.setdefault(int(pid), {}).update(st)
    opt.load_state_dict({"state": state, "param_groups": scalars["param_groups"]})
