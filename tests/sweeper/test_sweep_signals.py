"""A sweep run in-process hands the process's signal handlers back as it found them, and an
interrupted one stops its caller the way the signal would have."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from sweeper.sweep import SweepInterrupted, SweepOptions, SweepView, run_sweep
from tests.sweeper.conftest import SWEEP_FAST, write_space

pytestmark = pytest.mark.slow


def _options(data: Path, tmp_path: Path) -> SweepOptions:
    space = write_space(
        tmp_path / "space.yaml",
        "training.optimizer_params.learning_rate: {low: 1.0e-3, high: 3.0e-3, log: true}\n",
    )
    return SweepOptions(
        base_config=data / "config.yaml",
        spaces=[space],
        n_trials=1,
        study_name="signals",
        pruner="none",
        root=tmp_path / "mlruns",
        overrides=[*SWEEP_FAST, "training.max_epochs=1", "training.min_epochs=1"],
    )


@pytest.mark.parametrize("interrupted", [False, True], ids=["completed", "sigterm"])
def test_sweep_restores_the_signal_handlers_it_found(
    sweep_data: Path, tmp_path: Path, interrupted: bool
) -> None:
    def caller_sigint(signum: int, frame: Any) -> None:
        raise AssertionError("the sweep's own handler should have taken this signal")

    def caller_sigterm(signum: int, frame: Any) -> None:
        raise AssertionError("the sweep's own handler should have taken this signal")

    previous = (
        signal.signal(signal.SIGINT, caller_sigint),
        signal.signal(signal.SIGTERM, caller_sigterm),
    )
    during: list[Any] = []  # the SIGTERM handler at each tick of the sweep loop
    sent: list[bool] = []

    def on_tick(view: SweepView) -> None:
        during.append(signal.getsignal(signal.SIGTERM))
        if interrupted and view.running and not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGTERM)

    try:
        if interrupted:
            with pytest.raises(SweepInterrupted) as info:
                run_sweep(_options(sweep_data, tmp_path), on_tick)
            assert isinstance(info.value, KeyboardInterrupt)  # a caller stops as on Ctrl-C
        else:
            summary = run_sweep(_options(sweep_data, tmp_path), on_tick)
            assert summary.counts == {"COMPLETE": 1}
        assert signal.getsignal(signal.SIGINT) is caller_sigint
        assert signal.getsignal(signal.SIGTERM) is caller_sigterm
        assert during and during[0] is not caller_sigterm  # SIGTERM stopped the sweep meanwhile
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
