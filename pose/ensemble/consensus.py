"""An ensemble's consensus per frame and keypoint: a robust centre and the members' spread.

The centre is the members' median by default: one weak member drags a mean towards its misses,
while the median follows the majority (Lightning Pose's EKS centres on the median for the same
reason). The variance is the members' spread around their mean, per coordinate: where the members
disagree the keypoint is uncertain, whatever each network's own confidence says.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pose.errors import DataError
from pose.predict.dlc_csv import SCORER, read_predictions
from pose.registry import Registry

CENTRES: Registry[Callable[[np.ndarray], np.ndarray]] = Registry("ensemble centre")
CENTRES.add("median", lambda xy: np.median(xy, axis=0))
CENTRES.add("mean", lambda xy: np.mean(xy, axis=0))

# the columns per keypoint of an ensemble's CSV: Lightning Pose's EKS layout (x, y, likelihood,
# the members' median and variance), with the members' mean beside the median
CONSENSUS_COORDS = (
    "x",
    "y",
    "likelihood",
    "x_ens_median",
    "y_ens_median",
    "x_ens_mean",
    "y_ens_mean",
    "x_ens_var",
    "y_ens_var",
)


@dataclass(frozen=True)
class MemberPredictions:
    """What M models predicted on the same N frames: ``xy [M, N, K, 2]``, ``likelihood [M, N, K]``."""

    members: list[str]
    keypoint_names: list[str]
    xy: np.ndarray
    likelihood: np.ndarray

    def __post_init__(self) -> None:
        m, n, k, two = self.xy.shape
        if two != 2 or self.likelihood.shape != (m, n, k):
            raise ValueError(f"xy {self.xy.shape} and likelihood {self.likelihood.shape} disagree")
        if len(self.members) != m or len(self.keypoint_names) != k:
            raise ValueError("one name per member and per keypoint expected")

    @classmethod
    def from_csvs(cls, csvs: Sequence[Path], members: Sequence[str]) -> MemberPredictions:
        """Read the members' DLC-style prediction CSVs of one video; they must share keypoints
        and frames (the same video predicted by each)."""
        frames = [read_predictions(path) for path in csvs]
        names = _keypoints(frames[0], csvs[0])
        for frame, path in zip(frames[1:], csvs[1:], strict=True):
            if _keypoints(frame, path) != names:
                raise DataError(f"{path}: keypoints {_keypoints(frame, path)} differ from {names}")
            if len(frame) != len(frames[0]):
                raise DataError(
                    f"{path}: {len(frame)} frames, but {csvs[0]} has {len(frames[0])}; "
                    "ensemble members must predict the same video"
                )
        xy = np.stack([_coords(f, names, ("x", "y")) for f in frames])
        likelihood = np.stack([_coords(f, names, ("likelihood",))[..., 0] for f in frames])
        return cls(list(members), names, xy, likelihood)


def _keypoints(frame: pd.DataFrame, path: Path) -> list[str]:
    names = [
        b
        for b, c in zip(
            frame.columns.get_level_values(1), frame.columns.get_level_values(2), strict=True
        )
        if c == "x"
    ]
    if not names:
        raise DataError(f"{path}: no x/y/likelihood columns (expected a DeepLabCut-style CSV)")
    return names


def _coords(frame: pd.DataFrame, names: list[str], coords: tuple[str, ...]) -> np.ndarray:
    scorer = frame.columns.get_level_values(0)[0]
    columns = [(scorer, name, coord) for name in names for coord in coords]
    return frame[columns].to_numpy(dtype=np.float64).reshape(len(frame), len(names), len(coords))


@dataclass(frozen=True)
class Consensus:
    """The members' centre ``xy [N, K, 2]`` (by ``centre``), their median, mean and variance
    (per coordinate, around the mean) and mean likelihood ``[N, K]``."""

    centre: str
    xy: np.ndarray
    median: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    likelihood: np.ndarray

    @property
    def spread(self) -> np.ndarray:
        """``[N, K]`` standard deviation of the members' positions, in pixels: the disagreement."""
        return np.sqrt(self.var.sum(axis=-1))


def consensus(predictions: MemberPredictions, centre: str = "median") -> Consensus:
    """The ensemble of ``predictions`` centred by a registered ``centre`` (median or mean)."""
    if centre not in CENTRES:
        raise DataError(CENTRES.unknown_message(centre))
    xy = predictions.xy
    median, mean = np.median(xy, axis=0), xy.mean(axis=0)
    return Consensus(
        CENTRES.canonical(centre),
        CENTRES.get(centre)(xy),
        median,
        mean,
        xy.var(axis=0),
        predictions.likelihood.mean(axis=0),
    )


def member_distances(predictions: MemberPredictions, ensemble: Consensus) -> np.ndarray:
    """``[M]`` mean pixel distance of each member's keypoints to the ensemble's centre: a label-free
    score of each member (the weak one sits far from the others)."""
    return np.linalg.norm(predictions.xy - ensemble.xy[None], axis=-1).mean(axis=(1, 2))


# a member whose mean distance to the centre exceeds this multiple of the members' median distance
# is an outlier: eks takes the members' variance as its observation noise, so one far-off member
# inflates it everywhere and the smoother trusts its dynamics over the majority's positions
OUTLIER_FACTOR = 3.0


def inliers(
    predictions: MemberPredictions, ensemble: Consensus, factor: float = OUTLIER_FACTOR
) -> MemberPredictions:
    """The members within ``factor`` x the median member distance to the centre; the others are
    left out of smoothing. ``factor >= 1`` keeps at least half of them (those up to the median)."""
    if factor < 1:
        raise ValueError(f"outlier factor {factor} < 1 would drop the median member")
    distances = member_distances(predictions, ensemble)
    keep = distances <= factor * np.median(distances)
    if keep.all():
        return predictions
    return MemberPredictions(
        [m for m, k in zip(predictions.members, keep, strict=True) if k],
        predictions.keypoint_names,
        predictions.xy[keep],
        predictions.likelihood[keep],
    )


def consensus_frame(
    ensemble: Consensus, keypoint_names: Sequence[str], scorer: str = SCORER
) -> pd.DataFrame:
    """The ensemble in DeepLabCut's 3-row layout, one row per frame (:data:`CONSENSUS_COORDS`)."""
    parts = (
        ensemble.xy,
        ensemble.likelihood[..., None],
        ensemble.median,
        ensemble.mean,
        ensemble.var,
    )
    values = np.concatenate(parts, axis=-1)  # [N, K, 9]
    columns = pd.MultiIndex.from_product(
        [[scorer], list(keypoint_names), list(CONSENSUS_COORDS)],
        names=["scorer", "bodyparts", "coords"],
    )
    n, k = ensemble.likelihood.shape
    return pd.DataFrame(values.reshape(n, k * len(CONSENSUS_COORDS)), columns=columns)
