"""Fixtures for sweep tests: a private copy of the synthetic data and fast trial overrides."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from sweeper.cli import main

# Each trial: 64x64 images, 3 short epochs, no loader workers (a few seconds on 2 cores).
SWEEP_FAST = [
    "data.image_resize_dims.height=64",
    "data.image_resize_dims.width=64",
    "training.max_epochs=3",
    "training.min_epochs=3",
    "training.unfreezing_epoch=0",
    "training.check_val_every_n_epoch=1",
    "training.lr_scheduler_params.multisteplr.milestones=[]",
    "training.num_workers=0",
    "training.imgaug=default",
]


# Multiview trials and runs: 64x64, one epoch validated, no loader workers.
MULTIVIEW_FAST = [
    "data.image_resize_dims.height=64",
    "data.image_resize_dims.width=64",
    "training.max_epochs=1",
    "training.min_epochs=1",
    "training.check_val_every_n_epoch=1",
    "training.lr_scheduler_params.multisteplr.milestones=[]",
    "training.num_workers=0",
]


def overrides(*items: str) -> list[str]:
    return [arg for item in items for arg in ("--override", item)]


def run_args(data: Path, space: Path | str, n_trials: int, *extra: object) -> list[str]:
    """``sweeper run`` arguments for ``data``'s config: ``run CONFIG --space SPACE -n N EXTRA...``."""
    return ["run", str(data / "config.yaml"), "--space", str(space), "-n", str(n_trials)] + [
        str(e) for e in extra
    ]


def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: object
) -> tuple[int, str, str]:
    """Run ``sweeper ARGS`` in-process; (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["sweeper", *map(str, args)])
    with pytest.raises(SystemExit) as info:
        main()
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def _copy_sweep_data(synthetic_dir: Path, data: Path) -> Path:
    shutil.copytree(synthetic_dir, data)
    config = data / "config.yaml"
    config.write_text(config.read_text().replace(str(synthetic_dir), str(data)))
    lines = (data / "CollectedData.csv").read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("labeled-data"))
    lines[first] = "labeled-data/missing.png" + lines[first][lines[first].index(",") :]
    (data / "broken.csv").write_text("\n".join(lines) + "\n")
    return data


@pytest.fixture
def sweep_data(synthetic_dir: Path, tmp_path: Path) -> Path:
    """A copy of the synthetic data set whose config points at the copy, plus ``broken.csv``
    (same labels, first image missing) for trials that must fail."""
    return _copy_sweep_data(synthetic_dir, tmp_path / "data")


@pytest.fixture(scope="module")
def sweep_data_module(synthetic_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sweep_data`` shared by the tests of one module (their sweep runs once)."""
    return _copy_sweep_data(synthetic_dir, tmp_path_factory.mktemp("sweep-data") / "data")


def write_space(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
