"""Process-group setup for ``torchrun``: DDP with nccl on GPUs and gloo on CPUs.

A plain ``srmeta train`` is a world of one; under ``torchrun`` the environment variables
RANK / WORLD_SIZE / LOCAL_RANK describe the world and every rank trains on its own shard
of each step's global batch. Only rank 0 writes files.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_world(device: torch.device) -> World:
    """Join the process group when launched by torchrun; a world of one otherwise."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return World()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
    return World(rank, world_size, local_rank)


def rank_device(device: torch.device, world: World) -> torch.device:
    """This rank's device: under DDP a bare ``cuda`` means the GPU of the local rank."""
    if device.type == "cuda" and device.index is None and world.distributed:
        return torch.device("cuda", world.local_rank)
    return device


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def shutdown(world: World) -> None:
    """Leave the process group; call it once the DDP wrapper is dropped.

    DDP's reducer holds the group: kept alive past destroy_process_group, gloo's threads
    are torn down at interpreter exit and a rank can abort. Collecting first frees it."""
    if world.distributed and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


def global_mean(value: torch.Tensor | float, world: World, device: torch.device) -> float:
    """``value`` averaged over the processes (itself without DDP), as a float."""
    tensor = torch.as_tensor(value, dtype=torch.float64, device=device).detach().clone()
    if world.distributed:
        torch.distributed.all_reduce(tensor)
        tensor /= world.world_size
    return float(tensor)
