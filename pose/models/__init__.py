"""Networks: backbones (registry ``BACKBONES``), heads (``HEADS``), weights and decoding."""

from pose.models.backbones import BACKBONES, Backbone, BackboneSpec, build_backbone
from pose.models.context_head import ContextHeatmapHead
from pose.models.heads import HEADS, HeatmapHead, RegressionHead, heatmap_to_keypoints
from pose.models.pose_model import PoseModel, build_model, normalize_images, spatial_softmax
from pose.models.weights import load_backbone_weights, weights_cache_dir

__all__ = [
    "BACKBONES",
    "HEADS",
    "Backbone",
    "BackboneSpec",
    "ContextHeatmapHead",
    "HeatmapHead",
    "PoseModel",
    "RegressionHead",
    "build_backbone",
    "build_model",
    "heatmap_to_keypoints",
    "load_backbone_weights",
    "normalize_images",
    "spatial_softmax",
    "weights_cache_dir",
]
