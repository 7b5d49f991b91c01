"""Supervised losses: heatmap losses by registry name, and the regression loss."""

from pose.losses.heatmap import HEATMAP_LOSSES, HeatmapLoss, js_loss, kl_loss, mse_loss
from pose.losses.regression import regression_loss

__all__ = ["HEATMAP_LOSSES", "HeatmapLoss", "js_loss", "kl_loss", "mse_loss", "regression_loss"]
