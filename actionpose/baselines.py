"""Floors every 3D table shows beside a model (L4): predictors a lifter must beat to have learned.

Each floor has the model's interface for one sequence: lifter input `x2d [T, 17, 3]` (screen-normalised
x, y + confidence, `data.synthesis`) -> `y3d [T, 17, 3]` root-relative camera-frame 3D in the lifter's
normalised units (x, y in the units of the 2D input, weak perspective at the root depth); millimetres
come from the sample's `mm_per_unit`, exactly as for the model.

- **flat lift** (`flat_lift`): the root-relative 2D x, y, depth 0. No learning.
- **flat + mean depth** (`MeanDepthFloor`): the flat lift plus each joint's mean root-relative depth
  over training windows (`LiftingWindows(train=True)`: the random cameras, noise and flips the lifter
  is trained on). Statistics of the training split only, never of held-out data.
- **MLP floor** (`MLPFloor`, `train_mlp_floor`): a per-frame MLP (root-centred 2D + confidence, 51 ->
  256 -> 2 residual blocks -> 51) trained for a fixed number of steps with Adam on frames of the same
  `LiftingWindows(train=True)`; deterministic given its seed; saved as a run-like folder
  (`checkpoint.safetensors` + `floor.json`). `actionpose baseline` trains one and prints its evaluation
  (`evaluate.evaluate_floors`) beside the two no-learning floors.

`evaluate.evaluate` scores these floors on exactly the frames it scores the model on (`report.floors`).
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .config import RunConfig, from_dict, make_config, to_dict
from .data.dataset import LiftingWindows, split_motions
from .data.motion import Motion
from .data.synthesis import flip_array
from .skeleton import NUM_JOINTS, ROOT

FLAT = "flat lift"
MEAN_DEPTH = "flat + mean depth"
MLP = "MLP floor"
FLOOR_NAMES = (FLAT, MEAN_DEPTH, MLP)
FLOOR_TRAINING = {FLAT: "none", MEAN_DEPTH: "none (training-split mean depth)"}
NOT_TRAINED = "NOT TRAINED (loses to the flat + mean-depth floor)"

FLOOR_JSON = "floor.json"
WEIGHTS_NAME = "checkpoint.safetensors"
FLOOR_FORMAT = "actionpose.mlp_floor"
SHIPPED_FLOOR = "mlp_floor"  # actionpose/assets/<this>/, optional
DEFAULT_STEPS = 5000  # ~1 CPU-minute on one thread: 35 / 26 mm MPJPE / P-MPJPE on the bundled held-out takes
# Training windows read for the mean-depth table: all of a small set, an evenly spread subset of a big one.
MEAN_DEPTH_MAX_WINDOWS = 4000

Predictor = Callable[[np.ndarray], np.ndarray]


def _check_x2d(x2d: np.ndarray, where: str) -> np.ndarray:
    x = np.asarray(x2d, dtype=np.float32)
    if x.ndim != 3 or x.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"{where}: x2d has shape {x.shape}, expected [T, {NUM_JOINTS}, 3] (x, y, confidence)")
    return x


def flat_lift(x2d: np.ndarray) -> np.ndarray:
    """The flat lift: `x2d [T, 17, 3]` -> `y3d [T, 17, 3]` = (x - x_root, y - y_root, 0).

    A joint with confidence 0 (masked / missed) carries no position: it is put on the root (0, 0, 0)."""
    x = _check_x2d(x2d, "flat_lift")
    y = np.zeros_like(x)
    y[..., :2] = x[..., :2] - x[:, ROOT:ROOT + 1, :2]
    y[x[..., 2] <= 0] = 0.0
    return y


@dataclass
class MeanDepthFloor:
    """Flat lift + `depth_units [17]`, each joint's mean root-relative depth (normalised units) over
    training windows. `source` says which data it was computed from."""

    depth_units: np.ndarray
    source: str = ""
    windows: int = 0
    frames: int = 0

    def __call__(self, x2d: np.ndarray) -> np.ndarray:
        """`x2d [T, 17, 3]` -> `y3d [T, 17, 3]`."""
        y = flat_lift(x2d)
        y[..., 2] = np.asarray(self.depth_units, dtype=np.float32)
        y[..., ROOT, 2] = 0.0
        return y

    def to_dict(self) -> dict:
        return {"depth_units": [float(v) for v in self.depth_units], "source": self.source,
                "windows": self.windows, "frames": self.frames}


def training_motions(motions: list[Motion], cfg: RunConfig, where: str) -> list[Motion]:
    """The training split (`cfg.data.train_split`) of `motions`; one-line error when it is empty."""
    train = split_motions(motions, cfg.data.train_split)
    if not train:
        raise ValueError(f"{where}: no motions in the training split {cfg.data.train_split!r} "
                         "(the floors are computed from training data only)")
    return train


def mean_depth_floor(train_motions: list[Motion], cfg: RunConfig, *, seed: int = 0,
                     max_windows: int = MEAN_DEPTH_MAX_WINDOWS, source: str = "") -> MeanDepthFloor:
    """Each joint's mean root-relative depth `[17]` (normalised units) over the valid frames of
    `LiftingWindows(train_motions, cfg, train=True, seed=seed)` (epoch 0; at most `max_windows`
    windows, evenly spread), i.e. under the cameras, noise and flips the lifter trains on.
    Pass training motions only (`training_motions`)."""
    if not train_motions:
        raise ValueError("mean_depth_floor: no training motions, expected the training split")
    ds = LiftingWindows(train_motions, cfg, train=True, seed=seed, max_windows=max_windows)
    total = np.zeros(NUM_JOINTS)
    count = np.zeros(NUM_JOINTS)
    frames = 0
    for i in range(len(ds)):
        item = ds[i]
        fv = item["frame_valid"] > 0
        w = fv[:, None] & (item["joint_valid"][None, :] > 0)
        total += (item["y3d"][..., 2] * w).sum(axis=0)
        count += w.sum(axis=0)
        frames += int(fv.sum())
    depth = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    depth[ROOT] = 0.0
    return MeanDepthFloor(depth.astype(np.float32), source, len(ds), frames)


# ----------------------------------------------------------------------------------- the MLP floor

def mlp_input(x2d: torch.Tensor) -> torch.Tensor:
    """Lifter input `[N, 17, 3]` -> MLP input `[N, 51]`: x, y minus the root's x, y (0 where the
    joint's confidence is 0) and the confidence."""
    xy = x2d[..., :2] - x2d[:, ROOT:ROOT + 1, :2]
    conf = x2d[..., 2:3]
    xy = xy * (conf > 0)
    return torch.cat([xy, conf], dim=-1).reshape(x2d.shape[0], NUM_JOINTS * 3)


