"""PCA losses: poses (``pca_singleview``) or views of a keypoint (``pca_multiview``) should lie in
the low-dimensional subspace that the training labels span; the loss is each keypoint's distance
from its reprojection beyond ``epsilon``.

The subspace is fitted with scikit-learn's PCA on the labeled training frames, in the coordinates the
loss sees (original-image pixels, as Lightning Pose); frames with a missing keypoint are left out
of the fit (Lightning Pose's NaN-aware PCA also uses partly labeled frames). With ``epsilon: null`` it is the 99th percentile of the labels' own reprojection errors (as Lightning Pose).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from pose.errors import ConfigError
from pose.losses.unsupervised.base import UNSUPERVISED_LOSSES, Needs, UnsupervisedLoss

if TYPE_CHECKING:
    from pose.config import PoseConfig

EMPIRICAL_EPSILON_PERCENTILE = 99.0


class PCALoss(UnsupervisedLoss):
    """Shared fit and reprojection; subclasses say how keypoints become observation vectors and
    whether a config names what they compare (``measures``: then their error is also a video
    metric, :mod:`pose.predict.label_free`)."""

    config_keys = ("log_weight", "components_to_keep", "epsilon")
    needs: ClassVar[frozenset[Needs]] = frozenset({Needs.LABELS})

    def __init__(
        self,
        log_weight: float = 0.0,
        components_to_keep: int | float = 0.95,
        epsilon: float | None = None,
    ) -> None:
        super().__init__(log_weight)
        self.components_to_keep = components_to_keep
        self.configured_epsilon = None if epsilon is None else float(epsilon)
        self.epsilon = self.configured_epsilon  # set from the labels by fit() when None
        self.mean: Tensor | None = None
        self.kept: Tensor | None = None  # [components, dims]

    @abstractmethod
    def observations(self, keypoints: Tensor) -> Tensor:
        """``[N, K, 2]`` keypoints -> ``[M, D]`` observation vectors (x, y pairs side by side)."""

    def fit(self, labels: np.ndarray) -> PCALoss:
        """Fit the subspace to training labels ``[N, K, 2]`` (NaN where unlabeled)."""
        from sklearn.decomposition import PCA

        data = self.observations(torch.as_tensor(labels, dtype=torch.float64)).numpy()
        data = data[~np.isnan(data).any(axis=1)]
        if len(data) <= data.shape[1]:
            raise ConfigError(
                f"config key 'model.losses_to_use': {self.name} needs more fully labeled training "
                f"observations ({len(data)}) than dimensions ({data.shape[1]}) to fit its PCA"
            )
        pca = PCA(svd_solver="full").fit(data)
        n = self._n_components(pca.explained_variance_ratio_)
        self.mean = torch.as_tensor(pca.mean_, dtype=torch.float32)
        self.kept = torch.as_tensor(pca.components_[:n], dtype=torch.float32)
        self.epsilon = self.configured_epsilon
        if self.epsilon is None:
            errors = self.reprojection_errors(torch.as_tensor(data, dtype=torch.float32))
            self.epsilon = float(np.percentile(errors.numpy(), EMPIRICAL_EPSILON_PERCENTILE))
        return self

    def _n_components(self, explained: np.ndarray) -> int:
        keep, dims = self.components_to_keep, len(explained)
        if isinstance(keep, bool) or not isinstance(keep, (int, float)):
            raise ConfigError(
                f"config key 'losses.{self.name}.components_to_keep': expected a count or a fraction, got {keep!r}"
            )
        if isinstance(keep, int):
            if not 1 <= keep <= dims:
                raise ConfigError(
                    f"config key 'losses.{self.name}.components_to_keep': expected a count in "
                    f"[1, {dims}] (the PCA's dimensions), got {keep}"
                )
            return keep
        if not 0 < keep <= 1:
            raise ConfigError(
                f"config key 'losses.{self.name}.components_to_keep': expected a fraction of "
                f"variance in (0, 1] or a count, got {keep}"
            )
        # the fewest components that explain at least that fraction
        crossing = int(np.searchsorted(np.cumsum(explained), keep - 1e-12))
        return min(dims, crossing + 1)

    def reprojection_errors(self, observations: Tensor) -> Tensor:
        """Per keypoint distance ``[M, D / 2]`` of each observation from its projection."""
        if self.mean is None or self.kept is None:
            raise RuntimeError(f"{self.name}: fit() the PCA before using the loss")
        mean, kept = self.mean.to(observations), self.kept.to(observations)
        centred = observations - mean
        reprojected = centred @ kept.T @ kept
        diff = (centred - reprojected).unflatten(-1, (-1, 2))
        return diff.norm(dim=-1)

    @classmethod
    @abstractmethod
    def measures(cls, cfg: PoseConfig) -> bool:
        """Whether ``cfg`` names the keypoints this PCA compares."""

    @abstractmethod
    def keypoint_errors(self, keypoints: Tensor) -> Tensor:
        """Each keypoint's reprojection error ``[N, K]`` for keypoints ``[N, K, 2]``; NaN for keypoints
        the PCA does not compare (the layout of Lightning Pose's ``*_pca_*_error.csv``)."""

    def __call__(self, keypoints: Tensor, confidence: Tensor) -> Tensor:
        errors = self.reprojection_errors(self.observations(keypoints.float()))
        return (errors - float(self.epsilon or 0.0)).clamp_min(0).mean()


@UNSUPERVISED_LOSSES.register("pca_singleview")
class PCASingleview(PCALoss):
    """A frame's pose (the keypoints of ``data.columns_for_singleview_pca``) is one observation."""

    name = "pca_singleview"

    def __init__(self, columns: Sequence[int] | None = None, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.columns = None if columns is None else list(columns)

    @classmethod
    def measures(cls, cfg: PoseConfig) -> bool:
        return bool(cfg.data.columns_for_singleview_pca) or cls.name in cfg.model.losses_to_use

    @classmethod
    def data_options(cls, cfg: PoseConfig) -> dict[str, Any]:
        columns = cfg.data.columns_for_singleview_pca
        return {"columns": None if columns is None else list(columns)}

    def observations(self, keypoints: Tensor) -> Tensor:
        chosen = keypoints if self.columns is None else keypoints[:, self.columns]
        return chosen.flatten(1)

    def keypoint_errors(self, keypoints: Tensor) -> Tensor:
        errors = self.reprojection_errors(self.observations(keypoints.float()))
        out = errors.new_full(keypoints.shape[:2], float("nan"))
        out[:, self.columns if self.columns is not None else slice(None)] = errors
        return out


@UNSUPERVISED_LOSSES.register("pca_multiview")
class PCAMultiview(PCALoss):
    """One keypoint seen in every view (``data.mirrored_column_matches``: the same keypoints' columns
    per view) is one observation; its views must agree with one 3D point, so 3 components are kept
    whatever ``components_to_keep`` says (as Lightning Pose)."""

    name = "pca_multiview"
    needs: ClassVar[frozenset[Needs]] = frozenset({Needs.LABELS, Needs.VIEWS})

    def __init__(self, views: Sequence[Sequence[int]], **options: object) -> None:
        options["components_to_keep"] = 3
        super().__init__(**options)  # type: ignore[arg-type]
        self.views = [list(v) for v in views]
        if len(self.views) < 2 or len({len(v) for v in self.views}) != 1:
            raise ConfigError(
                "config key 'data.mirrored_column_matches': expected two or more lists of the same "
                f"length (one per view), got {views!r}"
            )

    @classmethod
    def measures(cls, cfg: PoseConfig) -> bool:
        if isinstance(cfg.data.csv_file, list):  # cameras: every keypoint is seen by each
            return cls.name in cfg.model.losses_to_use
        views = cfg.data.mirrored_column_matches
        return bool(views) and all(isinstance(v, (list, tuple)) for v in views)

    @classmethod
    def data_options(cls, cfg: PoseConfig) -> dict[str, Any]:
        views = cfg.data.mirrored_column_matches
        if isinstance(cfg.data.csv_file, list):
            return {"views": cls._camera_columns(cfg, views)}
        if not views:
            raise ConfigError(
                "config key 'data.mirrored_column_matches': pca_multiview needs the keypoints' columns "
                "per view (e.g. [[0, 1, 2], [3, 4, 5]]), got none"
            )
        if not all(isinstance(v, (list, tuple)) for v in views):
            raise ConfigError(
                "config key 'data.mirrored_column_matches': with one label file, pca_multiview "
                "compares views side by side in one frame, given as one list of columns per view "
                f"(e.g. [[0, 1], [2, 3]]); got {list(views)!r}, the form for one file per camera"
            )
        return {"views": [list(v) for v in views]}

    @staticmethod
    def _camera_columns(cfg: PoseConfig, matches: Any) -> list[list[int]]:
        """One label file per camera: a moment's keypoints are the views side by side
        (``[V * K]``), so keypoint ``k`` of view ``v`` is column ``v * K + k``. The keypoints compared
        are ``data.mirrored_column_matches`` as a flat list (Lightning Pose's multiview form), or
        all of them."""
        k = int(cfg.data.num_keypoints or len(cfg.data.keypoint_names or []))
        if matches and not all(isinstance(i, int) for i in matches):
            raise ConfigError(
                "config key 'data.mirrored_column_matches': with one label file per camera, "
                f"expected the keypoint columns every camera sees (e.g. [0, 2, 3]), got {list(matches)!r}"
            )
        columns = list(matches) if matches else list(range(k))
        return [[v * k + c for c in columns] for v in range(len(cfg.data.csv_file))]

    def observations(self, keypoints: Tensor) -> Tensor:
        # [N, K, 2] -> per view [N, J, 2] -> [N, J, V, 2] -> [N * J, 2 V]
        stacked = torch.stack([keypoints[:, view] for view in self.views], dim=2)
        return stacked.flatten(2).flatten(0, 1)

    def keypoint_errors(self, keypoints: Tensor) -> Tensor:
        n, joints = keypoints.shape[0], len(self.views[0])
        errors = self.reprojection_errors(self.observations(keypoints.float())).view(n, joints, -1)
        out = errors.new_full(keypoints.shape[:2], float("nan"))
        for v, view in enumerate(self.views):
            out[:, view] = errors[:, :, v]
        return out
