"""Feature extractors named by ``model.backbone``, built from timm.

Pretrained configs are data (one :class:`BackboneSpec` per name, like timm's ``default_cfgs``) kept
apart from the building code: adding a backbone is one table row. Weights are resolved and loaded
by :mod:`pose.models.weights`, never by timm directly, so building never touches the network unless
pretrained weights are asked for and absent from the cache.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import timm
from torch import Tensor, nn

from pose.registry import Registry

Readout = Literal["cnn", "tokens", "spatial"]

_MMPOSE = "https://download.openmmlab.com/mmpose"


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone and where its pretrained weights come from.

    Attributes:
        timm_name: timm architecture name (no pretrained tag).
        readout: ``cnn`` (final feature map, stride 32), ``tokens`` (ViT patch tokens reshaped to a
            stride-16 grid) or ``spatial`` (the model already returns a stride-16 map, as SAM does).
        timm_kwargs: extra ``timm.create_model`` arguments (e.g. ``patch_size=16`` for DINOv2).
        pretrained_tag: timm pretrained tag (``resnet50.tv2_in1k``); weights fetched through timm.
        url: direct checkpoint URL, used when there is no timm tag.
        key_map: name of a key-mapping function in ``pose.models.weights.KEY_MAPS``, applied to the
            checkpoint's state dict before loading.
        description: one line for docs and error messages.
    """

    timm_name: str
    readout: Readout
    timm_kwargs: dict[str, Any] = field(default_factory=dict)
    pretrained_tag: str | None = None
    url: str | None = None
    key_map: str | None = None
    description: str = ""


# timm zero-initializes each residual block's last batch norm; from random init that leaves a
# ResNet's residual branches off, so a frozen random backbone would only see an 11x11 patch per
# feature. torchvision's (and so Lightning Pose's) ResNets start with them on; pretrained weights
# overwrite these values either way.
_TORCHVISION_INIT = {"zero_init_last": False}


def _resnet(depth: int, tag: str) -> BackboneSpec:
    return BackboneSpec(
        f"resnet{depth}",
        "cnn",
        dict(_TORCHVISION_INIT),
        pretrained_tag=tag,
        description=f"ResNet-{depth}, ImageNet",
    )


def _mmpose_resnet50(url: str, description: str) -> BackboneSpec:
    return BackboneSpec(
        "resnet50",
        "cnn",
        dict(_TORCHVISION_INIT),
        url=f"{_MMPOSE}/{url}",
        key_map="mmpose_backbone",
        description=description,
    )


def _vit(timm_name: str, tag: str, description: str, **kwargs: Any) -> BackboneSpec:
    return BackboneSpec(
        timm_name, "tokens", kwargs, pretrained_tag=tag, key_map="timm", description=description
    )


# Torchvision-trained tags (tv_in1k / tv2_in1k) match the weights Lightning Pose uses for ResNets.
# mmpose and SimCLR URLs are the ones Lightning Pose downloads for the same backbone names.
_SPECS: dict[str, BackboneSpec] = {
    "resnet18": _resnet(18, "tv_in1k"),
    "resnet34": _resnet(34, "tv_in1k"),
    "resnet50": _resnet(50, "tv2_in1k"),
    "resnet101": _resnet(101, "tv2_in1k"),
    "resnet152": _resnet(152, "tv2_in1k"),
    "resnet50_contrastive": BackboneSpec(
        "resnet50",
        "cnn",
        dict(_TORCHVISION_INIT),
        url="https://pl-bolts-weights.s3.us-east-2.amazonaws.com/simclr/bolts_simclr_imagenet/"
        "simclr_imagenet.ckpt",
        key_map="simclr_encoder",
        description="ResNet-50, ImageNet SimCLR (Lightning Bolts)",
    ),
    "resnet50_animal_ap10k": _mmpose_resnet50(
        "animal/resnet/res50_ap10k_256x256-35760eb8_20211029.pth", "ResNet-50, AP-10K (mmpose)"
    ),
    "resnet50_animal_apose": _mmpose_resnet50(
        "animal/resnet/res50_animalpose_256x256-e1f30bff_20210426.pth",
        "ResNet-50, Animal-Pose (mmpose)",
    ),
    "resnet50_human_jhmdb": _mmpose_resnet50(
        "top_down/resnet/res50_jhmdb_sub3_256x256-c4ec1a0b_20201122.pth",
        "ResNet-50, JHMDB (mmpose)",
    ),
    "resnet50_human_res_rle": _mmpose_resnet50(
        "top_down/deeppose/deeppose_res50_mpii_256x256_rle-5f92a619_20220504.pth",
        "ResNet-50 regression with RLE, MPII (mmpose)",
    ),
    "resnet50_human_top_rle": _mmpose_resnet50(
        "top_down/resnet/res50_mpii_256x256-418ffc88_20200812.pth",
        "ResNet-50 top-down heatmap, MPII (mmpose)",
    ),
    "resnet50_human_hand": _mmpose_resnet50(
        "hand/resnet/res50_onehand10k_256x256-739c8639_20210330.pth",
        "ResNet-50, OneHand10K (mmpose)",
    ),
    "efficientnet_b0": BackboneSpec("efficientnet_b0", "cnn", pretrained_tag="ra_in1k"),
    "efficientnet_b1": BackboneSpec("efficientnet_b1", "cnn", pretrained_tag="ft_in1k"),
    "efficientnet_b2": BackboneSpec("efficientnet_b2", "cnn", pretrained_tag="ra_in1k"),
    "vits_dino": _vit("vit_small_patch16_224", "dino", "ViT-S/16, DINO"),
    "vits_dinov2": _vit("vit_small_patch14_dinov2", "lvd142m", "ViT-S, DINOv2", patch_size=16),
    "vits_dinov3": _vit("vit_small_patch16_dinov3", "lvd1689m", "ViT-S/16, DINOv3"),
    "vitb_dino": _vit("vit_base_patch16_224", "dino", "ViT-B/16, DINO"),
    "vitb_dinov2": _vit("vit_base_patch14_dinov2", "lvd142m", "ViT-B, DINOv2", patch_size=16),
    "vitb_dinov3": _vit("vit_base_patch16_dinov3", "lvd1689m", "ViT-B/16, DINOv3"),
    "vitb_imagenet": _vit("vit_base_patch16_224", "mae", "ViT-B/16, ImageNet MAE"),
    "vitb_sam": BackboneSpec(
        "samvit_base_patch16",
        "spatial",
        pretrained_tag="sa1b",
        key_map="timm_sam",
        description="Segment Anything ViT-B/16 image encoder",
    ),
}

