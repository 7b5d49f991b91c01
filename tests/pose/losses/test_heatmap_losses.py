"""Every registered heatmap loss: zero at the target, positive elsewhere, masked, differentiable."""

from __future__ import annotations

import pytest
import torch

from pose.data.heatmaps import make_heatmaps
from pose.losses import HEATMAP_LOSSES, regression_loss


def _targets() -> torch.Tensor:
    kp = torch.tensor([[[10.0, 12.0], [40.0, 30.0]], [[25.5, 7.25], [50.0, 50.0]]])
    return make_heatmaps(kp, (16, 16), stride=4)


@pytest.mark.parametrize("name", HEATMAP_LOSSES.names())
def test_zero_at_target_positive_elsewhere(name: str) -> None:
    loss = HEATMAP_LOSSES.get(name)
    target = _targets()
    mask = torch.ones(2, 2, dtype=torch.bool)
    assert loss(target, target, mask).item() == pytest.approx(0.0, abs=1e-6)
    uniform = torch.full_like(target, 1 / 256)
    wrong = target.roll(shifts=3, dims=-1)
    assert 1e-3 < loss(uniform, target, mask).item() < 10
    assert loss(wrong, target, mask).item() > loss(target, target, mask).item() + 1e-3


@pytest.mark.parametrize("name", HEATMAP_LOSSES.names())
def test_masked_keypoints_do_not_contribute(name: str) -> None:
    loss = HEATMAP_LOSSES.get(name)
    target = _targets()
    pred = target.clone()
    pred[0, 1] = torch.full((16, 16), 1 / 256)  # a bad prediction for a masked-out keypoint
    target[0, 1] = float("nan")  # whatever sits in a masked map must not matter
    mask = torch.tensor([[True, False], [True, True]])
    assert loss(pred, target, mask).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("name", HEATMAP_LOSSES.names())
def test_gradients_flow_and_empty_mask_gives_zero(name: str) -> None:
    loss = HEATMAP_LOSSES.get(name)
    logits = torch.randn(2, 2, 16, 16, requires_grad=True)
    probs = torch.softmax(logits.view(2, 2, -1), -1).view_as(logits).half()  # fp16 input: fp32 math
    value = loss(probs, _targets(), torch.ones(2, 2, dtype=torch.bool))
    assert value.dtype == torch.float32
    value.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    empty = loss(probs, _targets(), torch.zeros(2, 2, dtype=torch.bool))
    assert empty.item() == 0.0 and empty.requires_grad


def test_regression_loss_is_pixel_mse_over_labeled_keypoints() -> None:
    target = torch.tensor([[[10.0, 10.0], [float("nan"), float("nan")]]])
    pred = torch.tensor([[[13.0, 6.0], [99.0, 99.0]]], requires_grad=True)
    mask = ~torch.isnan(target).any(-1)
    value = regression_loss(pred, target, mask)
    assert value.item() == pytest.approx((9 + 16) / 2)
    value.backward()
    assert pred.grad is not None and torch.all(pred.grad[0, 1] == 0)
