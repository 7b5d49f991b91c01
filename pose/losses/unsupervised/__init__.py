"""Unsupervised losses (``model.losses_to_use``): one registered class each (see
:class:`UnsupervisedLoss`)."""

from pose.losses.unsupervised.base import (
    UNSUPERVISED_LOSSES,
    Needs,
    UnsupervisedLoss,
    build_unsupervised_losses,
)
from pose.losses.unsupervised.pca import PCALoss, PCAMultiview, PCASingleview
from pose.losses.unsupervised.temporal import Temporal

__all__ = [
    "UNSUPERVISED_LOSSES",
    "Needs",
    "PCALoss",
    "PCAMultiview",
    "PCASingleview",
    "Temporal",
    "UnsupervisedLoss",
    "build_unsupervised_losses",
]