class _Block(nn.Module):
    """Residual block: 2 x (Linear -> LayerNorm -> ReLU -> Dropout), input added back."""

    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(width, width), nn.LayerNorm(width), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(width, width), nn.LayerNorm(width), nn.ReLU(), nn.Dropout(dropout))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.body(h)


class FramewiseMLP(nn.Module):
    """Per-frame lifter: `x2d [N, 17, 3]` -> `y3d [N, 17, 3]` (root-relative, normalised units).

    Linear 51 -> width, `blocks` residual blocks, Linear width -> 51. Positions enter multiplied by
    `input_scale` (a person spans ~0.5 screen units; x 10 brings them to order 1: 36 vs 47 mm after
    5,000 steps on the bundled data) and the output, divided by it, is added to the flat lift (the net
    learns depth and the correction of x, y); the root is subtracted from the output."""

    def __init__(self, width: int = 256, blocks: int = 2, dropout: float = 0.0, input_scale: float = 10.0):
        super().__init__()
        d = NUM_JOINTS * 3
        self.input_scale = float(input_scale)
        self.inp = nn.Linear(d, width)
        self.blocks = nn.Sequential(*[_Block(width, dropout) for _ in range(blocks)])
        self.out = nn.Linear(width, d)

    def forward(self, x2d: torch.Tensor) -> torch.Tensor:
        feats = mlp_input(x2d).reshape(-1, NUM_JOINTS, 3)
        flat = torch.cat([feats[..., :2], torch.zeros_like(feats[..., :1])], dim=-1)
        scaled = torch.cat([feats[..., :2] * self.input_scale, feats[..., 2:]], dim=-1).reshape(-1, NUM_JOINTS * 3)
        delta = self.out(self.blocks(torch.relu(self.inp(scaled)))).reshape(-1, NUM_JOINTS, 3)
        y = flat + delta / self.input_scale
        return y - y[:, ROOT:ROOT + 1]


