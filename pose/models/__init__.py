"""Networks: backbones (registry ``BACKBONES``), model types (``MODEL_TYPES``) and their heads,
weights and decoding."""

from pose.models.backbones import BACKBONES, Backbone, BackboneSpec, build_backbone
from pose.models.context_head import ContextHeatmapHead
from pose.models.heads import HeatmapHead, RegressionHead, heatmap_to_keypoints, spatial_softmax
from pose.models.pose_model import PoseModel, build_model, build_model_for, normalize_images
from pose.models.types import MODEL_TYPES, ModelType
from pose.models.weights import load_backbone_weights, weights_cache_dir

__all__ = [
    "BACKBONES",
    "MODEL_TYPES",
    "Backbone",
    "BackboneSpec",
    "ContextHeatmapHead",
    "HeatmapHead",
    "ModelType",
    "PoseModel",
    "RegressionHead",
    "build_backbone",
    "build_model",
    "build_model_for",
    "heatmap_to_keypoints",
    "load_backbone_weights",
    "normalize_images",
    "spatial_softmax",
    "weights_cache_dir",
]
