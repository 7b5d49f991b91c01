"""Smooth an ensemble over time with the Ensemble Kalman Smoother (the ``eks`` package).

EKS treats the members' spread as each frame's observation noise: where the members agree the
trajectory follows their median, where they disagree it leans on the frames around. Its posterior
variance is the uncertainty users threshold on. ``eks`` brings JAX, so it is the ``ensemble``
extra, imported only here; the unsmoothed consensus (:mod:`pose.ensemble.consensus`) needs none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pose.ensemble.consensus import MemberPredictions
from pose.optional import require
from pose.predict.dlc_csv import SCORER

# eks's columns per keypoint, in its order
SMOOTHED_COORDS = (
    "x",
    "y",
    "likelihood",
    "x_ens_median",
    "y_ens_median",
    "x_ens_var",
    "y_ens_var",
    "x_posterior_var",
    "y_posterior_var",
)
FEATURE = "EKS smoothing (sweeper ensemble)"


@dataclass(frozen=True)
class Smoothed:
    """EKS's trajectory: ``values [N, K, 9]`` in :data:`SMOOTHED_COORDS` order, and the smoothing
    parameter it chose per keypoint (or per view pair of a mirrored rig)."""

    keypoint_names: list[str]
    values: np.ndarray
    smooth_params: list[float]
    variant: str  # "singlecam" or "mirrored"

    @property
    def xy(self) -> np.ndarray:
        return self.values[..., 0:2]

    @property
    def posterior_var(self) -> np.ndarray:
        return self.values[..., 7:9]

    def frame(self, scorer: str = SCORER) -> pd.DataFrame:
        """DeepLabCut's 3-row layout with eks's coords, one row per frame."""
        n, k, c = self.values.shape
        columns = pd.MultiIndex.from_product(
            [[scorer], self.keypoint_names, list(SMOOTHED_COORDS)],
            names=["scorer", "bodyparts", "coords"],
        )
        return pd.DataFrame(self.values.reshape(n, k * c), columns=columns)


def _marker_array(predictions: MemberPredictions, views: Sequence[Sequence[int]]) -> object:
    """eks's ``MarkerArray`` ``[models, cameras, frames, keypoints, (x, y, likelihood)]``: one
    camera per view, each with its own keypoints (columns ``views[c]``)."""
    marker_array = require("eks.marker_array", "ensemble", FEATURE)
    fields = np.concatenate([predictions.xy, predictions.likelihood[..., None]], axis=-1)
    stacked = np.stack([fields[:, :, list(view), :] for view in views], axis=1)
    return marker_array.MarkerArray(stacked, data_fields=["x", "y", "likelihood"])


def _as_values(frame: pd.DataFrame, keypoints: int) -> np.ndarray:
    """An eks output frame (keypoints outer, coords inner) as ``[N, K, 9]``."""
    coords = list(frame.columns.get_level_values(-1)[: len(SMOOTHED_COORDS)])
    if coords != list(SMOOTHED_COORDS):
        raise RuntimeError(f"eks wrote coords {coords}, expected {list(SMOOTHED_COORDS)}")
    return frame.to_numpy(dtype=np.float64).reshape(len(frame), keypoints, len(SMOOTHED_COORDS))


def _singlecam(
    predictions: MemberPredictions, columns: list[int], smooth_param: float | None
) -> tuple[np.ndarray, list[float]]:
    smoother = require("eks.singlecam_smoother", "ensemble", FEATURE)
    # eks squeezes its arrays, which breaks on one keypoint; it smooths each keypoint on its
    # own, so a lone one runs twice and keeps one copy
    run = columns * 2 if len(columns) == 1 else columns
    names = [predictions.keypoint_names[i] for i in run]
    frame, params = smoother.ensemble_kalman_smoother_singlecam(
        marker_array=_marker_array(predictions, [run]),
        keypoint_names=names,
        smooth_param=smooth_param,
        avg_mode="median",
        var_mode="confidence_weighted_var",
    )
    values = _as_values(frame, len(run))[:, : len(columns)]
    return values, [float(p) for p in np.ravel(params)][: len(columns)]


def _mirrored(
    predictions: MemberPredictions, views: list[list[int]], smooth_param: float | None
) -> tuple[list[np.ndarray], list[float]]:
    smoother = require("eks.multicam_smoother", "ensemble", FEATURE)
    names = [predictions.keypoint_names[i] for i in views[0]]
    frames, params, _ = smoother.ensemble_kalman_smoother_multicam(
        marker_array=_marker_array(predictions, views),
        keypoint_names=names,
        camera_names=[f"view{v}" for v in range(len(views))],
        smooth_param=smooth_param,
        avg_mode="median",
        var_mode="confidence_weighted_var",
    )
    return [_as_values(f, len(names)) for f in frames], [float(p) for p in np.ravel(params)]


def smooth(
    predictions: MemberPredictions,
    mirrored_column_matches: Sequence[Sequence[int]] | None = None,
    smooth_param: float | None = None,
) -> Smoothed:
    """EKS over the members' predictions of one video. With ``data.mirrored_column_matches`` (one
    list of columns per view of a mirrored rig), the matched keypoints are smoothed jointly across
    the views (eks's multi-camera smoother, which ties the views through a PCA of their positions)
    and the others one by one; else every keypoint on its own. ``smooth_param`` None lets eks
    choose it per keypoint by maximizing the likelihood of the members' median."""
    n_keypoints = len(predictions.keypoint_names)
    values = np.zeros(predictions.xy.shape[1:3] + (len(SMOOTHED_COORDS),))
    params: list[float] = []
    views = [list(v) for v in mirrored_column_matches or []]
    matched = {i for view in views for i in view}
    if len(views) >= 2:
        per_view, mirrored_params = _mirrored(predictions, views, smooth_param)
        for view, view_values in zip(views, per_view, strict=True):
            values[:, view] = view_values
        params += mirrored_params
    rest = [i for i in range(n_keypoints) if i not in matched]
    if rest:
        rest_values, rest_params = _singlecam(predictions, rest, smooth_param)
        values[:, rest] = rest_values
        params += rest_params
    variant = "mirrored" if len(views) >= 2 else "singlecam"
    return Smoothed(list(predictions.keypoint_names), values, params, variant)
