"""GPU slots: one trial per GPU, ids translated through the parent's CUDA_VISIBLE_DEVICES."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import sweeper.sweep
from sweeper.errors import SweepError
from sweeper.sweep import SweepOptions, _slots, visible_gpus


def _opts(**kwargs) -> SweepOptions:
    return SweepOptions(base_config=Path("c.yaml"), spaces=[], n_trials=1, **kwargs)


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(sweeper.sweep, "gpu_driver_present", lambda: True)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


@pytest.mark.parametrize("driver", sweeper.sweep.GPU_DRIVER_PATHS)
def test_without_a_gpu_driver_no_gpu_is_visible_and_torch_is_not_asked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, driver: str
) -> None:
    """A CPU-only Linux machine answers from the driver files, not from torch (whose import is
    seconds of each worker's start-up); with any one driver's file (NVIDIA, WSL2, Jetson, ROCm),
    torch decides."""
    moved = {p: tmp_path / p.lstrip("/") for p in sweeper.sweep.GPU_DRIVER_PATHS}
    monkeypatch.setattr(sweeper.sweep, "GPU_DRIVER_PATHS", tuple(map(str, moved.values())))
    monkeypatch.setattr(sweeper.sweep.sys, "platform", "linux")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert visible_gpus() == []
    moved[driver].parent.mkdir(parents=True, exist_ok=True)
    moved[driver].touch()
    assert visible_gpus() == [0, 1]


def test_one_trial_per_visible_gpu(two_gpus) -> None:
    assert _slots(_opts()) == ["0", "1"]
    assert _slots(_opts(parallel=1)) == ["0"]
    assert _slots(_opts(gpus=[1])) == ["1"]
    assert _slots(_opts(gpus=[])) == [None]  # --gpus "": CPU trials
    with pytest.raises(SweepError, match="one trial per GPU"):
        _slots(_opts(parallel=3))
    with pytest.raises(SweepError, match="GPU 2 does not exist"):
        _slots(_opts(gpus=[0, 2]))


def test_ids_follow_the_parents_visible_devices(two_gpus, monkeypatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert _slots(_opts()) == ["3", "5"]


def test_cpu_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _slots(_opts()) == [None]
    assert _slots(_opts(parallel=2)) == [None, None]
