"""training.patch_mask: the curriculum's ratio per epoch and the patches it hides."""

from __future__ import annotations

import pytest
import torch

from pose.models import normalize_images
from pose.train.patch_mask import mask_patches, patch_mask_ratio


@pytest.mark.parametrize(
    ("epoch", "expected"), [(0, 0.0), (39, 0.0), (40, 0.1), (170, 0.3), (300, 0.5), (400, 0.5)]
)
def test_ratio_ramps_between_init_and_final_epoch(epoch: int, expected: float) -> None:
    assert patch_mask_ratio(epoch, 40, 300, 0.1, 0.5) == pytest.approx(expected)


def test_final_ratio_zero_turns_masking_off() -> None:
    assert patch_mask_ratio(500, 0, 10, 0.3, 0.0) == 0.0


def test_exactly_the_share_of_patches_is_hidden_per_image_and_view() -> None:
    torch.manual_seed(0)
    images = torch.randint(0, 256, (2, 3, 3, 64, 80), dtype=torch.uint8)  # 4 x 5 patches
    masked = mask_patches(images, 0.5, torch.Generator().manual_seed(1))
    normalized = normalize_images(masked)
    patches = normalized.unflatten(-2, (4, 16)).unflatten(-1, (5, 16))  # [..., 3, 4, 16, 5, 16]
    hidden = patches.abs().amax(dim=(-5, -3, -1)) < 0.01  # every pixel ~0 after normalizing
    assert hidden.shape == (2, 3, 4, 5)
    assert (hidden.flatten(-2).sum(-1) == 10).all()  # int(0.5 * 20) in every image of every view
    changed = (masked != images).any(dim=-3)
    assert changed.float().mean() < 0.51
    assert torch.equal(mask_patches(images, 0.0), images)
    # different images get different patches
    assert not torch.equal(hidden[0, 0], hidden[0, 1])
