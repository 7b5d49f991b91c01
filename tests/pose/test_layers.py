"""Imports point one way: config <- data <- models <- train <- predict <- pipeline.

Each lower layer is imported in a fresh interpreter and must not load a higher one. Function-level
imports are not seen here: config validation still imports the registries of models, losses and
train lazily for their names (a known exception, to be moved to torch-free name tables)."""

from __future__ import annotations

import subprocess
import sys

import pytest

LAYERS = ["pose.config", "pose.data", "pose.models", "pose.train", "pose.predict", "pose.pipeline"]
# modules a layer's import must load in full (pose.data exports lazily)
ENTRY = {
    "pose.data": "pose.data.datamodule",
    "pose.models": "pose.models",
    "pose.train": "pose.train.run",
    "pose.predict": "pose.predict.evaluate",
}


@pytest.mark.parametrize("index", range(len(LAYERS) - 1))
def test_a_layer_does_not_import_the_layers_above_it(index: int) -> None:
    layer = LAYERS[index]
    above = LAYERS[index + 1 :]
    code = (
        f"import sys, {ENTRY.get(layer, layer)}\n"
        f"print([m for m in sys.modules if m.split('.')[:2] in {[a.split('.') for a in above]!r}])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", f"{layer} imports {done.stdout.strip()}"
