"""Unsupervised losses on hand-made poses with known answers, and the registry's contract."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pose.errors import ConfigError
from pose.losses.unsupervised import (
    UNSUPERVISED_LOSSES,
    Needs,
    PCAMultiview,
    PCASingleview,
    Temporal,
    UnsupervisedLoss,
)


def _orthonormal(rng: np.random.Generator, dims: int, count: int) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(dims, dims)))
    return q[:, :count].T  # [count, dims]


def _poses_in_plane(
    rng: np.random.Generator, n: int = 200, keypoints: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` poses ``[n, K, 2]`` that vary along two directions only, and the orthonormal basis
    ``[2 K, 2 K]`` whose first two rows span them."""
    basis = _orthonormal(rng, 2 * keypoints, 2 * keypoints)
    mean = rng.uniform(20, 100, size=2 * keypoints)
    coeffs = rng.normal(size=(n, 2)) * [15.0, 6.0]
    return (mean + coeffs @ basis[:2]).reshape(n, keypoints, 2), basis


def test_pca_singleview_poses_in_the_subspace_cost_nothing_and_others_their_distance() -> None:
    rng = np.random.default_rng(0)
    poses, basis = _poses_in_plane(rng)
    loss = PCASingleview(components_to_keep=2, epsilon=0.0).fit(poses)
    inside = torch.as_tensor(poses[:10], dtype=torch.float32)
    conf = torch.ones(10, 5)
    assert float(loss(inside, conf)) < 1e-3
    # 4 px out of the subspace, along a discarded direction: each keypoint moves by its share
    off = 4.0 * basis[5]
    outside = inside + torch.as_tensor(off.reshape(5, 2), dtype=torch.float32)
    expected = np.linalg.norm(off.reshape(5, 2), axis=1).mean()
    assert float(loss(outside, conf)) == pytest.approx(expected, rel=1e-3)
    # epsilon is subtracted per keypoint and clamped at zero
    eps = float(np.median(np.linalg.norm(off.reshape(5, 2), axis=1)))
    with_eps = PCASingleview(components_to_keep=2, epsilon=eps).fit(poses)
    clamped = np.clip(np.linalg.norm(off.reshape(5, 2), axis=1) - eps, 0, None).mean()
    assert float(with_eps(outside, conf)) == pytest.approx(clamped, rel=1e-3, abs=1e-5)


def test_pca_singleview_columns_and_variance_fraction() -> None:
    rng = np.random.default_rng(1)
    poses, _ = _poses_in_plane(rng, keypoints=4)
    # a fifth keypoint that moves at random is left out by columns, so it cannot cost anything
    noisy = np.concatenate([poses, rng.uniform(0, 100, size=(len(poses), 1, 2))], axis=1)
    loss = PCASingleview(columns=[0, 1, 2, 3], components_to_keep=0.99, epsilon=0.0).fit(noisy)
    assert loss.kept is not None and loss.kept.shape[0] == 2  # two directions explain it all
    assert float(loss(torch.as_tensor(noisy[:5], dtype=torch.float32), torch.ones(5, 5))) < 1e-3
    # variances 15^2 : 6^2 : small -> 0.5 of the variance needs one component
    assert PCASingleview(components_to_keep=0.5).fit(poses).kept.shape[0] == 1


def test_pca_empirical_epsilon_is_the_99th_percentile_of_the_labels_errors() -> None:
    rng = np.random.default_rng(2)
    poses, _ = _poses_in_plane(rng)
    noisy = poses + rng.normal(scale=0.5, size=poses.shape)
    loss = PCASingleview(components_to_keep=2, epsilon=None).fit(noisy)
    errors = loss.reprojection_errors(
        torch.as_tensor(noisy.reshape(len(noisy), -1), dtype=torch.float32)
    )
    assert loss.epsilon == pytest.approx(float(np.percentile(errors.numpy(), 99)), rel=1e-5)
    assert 0.3 < loss.epsilon < 3.0  # the scale of the noise, not of the poses


