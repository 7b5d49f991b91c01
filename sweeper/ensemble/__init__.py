"""Ensembles of a sweep's best trials: members, their consensus, EKS smoothing, one MLflow run."""

from sweeper.ensemble.build import (
    EnsembleProgress,
    EnsembleResult,
    VideoEnsemble,
    build_ensemble,
    check_smoother,
)
from sweeper.ensemble.members import Member, top_members
from sweeper.ensemble.seeds import seed_members

__all__ = [
    "EnsembleProgress",
    "EnsembleResult",
    "Member",
    "VideoEnsemble",
    "build_ensemble",
    "check_smoother",
    "seed_members",
    "top_members",
]
