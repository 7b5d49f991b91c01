"""Promotion: the best trial's model into the MLflow model registry, loadable as a pyfunc."""

from sweeper.promote.registry import Promotion, promote_best

__all__ = ["Promotion", "promote_best"]