@dataclass
class MLPFloor:
    """A trained `FramewiseMLP` and what it was trained on (`meta`: steps, seed, data, timing, ...).
    Called on `x2d [T, 17, 3]` -> `y3d [T, 17, 3]`."""

    net: FramewiseMLP
    meta: dict
    path: Path | None = None  # the folder it was saved to / loaded from

    @torch.no_grad()
    def __call__(self, x2d: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(_check_x2d(x2d, "MLPFloor"))
        self.net.eval()
        return self.net(x).numpy().astype(np.float32)

    @property
    def mean_depth(self) -> MeanDepthFloor | None:
        d = self.meta.get("mean_depth")
        return None if not d else MeanDepthFloor(np.asarray(d["depth_units"], np.float32), d.get("source", ""),
                                                 int(d.get("windows", 0)), int(d.get("frames", 0)))

    def describe(self) -> str:
        m = self.meta
        return (f"per-frame MLP, {m.get('steps')} steps x {m.get('batch_frames')} frames, seed {m.get('seed')}, "
                f"{m.get('train_cpu_s', 0):.0f} CPU-s, trained on {m.get('data', '?')} split {m.get('train_split', '?')}")

    def save(self, out: str | Path) -> Path:
        """Write `out/checkpoint.safetensors` (weights, meta in its header) + `out/floor.json`."""
        from .paths import require_writable_dir
        from .train.checkpoint import atomic_write_text, save_checkpoint
        out = require_writable_dir(out, "MLP floor folder")
        out.mkdir(parents=True, exist_ok=True)
        save_checkpoint(out, dict(self.net.state_dict()), self.meta)
        atomic_write_text(out / FLOOR_JSON, json.dumps(self.meta, indent=1))
        self.path = out
        return out


def _frame_pool(ds: LiftingWindows, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All valid frames of the dataset's windows at `epoch`: x2d `[N, 17, 3]`, y3d `[N, 17, 3]`,
    joint weight `[N, 17]` (1 where the joint is valid) and mm_per_unit `[N]`."""
    ds.set_epoch(epoch)
    xs, ys, ws, ms = [], [], [], []
    for i in range(len(ds)):
        item = ds[i]
        fv = item["frame_valid"] > 0
        xs.append(item["x2d"][fv])
        ys.append(item["y3d"][fv])
        ws.append(np.broadcast_to(item["joint_valid"], (int(fv.sum()), NUM_JOINTS)))
        ms.append(item["mm_per_unit"][fv])
    return (np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.float32),
            np.concatenate(ws).astype(np.float32), np.concatenate(ms).astype(np.float32))


def train_mlp_floor(motions: list[Motion], cfg: RunConfig | None = None, *, steps: int = DEFAULT_STEPS, seed: int = 0,
                    batch_frames: int = 256, lr: float = 1e-3, width: int = 256, blocks: int = 2,
                    dropout: float = 0.0, input_scale: float = 10.0, data_name: str = "", data_hash: str = "",
                    out: str | Path | None = None, progress: Callable[[int, int, float], None] | None = None,
                    on_checkpoint: Callable[[int, "FramewiseMLP"], None] | None = None, checkpoint_every: int = 0
                    ) -> MLPFloor:
    """Train the MLP floor for exactly `steps` Adam steps of `batch_frames` frames.

    Frames come from `LiftingWindows(<training split of motions>, cfg, train=True, seed=seed)` (random
    cameras, noise, flips as the lifter gets; `cfg` defaults to `make_config()`): epoch e's windows are
    rendered once and their valid frames shuffled by `(seed, e)`; a step takes the next `batch_frames`
    of them. Loss: MPJPE in metres (normalised-unit error x mm_per_unit / 1000) over valid joints;
    learning rate cosine-decayed to 0. Same seed, steps and data -> identical weights (on the same
    torch build and thread count); the global torch RNG is left as it was. The mean-depth table of the
    same training split is stored with it (`floor.mean_depth`). `data_name` / `data_hash` record the
    data (`data_identity`; `evaluate`'s automatic lookup of a shipped floor matches on the hash).
    `meta["train_cpu_s"]`: process CPU seconds, rendering the frames included.
    `progress(step, steps, loss_m)` is called every 100 steps. `out`: where to save (optional).
    `on_checkpoint(step, net)` (learning curves): called every `checkpoint_every` steps and after the
    last with the net in eval mode under `torch.no_grad`; it must not draw from torch's RNG, and the
    trained weights are identical with or without it."""
    cfg = cfg or make_config()
    if steps < 1 or batch_frames < 1:
        raise ValueError(f"train_mlp_floor: steps = {steps}, batch_frames = {batch_frames}; expected >= 1")
    train = training_motions(motions, cfg, data_name or "train_mlp_floor")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net, ds, epoch, order, loss_m = _fit(train, cfg, steps, seed, batch_frames, lr, width, blocks, dropout,
                                             input_scale, progress, on_checkpoint, checkpoint_every)
    depth = mean_depth_floor(train, cfg, seed=seed, source=f"{data_name or 'data'} split {cfg.data.train_split}")
    meta = {"format": FLOOR_FORMAT, "step": steps, "steps": steps, "seed": seed, "batch_frames": batch_frames,
            "lr": lr, "schedule": "cosine to 0", "width": width, "blocks": blocks, "dropout": dropout,
            "input_scale": input_scale,
            "loss": "MPJPE (m) on root-relative 3D", "optimizer": "Adam",
            "data": data_name, "data_hash": data_hash, "train_split": cfg.data.train_split,
            "train_motions": len(train), "train_windows": len(ds), "epochs_touched": epoch + 1,
            "frames_seen": steps * batch_frames, "frames_per_epoch": int(len(order)), "final_loss_m": loss_m,
            "train_cpu_s": round(time.process_time() - cpu0, 2), "train_wall_s": round(time.perf_counter() - wall0, 2),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "mean_depth": depth.to_dict(), "config": to_dict(cfg)}
    floor = MLPFloor(net, meta)
    if out is not None:
        floor.save(out)
    return floor


def _fit(train: list[Motion], cfg: RunConfig, steps: int, seed: int, batch_frames: int, lr: float, width: int,
         blocks: int, dropout: float, input_scale: float, progress, on_checkpoint=None, checkpoint_every: int = 0):
    """The training loop of `train_mlp_floor` -> (net, dataset, last epoch, last epoch's order, last loss)."""
    net = FramewiseMLP(width, blocks, dropout, input_scale)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + np.cos(np.pi * min(s, steps) / steps)))
    ds = LiftingWindows(train, cfg, train=True, seed=seed)
    epoch, pool, order, pos = -1, None, None, 0
    net.train()
    loss_m = float("nan")
    for step in range(steps):
        if pool is None or pos + batch_frames > len(order):
            epoch += 1
            pool = [torch.from_numpy(a) for a in _frame_pool(ds, epoch)]
            order = torch.from_numpy(np.random.default_rng([seed, epoch]).permutation(len(pool[0])))
            pos = 0
            if len(order) < batch_frames:
                raise ValueError(f"train_mlp_floor: the training split has {len(order)} frames, fewer than "
                                 f"batch_frames = {batch_frames}")
        idx = order[pos:pos + batch_frames]
        pos += batch_frames
        x, y, w, mm = (a[idx] for a in pool)
        pred = net(x)
        err_m = torch.linalg.vector_norm(pred - y, dim=-1) * mm[:, None] / 1000.0
        loss = (err_m * w).sum() / w.sum().clamp_min(1.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        loss_m = float(loss.detach())
        if progress is not None and ((step + 1) % 100 == 0 or step + 1 == steps):
            progress(step + 1, steps, loss_m)
        if on_checkpoint is not None and ((checkpoint_every and (step + 1) % checkpoint_every == 0) or step + 1 == steps):
            net.eval()
            with torch.no_grad():
                on_checkpoint(step + 1, net)
            net.train()
    net.eval()
    return net, ds, epoch, order, loss_m


def load_mlp_floor(path: str | Path) -> MLPFloor:
    """Load an MLP floor folder written by `train_mlp_floor(out=...)` / `actionpose baseline`."""
    from .train.checkpoint import load_checkpoint
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such MLP floor folder (create one with `actionpose baseline --out DIR`)")
    if not (path / WEIGHTS_NAME).exists():
        raise ValueError(f"{path}: not an MLP floor folder (expected {WEIGHTS_NAME} inside; "
                         "create one with `actionpose baseline --out DIR`)")
    tensors, meta = load_checkpoint(path / WEIGHTS_NAME)
    if meta.get("format") != FLOOR_FORMAT:
        raise ValueError(f"{path / WEIGHTS_NAME}: header field actionpose.format = {meta.get('format')!r}, "
                         f"expected {FLOOR_FORMAT!r} (a run checkpoint is not an MLP floor)")
    missing = [k for k in ("width", "blocks", "dropout", "input_scale") if k not in meta]
    if missing:
        raise ValueError(f"{path / WEIGHTS_NAME}: header lacks the field(s) actionpose.{', actionpose.'.join(missing)}")
    try:
        net = FramewiseMLP(int(meta["width"]), int(meta["blocks"]), float(meta["dropout"]), float(meta["input_scale"]))
        net.load_state_dict(tensors)
    except (KeyError, RuntimeError, ValueError, TypeError) as e:
        raise ValueError(f"{path / WEIGHTS_NAME}: weights do not match the recorded MLP shape "
                         f"({str(e).splitlines()[0]})") from None
    net.eval()
    return MLPFloor(net, meta, path)


def data_identity(motions: list[Motion], info: dict) -> tuple[str, str]:
    """(name, hash) of a loaded data set: "bundled" for the package's subset, else its path; the
    prepared data's `data_hash`, else a content fingerprint. An MLP floor records both."""
    from .data.prepare import bundled_data_dir
    from .train.data import data_fingerprint
    path = str(info.get("path", ""))
    bundled = bool(path) and Path(path).resolve() == bundled_data_dir().resolve()
    return ("bundled" if bundled else path or "data"), str(info.get("data_hash") or data_fingerprint(motions))


def shipped_mlp_floor_dir() -> Path | None:
    """`actionpose/assets/mlp_floor/` when the package ships a trained MLP floor, else None."""
    path = Path(__file__).resolve().parent / "assets" / SHIPPED_FLOOR
    return path if (path / WEIGHTS_NAME).exists() else None


def floor_config(floor: MLPFloor) -> RunConfig:
    """The data/camera config the MLP floor was trained with (for evaluating it on its own)."""
    return from_dict(floor.meta["config"]) if floor.meta.get("config") else make_config()


def with_flip(predict: Predictor) -> Predictor:
    """Flip test-time augmentation of any predictor: mean of f(x) and flip(f(flip(x)))."""
    def both(x2d: np.ndarray) -> np.ndarray:
        return 0.5 * (predict(x2d) + flip_array(predict(flip_array(np.asarray(x2d, np.float32)))))
    return both


__all__ = ["FLAT", "MEAN_DEPTH", "MLP", "FLOOR_NAMES", "NOT_TRAINED", "flat_lift", "MeanDepthFloor",
           "mean_depth_floor", "training_motions", "FramewiseMLP", "MLPFloor", "train_mlp_floor",
           "load_mlp_floor", "shipped_mlp_floor_dir", "data_identity", "floor_config", "with_flip", "mlp_input"]
