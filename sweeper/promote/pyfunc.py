"""The MLflow pyfunc flavour of a trained pose model: image paths in, DLC-style keypoints out."""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, Schema

IMAGE_COLUMN = "image_path"


def signature(keypoint_names: list[str]) -> ModelSignature:
    """Input: an ``image_path`` string column; output: x, y, likelihood per keypoint."""
    outputs: list[Any] = [
        ColSpec("double", f"{name}_{part}")
        for name in keypoint_names
        for part in ("x", "y", "likelihood")
    ]
    return ModelSignature(inputs=Schema([ColSpec("string", IMAGE_COLUMN)]), outputs=Schema(outputs))


class PosePyfuncModel(PythonModel):
    """Predicts ``<keypoint>_x``, ``<keypoint>_y`` and ``<keypoint>_likelihood`` per image.

    Artifacts: ``config`` (the trial's resolved config.yaml) and ``checkpoint`` (its best.ckpt),
    loaded weights-only.
    """

    def load_context(self, context: Any) -> None:
        from pose.predict.images import load_trained

        self.trained = load_trained(context.artifacts["config"], context.artifacts["checkpoint"])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        from pose.predict.images import predict_images

        if not isinstance(model_input, pd.DataFrame) or IMAGE_COLUMN not in model_input.columns:
            raise ValueError(f"expected a pandas DataFrame with an {IMAGE_COLUMN!r} column")
        xy, likelihood = predict_images(
            self.trained, model_input[IMAGE_COLUMN].astype(str).tolist()
        )
        columns: dict[str, Any] = {}
        for k, name in enumerate(self.trained.keypoint_names):
            columns[f"{name}_x"] = xy[:, k, 0].astype("float64")
            columns[f"{name}_y"] = xy[:, k, 1].astype("float64")
            columns[f"{name}_likelihood"] = likelihood[:, k].astype("float64")
        return pd.DataFrame(columns, index=model_input.index)
