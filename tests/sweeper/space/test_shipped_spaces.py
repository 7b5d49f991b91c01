"""Every search space shipped in configs/search_spaces loads against a base config."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from pose.config import read_config_file
from sweeper.space import load_space
from tests.conftest import REPO

SPACES = sorted((REPO / "configs" / "search_spaces").glob("*.yaml"))
BASE = REPO / "configs" / "base" / "mirror-mouse-resnet18.yaml"


def test_spaces_are_shipped() -> None:
    names = {p.stem for p in SPACES}
    assert {
        "backbones",
        "losses",
        "resize_dims",
        "learning_rate",
        "quickstart",
        "model_types",
    } <= names


@pytest.mark.parametrize("space", SPACES, ids=lambda p: p.stem)
def test_shipped_space_loads_and_samples(space: Path, synthetic_dir: Path) -> None:
    base = read_config_file(BASE)
    loaded = load_space([space], base, [f"data.data_dir={synthetic_dir}"])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    values = loaded.sample(trial)
    assert values and set(values) <= {p.key for p in loaded.params}
