"""The engine's entry point: fit a config (:mod:`pose.train`), then evaluate the fitted model
(:mod:`pose.predict`). The CLI, the sweep's trial worker, tests and benchmarks call this."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback

from pose.config import PoseConfig
from pose.predict.evaluate import evaluate
from pose.train import fit


@dataclass
class TrainResult:
    """Where a trained model's outputs are, and its ``metrics.json`` contents."""

    output_dir: Path
    best_checkpoint: Path
    metrics: dict[str, Any]


def train(
    cfg: PoseConfig,
    output_dir: str | Path,
    *,
    extra_callbacks: Sequence[Callback] = (),
    progress_bar: bool = True,
    resume_from: Path | None = None,
) -> TrainResult:
    """Train ``cfg`` (or go on from ``resume_from``, see :func:`pose.train.run.fit`) and write
    ``config.yaml``, ``best.ckpt``, predictions and ``metrics.json``.

    All checks that can fail on user input (trainable config, labels, images, weights) run before
    anything is written, so a bad input leaves ``output_dir`` untouched.
    """
    fitted = fit(
        cfg,
        output_dir,
        extra_callbacks=extra_callbacks,
        progress_bar=progress_bar,
        resume_from=resume_from,
    )
    return TrainResult(fitted.output_dir, fitted.best_checkpoint, evaluate(fitted))
