"""Promotion: the best trial's model, or an ensemble of trials, into the MLflow model registry,
loadable as a pyfunc."""

from sweeper.promote.registry import Promotion, promote_best, promote_ensemble

__all__ = ["Promotion", "promote_best", "promote_ensemble"]