def test_pca_multiview_consistent_views_cost_nothing() -> None:
    """Two linear cameras see the same 3D points: four coordinates with three degrees of freedom."""
    rng = np.random.default_rng(3)
    points = rng.normal(size=(100, 3, 3)) * 20  # 100 frames, 3 keypoints, xyz
    cam_a, cam_b = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    view_a, view_b = points @ cam_a + 50, points @ cam_b + 80
    frames = np.concatenate([view_a, view_b], axis=1)  # keypoints 0-2 in view a, 3-5 in view b
    loss = PCAMultiview(views=[[0, 1, 2], [3, 4, 5]], epsilon=0.0).fit(frames)
    assert loss.kept is not None and loss.kept.shape[0] == 3
    keypoints = torch.as_tensor(frames[:8], dtype=torch.float32)
    assert float(loss(keypoints, torch.ones(8, 6))) < 1e-3
    # move keypoint 1 in both views (columns 1 and 4) along the one direction no 3D point explains
    normal = np.linalg.svd(np.concatenate([cam_a, cam_b], axis=1).T)[0][
        :, 3
    ]  # [4] in (xa, ya, xb, yb)
    moved = keypoints.clone()
    moved[:, 1] += torch.as_tensor(3.0 * normal[:2], dtype=torch.float32)
    moved[:, 4] += torch.as_tensor(3.0 * normal[2:], dtype=torch.float32)
    per_view = 3.0 * np.array([np.linalg.norm(normal[:2]), np.linalg.norm(normal[2:])])
    expected = per_view.sum() / (3 * 2)  # one of three keypoints, two views each
    assert float(loss(moved, torch.ones(8, 6))) == pytest.approx(expected, rel=1e-3)


def test_temporal_costs_only_the_excess_of_confident_jumps() -> None:
    still = torch.full((4, 2, 2), 10.0)
    conf = torch.ones(4, 2)
    loss = Temporal(epsilon=20.0, prob_threshold=0.05)
    assert float(loss(still, conf)) == 0
    jumping = still.clone()
    jumping[2:, 0, 0] += 30.0  # keypoint 0 jumps 30 px between frames 1 and 2
    assert float(loss(jumping, conf)) == pytest.approx(10.0 / (3 * 2))
    unsure = conf.clone()
    unsure[2, 0] = 0.01  # below prob_threshold at one end of the jump
    assert float(loss(jumping, unsure)) == 0
    per_keypoint = Temporal(epsilon=[25.0, 0.0])
    assert float(per_keypoint(jumping, conf)) == pytest.approx(5.0 / (3 * 2))


@pytest.mark.parametrize("name", list(UNSUPERVISED_LOSSES))
def test_every_loss_is_weighted_and_configured_as_lightning_pose_does(name: str) -> None:
    cls = UNSUPERVISED_LOSSES.get(name)
    assert issubclass(cls, UnsupervisedLoss) and cls.name == name
    assert "log_weight" in cls.config_keys and cls.needs
    defaults = {"components_to_keep": 2, "epsilon": 1.0, "prob_threshold": 0.1}
    section = {
        "log_weight": math.log(2),
        "unrelated": 1,
        **{k: defaults[k] for k in cls.config_keys[1:]},
    }
    options = cls.options(section)
    assert set(options) == set(cls.config_keys)  # its own keys, nothing else
    extra = {"views": [[0], [1]]} if name == "pca_multiview" else {}
    loss = cls(**extra, **options)
    assert loss.weight == pytest.approx(0.25)  # 1 / (2 exp(log 2))


def test_pca_refuses_what_it_cannot_fit() -> None:
    poses, _ = _poses_in_plane(np.random.default_rng(4), n=6)
    with pytest.raises(ConfigError, match="needs more fully labeled training observations"):
        PCASingleview().fit(poses)  # 6 frames, 10 dimensions
    many, _ = _poses_in_plane(np.random.default_rng(4))
    with pytest.raises(ConfigError, match=r"losses.pca_singleview.components_to_keep.*\[1, 10\]"):
        PCASingleview(components_to_keep=11).fit(many)
    with pytest.raises(ConfigError, match=r"fraction of variance in \(0, 1\]"):
        PCASingleview(components_to_keep=1.5).fit(many)
    with pytest.raises(ConfigError, match="data.mirrored_column_matches"):
        PCAMultiview(views=[[0, 1], [2]])


