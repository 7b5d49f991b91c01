"""Storage URLs: passwords never shown, SQLite prepared for several processes, studies resumed safely."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import optuna
import pytest

from sweeper.errors import SweepError
from sweeper.study.storage import open_storage, redact, scrub, sqlite_path
from sweeper.study.study import Objective, finished, open_study, state_counts


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://ana:s3cret@db.lab:5432/optuna", "postgresql://ana:***@db.lab:5432/optuna"),
        ("postgresql+psycopg://:s3cret@db/optuna", "postgresql+psycopg://***@db/optuna"),
        ("postgresql://ana@db/optuna", "postgresql://ana@db/optuna"),
        ("sqlite:////tmp/x/optuna.db", "sqlite:////tmp/x/optuna.db"),
        (
            "postgresql://db/optuna?user=ana&password=s3cret",
            "postgresql://db/optuna?user=ana&password=***",
        ),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown
    assert scrub(f"could not connect with {url}", url).count("s3cret") == 0


def test_sqlite_store_uses_wal_and_survives(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'stores' / 'optuna.db'}"
    assert sqlite_path(url) == tmp_path / "stores" / "optuna.db"
    storage = open_storage(url, heartbeat_seconds=5)
    study = optuna.create_study(study_name="s", storage=storage)
    study.tell(study.ask(), 1.0)
    with sqlite3.connect(tmp_path / "stores" / "optuna.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reopened = optuna.load_study(study_name="s", storage=open_storage(url, heartbeat_seconds=5))
    assert finished(state_counts(reopened)) == 1


def test_resuming_needs_the_same_objective_and_definition(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'optuna.db'}", heartbeat_seconds=5)
    objective = Objective.parse("val/pixel_error", "minimize")
    sampler, pruner = optuna.samplers.RandomSampler(), optuna.pruners.NopPruner()
    open_study("s", storage, sampler, pruner, objective, "abc")
    assert open_study("s", storage, sampler, pruner, objective, "abc").study_name == "s"
    with pytest.raises(SweepError, match="different base config"):
        open_study("s", storage, sampler, pruner, objective, "other")
    with pytest.raises(SweepError, match="same --metric"):
        open_study("s", storage, sampler, pruner, Objective.parse("val/loss", "minimize"), "abc")


def test_objective_final_value() -> None:
    metrics = {"val_pixel_error": 3.5, "best_val_loss": 0.01, "pixel_error": {"train": 1.5}}
    assert Objective.parse("val/pixel_error", "minimize").final(metrics, {}) == 3.5
    assert Objective.parse("val/loss", "minimize").final(metrics, {}) == 0.01
    assert Objective.parse("train_pixel_error", "minimize").final(metrics, {}) == 1.5
    assert Objective.parse("train/loss", "minimize").final(metrics, {"train/loss": 0.2}) == 0.2
    assert Objective.parse("val/pixel_error", "minimize").final({}, {}) is None
    assert Objective.parse("train_pixel_error", "minimize").epoch_name is None
