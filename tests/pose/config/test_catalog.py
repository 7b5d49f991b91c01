"""The torch-free catalog validation reads holds what the engine's registries hold, and reading it
(a whole config validated) imports neither torch nor the engine."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from pose.config import catalog
from pose.data.augmentation import AUGMENTATIONS
from pose.losses.heatmap import HEATMAP_LOSSES
from pose.losses.unsupervised import UNSUPERVISED_LOSSES
from pose.models.backbones import BACKBONES
from pose.models.types import MODEL_TYPES
from pose.registry import Registry
from pose.train.optim import LR_SCHEDULERS, OPTIMIZERS


def _backbone(spec: Any) -> catalog.BackboneEntry:
    return catalog.BackboneEntry(spec.readout)


def _model_type(kind: Any) -> catalog.ModelTypeEntry:
    return catalog.ModelTypeEntry(
        kind.single_view, kind.multi_view, kind.backbone_readouts, kind.context_offsets
    )


# (catalog table, engine registry, what of each entry validation reads)
PAIRS: dict[str, tuple[Registry[Any], Registry[Any], Callable[[Any], Any] | None]] = {
    "optimizers": (catalog.OPTIMIZERS, OPTIMIZERS, None),
    "lr_schedulers": (catalog.LR_SCHEDULERS, LR_SCHEDULERS, None),
    "heatmap_losses": (catalog.HEATMAP_LOSSES, HEATMAP_LOSSES, None),
    "unsupervised_losses": (catalog.UNSUPERVISED_LOSSES, UNSUPERVISED_LOSSES, None),
    "augmentations": (catalog.AUGMENTATIONS, AUGMENTATIONS, None),
    "model_types": (catalog.MODEL_TYPES, MODEL_TYPES, _model_type),
    "backbones": (catalog.BACKBONES, BACKBONES, _backbone),
}


@pytest.mark.parametrize("table", PAIRS)
def test_each_catalog_table_matches_its_registry(table: str) -> None:
    names, registry, entry = PAIRS[table]
    assert names.names() == registry.names(), f"pose.config.catalog.{table.upper()} is out of date"
    assert names.aliases() == registry.aliases()
    assert names.kind == registry.kind  # error messages name the same kind
    if entry is not None:
        for name in registry.names():
            assert names.get(name) == entry(registry.get(name)), (table, name)


VALIDATE = """
import sys
from pose.config import load_config
from pose.data.synthetic import make_example_dataset
import tempfile, pathlib
config = make_example_dataset(pathlib.Path(tempfile.mkdtemp()), n_images=4, n_video_frames=2)
load_config(config, ["model.backbone=vits_dino", "model.losses_to_use=[temporal]"])
heavy = [m for m in ("torch", "timm", "lightning", "imgaug") if m in sys.modules]
print(heavy)
"""


def test_validating_a_config_imports_no_engine() -> None:
    """What makes ``sweeper run`` and ``sweeper validate`` answer in a second, not in ten."""
    done = subprocess.run(
        [sys.executable, "-c", VALIDATE], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
