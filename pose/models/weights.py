"""Find, fetch and load pretrained backbone weights through one local cache.

Resolution order: an explicit path, then ``<cache>/<backbone>.safetensors`` or ``.pth``, then a
download into the cache (unless offline), else a one-line :class:`WeightsError` saying where to put
the file. Clusters without internet pre-fill the cache; tests never download.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pose.errors import WeightsError
from pose.models.backbones import BACKBONES, Backbone, BackboneSpec
from pose.registry import Registry

StateDict = dict[str, Tensor]
KeyMap = Callable[[StateDict, nn.Module], StateDict]

KEY_MAPS: Registry[KeyMap] = Registry("weights key map")

_TRUE = {"1", "true", "yes", "on"}


def weights_cache_dir() -> Path:
    """``$POSE_SWEEPER_WEIGHTS_DIR``, else ``~/.cache/pose-sweeper/weights``."""
    env = os.environ.get("POSE_SWEEPER_WEIGHTS_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "pose-sweeper" / "weights"


def is_offline() -> bool:
    """True when ``POSE_SWEEPER_OFFLINE`` or ``HF_HUB_OFFLINE`` is set to a true value."""
    return any(
        os.environ.get(var, "").strip().lower() in _TRUE
        for var in ("POSE_SWEEPER_OFFLINE", "HF_HUB_OFFLINE")
    )


@dataclass(frozen=True)
class LoadReport:
    """What a weights file contributed: callers may log it; mismatches have already raised."""

    path: Path
    loaded: int
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]


def load_backbone_weights(backbone: Backbone, name: str, path: Path | None = None) -> LoadReport:
    """Load pretrained weights for backbone ``name`` into ``backbone`` (see module docstring).

    Raises ``WeightsError`` when no file can be found or fetched, when no key of the file matches
    the backbone, or when any matching key has the wrong shape.
    """
    canonical = BACKBONES.canonical(name)
    spec = BACKBONES.get(canonical)
    file = resolve_weights_file(canonical, spec, path)
    state = read_state_dict(file, f"weights for backbone {canonical!r}")
    if spec.key_map is not None:
        state = KEY_MAPS.get(spec.key_map)(state, backbone.model)
    expected = backbone.model.state_dict()
    matched = [k for k in state if k in expected]
    missing = tuple(k for k in expected if k not in state)
    if not matched:
        example = next(iter(state), "<empty>")
        raise WeightsError(
            f"{file}: no key matches backbone {canonical!r} ({len(state)} keys, e.g. {example!r}; "
            f"{len(missing)} backbone keys missing); is it a {canonical} checkpoint?"
        )
    wrong = [k for k in matched if state[k].shape != expected[k].shape]
    if wrong:
        k = wrong[0]
        raise WeightsError(
            f"{file}: {len(wrong)} of {len(matched)} keys have the wrong shape for backbone "
            f"{canonical!r} (e.g. {k}: {tuple(state[k].shape)} vs {tuple(expected[k].shape)}; "
            f"{len(missing)} backbone keys missing)"
        )
    backbone.model.load_state_dict({k: state[k] for k in matched}, strict=False)
    unexpected = tuple(k for k in state if k not in expected)
    return LoadReport(file, len(matched), missing, unexpected)


def resolve_weights_file(name: str, spec: BackboneSpec, path: Path | None = None) -> Path:
    """The weights file for backbone ``name``: explicit path, cache, or a fresh download."""
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise WeightsError(f"weights file for backbone {name!r} not found: {path}")
        return path
    cache = weights_cache_dir()
    for suffix in (".safetensors", ".pth"):
        if (cache / f"{name}{suffix}").is_file():
            return cache / f"{name}{suffix}"
    target = cache / f"{name}{'.pth' if spec.url else '.safetensors'}"
    hint = f"place the file at {target}, or set model.backbone_pretrained: false"
    if is_offline():
        raise WeightsError(
            f"pretrained weights for backbone {name!r} are not cached and downloads are off "
            f"(POSE_SWEEPER_OFFLINE/HF_HUB_OFFLINE); {hint}"
        )
    try:
        _download(spec, target)
    except Exception as err:  # any network/hub failure becomes one actionable line
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise WeightsError(
            f"could not download pretrained weights for backbone {name!r} ({reason}); {hint}"
        ) from err
    return target


def _download(spec: BackboneSpec, target: Path) -> None:
    """Fetch into ``target`` atomically (a partial file never looks like a cached one)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if spec.url:
        torch.hub.download_url_to_file(spec.url, str(target), progress=False)
        return
    import timm
    from safetensors.torch import save_file

    # The architecture's own default size is saved; loading resamples to the configured size.
    model = timm.create_model(f"{spec.timm_name}.{spec.pretrained_tag}", pretrained=True)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    partial = target.with_suffix(".partial")
    save_file(state, str(partial))
    partial.replace(target)


def read_state_dict(file: Path, what: str) -> StateDict:
    """Tensors of a safetensors file or a ``torch.save`` checkpoint (nested ``state_dict`` ok).

    Loaded weights-only; ``what`` names the file's role in errors (e.g. ``model.checkpoint``).
    """
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(file))
        obj = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise WeightsError(f"cannot read {what} from {file}: {reason}") from err
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise WeightsError(f"{file}: expected a state dict ({what})")
    return {k: v for k, v in obj.items() if isinstance(v, Tensor)}


def _strip_prefix(state: StateDict, prefix: str) -> StateDict:
    """Keep ``prefix``-ed keys without it; a file already stripped passes through unchanged."""
    if not any(k.startswith(prefix) for k in state):
        return state
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


@KEY_MAPS.register("mmpose_backbone")
def _mmpose_backbone(state: StateDict, model: nn.Module) -> StateDict:
    """mmpose top-down checkpoints: ``backbone.*`` keys use torchvision/timm ResNet names."""
    return _strip_prefix(state, "backbone.")


@KEY_MAPS.register("simclr_encoder")
def _simclr_encoder(state: StateDict, model: nn.Module) -> StateDict:
    """Lightning Bolts SimCLR: the ResNet-50 lives under ``encoder.``."""
    return _strip_prefix(state, "encoder.")


@KEY_MAPS.register("timm")
def _timm(state: StateDict, model: nn.Module) -> StateDict:
    """timm's own checkpoint filter for the architecture: resamples patch and position embeddings
    to the configured image and patch size."""
    filter_fn = getattr(sys.modules[type(model).__module__], "checkpoint_filter_fn", None)
    return dict(filter_fn(state, model)) if filter_fn is not None else state


@KEY_MAPS.register("timm_sam")
def _timm_sam(state: StateDict, model: nn.Module) -> StateDict:
    """SAM: timm's filter, then resize the absolute position grid and the global-attention
    relative position tables, which timm sizes to the image."""
    from timm.layers import resample_abs_pos_embed_nhwc

    state = _timm(state, model)
    expected = model.state_dict()
    for key, value in state.items():
        target = expected.get(key)
        if target is None or target.shape == value.shape:
            continue
        if key == "pos_embed":
            state[key] = resample_abs_pos_embed_nhwc(value, list(target.shape[1:3]))
        elif key.endswith(("rel_pos_h", "rel_pos_w")):
            resized = F.interpolate(value.T[None], size=target.shape[0], mode="linear")
            state[key] = resized[0].T.contiguous()
    return state
