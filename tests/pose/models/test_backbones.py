"""Every registered backbone builds offline and returns [B, C, H/stride, W/stride]."""

from __future__ import annotations

import pytest
import torch

from pose.models import BACKBONES, build_backbone

SPEC_NAMES = [
    "resnet50_animal_ap10k",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnet50_contrastive",
    "resnet50_animal_apose",
    "resnet50_human_jhmdb",
    "resnet50_human_res_rle",
    "resnet50_human_top_rle",
    "resnet50_human_hand",
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
    "vits_dino",
    "vits_dinov2",
    "vits_dinov3",
    "vitb_dino",
    "vitb_dinov2",
    "vitb_dinov3",
    "vitb_imagenet",
    "vitb_sam",
]


def test_registry_covers_every_backbone_in_the_spec() -> None:
    assert sorted(BACKBONES.names()) == sorted(SPEC_NAMES)
    assert BACKBONES.canonical("resnet50_human_top_res") == "resnet50_human_top_rle"


@pytest.mark.parametrize("name", BACKBONES.names())
def test_forward_shape(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSE_SWEEPER_OFFLINE", "1")
    backbone = build_backbone(name, pretrained=False, image_hw=(128, 96)).eval()
    heavy = name.startswith("vitb") or name in ("resnet101", "resnet152")
    batch = 1 if heavy else 2
    with torch.no_grad():
        out = backbone(torch.randn(batch, 3, 128, 96))
    assert backbone.stride == (16 if name.startswith("vit") else 32)
    h, w = 128 // backbone.stride, 96 // backbone.stride
    assert out.shape == (batch, backbone.out_channels, h, w)
    assert backbone.feature_hw((128, 96)) == tuple(out.shape[-2:])


def test_unknown_backbone_names_the_choices() -> None:
    with pytest.raises(KeyError, match="resnet18"):
        build_backbone("resnet19", pretrained=False, image_hw=(64, 64))


def test_random_init_resnets_start_with_residual_branches_on() -> None:
    # timm zero-initializes each block's last batch norm; Lightning Pose's torchvision ResNets do
    # not, and a frozen random backbone needs its residual branches to see the whole image.
    from pose.models.backbones import build_backbone

    backbone = build_backbone("resnet18", pretrained=False, image_hw=(64, 64))
    assert all(float(block.bn2.weight.abs().min()) > 0 for block in backbone.model.layer1)
