"""Training: the LightningModule, its callbacks, and the ``train`` entry point."""

from pose.train.module import PoseLightningModule
from pose.train.run import BEST_CHECKPOINT, TrainResult, load_checkpoint_weights, train

__all__ = [
    "BEST_CHECKPOINT",
    "PoseLightningModule",
    "TrainResult",
    "load_checkpoint_weights",
    "train",
]
