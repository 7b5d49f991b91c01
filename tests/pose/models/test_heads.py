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


def _blobs(centers: list[tuple[float, float]], heights: list[float], sigma: float) -> torch.Tensor:
    """A 32x32 probability map ``[1, 1, 32, 32]``: Gaussian blobs of the given relative heights."""
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    total = sum(
        h * torch.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
        for (x, y), h in zip(centers, heights, strict=True)
    )
    return (total / total.sum())[None, None]


def test_wide_map_with_two_equal_blobs_hedges_to_their_middle() -> None:
    """An early model's wide map with two equally likely places: committing to either misses by
    half their distance; the decoder answers between them, as Lightning Pose's soft-argmax does."""
    maps = _blobs([(8.0, 16.0), (20.0, 16.0)], [1.0, 1.0], sigma=4.0)
    uv, _ = heatmap_to_keypoints(maps)
    # the window's cells count at the refined peak, pulled a little toward the middle by the overlap
    assert torch.allclose(uv[0, 0], torch.tensor([14.0, 16.0]), atol=0.3)
    unhedged, _ = heatmap_to_keypoints(maps, hedge_temperature=0)
    assert torch.allclose(unhedged[0, 0], torch.tensor([8.0, 16.0]), atol=0.3)  # one blob


def test_wide_map_leans_toward_the_likelier_blob() -> None:
    maps = _blobs([(8.0, 16.0), (20.0, 16.0)], [1.0, 0.8], sigma=4.0)
    x = heatmap_to_keypoints(maps)[0][0, 0, 0].item()
    assert 8.5 < x < 14.0  # between them, nearer the higher one


def test_sharp_map_ignores_a_clearly_lower_distractor() -> None:
    """A confident map keeps its sub-pixel peak: a second blob at half the height is ignored."""
    maps = _blobs([(10.3, 12.6), (24.0, 5.0)], [1.0, 0.5], sigma=1.25)
    uv, confidence = heatmap_to_keypoints(maps)
    assert torch.allclose(uv[0, 0], torch.tensor([10.3, 12.6]), atol=0.1)
    assert confidence.item() > 0.5


def test_hedging_matches_a_cell_by_cell_reference() -> None:
    """The vectorized hedge equals the weighted mean computed cell by cell, on random maps."""
    maps = torch.softmax(torch.randn(2, 3, 12 * 10) * 1.5, dim=-1).view(2, 3, 12, 10)
    temperature = 1000.0
    uv, _ = heatmap_to_keypoints(maps, hedge_temperature=temperature)
    refined, _ = heatmap_to_keypoints(maps, hedge_temperature=0)
    for b in range(2):
        for k in range(3):
            p = maps[b, k].double()
            row, col = divmod(int(p.flatten().argmax()), 10)
            weights = torch.exp(temperature * (p - p.max())).clamp_min(
                torch.exp(torch.tensor(-60.0))
            )
            total, sx, sy = 0.0, 0.0, 0.0
            for r in range(12):
                for c in range(10):
                    near = abs(r - row) <= 2 and abs(c - col) <= 2
                    x, y = refined[b, k].tolist() if near else (c, r)
                    total += float(weights[r, c])
                    sx, sy = sx + float(weights[r, c]) * x, sy + float(weights[r, c]) * y
            assert torch.allclose(
                uv[b, k].double(),
                torch.tensor([sx / total, sy / total], dtype=torch.float64),
                atol=1e-4,
            )
