"""Importing MotionBERT's released DSTformer checkpoints (issue 5).

Released files are `torch.save`d dicts `{"epoch": …, "model_pos": {"module.<key>": tensor}, …}`;
bare state dicts (.bin/.pt/.pth) and .safetensors are accepted too. Files are read with
`torch.load(weights_only=True)` only — a file that needs arbitrary unpickling is refused, never
loaded another way. Our DSTformer uses the reference key names, so mapping is the identity after
stripping `module.`; what this module adds is checking (keys, shapes, dtypes) with one-line errors.
"""
from __future__ import annotations

import hashlib
import json
import pickle
import re
import zipfile
from pathlib import Path

import torch

from ..config import MODEL_PRESETS, ModelConfig
from .dstformer import DSTformer

# Released sizes: (dim_feat, dim_rep, depth, mlp_ratio) -> preset. Both use 8 heads.
_RELEASED = {(512, 512, 5, 2.0): "base", (256, 512, 5, 4.0): "lite"}
_RELEASED_HEADS = 8
_CONTAINER_KEYS = ("model_pos", "model", "state_dict")
_OPTIMIZER_KEYS = {"optimizer", "optim", "state", "param_groups", "lr", "scheduler"}
_REQUIRED = ("temp_embed", "pos_embed", "joints_embed.weight", "pre_logits.fc.weight", "head.weight",
             "blocks_st.0.mlp_s.fc1.weight")
_SHOW = 4  # how many offending keys an error lists


