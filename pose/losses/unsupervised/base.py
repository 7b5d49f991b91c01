"""The unsupervised-loss interface: Lightning Pose's losses on predictions for unlabeled frames."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from torch import Tensor

from pose.registry import Registry

if TYPE_CHECKING:
    from pose.config import PoseConfig

UNSUPERVISED_LOSSES: Registry[type[UnsupervisedLoss]] = Registry("unsupervised loss")


class Needs(Enum):
    """What a loss needs beyond the predictions it scores."""

    LABELS = "labels"  # the training labels, to fit something before training (a PCA)
    FRAMES = "consecutive frames"  # predictions of frames in temporal order
    VIEWS = "views"  # the same keypoints seen by several cameras or mirrors


class UnsupervisedLoss(ABC):
    """One ``model.losses_to_use`` entry, configured by its ``losses.<name>`` section.

    ``config_keys`` are the keys of that section it reads (validation refuses others' absence by
    name); ``needs`` says what training must provide. Subclasses score keypoints ``[N, K, 2]`` in
    original-image pixels (as Lightning Pose's, so a config's epsilons mean the same) with their
    confidences ``[N, K]``; the objective adds ``weight`` times that
    score, ``weight = 1 / (2 * exp(log_weight))`` as in Lightning Pose.
    """

    name: ClassVar[str]
    config_keys: ClassVar[tuple[str, ...]] = ("log_weight",)
    needs: ClassVar[frozenset[Needs]] = frozenset()

    def __init__(self, log_weight: float = 0.0) -> None:
        self.log_weight = float(log_weight)

    @property
    def weight(self) -> float:
        return 1.0 / (2.0 * math.exp(self.log_weight))

    @classmethod
    def options(cls, section: Mapping[str, Any] | None) -> dict[str, Any]:
        """The constructor's keyword arguments from a ``losses.<name>`` section."""
        section = section or {}
        return {key: section[key] for key in cls.config_keys if key in section}

    @classmethod
    def data_options(cls, cfg: PoseConfig) -> dict[str, Any]:
        """Constructor arguments from the ``data`` section (which keypoints a loss compares)."""
        return {}

    @classmethod
    def from_config(cls, cfg: PoseConfig) -> UnsupervisedLoss:
        """The loss as ``losses.<name>`` and the ``data`` section configure it (not yet fitted)."""
        section = getattr(cfg.losses, cls.name, None)
        as_dict = {key: getattr(section, key) for key in cls.config_keys if hasattr(section, key)}
        return cls(**cls.data_options(cfg), **cls.options(as_dict))

    def fit(self, labels: np.ndarray) -> UnsupervisedLoss:
        """Fit what the loss learns from training labels ``[N, K, 2]`` before training (a PCA);
        most losses learn nothing."""
        return self

    @abstractmethod
    def __call__(self, keypoints: Tensor, confidence: Tensor) -> Tensor:
        """The scalar loss of ``keypoints`` ``[N, K, 2]`` with ``confidence`` ``[N, K]``."""


def build_unsupervised_losses(
    cfg: PoseConfig, train_labels: np.ndarray
) -> dict[str, UnsupervisedLoss]:
    """The losses of ``model.losses_to_use``, configured and fitted on ``train_labels`` ``[N, K, 2]``
    (original-image pixels, where the losses are evaluated, as Lightning Pose's are)."""
    losses: dict[str, UnsupervisedLoss] = {}
    for name in cfg.model.losses_to_use:
        loss = UNSUPERVISED_LOSSES.get(name).from_config(cfg)
        losses[name] = loss.fit(train_labels) if Needs.LABELS in loss.needs else loss
    return losses
