"""Fit one model from a validated config: ``config.yaml``, checkpoints, ``best.ckpt`` and the
training logs. Evaluating the fitted model (labeled-frame predictions, errors, videos) is
:mod:`pose.predict`'s; :func:`pose.pipeline.train` chains the two."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import (
    Callback,
    EarlyStopping,
    LearningRateMonitor,
    ModelCheckpoint,
)
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.strategies import DDPStrategy

from pose.config import PoseConfig, check_keypoint_references, save_config, untrainable_reason
from pose.data import PoseDataModule
from pose.data.multiview import CalibratedAugment3D, load_rig
from pose.data.multiview_labels import augments_in_3d, reprojection_loss_on
from pose.errors import ConfigError, WeightsError
from pose.geometry import CameraRig
from pose.losses.reprojection import ReprojectionHeatmapLoss
from pose.losses.unsupervised import build_unsupervised_losses
from pose.models import MODEL_TYPES, PoseModel, build_model_for
from pose.models.context_head import transfer_head
from pose.models.weights import read_state_dict
from pose.train.callbacks import AnnealWeight, BackboneUnfreeze, ThroughputTimer, TrainSummary
from pose.train.module import PoseLightningModule
from pose.train.patch_mask import PatchMasking
from pose.train.precision import lightning_precision, pick_accelerator, resolve_precision
from pose.train.resume import CarryBest, read_resumable, relocate
from pose.train.signals import sigterm_reaches_the_process

BEST_CHECKPOINT = "best.ckpt"


@dataclass
class FitResult:
    """A fitted model holding its best weights, its data, and what fitting measured.

    ``is_global_zero`` is False in a DDP rank other than the first, which evaluates nothing.
    """

    output_dir: Path
    best_checkpoint: Path
    module: PoseLightningModule
    datamodule: PoseDataModule
    precision: str
    is_global_zero: bool
    metrics: dict[str, Any]


def load_checkpoint_weights(model: PoseModel, path: str | Path) -> None:
    """Initialize ``model`` from a ``.ckpt``/``.pt`` file (``model.checkpoint``), loaded weights-only.

    Parameters are matched by name; single-frame and context heatmap models accept each other's
    checkpoints (the backbone and the heatmap head carry over; see ``transfer_head``). Parameters
    the file lacks keep their initial values, with a warning.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"config key 'model.checkpoint': file not found: {path}")
    state = read_state_dict(path, "model.checkpoint")
    # between single-frame and context heatmap models, the heatmap heads carry over
    state = {**transfer_head(state, to_context=model.context_offsets is not None), **state}
    own = model.state_dict()
    mapped = {}
    for key, value in state.items():
        for prefix in ("model.", ""):
            if key.startswith(prefix) and key[len(prefix) :] in own:
                mapped[key[len(prefix) :]] = value
                break
    bad = [k for k, v in mapped.items() if v.shape != own[k].shape]
    if not mapped or bad:
        detail = f"shape mismatch for {bad[:3]}" if bad else "no parameter names match this model"
        raise WeightsError(
            f"model.checkpoint {path}: {detail} (backbone/model_type/keypoints must match)"
        )
    model.load_state_dict(mapped, strict=False)
    left = [k for k in own if k not in mapped]
    if left:
        warnings.warn(
            f"model.checkpoint {path}: {len(left)} of {len(own)} parameters are not in it and keep "
            f"their initial values, e.g. {left[0]}",
            stacklevel=2,
        )


def _resolve_keypoints(cfg: PoseConfig, keypoint_names: list[str]) -> None:
    """Fill ``num_keypoints``/``keypoint_names`` left null in the config from the CSV header."""
    cfg.data.keypoint_names = list(keypoint_names)
    cfg.data.num_keypoints = len(keypoint_names)


def _check_output_dir(output_dir: Path) -> None:
    if output_dir.exists() and (not output_dir.is_dir() or any(output_dir.iterdir())):
        raise ConfigError(
            f"output directory {output_dir} is not empty; choose a new one so earlier results are kept"
        )


def _callbacks(
    cfg: PoseConfig, ckpt_dir: Path, has_val: bool, annealed: bool, masks_patches: bool
) -> tuple[ModelCheckpoint, list[Callback]]:
    """The best-weights checkpoint callback, and the other callbacks the config asks for."""
    t = cfg.training
    best = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="best",
        monitor="val/loss" if has_val else "train/loss_epoch",
        mode="min",
        save_top_k=1,
        save_weights_only=True,
        enable_version_counter=False,
    )
    callbacks: list[Callback] = [
        BackboneUnfreeze(t.unfreezing_epoch, t.unfreezing_step),
        # after BackboneUnfreeze, so each epoch logs the rates it trains at
        LearningRateMonitor(logging_interval="step" if t.step_based else "epoch"),
    ]
    if t.ckpt_every_n_epochs:
        # full training state, so that a run can resume from one (pose.train.resume)
        callbacks.append(
            ModelCheckpoint(
                dirpath=ckpt_dir,
                filename="epoch={epoch}",
                every_n_epochs=t.ckpt_every_n_epochs,
                save_top_k=-1,
                save_weights_only=False,
                auto_insert_metric_name=False,
            )
        )
        callbacks.append(CarryBest(best))
    if t.early_stopping and has_val:
        callbacks.append(
            EarlyStopping(monitor="val/loss", mode="min", patience=t.early_stop_patience)
        )
    mask = t.patch_mask
    if masks_patches and mask.final_ratio > 0:
        callbacks.append(
            PatchMasking(mask.init_epoch, mask.final_epoch, mask.init_ratio, mask.final_ratio)
        )
    if annealed:
        a = cfg.callbacks.anneal_weight
        callbacks.append(
            AnnealWeight(a.init_val, a.increase_factor, a.final_val, a.freeze_until_epoch)
        )
    return best, callbacks


