"""Model types (``model.model_type``): one registered class each (see :class:`ModelType`)."""

from pose.models.types.base import MODEL_TYPES, ModelType
from pose.models.types.context import ContextHeatmap
from pose.models.types.heatmap import Heatmap
from pose.models.types.multiview_transformer import MultiviewTransformer
from pose.models.types.regression import Regression, regression_to_pixels

__all__ = [
    "MODEL_TYPES",
    "ContextHeatmap",
    "Heatmap",
    "ModelType",
    "MultiviewTransformer",
    "Regression",
    "regression_to_pixels",
]
