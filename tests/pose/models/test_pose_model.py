"""Full models: forward + backward for both heads on a CNN and a ViT."""

from __future__ import annotations

import pytest
import torch

from pose.models import build_model, normalize_images, spatial_softmax


@pytest.mark.parametrize("backbone", ["resnet18", "vits_dino"])
@pytest.mark.parametrize("downsample_factor", [2, 3])
def test_heatmap_model_forward_backward(backbone: str, downsample_factor: int) -> None:
    model = build_model(backbone, "heatmap", 3, (128, 64), downsample_factor, pretrained=False)
    images = normalize_images(torch.randint(0, 256, (2, 3, 128, 64), dtype=torch.uint8))
    logits = model(images)
    stride = 2**downsample_factor
    assert logits.shape == (2, 3, 128 // stride, 64 // stride)
    assert model.heatmap_hw == (128 // stride, 64 // stride)
    probs = spatial_softmax(logits)
    assert torch.allclose(probs.sum(dim=(-2, -1)), torch.ones(2, 3))
    probs[:, :, 0, 0].sum().backward()
    assert all(p.grad is not None for p in model.head.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.backbone.parameters())


@pytest.mark.parametrize("backbone", ["resnet18", "vits_dino"])
def test_regression_model_forward_backward(backbone: str) -> None:
    model = build_model(backbone, "regression", 4, (64, 64), 2, pretrained=False)
    out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 4, 2) and model.heatmap_hw is None
    out.sum().backward()
    assert model.head.linear.weight.grad is not None


def test_heatmap_hw_for_sizes_not_divisible_by_the_stride() -> None:
    model = build_model("resnet18", "heatmap", 2, (120, 100), 2, pretrained=False)
    assert model(torch.randn(1, 3, 120, 100)).shape[-2:] == model.heatmap_hw == (32, 32)


def test_normalize_images() -> None:
    images = torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 2, 1).expand(1, 3, 2, 1)
    out = normalize_images(images)
    assert out.dtype == torch.float32
    assert out[0, 0, 0, 0].item() == pytest.approx(-0.485 / 0.229)
    assert out[0, 2, 1, 0].item() == pytest.approx((1 - 0.406) / 0.225)
