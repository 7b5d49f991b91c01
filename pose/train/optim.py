"""Optimizer and learning-rate scheduler registries keyed by the config's names."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from pose.registry import Registry

# parameter groups (dicts with "params" and optional "name"), as torch optimizers take them
ParamGroups = Iterable[dict[str, Any]]
OptimizerFactory = Callable[[ParamGroups, float], torch.optim.Optimizer]
SchedulerFactory = Callable[
    [torch.optim.Optimizer, list[int], float], torch.optim.lr_scheduler.LRScheduler
]

OPTIMIZERS: Registry[OptimizerFactory] = Registry("optimizer")
LR_SCHEDULERS: Registry[SchedulerFactory] = Registry("lr_scheduler")


@OPTIMIZERS.register("Adam")
def _adam(params: ParamGroups, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr)


@OPTIMIZERS.register("AdamW")
def _adamw(params: ParamGroups, lr: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr)


@LR_SCHEDULERS.register("multisteplr")
def _multisteplr(
    optimizer: torch.optim.Optimizer, milestones: list[int], gamma: float
) -> torch.optim.lr_scheduler.LRScheduler:
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=gamma)
