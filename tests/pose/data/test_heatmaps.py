"""Heatmap targets and the image <-> heatmap coordinate convention."""

from __future__ import annotations

import math

import pytest
import torch

from pose.data.heatmaps import heatmap_to_image_coords, image_to_heatmap_coords, make_heatmaps


def test_cell_centers_follow_the_convention() -> None:
    # stride 4: cell 0 covers image pixels 0..3, centered at 1.5; cell 2 at 9.5
    uv = torch.tensor([0.0, 2.0])
    assert heatmap_to_image_coords(uv, 4).tolist() == [1.5, 9.5]
    xy = torch.tensor([[3.7, -0.5], [12.25, 100.0]])
    assert torch.allclose(heatmap_to_image_coords(image_to_heatmap_coords(xy, 8), 8), xy)


def test_gaussian_peaks_at_the_keypoint_and_sums_to_one() -> None:
    kp = torch.tensor([[[9.5, 1.5], [30.0, 20.0]]])  # first: exactly the center of cell (2, 0)
    maps = make_heatmaps(kp, (16, 12), stride=4, sigma=1.0)
    assert maps.shape == (1, 2, 16, 12)
    assert torch.allclose(maps.sum(dim=(-2, -1)), torch.ones(1, 2))
    assert divmod(int(maps[0, 0].argmax()), 12) == (0, 2)
    # centered Gaussian: neighbours one cell away are exp(-1/2) of the peak
    assert maps[0, 0, 0, 3] / maps[0, 0, 0, 2] == pytest.approx(math.exp(-0.5), rel=1e-5)
    # probability-weighted mean equals the keypoint in heatmap coordinates (far from borders)
    ys, xs = torch.meshgrid(torch.arange(16.0), torch.arange(12.0), indexing="ij")
    mean = torch.stack([(maps[0, 1] * xs).sum(), (maps[0, 1] * ys).sum()])
    assert torch.allclose(mean, image_to_heatmap_coords(kp[0, 1], 4), atol=1e-4)


@pytest.mark.parametrize("uniform", [True, False])
def test_nan_keypoints_get_uniform_or_zero_maps(uniform: bool) -> None:
    kp = torch.tensor([[[float("nan"), float("nan")], [5.0, 5.0]]])
    maps = make_heatmaps(kp, (8, 8), stride=2, uniform_for_nan=uniform)
    expected = torch.full((8, 8), 1 / 64 if uniform else 0.0)
    assert torch.equal(maps[0, 0], expected)
    assert maps[0, 1].sum() == pytest.approx(1.0)
    assert not torch.isnan(maps).any()
