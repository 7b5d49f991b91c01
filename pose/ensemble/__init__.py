"""Ensembles of trained models: the members' consensus and spread, and EKS smoothing over time."""

from pose.ensemble.consensus import (
    CENTRES,
    CONSENSUS_COORDS,
    Consensus,
    MemberPredictions,
    consensus,
    consensus_frame,
    member_distances,
)
from pose.ensemble.smoothing import SMOOTHED_COORDS, Smoothed, smooth

__all__ = [
    "CENTRES",
    "CONSENSUS_COORDS",
    "SMOOTHED_COORDS",
    "Consensus",
    "MemberPredictions",
    "Smoothed",
    "consensus",
    "consensus_frame",
    "member_distances",
    "smooth",
]
