"""Resumable periodic checkpoints (``training.ckpt_every_n_epochs``) and resuming from one.

A periodic checkpoint holds the full training state (weights, optimizer, schedulers, loops,
callbacks) and, through :class:`CarryBest`, the best weights so far with their score. Resuming in
another output directory, perhaps on another machine, :func:`relocate` writes those best weights
there and points the checkpoint callbacks' state at that directory, so the resumed run keeps
competing against the best epoch before the interruption instead of forgetting it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from pose.errors import WeightsError

BEST_KEY = "pose_best"  # the best weights carried in a periodic checkpoint
RESUME_FILE = "resume-from.ckpt"  # the relocated checkpoint, beside the run's others


class CarryBest(Callback):
    """Put the best checkpoint's weights and score into every full-state checkpoint.

    Lightning calls ``on_save_checkpoint`` for full-state checkpoints only, after the best
    checkpoint of the same validation was written (checkpoint callbacks run in list order).
    """

    def __init__(self, best: ModelCheckpoint) -> None:
        self.best = best

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        path = self.best.best_model_path
        if not path or not Path(path).is_file() or self.best.best_model_score is None:
            return
        state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
        checkpoint[BEST_KEY] = {
            "score": float(self.best.best_model_score),
            "state_dict": state,
        }


def read_resumable(path: Path) -> dict[str, Any]:
    """A full-state checkpoint, loaded weights-only; a clear error for anything else."""
    if not path.is_file():
        raise WeightsError(f"resume checkpoint {path}: file not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch's unpickling and format errors
        raise WeightsError(f"resume checkpoint {path}: unreadable ({err})") from None
    missing = [k for k in ("state_dict", "optimizer_states", "loops") if k not in checkpoint]
    if missing:
        raise WeightsError(
            f"resume checkpoint {path}: no training state ({', '.join(missing)} missing); only "
            "periodic checkpoints (training.ckpt_every_n_epochs) can be resumed from"
        )
    return checkpoint


def relocate(checkpoint: dict[str, Any], ckpt_dir: Path) -> Path:
    """Write a :func:`read_resumable` checkpoint's carried best weights to ``ckpt_dir/best.ckpt``
    and the checkpoint, its checkpoint-callback state pointed into ``ckpt_dir``, beside; the
    checkpoint's path, for ``Trainer.fit(ckpt_path=...)``."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    # as ModelCheckpoint keeps its own dirpath: state for any other spelling of the directory (a
    # relative path, a symlink) is dropped by Lightning, the best score with it
    ckpt_dir = Path(os.path.realpath(ckpt_dir))
    carried = checkpoint.pop(BEST_KEY, None)
    best_path = ckpt_dir / "best.ckpt"
    if carried is not None:
        torch.save({"state_dict": carried["state_dict"]}, best_path)
    for key, state in checkpoint.get("callbacks", {}).items():
        if not str(key).startswith("ModelCheckpoint") or not isinstance(state, dict):
            continue
        state["dirpath"] = str(ckpt_dir)
        # the periodic one (no monitor) forgets its earlier files, which stay where they were
        score = torch.tensor(carried["score"]) if carried and state.get("monitor") else None
        best = str(best_path) if score is not None else ""
        state.update(
            best_model_path=best,
            best_model_score=score,
            best_k_models={best: score} if score is not None else {},
            kth_best_model_path=best,
            last_model_path="",
        )
        if score is not None:
            state["kth_value"] = score
    target = ckpt_dir / RESUME_FILE
    torch.save(checkpoint, target)
    return target
