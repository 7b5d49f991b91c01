"""Label-free video metrics, to compare models on hours of unlabeled video and not only on a few
labeled frames: each PCA loss's reprojection error per keypoint per frame (Lightning Pose's
``<stem>_pca_singleview_error.csv`` and ``<stem>_pca_multiview_error.csv``) and the share of
frame-to-frame jumps beyond ``losses.temporal.epsilon``.

The PCAs are fitted on the training split's labels for any config that names their columns
(``data.columns_for_singleview_pca``, ``data.mirrored_column_matches``), whether or not the model
trained with the losses, so every trial of a sweep reports them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from pose.config import PoseConfig
from pose.errors import ConfigError
from pose.losses.unsupervised import UNSUPERVISED_LOSSES, PCALoss, Temporal
from pose.predict.dlc_csv import write_csv

JUMP_RATE = "temporal_jump_rate"


@dataclass
class LabelFreeMetrics:
    """The fitted PCA losses and the temporal epsilon a config defines (see module docstring)."""

    pcas: dict[str, PCALoss] = field(default_factory=dict)
    temporal: Temporal | None = None

    @classmethod
    def fit(cls, cfg: PoseConfig, train_labels: np.ndarray) -> LabelFreeMetrics:
        """Fit on ``train_labels`` ``[N, K, 2]`` in original pixels; a PCA that cannot be fitted
        (too few fully labeled frames) is left out with a warning, never failing the caller."""
        pcas: dict[str, PCALoss] = {}
        for name in UNSUPERVISED_LOSSES:
            kind = UNSUPERVISED_LOSSES.get(name)
            if not (issubclass(kind, PCALoss) and kind.measures(cfg)):
                continue
            try:
                pca = kind.from_config(cfg).fit(train_labels)
            except ConfigError as err:
                warnings.warn(f"{name} video metric left out: {err}", stacklevel=2)
                continue
            assert isinstance(pca, PCALoss)
            pcas[name] = pca
        temporal = Temporal.from_config(cfg)
        assert isinstance(temporal, Temporal)
        return cls(pcas, temporal)

    @classmethod
    def from_labels_of(cls, cfg: PoseConfig) -> LabelFreeMetrics:
        """Fitted on the training split of the labels the config names (the split is the
        config's seeds'); a :class:`PoseError` where they cannot be read (a model moved off its
        data)."""
        from pose.data.check import load_checked_labels
        from pose.data.splits import split_indices

        labels = load_checked_labels(cfg)
        t = cfg.training
        splits = split_indices(
            len(labels.image_paths), t.train_prob, t.val_prob, t.train_frames, t.rng_seed_data_pt
        )
        return cls.fit(cfg, labels.keypoints[splits.train])

    def write(self, xy: np.ndarray, names: list[str], out_dir: Path, stem: str) -> dict[str, float]:
        """Write ``<stem>_<pca>_error.csv`` per PCA for predictions ``xy`` ``[N, K, 2]`` (original
        pixels) and return the summary: mean reprojection error per PCA, in pixels, and the share
        of keypoint jumps between consecutive frames beyond the temporal epsilon."""
        frames = np.arange(len(xy))
        keypoints = torch.as_tensor(xy, dtype=torch.float32)
        summary: dict[str, float] = {}
        for name, pca in self.pcas.items():
            errors = pca.keypoint_errors(keypoints).numpy()
            write_csv(
                pd.DataFrame(errors, index=frames, columns=names),
                out_dir / f"{stem}_{name}_error.csv",
            )
            summary[f"{name}_error"] = float(np.nanmean(errors))
        if self.temporal is not None and len(xy) > 1:
            jumps = self.temporal.jumps(keypoints)
            summary[JUMP_RATE] = float((jumps > self.temporal.epsilon).float().mean())
        return summary


def mean_over_videos(videos: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Each summary figure's mean over the videos that have it (for ``metrics.json``'s ``video``)."""
    keys = {k for v in videos.values() for k, x in v.items() if isinstance(x, float)}
    return {k: float(np.mean([v[k] for v in videos.values() if k in v])) for k in sorted(keys)}
