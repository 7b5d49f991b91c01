"""Ensembles of a sweep's best trials: members, their consensus, EKS smoothing, one MLflow run."""

from sweeper.ensemble.build import EnsembleProgress, EnsembleResult, VideoEnsemble, build_ensemble
from sweeper.ensemble.members import Member, top_members

__all__ = [
    "EnsembleProgress",
    "EnsembleResult",
    "Member",
    "VideoEnsemble",
    "build_ensemble",
    "top_members",
]
