"""What the engine's registries hold, as far as config validation needs it, without importing them.

The registries (backbones, model types, losses, optimizers, schedulers, augmentation pipelines)
live with their implementations and import torch, timm, Lightning and imgaug: about 10 s of a
2-core CPU, which every ``sweeper run`` worker and every ``sweeper validate`` would pay before its
first line of output. Validation reads these tables instead; ``tests/pose/config/test_catalog.py``
holds each table equal to its registry (names, aliases and the attributes below), so adding a
backbone or a loss is its implementation plus one line here, and the test says which line is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from pose.registry import Registry


@dataclass(frozen=True)
class BackboneEntry:
    readout: str  # pose.models.backbones.BackboneSpec.readout


# the frames a context model reads around a labeled one: Lightning Pose's window
CONTEXT_OFFSETS = (-2, -1, 0, 1, 2)


@dataclass(frozen=True)
class ModelTypeEntry:
    """pose.models.types.base.ModelType's class attributes that validation and ``sweeper validate``
    read."""

    single_view: bool = True
    multi_view: bool = True
    backbone_readouts: tuple[str, ...] | None = None
    context_offsets: tuple[int, ...] | None = None


def _names(kind: str, names: list[str]) -> Registry[None]:
    registry: Registry[None] = Registry(kind)
    for name in names:
        registry.add(name, None)
    return registry


OPTIMIZERS = _names("optimizer", ["Adam", "AdamW"])
LR_SCHEDULERS = _names("lr_scheduler", ["multisteplr"])
HEATMAP_LOSSES = _names("heatmap loss", ["mse", "kl", "js"])
UNSUPERVISED_LOSSES = _names("unsupervised loss", ["pca_singleview", "pca_multiview", "temporal"])
AUGMENTATIONS = _names(
    "augmentation pipeline", ["default", "dlc", "dlc-lr", "dlc-top-down", "dlc-mv"]
)

MODEL_TYPES: Registry[ModelTypeEntry] = Registry("model_type")
MODEL_TYPES.add("heatmap", ModelTypeEntry())
MODEL_TYPES.add("heatmap_mhcrnn", ModelTypeEntry(multi_view=False, context_offsets=CONTEXT_OFFSETS))
MODEL_TYPES.add(
    "heatmap_multiview_transformer",
    ModelTypeEntry(single_view=False, backbone_readouts=("tokens",)),
)
MODEL_TYPES.add("regression", ModelTypeEntry())

BACKBONES: Registry[BackboneEntry] = Registry("backbone")
for _name in [
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnet50_contrastive",
    "resnet50_animal_ap10k",
    "resnet50_animal_apose",
    "resnet50_human_jhmdb",
    "resnet50_human_res_rle",
    "resnet50_human_top_rle",
    "resnet50_human_hand",
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
]:
    BACKBONES.add(
        _name,
        BackboneEntry("cnn"),
        aliases=("resnet50_human_top_res",) if _name == "resnet50_human_top_rle" else (),
    )
for _name in [
    "vits_dino",
    "vits_dinov2",
    "vits_dinov3",
    "vitb_dino",
    "vitb_dinov2",
    "vitb_dinov3",
    "vitb_imagenet",
]:
    BACKBONES.add(_name, BackboneEntry("tokens"))
BACKBONES.add("vitb_sam", BackboneEntry("spatial"))
