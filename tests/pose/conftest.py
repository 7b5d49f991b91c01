"""Fixtures shared by the engine's tests: one trained model of the built-in example."""

from __future__ import annotations

from pathlib import Path

import pytest

from pose.config import load_config
from pose.data.synthetic import make_example_dataset
from pose.pipeline import TrainResult, train


@pytest.fixture(scope="session")
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainResult]:
    """The built-in example trained as the quick start does (40 epochs, 200 images), once per
    session: the accuracy tests and the trained ensemble's strong member share it."""
    tmp_path = tmp_path_factory.mktemp("synthetic_run")
    config = make_example_dataset(tmp_path / "data", n_images=200, n_video_frames=30, seed=3)
    videos = ["eval.predict_vids_after_training=true", "eval.save_vids_after_training=true"]
    result = train(
        load_config(config, ["training.num_workers=2", *videos]),
        tmp_path / "run",
        progress_bar=False,
    )
    return tmp_path, result
