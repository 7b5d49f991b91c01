"""Registries of the Optuna samplers and pruners ``sweeper run`` offers (``--sampler``, ``--pruner``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna

from pose.registry import Registry

SamplerFactory = Callable[[int | None, dict[str, list[Any]] | None], optuna.samplers.BaseSampler]
PrunerFactory = Callable[[int, int], optuna.pruners.BasePruner]  # (startup trials, warmup epochs)

SAMPLERS: Registry[SamplerFactory] = Registry("sampler")
PRUNERS: Registry[PrunerFactory] = Registry("pruner")


@SAMPLERS.register("tpe")
def _tpe(seed: int | None, grid: dict[str, list[Any]] | None) -> optuna.samplers.BaseSampler:
    # constant_liar keeps parallel workers from proposing the same point
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


@SAMPLERS.register("random")
def _random(seed: int | None, grid: dict[str, list[Any]] | None) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)


class _SweepGridSampler(optuna.samplers.GridSampler):
    """Optuna's GridSampler without its ``study.stop()`` once the grid is used up: that call only
    works inside ``study.optimize``, and the sweep loop stops at its own target anyway."""

    def after_trial(self, study, trial, state, values):  # type: ignore[no-untyped-def]
        pass


@SAMPLERS.register("grid")
def _grid(seed: int | None, grid: dict[str, list[Any]] | None) -> optuna.samplers.BaseSampler:
    assert grid is not None, "the grid sampler needs the search space's grid"
    return _SweepGridSampler(grid, seed=seed)


@SAMPLERS.register("cmaes")
def _cmaes(seed: int | None, grid: dict[str, list[Any]] | None) -> optuna.samplers.BaseSampler:
    # categorical keys fall back to random sampling, as in Optuna
    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


@PRUNERS.register("median")
def _median(startup_trials: int, warmup_epochs: int) -> optuna.pruners.BasePruner:
    return optuna.pruners.MedianPruner(
        n_startup_trials=startup_trials, n_warmup_steps=warmup_epochs
    )


@PRUNERS.register("hyperband")
def _hyperband(startup_trials: int, warmup_epochs: int) -> optuna.pruners.BasePruner:
    return optuna.pruners.HyperbandPruner(min_resource=max(1, warmup_epochs))


@PRUNERS.register("none")
def _none(startup_trials: int, warmup_epochs: int) -> optuna.pruners.BasePruner:
    return optuna.pruners.NopPruner()