def _first(keys, n: int = _SHOW) -> str:
    keys = sorted(keys)
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def _read_file(path: Path) -> object:
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as e:
            raise ValueError(f"{path}: cannot read as safetensors (truncated or corrupt file: "
                             f"{str(e).splitlines()[0]})") from None
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        msg = str(e)
        if "Weights only load failed" in msg or "Unsupported global" in msg:
            found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", msg)
            what = f" (it references {found.group(1)})" if found else ""
            raise ValueError(f"{path}: refused by safe loading (torch.load weights_only=True){what}; "
                             "only plain tensor checkpoints are accepted — re-save the state dict "
                             "or convert it to .safetensors") from None
        raise ValueError(f"{path}: cannot read checkpoint (truncated or corrupt file: "
                         f"{msg.splitlines()[0] if msg else 'unpickling error'})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"{path}: cannot read checkpoint (truncated or corrupt file: {first})") from None


def load_reference_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a MotionBERT checkpoint (released `.bin` with `model_pos`, bare state dict, or
    `.safetensors`) safely → `{reference key: tensor}` with any `module.` prefix removed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    obj = _read_file(path)
    if not isinstance(obj, dict):
        # ValueError, not TypeError: the CLI reports ValueErrors about user files as one-line errors
        raise ValueError(  # noqa: TRY004
            f"{path}: expected a dict of tensors or a checkpoint dict, found {type(obj).__name__}")
    sd = obj
    for key in _CONTAINER_KEYS:
        if key in obj and isinstance(obj[key], dict):
            sd = obj[key]
            break
    tensors = {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        opt = sorted(set(obj) & _OPTIMIZER_KEYS)
        if opt:
            raise ValueError(f"{path}: holds optimizer state only (keys {_first(obj)}), no model weights; "
                             "pass the checkpoint that contains 'model_pos'")
        raise ValueError(f"{path}: no model weights found (top-level keys {_first(map(str, obj))}); "
                         f"expected tensors or one of {', '.join(_CONTAINER_KEYS)}")
    non_tensor = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if non_tensor:
        raise ValueError(f"{path}: state dict has non-tensor entries {_first(map(str, non_tensor))}")
    return {k.removeprefix("module."): v for k, v in tensors.items()}


def _shape(sd: dict, key: str, where: str) -> tuple[int, ...]:
    if key not in sd:
        raise ValueError(f"{where}: key {key!r} missing")
    return tuple(sd[key].shape)


def infer_size(state_dict: dict[str, torch.Tensor], heads: int | None = None,
               config_json: str | Path | None = None, where: str = "checkpoint") -> ModelConfig:
    """Model sizes from tensor shapes. The number of heads is not in any shape: it comes from
    `heads`, else from `config_json` (e.g. the fixture's `dstformer_tiny_config.json`), else 8 for
    the two released sizes; any other size without one of those is an error."""
    missing = [k for k in _REQUIRED if k not in state_dict]
    if missing:
        raise ValueError(f"{where}: not a MotionBERT DSTformer state dict (missing {_first(missing)}; "
                         f"found e.g. {_first(state_dict)})")
    t_shape = _shape(state_dict, "temp_embed", where)
    p_shape = _shape(state_dict, "pos_embed", where)
    if len(t_shape) != 4 or len(p_shape) != 3:
        raise ValueError(f"{where}: temp_embed {list(t_shape)} / pos_embed {list(p_shape)}: expected "
                         "[1, maxlen, 1, C] and [1, J, C]")
    dim_feat, num_joints, maxlen = p_shape[2], p_shape[1], t_shape[1]
    dim_in = _shape(state_dict, "joints_embed.weight", where)[1]
    dim_rep = _shape(state_dict, "pre_logits.fc.weight", where)[0]
    dim_out = _shape(state_dict, "head.weight", where)[0]
    hidden = _shape(state_dict, "blocks_st.0.mlp_s.fc1.weight", where)[0]
    depth = len({m.group(1) for k in state_dict if (m := re.match(r"ts_attn\.(\d+)\.", k))})
    if depth == 0:
        raise ValueError(f"{where}: no ts_attn.* keys; not a dual-stream DSTformer")
    mlp_ratio = hidden / dim_feat
    preset = _RELEASED.get((dim_feat, dim_rep, depth, mlp_ratio), "imported")
    json_cfg = None
    if config_json is not None:
        json_cfg = json.loads(Path(config_json).read_text())
        if not isinstance(json_cfg, dict) or "num_heads" not in json_cfg:
            raise ValueError(f"{config_json}: expected a JSON object with 'num_heads'")
        inferred = {"dim_in": dim_in, "dim_out": dim_out, "dim_feat": dim_feat, "dim_rep": dim_rep,
                    "depth": depth, "num_joints": num_joints, "maxlen": maxlen, "mlp_ratio": mlp_ratio}
        for k, v in inferred.items():
            if k in json_cfg and float(json_cfg[k]) != float(v):
                raise ValueError(f"{config_json}: {k} = {json_cfg[k]} but the weights have {k} = {v}")
    if heads is None:
        if json_cfg is not None:
            heads = int(json_cfg["num_heads"])
        elif preset != "imported":
            heads = _RELEASED_HEADS
        else:
            raise ValueError(f"{where}: num_heads cannot be inferred from tensor shapes for this size "
                             f"(dim_feat {dim_feat}, depth {depth}); pass heads= (--heads) or a config json")
    if not isinstance(heads, int) or heads <= 0 or dim_feat % heads:
        raise ValueError(f"{where}: heads = {heads!r} must be a positive divisor of dim_feat = {dim_feat}")
    return ModelConfig(preset=preset, dim_in=dim_in, dim_out=dim_out, dim_feat=dim_feat, dim_rep=dim_rep,
                       depth=depth, num_heads=heads, mlp_ratio=float(mlp_ratio), num_joints=num_joints,
                       maxlen=maxlen, input_center="none", lift_residual=False,
                       frame_embed=False)  # MotionBERT reads absolute screen coordinates


def expected_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Key → shape of our DSTformer for `cfg` (built on the meta device: no memory, no init)."""
    with torch.device("meta"):
        model = DSTformer(dim_in=cfg.dim_in, dim_out=cfg.dim_out, dim_feat=cfg.dim_feat, dim_rep=cfg.dim_rep,
                          depth=cfg.depth, num_heads=cfg.num_heads, mlp_ratio=cfg.mlp_ratio,
                          num_joints=cfg.num_joints, maxlen=cfg.maxlen, init="torch")
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def check_and_map(state_dict: dict[str, torch.Tensor], cfg: ModelConfig,
                  where: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Check a reference state dict against our backbone for `cfg` → backbone state dict (fp32).
    Raises one line naming the first missing / unexpected keys or the first shape mismatch."""
    expected = expected_shapes(cfg)
    missing = set(expected) - set(state_dict)
    extra = set(state_dict) - set(expected)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} key(s): {_first(missing)}")
        if extra:
            parts.append(f"unexpected {len(extra)} key(s): {_first(extra)}")
        raise ValueError(f"{where}: does not match a DSTformer of this size ({'; '.join(parts)})")
    out = {}
    for key, shape in expected.items():
        t = state_dict[key]
        if tuple(t.shape) != shape:
            raise ValueError(f"{where}: {key} has shape {list(t.shape)}, expected {list(shape)}")
        if not t.is_floating_point():
            raise ValueError(f"{where}: {key} has dtype {t.dtype}, expected a floating-point tensor")
        out[key] = t.detach().to(torch.float32).contiguous()
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def import_checkpoint(path: str | Path, size: str | None = None, heads: int | None = None,
                      config_json: str | Path | None = None
                      ) -> tuple[ModelConfig, dict[str, torch.Tensor], dict]:
    """Read, size and check a MotionBERT checkpoint.

    Returns `(model_cfg, backbone_state_dict, provenance)`; load the weights with
    `build_lifter(model_cfg).backbone.load_state_dict(sd)`. `size` ("base" / "lite" / a preset name)
    asserts the inferred size; provenance = {source, sha256, size, bytes, params}.
    """
    path = Path(path)
    if size is not None and size not in MODEL_PRESETS:
        raise ValueError(f"size = {size!r}: expected one of {', '.join(MODEL_PRESETS)}")
    sd = load_reference_state_dict(path)
    if size is not None and heads is None and config_json is None:
        heads = int(MODEL_PRESETS[size]["num_heads"])  # a named size also names its heads
    cfg = infer_size(sd, heads=heads, config_json=config_json, where=str(path))
    if size is not None:
        want = MODEL_PRESETS[size]
        for k in ("dim_feat", "dim_rep", "depth", "mlp_ratio", "maxlen"):
            if float(want[k]) != float(getattr(cfg, k)):
                raise ValueError(f"{path}: weights have {k} = {getattr(cfg, k)}, but size {size!r} has {k} = {want[k]}")
        cfg.preset = size
    backbone = check_and_map(sd, cfg, where=str(path))
    provenance = {"source": str(path.resolve()), "sha256": _sha256(path), "size": cfg.preset,
                  "bytes": path.stat().st_size, "params": int(sum(t.numel() for t in backbone.values())),
                  "num_heads": cfg.num_heads}
    return cfg, backbone, provenance
