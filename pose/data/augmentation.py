"""imgaug augmentation pipelines named by ``training.imgaug``, and custom ones from the config.

Pipelines are a registry: adding one is one decorated function. A custom pipeline is a mapping
``{AugmenterClass: {p: probability, kwargs: {...}}}`` applied in order, as Lightning Pose documents;
YAML lists in ``kwargs`` become tuples (imgaug's ranges).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import imgaug.augmenters as iaa

from pose.data.elastic import ElasticTransformation
from pose.data.source_scale import Emboss, MotionBlur
from pose.errors import ConfigError
from pose.registry import Registry

AUGMENTATIONS: Registry[Callable[[], iaa.Augmenter]] = Registry("augmentation pipeline")

# Lightning Pose's "dlc" pipeline (DeepLabCut 2.0's augmentations), in application order.
DLC_PIPELINE: dict[str, dict[str, Any]] = {
    "Rotate": {"p": 0.4, "kwargs": {"rotate": (-25, 25)}},
    "MotionBlur": {"p": 0.5, "kwargs": {"k": 5, "angle": (-90, 90)}},
    "CoarseDropout": {"p": 0.5, "kwargs": {"p": 0.02, "size_percent": 0.3, "per_channel": 0.5}},
    "CoarseSalt": {"p": 0.5, "kwargs": {"p": 0.01, "size_percent": (0.05, 0.1)}},
    "CoarsePepper": {"p": 0.5, "kwargs": {"p": 0.01, "size_percent": (0.05, 0.1)}},
    "ElasticTransformation": {"p": 0.5, "kwargs": {"alpha": (0, 10), "sigma": 5}},
    "AllChannelsHistogramEqualization": {"p": 0.1},
    "AllChannelsCLAHE": {"p": 0.1},
    "Emboss": {"p": 0.1, "kwargs": {"alpha": (0, 0.5), "strength": (0.5, 1.5)}},
    "CropAndPad": {"p": 0.4, "kwargs": {"percent": (-0.15, 0.15), "keep_size": False}},
}


# imgaug classes replaced by equivalents that read pixel sizes in original-frame pixels, as Lightning
# Pose's augment-then-resize pipeline does (pose.data.source_scale), and are faster (pose.data.elastic)
REPLACEMENTS: dict[str, type[iaa.Augmenter]] = {
    "ElasticTransformation": ElasticTransformation,
    "MotionBlur": MotionBlur,
    "Emboss": Emboss,
}


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, Mapping):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def build_custom(pipeline: Mapping[str, Any]) -> iaa.Augmenter:
    """Build a Sequential from ``{ClassName: {p, kwargs}}``; errors name ``training.imgaug``."""
    steps: list[iaa.Augmenter] = []
    for name, spec in pipeline.items():
        spec = spec or {}
        cls = REPLACEMENTS.get(str(name)) or getattr(iaa, str(name), None)
        if not (isinstance(cls, type) and issubclass(cls, iaa.Augmenter)):
            raise ConfigError(
                f"config key 'training.imgaug.{name}': expected an imgaug augmenter class name, got {name!r}"
            )
        if not isinstance(spec, Mapping) or set(spec) - {"p", "kwargs"}:
            raise ConfigError(
                f"config key 'training.imgaug.{name}': expected a mapping with keys p and kwargs, got {spec!r}"
            )
        p = spec.get("p", 1.0)
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ConfigError(
                f"config key 'training.imgaug.{name}.p': expected a probability in [0, 1], got {p!r}"
            )
        kwargs = _tuples(spec.get("kwargs") or {})
        try:
            augmenter = cls(**kwargs)
        except Exception as err:  # noqa: BLE001 - imgaug raises many types for bad arguments
            raise ConfigError(
                f"config key 'training.imgaug.{name}.kwargs': {name} rejects {kwargs!r} ({err})"
            ) from None
        steps.append(augmenter if p >= 1 else iaa.Sometimes(p, augmenter))
    return iaa.Sequential(steps)


@AUGMENTATIONS.register("default")
def _default() -> iaa.Augmenter:
    """Resizing only."""
    return iaa.Sequential([])


@AUGMENTATIONS.register("dlc")
def _dlc() -> iaa.Augmenter:
    return build_custom(DLC_PIPELINE)


@AUGMENTATIONS.register("dlc-lr")
def _dlc_lr() -> iaa.Augmenter:
    return iaa.Sequential([build_custom(DLC_PIPELINE), iaa.Fliplr(0.5)])


@AUGMENTATIONS.register("dlc-top-down")
def _dlc_top_down() -> iaa.Augmenter:
    return iaa.Sequential([build_custom(DLC_PIPELINE), iaa.Fliplr(0.5), iaa.Flipud(0.5)])


# 2D transforms that move pixels: per view they would break the geometry that 3D augmentation
# (``training.imgaug_3d``) keeps consistent across cameras
GEOMETRIC = frozenset({"Rotate", "ElasticTransformation", "CropAndPad"})


@AUGMENTATIONS.register("dlc-mv")
def _dlc_mv() -> iaa.Augmenter:
    """``dlc`` without its geometric transforms, for multiview models augmented in 3D (as
    Lightning Pose's ``dlc-mv``)."""
    return build_custom({k: v for k, v in DLC_PIPELINE.items() if k not in GEOMETRIC})


def build_augmenter(imgaug: str | Mapping[str, Any], multiview_3d: bool = False) -> iaa.Augmenter:
    """The pipeline ``training.imgaug`` names, or the custom pipeline it spells out.

    With ``multiview_3d`` (3D augmentation of calibrated views) the ``dlc`` pipelines become
    ``dlc-mv``, as Lightning Pose does: the 3D step moves the views, 2D steps only change pixels.
    """
    if isinstance(imgaug, Mapping):
        return build_custom(imgaug)
    if multiview_3d and imgaug.startswith("dlc"):
        imgaug = "dlc-mv"
    if imgaug not in AUGMENTATIONS:
        raise ConfigError(
            f"config key 'training.imgaug': expected one of the registered augmentation pipelines "
            f"({', '.join(AUGMENTATIONS.names())}) or a custom pipeline mapping, got {imgaug!r}"
        )
    return AUGMENTATIONS.get(imgaug)()


def validate_augmentation(imgaug: Any) -> None:
    """Raise :class:`ConfigError` unless ``imgaug`` builds (names, probabilities, kwargs checked)."""
    if not isinstance(imgaug, (str, Mapping)):
        raise ConfigError(
            f"config key 'training.imgaug': expected a pipeline name or a mapping, got {imgaug!r}"
        )
    build_augmenter(imgaug)


def lateral_partners(keypoint_names: list[str]) -> list[int]:
    """Index of each keypoint's mirror partner (``x_left`` <-> ``x_right``); midline keypoints map to themselves."""
    index = {name: i for i, name in enumerate(keypoint_names)}
    partners = list(range(len(keypoint_names)))
    for i, name in enumerate(keypoint_names):
        for side, other in (("_left", "_right"), ("_right", "_left")):
            if name.endswith(side):
                partner = name[: -len(side)] + other
                if partner not in index:
                    raise ConfigError(
                        f"config key 'training.imgaug_hflip': keypoint {name!r} has no {partner!r} partner to swap with"
                    )
                partners[i] = index[partner]
    return partners
