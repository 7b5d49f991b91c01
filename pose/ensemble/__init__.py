"""Ensembles of trained models: the members' consensus and spread, and EKS smoothing over time."""

from pose.ensemble.consensus import (
    CENTRES,
    CONSENSUS_COORDS,
    OUTLIER_FACTOR,
    Consensus,
    MemberPredictions,
    consensus,
    consensus_frame,
    inliers,
    member_distances,
)
from pose.ensemble.smoothing import SMOOTHED_COORDS, Smoothed, smooth

__all__ = [
    "CENTRES",
    "CONSENSUS_COORDS",
    "OUTLIER_FACTOR",
    "SMOOTHED_COORDS",
    "Consensus",
    "MemberPredictions",
    "Smoothed",
    "consensus",
    "consensus_frame",
    "inliers",
    "member_distances",
    "smooth",
]
