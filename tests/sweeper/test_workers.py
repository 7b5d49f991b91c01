"""``--workers K``: the commands and environments of the local worker processes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sweeper.errors import SweepError
from sweeper.workers import (
    STORAGE_ENV,
    TRACKING_ENV,
    Worker,
    plan_workers,
    run_workers,
    without_option,
)
from tests.sweeper.conftest import cli

ARGV = ["run", "base.yaml", "--space", "s.yaml", "-n", "12", "--workers", "3", "--gpus=0,1"]


def test_workers_run_the_same_sweep_without_launching_workers(tmp_path: Path) -> None:
    workers = plan_workers(ARGV, 3, [0, 1], tmp_path)
    for i, worker in enumerate(workers):
        assert worker.command[:3] == [sys.executable, "-m", "sweeper"]
        assert worker.command[3:9] == ["run", "base.yaml", "--space", "s.yaml", "-n", "12"]
        assert "--workers" not in worker.command and "--gpus=0,1" not in worker.command
        assert worker.command[-2:] == ["--gpus", str([0, 1][i % 2])]  # GPU i mod G
        assert worker.log == tmp_path / f"worker-{i}.log"


def test_cpu_workers_share_the_cores(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    workers = plan_workers(ARGV, 4, [], tmp_path)
    assert {w.command[-1] for w in workers} == {""}  # --gpus "": CPU
    assert {w.env["OMP_NUM_THREADS"] for w in workers} == {"2"}


def test_without_option_drops_both_spellings() -> None:
    assert without_option(["a", "--x", "1", "--x=2", "b", "--xy", "3"], "--x") == [
        "a",
        "b",
        "--xy",
        "3",
    ]


@pytest.mark.parametrize("spelling", ["separate", "joined"])
def test_store_urls_reach_the_workers_by_environment_not_command_line(
    tmp_path: Path, spelling: str
) -> None:
    """A password in a URL stays out of the workers' command lines, which ``ps`` shows anyone."""
    storage, tracking = "postgresql://ana:hunter2@db/optuna", "http://ana:hunter2@mlflow:5000"
    urls = (
        ["--storage", storage, "--tracking-uri", tracking]
        if spelling == "separate"
        else [f"--storage={storage}", f"--tracking-uri={tracking}"]
    )
    for worker in plan_workers([*ARGV, *urls], 2, [], tmp_path):
        assert not any("hunter2" in arg for arg in worker.command)
        assert "--storage" not in " ".join(worker.command)
        assert worker.env[STORAGE_ENV] == storage and worker.env[TRACKING_ENV] == tracking


def test_the_cli_reads_the_store_urls_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sweeper report`` with $SWEEPER_STORAGE set: the study is looked up in that store."""
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    monkeypatch.setenv(STORAGE_ENV, url)
    code, _, err = cli(monkeypatch, capsys, "report", "nosuch", "--root", tmp_path / "empty")
    assert code == 2
    assert "elsewhere.db" in err


def test_no_workers_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SweepError, match="--workers"):
        plan_workers(ARGV, 0, [], tmp_path)


def test_workers_are_started_only_from_a_sweeper_run_command_line(tmp_path: Path) -> None:
    with pytest.raises(SweepError, match="sweeper run"):
        plan_workers(["-q", "tests/"], 2, [], tmp_path)  # e.g. called inside pytest


def test_worker_exit_codes_come_back_and_a_signal_death_reads_as_128_plus_n(
    tmp_path: Path,
) -> None:
    ok = Worker(0, [sys.executable, "-c", "print('fine')"], {}, tmp_path / "w0.log")
    killed = Worker(
        1,
        [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"],
        {},
        tmp_path / "w1.log",
    )
    ticks: list[int] = []
    assert run_workers([ok, killed], on_tick=lambda: ticks.append(1), poll_seconds=0.05) == [
        0,
        128 + 9,
    ]
    assert (tmp_path / "w0.log").read_text().strip() == "fine"
