"""Heads' output strides and the heatmap decoder's known answers."""

from __future__ import annotations

import pytest
import torch

from pose.data.heatmaps import image_to_heatmap_coords, make_heatmaps
from pose.errors import ConfigError
from pose.models import HeatmapHead, RegressionHead, heatmap_to_keypoints


@pytest.mark.parametrize(
    ("backbone_stride", "downsample_factor"), [(32, 2), (32, 3), (32, 5), (16, 2), (16, 3), (16, 4)]
)
def test_heatmap_head_output_stride(backbone_stride: int, downsample_factor: int) -> None:
    head = HeatmapHead(64, 5, backbone_stride, downsample_factor)
    out = head(torch.randn(2, 64, 3, 4))
    scale = backbone_stride // 2**downsample_factor
    assert out.shape == (2, 5, 3 * scale, 4 * scale)


def test_heatmap_head_rejects_impossible_strides() -> None:
    with pytest.raises(ConfigError, match="downsample_factor=5"):
        HeatmapHead(64, 5, backbone_stride=16, downsample_factor=5)


def test_regression_head_outputs_unit_coordinates() -> None:
    out = RegressionHead(32, 7)(torch.randn(3, 32, 4, 4) * 100)
    assert out.shape == (3, 7, 2) and out.min() >= 0 and out.max() <= 1


def test_decode_recovers_subpixel_gaussian_targets() -> None:
    # a grid of sub-cell offsets, including the worst case of half a cell
    offsets = torch.linspace(-0.5, 0.5, 11)
    dx, dy = torch.meshgrid(offsets, offsets, indexing="ij")
    uv = torch.stack([10.0 + dx.flatten(), 12.0 + dy.flatten()], dim=-1)[None]
    keypoints = (uv + 0.5) * 4 - 0.5  # image pixels, stride 4
    maps = make_heatmaps(keypoints, (32, 24), stride=4)
    decoded, confidence = heatmap_to_keypoints(maps)
    assert torch.allclose(decoded, image_to_heatmap_coords(keypoints, 4), atol=0.1)
    assert confidence.min() > 0.85


def test_decode_keypoint_at_border_stays_on_the_map() -> None:
    maps = make_heatmaps(torch.tensor([[[0.0, 0.0], [63.0, 63.0]]]), (16, 16), stride=4)
    decoded, _ = heatmap_to_keypoints(maps)
    assert decoded.min() >= 0 and decoded.max() <= 15
    assert torch.allclose(decoded[0, 0], torch.zeros(2), atol=0.5)


def test_uniform_map_has_low_confidence() -> None:
    maps = torch.full((1, 2, 32, 32), 1 / 1024)
    _, confidence = heatmap_to_keypoints(maps, window=5)
    # argmax ties pick cell (0, 0), so the window is clipped to 3x3 there
    assert torch.allclose(confidence, torch.full((1, 2), 9 / 1024))
    sharp = make_heatmaps(torch.tensor([[[60.0, 60.0]]]), (32, 32), stride=4)
    assert heatmap_to_keypoints(sharp)[1].item() > 0.85


def test_decode_is_batched() -> None:
    # every map decoded by one vectorized call agrees with decoding it alone
    maps = torch.softmax(torch.randn(4, 3, 20 * 20) * 3, dim=-1).view(4, 3, 20, 20)
    uv, conf = heatmap_to_keypoints(maps)
    one_uv, one_conf = heatmap_to_keypoints(maps[2:3, 1:2])
    assert torch.allclose(uv[2, 1], one_uv[0, 0]) and torch.allclose(conf[2, 1], one_conf[0, 0])
