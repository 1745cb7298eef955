"""Where training data comes from (a prepared cache folder, or the bundled Bandai-Namco subset) and
how it reaches the training step (`make_train_loader`: one batch per step, built in worker processes)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from ..data.motion import Motion


def load_data(path: str | Path | None) -> tuple[list[Motion], dict]:
    """Load a prepared data dir (`actionpose prepare ...`); empty/None = the bundled subset."""
    from ..data.cache import load_motions
    from ..data.prepare import bundled_data_dir
    src = Path(path) if path else bundled_data_dir()
    if not src.exists():
        raise FileNotFoundError(f"{src}: no such prepared data dir (create one with `actionpose prepare`)")
    if src.is_dir() and not (src / "meta.json").exists():
        raw = raw_dataset_kind(src)
        if raw:
            kind, what = raw
            raise ValueError(f"{src}: a raw {what} folder, not a prepared data dir (no meta.json); run "
                             f"`actionpose prepare {kind} --source {src} --out PREPARED` on it and pass the "
                             f"prepared folder")
        if any(p.suffix in (".json", ".npz") for p in src.iterdir()):
            raise ValueError(f"{src}: holds 2D keypoint files but no prepared 3D ground truth (meta.json); "
                             "only inference is possible here (`actionpose infer --input FILE`)")
        raise ValueError(f"{src}: not a prepared data dir (no meta.json; create one with `actionpose prepare`)")
    motions, info = load_motions(src)
    info = dict(info)
    info.setdefault("path", str(src))
    return motions, info


def check_same_fps(run_fps, data_fps, where: str, run: str | None = None, verb: str = "") -> None:
    """A run trained at `run_fps` is used on data at `data_fps` (evaluation, fine-tuning): refused when
    they differ (the model's frames per window would span another duration). None = unknown, not checked."""
    if not run_fps or not data_fps or abs(float(run_fps) - float(data_fps)) <= 1e-3:
        return
    who = f"the run {run}" if run else "the run"
    raise ValueError(f"{where}: data is at {float(data_fps):g} fps but {who} was trained at {float(run_fps):g} fps; "
                     f"prepare the data with --fps {float(run_fps):g}{verb}")


def raw_dataset_kind(folder: Path) -> tuple[str, str] | None:
    """(prepare kind, description) when `folder` holds a dataset in a raw layout `actionpose prepare`
    reads (it has the 3D), else None. Cheap: file names only."""
    if (folder / "data_3d_h36m.npz").is_file():
        return "h36m", "Human3.6M (VideoPose3D npz layout, with the 3D)"
    if any(folder.glob("S*/MyPoses/3D_positions/*.h5")):
        return "h36m", "Human3.6M (3d-pose-baseline layout, with the 3D)"
    if (folder / "data_test_3dhp.npz").is_file() or (folder / "data_train_3dhp.npz").is_file():
        return "3dhp", "MPI-INF-3DHP (preprocessed npz, with the 3D)"
    if next(folder.glob("*.bvh"), None) is not None or next(folder.glob("*/*.bvh"), None) is not None:
        return "bvh", "BVH mocap"
    return None


def data_fingerprint(motions: list[Motion]) -> str:
    """A cheap content hash: names, frame counts, splits and a strided sample of coordinates."""
    h = hashlib.sha256()
    for m in motions:
        h.update(f"{m.name}|{m.num_frames}|{m.meta.get('split')}|{m.fps}|{','.join(m.labels)}".encode())
        h.update(np.ascontiguousarray(m.joints3d_world_mm[:: max(1, m.num_frames // 8)]).tobytes())
    return h.hexdigest()[:16]


# -- the training input pipeline -------------------------------------------------------------------

def batch_indices(n_items: int, batch: int, step: int, seed: int, rank: int = 0, world_size: int = 1
                  ) -> tuple[list[int], int]:
    """This rank's item indices for global step `step` and the epoch they belong to: an epoch-wise
    permutation seeded by `(seed, epoch)`, `batch · world_size` items per global step, the last
    incomplete batch of an epoch dropped; data smaller than one global batch is sampled with wrap-around."""
    global_batch = batch * world_size
    per_epoch = max(1, n_items // global_batch)
    epoch, pos = divmod(step, per_epoch)
    perm = np.random.default_rng([seed, epoch]).permutation(n_items)
    if n_items < global_batch:
        perm = np.resize(perm, global_batch)
    chunk = perm[pos * global_batch:(pos + 1) * global_batch]
    return [int(i) for i in chunk[rank::world_size]], epoch


class StepBatchSampler(torch.utils.data.Sampler):
    """Yields, for steps `start_step .. max_steps - 1`, the list of `(epoch, index)` keys of that
    step's batch (`batch_indices`). The composition of a batch depends on the step only, so a run
    resumed at step s (sampler started at s) sees the batches an uninterrupted run sees, whatever
    the number of workers."""

    def __init__(self, n_items: int, batch: int, seed: int, start_step: int, max_steps: int,
                 rank: int = 0, world_size: int = 1):
        if n_items < 1:
            raise ValueError("training windows: the dataset is empty, expected at least one window")
        self.n_items, self.batch, self.seed = n_items, batch, seed
        self.start_step, self.max_steps = start_step, max_steps
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        return max(0, self.max_steps - self.start_step)

    def __iter__(self):
        for step in range(self.start_step, self.max_steps):
            idx, epoch = batch_indices(self.n_items, self.batch, step, self.seed, self.rank, self.world_size)
            yield [(epoch, i) for i in idx]


class EpochItems(torch.utils.data.Dataset):
    """`dataset[(epoch, index)]`: item `index` of a dataset whose items are pure functions of
    `(seed, epoch, index)` (`LiftingWindows`). The epoch travels with the key because each worker
    holds its own copy of the dataset, which the main process cannot `set_epoch` on."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        epoch, index = key
        if getattr(self.dataset, "epoch", None) != epoch:
            self.dataset.set_epoch(epoch)
        return self.dataset[index]


def collate_items(items: list[dict]) -> dict[str, torch.Tensor]:
    """Stack items (dicts of numpy arrays / numbers) into a batch `{key: [B, ...] tensor}`, then
    `check_batch_weights`."""
    batch = {k: torch.as_tensor(np.stack([it[k] for it in items])) for k in items[0]}
    check_batch_weights(batch)
    return batch


def check_batch_weights(batch: dict[str, torch.Tensor]) -> None:
    """A batch whose loss weights are all 0 (every frame padding or every joint invalid) is a data
    bug; it is refused here, on the CPU, so the loss never needs to check on the device."""
    fv, jv = batch.get("frame_valid"), batch.get("joint_valid")
    if fv is None or jv is None:
        return
    w = fv[:, :, None] * (jv[:, None, :] if jv.ndim == 2 else jv[None, None, :])
    if not bool((w.sum() > 0)):
        idx = batch["index"].tolist() if "index" in batch else "?"
        raise ValueError(f"training batch of windows {idx}: every joint is invalid or every frame padding "
                         "(loss weights sum to 0), expected some valid joints")


def _seed_worker(worker_id: int) -> None:
    """Each worker's global generators seeded from the loader's base seed (a pure function of the run
    seed and the start step); items draw from their own `(seed, epoch, index)` generators anyway,
    so this only guards code that might touch global state."""
    import random
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


def make_train_loader(dataset, *, batch_size: int, seed: int, start_step: int, max_steps: int,
                      num_workers: int = 0, pin_memory: bool = False, rank: int = 0, world_size: int = 1,
                      prefetch_factor: int = 4) -> torch.utils.data.DataLoader:
    """A DataLoader of training batches, one per step from `start_step`: batch composition by
    `StepBatchSampler`, items built in `num_workers` processes (0 = in the training thread), pinned
    when `pin_memory` (CUDA) so the copy to the device can be non-blocking. The loader's own seed
    comes from a generator seeded by `(seed, start_step)`, never from torch's global generator."""
    sampler = StepBatchSampler(len(dataset), batch_size, seed, start_step, max_steps, rank, world_size)
    gen = torch.Generator().manual_seed((seed * 1_000_003 + start_step * 7919 + 101 + rank) % (2**63 - 1))
    kw = {}
    if num_workers > 0:
        kw = {"prefetch_factor": prefetch_factor, "persistent_workers": False, "worker_init_fn": _seed_worker}
    return torch.utils.data.DataLoader(EpochItems(dataset), batch_sampler=sampler, collate_fn=collate_items,
                                       num_workers=num_workers, pin_memory=pin_memory, generator=gen, **kw)
