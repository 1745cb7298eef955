"""DDP set-up for `torchrun` (nccl on CUDA, gloo on CPU); a no-op in a single process."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device_pref: str = "auto") -> tuple[DistInfo, torch.device]:
    """Read torchrun's environment, init the process group, pick the device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    info = DistInfo(rank, world, local)
    use_cuda = torch.cuda.is_available() and device_pref in ("auto", "cuda")
    if device_pref not in ("auto", "cuda", "cpu"):
        raise ValueError(f"config train.device = {device_pref!r}: expected auto, cuda or cpu")
    if device_pref == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config train.device = 'cuda' but torch sees no CUDA device")
    device = torch.device(f"cuda:{local}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if info.enabled and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return info, device


def barrier(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()


def teardown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_flag(info: DistInfo, flag: bool, device: torch.device | None = None) -> bool:
    """Rank 0's decision (e.g. 'stop now') shared with every rank."""
    if not info.enabled:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int64, device=device)
    dist.broadcast(t, src=0)
    return bool(t.item())
