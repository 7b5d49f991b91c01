"""Cross-cutting training behaviour as Lightning callbacks (not in ``training_step``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn

_SUMMARY = "run_summary/"


class BackboneUnfreeze(Callback):
    """Keep the backbone frozen until ``training.unfreezing_epoch`` (or ``unfreezing_step``), then
    ramp its learning rate up as Lightning Pose does.

    At unfreezing the backbone trains at ``initial_ratio`` times the head's learning rate, then
    ``factor`` times more each epoch (each step when unfreezing by step) until it reaches the
    head's; from then on the scheduler alone sets both. A full-rate start on a trained backbone
    (a ``model.checkpoint``, pretrained weights) throws away much of what it knew in the first
    epochs; the ramp lets the head adapt first.

    Needs an optimizer whose first parameter group is named ``backbone`` (see
    ``PoseLightningModule.configure_optimizers``). Frozen parameters (batch-norm scales and shifts
    included) stay in the optimizer with ``requires_grad=False``: they get no gradient, so
    Adam/AdamW skip them, and unfreezing needs no new parameter group. Batch-norm layers stay in
    training mode, so their running statistics keep following the data, as in Lightning Pose.
    """

    def __init__(
        self,
        epoch: int | None = None,
        step: int | None = None,
        initial_ratio: float = 0.1,
        factor: float = 1.5,
    ) -> None:
        self.epoch = epoch
        self.step = step
        self.initial_ratio = initial_ratio
        self.factor = factor
        self.frozen = False
        self.ramped = False
        self._initial_lr: float | None = None

    def _set(self, pl_module: L.LightningModule, frozen: bool) -> None:
        backbone: nn.Module = getattr(pl_module, "model").backbone  # noqa: B009 - any module with .model
        for parameter in backbone.parameters():
            parameter.requires_grad_(not frozen)
        self.frozen = frozen

    def _elapsed(self, trainer: L.Trainer) -> int:
        """Epochs (steps, in step mode) since the backbone was unfrozen; negative before."""
        if self.step is not None:
            return trainer.global_step - self.step
        return trainer.current_epoch - (self.epoch or 0)

    def _due(self, trainer: L.Trainer) -> bool:
        return self._elapsed(trainer) >= 0

    def backbone_lr(self, elapsed: int, head_lr: float) -> float:
        """The backbone's learning rate ``elapsed`` epochs (or steps) after unfreezing, with the
        head at ``head_lr`` now. The starting rate is fixed at unfreezing, as Lightning Pose's."""
        if self._initial_lr is None:
            self._initial_lr = self.initial_ratio * head_lr
        return min(self._initial_lr * self.factor**elapsed, head_lr)

    def state_dict(self) -> dict[str, Any]:
        """A resumed run goes on with the ramp where it was (see ``pose.train.resume``)."""
        return {"ramped": self.ramped, "initial_lr": self._initial_lr}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.ramped = bool(state_dict.get("ramped", False))
        self._initial_lr = state_dict.get("initial_lr")

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._set(pl_module, not self._due(trainer))

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._update(trainer, pl_module)  # before LearningRateMonitor logs the epoch's rates

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._update(trainer, pl_module)  # step mode counts steps

    def _update(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.frozen and self._due(trainer):
            self._set(pl_module, False)
        if self.ramped:
            return
        groups = trainer.optimizers[0].param_groups
        if groups[0].get("name") != "backbone":
            raise RuntimeError("BackboneUnfreeze needs the backbone as the first parameter group")
        if self.frozen:
            groups[0]["lr"] = 0.0  # as Lightning Pose: a frozen backbone's rate is 0
            return
        head_lr = groups[-1]["lr"]
        groups[0]["lr"] = self.backbone_lr(self._elapsed(trainer), head_lr)
        self.ramped = groups[0]["lr"] >= head_lr


class AnnealWeight(Callback):
    """``callbacks.anneal_weight``: ramp the unsupervised losses in, as Lightning Pose does.

    Through epoch ``freeze_until_epoch`` the losses count ``init_val`` times their weight; from
    then on ``increase_factor`` more per epoch, up to ``final_val``. A model that knows nothing yet
    would otherwise learn to satisfy the losses trivially (a still, average pose) before the labels
    have taught it anything. Sets ``pl_module.unsupervised_importance`` at each epoch's start.
    """

    def __init__(
        self,
        init_val: float = 0.0,
        increase_factor: float = 0.01,
        final_val: float = 1.0,
        freeze_until_epoch: int = 0,
    ) -> None:
        self.init_val = init_val
        self.increase_factor = increase_factor
        self.final_val = final_val
        self.freeze_until_epoch = freeze_until_epoch

    def value(self, epoch: int) -> float:
        """The share of the unsupervised losses during ``epoch`` (0-based)."""
        if epoch <= self.freeze_until_epoch:
            return self.init_val
        ramped = self.init_val + (epoch - self.freeze_until_epoch) * self.increase_factor
        return min(ramped, self.final_val)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.unsupervised_importance = self.value(trainer.current_epoch)  # type: ignore[assignment]


def images_in(batch: Any) -> int:
    """Images a training batch holds: labeled images (or windows) plus unlabeled frames (windows)."""
    if "labeled" in batch:
        return images_in(batch["labeled"]) + int(batch["unlabeled"]["frames"].shape[0])
    return int(batch["image"].shape[0])


class ThroughputTimer(Callback):
    """Seconds spent training (validation excluded) and images seen (labeled and unlabeled, see
    :func:`images_in`), for images/s."""

    def __init__(self) -> None:
        self.train_seconds = 0.0
        self.images = 0
        self.epochs_run = 0
        self.epoch_images_per_second: list[float] = []
        self._start: float | None = None
        self._epoch_seconds = 0.0
        self._epoch_images = 0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()
        self._epoch_seconds, self._epoch_images = 0.0, self.images

    def _stop_clock(self) -> None:
        if self._start is not None:
            elapsed = time.perf_counter() - self._start
            self.train_seconds += elapsed
            self._epoch_seconds += elapsed
            self._start = None

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self.images += images_in(batch)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._stop_clock()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop_clock()
        self.epochs_run += 1
        if self._epoch_seconds > 0:
            self.epoch_images_per_second.append(
                (self.images - self._epoch_images) / self._epoch_seconds
            )

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Publish the run's totals in ``callback_metrics``.

        That dict is the state Lightning sends back to the main process from DDP ranks it spawned;
        this callback's own attributes stay in the rank. Images are counted across ranks.
        """
        best = getattr(trainer.checkpoint_callback, "best_model_score", None)
        metrics = trainer.callback_metrics
        f64 = torch.float64
        metrics[_SUMMARY + "train_seconds"] = torch.tensor(self.train_seconds, dtype=f64)
        metrics[_SUMMARY + "images"] = torch.tensor(self.images * trainer.world_size)
        metrics[_SUMMARY + "epochs_run"] = torch.tensor(self.epochs_run)
        metrics[_SUMMARY + "steps_run"] = torch.tensor(trainer.global_step)
        metrics[_SUMMARY + "epoch_images_per_second"] = torch.tensor(
            [v * trainer.world_size for v in self.epoch_images_per_second], dtype=f64
        )
        if best is not None:
            metrics[_SUMMARY + "best_score"] = best.detach().cpu().to(f64)


@dataclass
class TrainSummary:
    """What a finished fit reports, read back from ``trainer.callback_metrics`` in any process."""

    train_seconds: float
    images: int
    epochs_run: int
    steps_run: int
    epoch_images_per_second: list[float]
    best_score: float | None

    @classmethod
    def from_trainer(cls, trainer: L.Trainer) -> TrainSummary:
        m = trainer.callback_metrics
        best = m.get(_SUMMARY + "best_score")
        return cls(
            train_seconds=float(m[_SUMMARY + "train_seconds"]),
            images=int(m[_SUMMARY + "images"]),
            epochs_run=int(m[_SUMMARY + "epochs_run"]),
            steps_run=int(m[_SUMMARY + "steps_run"]),
            epoch_images_per_second=[float(v) for v in m[_SUMMARY + "epoch_images_per_second"]],
            best_score=None if best is None else float(best),
        )

    @property
    def images_per_second(self) -> float:
        return self.images / self.train_seconds if self.train_seconds > 0 else 0.0
