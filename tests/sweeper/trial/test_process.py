"""Trial processes: a trial that dies (e.g. killed for memory) fails alone, with the reason."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from pose.config import read_config_file
from sweeper.trial.process import TrialProcess
from sweeper.trial.request import TrialRequest
from sweeper.trial.runner import _death_reason
from tests.sweeper.conftest import SWEEP_FAST


def _request(sweep_data: Path, tmp_path: Path) -> TrialRequest:
    from pose.config import build_config, config_to_dict

    cfg = build_config(read_config_file(sweep_data / "config.yaml"), SWEEP_FAST)
    return TrialRequest(
        raw_config=config_to_dict(cfg),
        output_dir=tmp_path / "trial",
        log_file=tmp_path / "trial.log",
        source="test",
    )


def _run_to_end(process: TrialProcess) -> tuple[list[int], dict | None]:
    """Answer every epoch with "go on"; the epochs reported and the final message (exit 0)."""
    epochs, result = [], None
    for message in process.messages():
        if message is None:
            continue
        if message["type"] == "epoch":
            epochs.append(message["epoch"])
            process.reply({"prune": False})
        else:
            result = message
    assert process.exit_code() == 0
    process.close()
    return epochs, result


@pytest.mark.slow
def test_killed_trial_process_reports_its_death(sweep_data: Path, tmp_path: Path) -> None:
    process = TrialProcess(_request(sweep_data, tmp_path))
    messages = process.messages()
    first = next(m for m in messages if m is not None)
    assert (
        first["type"] == "epoch" and first["epoch"] == 0 and "val/pixel_error" in first["metrics"]
    )
    os.kill(process.process.pid, signal.SIGKILL)  # what the OOM killer does
    assert [m for m in messages if m is not None] == []
    code = process.exit_code()
    process.close()
    assert code == -signal.SIGKILL
    assert "killed by SIGKILL (out of memory?)" in _death_reason(code)
    assert _death_reason(1).startswith("trial process exited with code 1")


@pytest.mark.slow
def test_trial_process_finishes_and_sends_metrics(sweep_data: Path, tmp_path: Path) -> None:
    process = TrialProcess(_request(sweep_data, tmp_path))
    epochs, result = _run_to_end(process)
    assert epochs == [0, 1, 2]
    assert result is not None and result["type"] == "done"
    assert result["metrics"]["epochs_run"] == 3 and result["engine_seconds"] > 0
    assert (tmp_path / "trial" / "best.ckpt").is_file()


@pytest.mark.slow
def test_a_checkpoint_lightning_cannot_restore_is_trained_over_from_the_start(
    sweep_data: Path, tmp_path: Path
) -> None:
    """A retry's checkpoint that passes the engine's checks but that Lightning refuses to restore
    (here: no weights for the model) costs the retry nothing: it trains every epoch from 0."""
    import dataclasses

    import torch

    bogus = tmp_path / "resume.ckpt"
    torch.save({"state_dict": {}, "optimizer_states": [], "loops": {}}, bogus)
    request = dataclasses.replace(_request(sweep_data, tmp_path), resume_from=bogus)
    process = TrialProcess(request)
    epochs, result = _run_to_end(process)
    assert result is not None and result["type"] == "done", result
    assert epochs == [0, 1, 2]
    log = (tmp_path / "trial.log").read_text()
    assert "warning: not resuming from resume.ckpt (" in log and "training from the start" in log
    assert (tmp_path / "trial" / "best.ckpt").is_file()
