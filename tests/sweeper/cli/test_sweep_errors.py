"""Bad spaces and bad arguments of run/report/promote/ui: one line, exit code 2, nothing started."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sweeper.conftest import SWEEP_FAST, cli, overrides, run_args, write_space

GOOD_SPACE = "training.optimizer_params.learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}\n"


@pytest.mark.parametrize(
    ("space", "args", "message"),
    [
        ("model.backbne: {choices: [resnet18]}\n", [], "unknown config key 'model.backbne'"),
        ("model.backbone: {choices: [resnet18, notanet]}\n", [], "notanet"),
        ("model.backbone: {choices: []}\n", [], "non-empty list"),
        (
            "model.model_type: {choices: [heatmap_multiview_transformer]}\n",
            [],
            "heatmap_multiview_transformer",
        ),
        (GOOD_SPACE, ["--sampler", "annealing"], "--sampler: unknown sampler 'annealing'"),
        (GOOD_SPACE, ["--pruner", "sometimes"], "--pruner: unknown pruner 'sometimes'"),
        (GOOD_SPACE, ["--metric", "accuracy"], "--metric 'accuracy': expected one of"),
        (GOOD_SPACE, ["--direction", "up"], "--direction 'up'"),
        (GOOD_SPACE, ["--sampler", "grid"], "grid sampler needs 'choices' or a 'step'"),
        (GOOD_SPACE, ["--gpus", "0,x"], "--gpus '0,x'"),
        (GOOD_SPACE, ["--override", "training.max_epochs=0"], "training.max_epochs"),
        (GOOD_SPACE, ["--study-name", "x' or '1'='1"], "--study-name"),
        (
            "model.heatmap_loss_type: {choices: [mse, kl]}\n"
            "training.train_batch_size: {choices: [8, 16], when: {model.heatmap_loss_type: kl}}\n",
            ["--sampler", "grid"],
            "has a 'when' condition",
        ),
    ],
)
def test_bad_space_or_argument(
    sweep_data: Path, tmp_path: Path, monkeypatch, capsys, space: str, args: list, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_space(tmp_path / "space.yaml", space)
    code, out, err = cli(
        monkeypatch, capsys, *run_args(sweep_data, path, 2, *overrides(*SWEEP_FAST), *args)
    )
    assert code == 2, out + err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "mlruns" / "trials").exists()  # no trial started


def test_missing_space_file_and_zero_trials(sweep_data: Path, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(monkeypatch, capsys, *run_args(sweep_data, "nope.yaml", 1))
    assert code == 2 and "nope.yaml: search-space file not found" in err
    space = write_space(tmp_path / "space.yaml", GOOD_SPACE)
    code, _, err = cli(monkeypatch, capsys, *run_args(sweep_data, space, 0))
    assert code == 2 and "--n-trials: expected a positive integer, got 0" in err
    assert not (tmp_path / "mlruns").exists()


def test_bad_storage_url_hides_password(sweep_data: Path, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    space = write_space(tmp_path / "space.yaml", GOOD_SPACE)
    storage = "postgresql+nodriver://user:hunter2@127.0.0.1:1/db"
    code, out, err = cli(monkeypatch, capsys, *run_args(sweep_data, space, 1, "--storage", storage))
    assert code == 2
    assert "--storage" in err and "hunter2" not in out + err and "***" in err


def test_report_promote_ui_without_a_store(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    for args in (["report", "s"], ["promote", "s", "--model-name", "m"], ["ui"]):
        code, _, err = cli(monkeypatch, capsys, *args)
        assert code == 2 and "run `sweeper run` first" in err, args
    assert not (tmp_path / "mlruns").exists()