@dataclass
class _Start:
    """The weights a continued run starts from (``model.checkpoint``), scored as epochs are."""

    state_dict: dict[str, torch.Tensor]
    val_loss: float
    val_pixel_error: float | None


def _score_start(
    module: PoseLightningModule, datamodule: PoseDataModule, accelerator: str, precision: str
) -> _Start:
    """Validate the starting weights and keep a copy, so that they compete for ``best.ckpt``:
    a continued run never ends worse on validation than it began.

    A trainer of its own runs Lightning's validation (same loss, precision and metric as the
    epochs'), so the sweep's per-epoch callbacks never see this extra validation."""
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=1,
        precision=lightning_precision(precision),  # type: ignore[arg-type]
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    # fork_rng: training draws the same numbers as without this validation
    with torch.random.fork_rng(devices=[]), sigterm_reaches_the_process(trainer):
        [scores] = trainer.validate(module, dataloaders=datamodule.val_dataloader(), verbose=False)
    state = {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
    pixel_error = scores.get("val/pixel_error")
    return _Start(
        state, float(scores["val/loss"]), None if pixel_error is None else float(pixel_error)
    )


def _reprojection_loss(
    cfg: PoseConfig, model: PoseModel, rig: CameraRig | None
) -> ReprojectionHeatmapLoss | None:
    """Lightning Pose's ``supervised_reprojection_heatmap_mse`` on a calibrated multiview model
    with heatmaps, when its ``log_weight`` is set."""
    if rig is None or not reprojection_loss_on(cfg):
        return None
    if model.heatmap_hw is None:
        raise ConfigError(
            "config key 'losses.supervised_reprojection_heatmap_mse.log_weight': the reprojection "
            f"loss compares heatmaps, which {model.model_type} has none of; set it to null"
        )
    weight = cfg.losses.supervised_reprojection_heatmap_mse.log_weight
    return ReprojectionHeatmapLoss(rig.to_tensors(), model.kind.stride, float(weight or 0.0))


def _devices(accelerator: str, num_gpus: int) -> int:
    """Processes to train in: one per GPU asked for (DDP when more than one), else one."""
    return num_gpus if accelerator == "gpu" else 1


def fit(
    cfg: PoseConfig,
    output_dir: str | Path,
    *,
    extra_callbacks: Sequence[Callback] = (),
    progress_bar: bool = True,
    resume_from: Path | None = None,
) -> FitResult:
    """Fit ``cfg``, writing ``config.yaml``, ``best.ckpt`` and the logs; the returned module holds
    the best weights. ``resume_from``: a periodic checkpoint of the same config to go on from (its
    epochs, optimizer, schedulers and best weights so far), from any directory.

    All checks that can fail on user input (trainable config, labels, images, weights) run before
    anything is written, so a bad input leaves ``output_dir`` untouched.
    """
    output_dir = Path(output_dir)
    reason = untrainable_reason(cfg)
    if reason:
        raise ConfigError(reason)
    _check_output_dir(output_dir)
    resumed = read_resumable(resume_from) if resume_from is not None else None
    rig = load_rig(cfg, for_training=True)  # multiview: the calibration, when there is one
    augment_3d = CalibratedAugment3D(rig) if rig is not None and augments_in_3d(cfg, True) else None
    kind = MODEL_TYPES.get(cfg.model.model_type)
    datamodule = PoseDataModule(
        cfg, kind.context_offsets, augment_3d, rig is not None and reprojection_loss_on(cfg)
    )
    datamodule.setup()
    _resolve_keypoints(cfg, datamodule.keypoint_names)
    check_keypoint_references(cfg)  # column indices against the CSV's keypoints, when unnamed

    t = cfg.training
    L.seed_everything(t.rng_seed_model_pt, workers=True, verbose=False)
    model = build_model_for(
        cfg, pretrained=cfg.model.backbone_pretrained and not cfg.model.checkpoint
    )
    if cfg.model.checkpoint:
        load_checkpoint_weights(model, cfg.model.checkpoint)

    accelerator = pick_accelerator(t.num_gpus)
    if accelerator == "gpu" and t.num_gpus > torch.cuda.device_count():
        raise ConfigError(
            f"config key 'training.num_gpus': expected at most {torch.cuda.device_count()} "
            f"(the GPUs present), got {t.num_gpus}"
        )
    precision = resolve_precision(t.precision, accelerator)
    # fitted on the training split's labels in original pixels, where the losses score predictions
    unsupervised = build_unsupervised_losses(
        cfg, datamodule.labels.keypoints[datamodule.splits.train]
    )
    reprojection = _reprojection_loss(cfg, model, rig)
    module = PoseLightningModule(
        model, cfg, channels_last=True, unsupervised=unsupervised, reprojection=reprojection
    )

    output_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, output_dir / "config.yaml")
    ckpt_dir = output_dir / "checkpoints"
    has_val = len(datamodule.splits.validation) > 0
    timer = ThroughputTimer()
    # the unsupervised losses and the reprojection loss ramp in (callbacks.anneal_weight)
    annealed = bool(cfg.model.losses_to_use) or reprojection is not None
    best_model, callbacks = _callbacks(cfg, ckpt_dir, has_val, annealed, kind.masks_patches)
    length: dict[str, Any] = (
        {"max_steps": t.max_steps, "min_steps": t.min_steps, "max_epochs": -1}
        if t.step_based
        else {"max_epochs": t.max_epochs, "min_epochs": t.min_epochs}
    )
    devices = _devices(accelerator, t.num_gpus)
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=devices,
        # spawn keeps the CLI from being re-run per rank; the frozen backbone has no gradients
        strategy=DDPStrategy(start_method="spawn", find_unused_parameters=True)
        if devices > 1
        else "auto",
        precision=lightning_precision(precision),  # type: ignore[arg-type]
        check_val_every_n_epoch=t.check_val_every_n_epoch,
        log_every_n_steps=t.log_every_n_steps,
        accumulate_grad_batches=t.accumulate_grad_batches,
        callbacks=[best_model, *callbacks, timer, *extra_callbacks],
        logger=CSVLogger(output_dir, name="logs", version=""),
        default_root_dir=output_dir,
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=1.0 if has_val else 0,
        **length,
    )
    start = (
        _score_start(module, datamodule, accelerator, precision)
        if cfg.model.checkpoint and has_val
        else None
    )
    ckpt_path = relocate(resumed, ckpt_dir) if resumed is not None else None
    del resumed  # the weights and optimizer state are on disk again; Lightning reads them there
    if accelerator == "gpu":
        torch.cuda.empty_cache()  # DDP ranks train on these GPUs: leave them the memory
    started = time.perf_counter()
    with sigterm_reaches_the_process(trainer):
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    if ckpt_path is not None:
        ckpt_path.unlink(missing_ok=True)
    wall_seconds = time.perf_counter() - started
    # read from callback_metrics, which DDP's spawned ranks send back (callback attributes stay there)
    summary = TrainSummary.from_trainer(trainer)
    # the starting weights stay best when no epoch validated lower
    best_start = (
        start
        if start is not None
        and math.isfinite(start.val_loss)
        and (summary.best_score is None or start.val_loss <= summary.best_score)
        else None
    )

    best_path = output_dir / BEST_CHECKPOINT
    source = Path(best_model.best_model_path) if best_model.best_model_path else None
    if best_start is not None:
        module.load_state_dict(best_start.state_dict)
        trainer.save_checkpoint(best_path, weights_only=True)
        if source is not None:
            source.unlink(missing_ok=True)
    elif source is None or not source.is_file():
        trainer.save_checkpoint(best_path, weights_only=True)
    else:
        source.replace(best_path)
        state = torch.load(best_path, map_location="cpu", weights_only=True)
        module.load_state_dict(state["state_dict"])
    best_val_loss = best_start.val_loss if best_start is not None else summary.best_score
    metrics: dict[str, Any] = {
        "best_val_loss": best_val_loss if has_val else None,
        "epochs_run": summary.epochs_run,
        "steps_run": summary.steps_run,
        "train_seconds": round(summary.train_seconds, 3),
        "wall_seconds": round(wall_seconds, 3),
        "train_images_per_second": round(summary.images_per_second, 2),
        "train_images_per_second_by_epoch": [round(v, 2) for v in summary.epoch_images_per_second],
        "precision": precision,
        "accelerator": accelerator,
        "devices": devices,
        "num_train_frames": int(len(datamodule.splits.train)),
        "num_val_frames": int(len(datamodule.splits.validation)),
        "num_test_frames": int(len(datamodule.splits.test)),
    }
    if start is not None:
        # what the run started from, on this run's validation frames (model.checkpoint)
        metrics["start_val_loss"] = start.val_loss
        metrics["start_val_pixel_error"] = start.val_pixel_error
        metrics["best_is_start"] = best_start is not None
    if trainer.is_global_zero:
        module.to(trainer.strategy.root_device)
    return FitResult(
        output_dir, best_path, module, datamodule, precision, trainer.is_global_zero, metrics
    )
