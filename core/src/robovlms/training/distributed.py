"""One process or many: the same training code under ``python`` and under ``torchrun``.

``torchrun`` (or ``accelerate launch``) sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; with
more than one process the model is replicated (DDP) or sharded (FSDP), each rank reads its own
share of every batch, and only rank 0 writes logs and the final model (under FSDP every rank writes
its shard of each checkpoint, :mod:`robovlms.training.sharded`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import cast

import torch
import torch.distributed as dist
from torch import nn

from robovlms.errors import ConfigError


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()

    def mean(self, values: torch.Tensor) -> list[float]:
        """The mean over processes of each value, in one collective and one device sync."""
        if self.size > 1:
            values = values.clone()
            dist.all_reduce(values)
            values /= self.size
        return values.tolist()


def setup() -> World:
    size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return World(rank=rank, size=size, device=device)


def teardown(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, world: World, strategy: str, precision: str = "fp32") -> nn.Module:
    """The module to run forward and backward on; ``model`` itself keeps the full weights API.

    Under FSDP with ``bf16`` the gathered weights and the forward run in bfloat16 while each rank's
    shard, its gradients and Adam's moments stay float32 (gradients are reduced in float32): half
    the memory and traffic of the gathered blocks, and the optimizer's precision unchanged.
    """
    if world.size == 1:
        return model
    if strategy == "fsdp":
        try:
            from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
        except ImportError:  # FSDP2 is public from torch 2.6 on
            raise ConfigError(
                f"training.strategy: fsdp needs torch>=2.6 (fully_shard); this is torch {torch.__version__}"
            ) from None
        if precision != "bf16":
            for layer in shard_units(model):
                fully_shard(layer)
            return cast(nn.Module, fully_shard(model))  # the same module, its class extended by FSDPModule
        for layer in shard_units(model):
            fully_shard(layer, mp_policy=MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32))
        # the VLA's own inputs stay as they are: its action targets are not to be rounded to bfloat16
        root = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32, cast_forward_inputs=False)
        return cast(nn.Module, fully_shard(model, mp_policy=root))
    # parameters the VLA never uses (the VLM's LM head, poolers) get no gradient: tell DDP so
    return nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)


def shard_units(model: nn.Module) -> list[nn.Module]:
    """Blocks to shard one by one (innermost first), so a rank gathers one block's full weights at a time."""
    blocks: list[nn.Module] = []
    for module in model.modules():
        if isinstance(module, nn.ModuleList):
            blocks.extend(module)
    return blocks[::-1]