# Lightning Pose's code spells the MPII heatmap model "top_res"; its docs say "top_rle".
_ALIASES: dict[str, tuple[str, ...]] = {"resnet50_human_top_rle": ("resnet50_human_top_res",)}

BACKBONES: Registry[BackboneSpec] = Registry("backbone")
for _name, _spec in _SPECS.items():
    BACKBONES.add(_name, _spec, aliases=_ALIASES.get(_name, ()))


class Backbone(nn.Module):
    """A timm model read out as one feature map ``[B, out_channels, H/stride, W/stride]``.

    Feature sizes round up for CNNs (padded strided convs) and down for ViTs (whole patches only);
    :meth:`feature_hw` gives them without a forward pass.
    """

    def __init__(self, model: nn.Module, readout: Readout, out_channels: int, stride: int) -> None:
        super().__init__()
        self.model = model
        self.readout = readout
        self.out_channels = out_channels
        self.stride = stride

    def feature_hw(self, image_hw: tuple[int, int]) -> tuple[int, int]:
        rnd = math.ceil if self.readout == "cnn" else math.floor
        return rnd(image_hw[0] / self.stride), rnd(image_hw[1] / self.stride)

    def forward(self, x: Tensor) -> Tensor:
        features = self.model.forward_features(x)  # type: ignore[operator]
        if self.readout != "tokens":
            return features
        gh, gw = x.shape[-2] // self.stride, x.shape[-1] // self.stride
        patches = features[:, self.model.num_prefix_tokens :]  # drop cls/register tokens
        return patches.transpose(1, 2).reshape(x.shape[0], -1, gh, gw)


def build_backbone(
    name: str, pretrained: bool, image_hw: tuple[int, int], weights_path: Path | None = None
) -> Backbone:
    """Build backbone ``name`` for images of ``image_hw``; load pretrained weights if asked.

    ViTs are built for ``image_hw`` (position embeddings sized to it) with 16-pixel patches, so
    every ViT has stride 16 (timm-style resampling adapts 14-pixel DINOv2 weights). Raises
    ``KeyError`` for unknown names and ``WeightsError`` when pretrained weights are unavailable.
    """
    spec = BACKBONES.get(name)
    kwargs: dict[str, Any] = {"num_classes": 0, **spec.timm_kwargs}
    if spec.readout == "cnn":
        kwargs["global_pool"] = ""
    else:
        kwargs["img_size"] = tuple(image_hw)
    model = timm.create_model(spec.timm_name, pretrained=False, **kwargs)
    stride = 32 if spec.readout == "cnn" else 16
    channels: int = model.num_features  # type: ignore[assignment]
    backbone = Backbone(model, spec.readout, channels, stride)
    if pretrained:
        from pose.models.weights import load_backbone_weights

        load_backbone_weights(backbone, name, weights_path)
    return backbone
