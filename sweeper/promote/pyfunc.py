"""The MLflow pyfunc flavours: a trained pose model, or an ensemble of them; image paths in,
DLC-style keypoints out (the ensemble's with the members' variance per coordinate)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, Schema

IMAGE_COLUMN = "image_path"
PARTS = ("x", "y", "likelihood")
# an ensemble's too: the members' variance per coordinate, named as in its ensemble CSVs
ENSEMBLE_PARTS = (*PARTS, "x_ens_var", "y_ens_var")
ENSEMBLE_ARTIFACT = "ensemble"  # ensemble.json: the members' labels, best first, and the centre


def signature(keypoint_names: list[str], parts: tuple[str, ...] = PARTS) -> ModelSignature:
    """Input: an ``image_path`` string column; output: ``<keypoint>_<part>`` per keypoint."""
    outputs: list[Any] = [
        ColSpec("double", f"{name}_{part}") for name in keypoint_names for part in parts
    ]
    return ModelSignature(inputs=Schema([ColSpec("string", IMAGE_COLUMN)]), outputs=Schema(outputs))


def member_artifacts(label: str) -> tuple[str, str]:
    """The artifact names of an ensemble member's config and checkpoint."""
    return f"{label}.config", f"{label}.checkpoint"


def _image_paths(model_input: Any) -> list[str]:
    if not isinstance(model_input, pd.DataFrame) or IMAGE_COLUMN not in model_input.columns:
        raise ValueError(f"expected a pandas DataFrame with an {IMAGE_COLUMN!r} column")
    return model_input[IMAGE_COLUMN].astype(str).tolist()


def _columns(names: list[str], parts: dict[str, np.ndarray], index: Any) -> pd.DataFrame:
    """``parts`` maps a part to its ``[N, K]`` values: one float column per keypoint and part."""
    return pd.DataFrame(
        {
            f"{name}_{part}": values[:, k].astype("float64")
            for k, name in enumerate(names)
            for part, values in parts.items()
        },
        index=index,
    )


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

        xy, likelihood = predict_images(self.trained, _image_paths(model_input))
        parts = {"x": xy[..., 0], "y": xy[..., 1], "likelihood": likelihood}
        return _columns(self.trained.keypoint_names, parts, model_input.index)


class EnsemblePyfuncModel(PythonModel):
    """An ensemble's pyfunc: every member predicts each image; the output is the members' centre
    (the ensemble's, median by default), mean likelihood and variance per coordinate.

    Artifacts: ``ensemble`` (ensemble.json) and each member's ``<label>.config`` and
    ``<label>.checkpoint``. No smoothing: images are not a time series (``sweeper ensemble``
    smooths videos).
    """

    def load_context(self, context: Any) -> None:
        from pose.predict.images import load_trained

        spec = json.loads(Path(context.artifacts[ENSEMBLE_ARTIFACT]).read_text())
        self.centre = str(spec["centre"])
        self.members = [str(label) for label in spec["members"]]
        self.trained = [
            load_trained(*(context.artifacts[name] for name in member_artifacts(label)))
            for label in self.members
        ]

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        from pose.ensemble import MemberPredictions, consensus
        from pose.predict.images import predict_images

        paths = _image_paths(model_input)
        each = [predict_images(trained, paths) for trained in self.trained]
        names = self.trained[0].keypoint_names
        members = MemberPredictions(
            self.members, names, np.stack([xy for xy, _ in each]), np.stack([c for _, c in each])
        )
        ensemble = consensus(members, self.centre)
        parts = {
            "x": ensemble.xy[..., 0],
            "y": ensemble.xy[..., 1],
            "likelihood": ensemble.likelihood,
            "x_ens_var": ensemble.var[..., 0],
            "y_ens_var": ensemble.var[..., 1],
        }
        return _columns(names, parts, model_input.index)