def test_keypoint_errors_put_each_error_at_its_keypoint_and_nan_elsewhere() -> None:
    rng = np.random.default_rng(5)
    poses, basis = _poses_in_plane(rng, keypoints=4)
    with_free = np.concatenate([poses, rng.uniform(0, 100, size=(len(poses), 1, 2))], axis=1)
    single = PCASingleview(columns=[0, 1, 2, 3], components_to_keep=2).fit(with_free)
    moved = torch.as_tensor(with_free[:3], dtype=torch.float32)
    shift = torch.as_tensor(4.0 * basis[6].reshape(4, 2), dtype=torch.float32)
    moved[:, :4] += shift
    errors = single.keypoint_errors(moved)
    assert errors.shape == (3, 5) and torch.isnan(errors[:, 4]).all()  # not in the PCA
    np.testing.assert_allclose(errors[:, :4], shift.norm(dim=-1).expand(3, 4), rtol=1e-3)

    points = rng.normal(size=(60, 2, 3)) * 20
    cam_a, cam_b = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    # views of keypoints 0 and 1 in columns [0, 2] and [3, 1]; column 4 is in no view
    frames = np.zeros((60, 5, 2))
    frames[:, [0, 2]], frames[:, [3, 1]] = points @ cam_a, points @ cam_b
    multi = PCAMultiview(views=[[0, 2], [3, 1]]).fit(frames)
    keypoints = torch.as_tensor(frames[:4], dtype=torch.float32)
    normal = np.linalg.svd(np.concatenate([cam_a, cam_b], axis=1).T)[0][:, 3]
    keypoints[:, 2] += torch.as_tensor(2.0 * normal[:2], dtype=torch.float32)  # joint 1, view a
    keypoints[:, 1] += torch.as_tensor(2.0 * normal[2:], dtype=torch.float32)  # joint 1, view b
    errors = multi.keypoint_errors(keypoints)
    assert torch.isnan(errors[:, 4]).all()
    np.testing.assert_allclose(errors[:, [0, 3]], 0, atol=1e-3)  # joint 0 is consistent
    np.testing.assert_allclose(errors[:, 2], 2.0 * np.linalg.norm(normal[:2]), rtol=1e-3)
    np.testing.assert_allclose(errors[:, 1], 2.0 * np.linalg.norm(normal[2:]), rtol=1e-3)


@pytest.mark.parametrize("name", list(UNSUPERVISED_LOSSES))
def test_each_loss_is_built_from_a_config_and_fitted_when_it_needs_labels(name: str) -> None:
    from pose.config.loader import build_config
    from pose.losses.unsupervised import build_unsupervised_losses

    raw = {
        "data": {
            "data_dir": "/data",
            "csv_file": "c.csv",
            "video_dir": "/videos",
            "num_keypoints": 6,
            "keypoint_names": list("abcdef"),
            "columns_for_singleview_pca": [0, 1, 2, 3, 4, 5],
            "mirrored_column_matches": [[0, 1, 2], [3, 4, 5]],
        },
        "model": {"losses_to_use": [name], "backbone": "resnet18"},
        "losses": {name: {"log_weight": 1.5}},
        "training": {"max_epochs": 2, "min_epochs": 1},
    }
    cfg = build_config(raw)
    rng = np.random.default_rng(6)
    points = rng.normal(size=(80, 3, 3)) * 20
    labels = np.concatenate([points @ rng.normal(size=(3, 2)), points @ rng.normal(size=(3, 2))], 1)
    [(built_name, loss)] = build_unsupervised_losses(cfg, labels).items()
    assert built_name == name and type(loss) is UNSUPERVISED_LOSSES.get(name)
    assert loss.weight == pytest.approx(1 / (2 * math.exp(1.5)))
    if Needs.LABELS in loss.needs:
        assert isinstance(loss, (PCASingleview, PCAMultiview)) and loss.epsilon is not None
    value = float(loss(torch.as_tensor(labels[:20], dtype=torch.float32), torch.ones(20, 6)))
    if Needs.LABELS in loss.needs:
        assert value < 0.5  # its own training poses: beyond the 99th-percentile epsilon rarely
    else:
        assert value > 5  # unrelated random poses jump far beyond the default 20 px


def test_pca_multiview_on_one_file_per_camera_compares_each_keypoint_across_views() -> None:
    """With ``data.csv_file`` a list, keypoint ``k`` of view ``v`` is column ``v * K + k``; the flat
    ``mirrored_column_matches`` (Lightning Pose's multiview form) picks the keypoints compared."""
    from pose.config import build_config
    from pose.losses.unsupervised.pca import PCAMultiview

    raw = {
        "data": {
            "data_dir": "/d",
            "video_dir": "/d/videos",
            "csv_file": ["a.csv", "b.csv", "c.csv"],
            "view_names": ["a", "b", "c"],
            "num_keypoints": 4,
            "image_resize_dims": {"height": 64, "width": 64},
        },
        "model": {"losses_to_use": ["pca_multiview"]},
    }
    cfg = build_config(raw, registries=False)
    assert PCAMultiview.data_options(cfg) == {"views": [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]}
    cfg.data.mirrored_column_matches = [1, 3]
    assert PCAMultiview.data_options(cfg) == {"views": [[1, 3], [5, 7], [9, 11]]}
