"""Training: the LightningModule, its callbacks, and :func:`fit` (:func:`pose.pipeline.train`
adds the evaluation)."""

from pose.train.module import PoseLightningModule
from pose.train.run import BEST_CHECKPOINT, FitResult, fit, load_checkpoint_weights

__all__ = [
    "BEST_CHECKPOINT",
    "FitResult",
    "PoseLightningModule",
    "fit",
    "load_checkpoint_weights",
]
