"""Imports point one way: config <- data <- models <- train <- predict <- pipeline.

Each lower layer is imported in a fresh interpreter and must not load a higher one. Function-level
imports are not seen here; config validation reads the registries' names from the torch-free
``pose.config.catalog`` (tests/pose/config/test_catalog.py), and imports ``pose.data.augmentation``
only to check a custom augmentation pipeline's arguments."""

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


def _code(index: int) -> str:
    above = LAYERS[index + 1 :]
    return (
        f"import sys, {ENTRY.get(LAYERS[index], LAYERS[index])}\n"
        f"print([m for m in sys.modules if m.split('.')[:2] in {[a.split('.') for a in above]!r}])"
    )


@pytest.fixture(scope="module")
def imported_above() -> dict[int, str]:
    """What each layer's import loads of the layers above it, each in a fresh interpreter, all at
    once (all but pose.config's import torch; one after another they took 40 s)."""
    runs = {
        index: subprocess.Popen(
            [sys.executable, "-c", _code(index)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for index in range(len(LAYERS) - 1)
    }
    out = {}
    try:
        for index, run in runs.items():
            stdout, stderr = run.communicate(timeout=300)
            assert run.returncode == 0, stderr.decode()[-2000:]
            out[index] = stdout.decode().strip()
    finally:
        for run in runs.values():
            if run.poll() is None:
                run.kill()
                run.wait()
    return out


@pytest.mark.parametrize("index", range(len(LAYERS) - 1))
def test_a_layer_does_not_import_the_layers_above_it(
    imported_above: dict[int, str], index: int
) -> None:
    assert imported_above[index] == "[]", f"{LAYERS[index]} imports {imported_above[index]}"
