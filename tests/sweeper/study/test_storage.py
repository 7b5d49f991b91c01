"""Storage URLs: passwords never shown, SQLite prepared for several processes, studies resumed safely."""

from __future__ import annotations

import sqlite3
import sys
import threading
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from sweeper.errors import SweepError
from sweeper.study import storage
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


def _refused() -> Exception:
    from sqlalchemy.exc import OperationalError

    return OperationalError(
        "connect",
        {},
        Exception(
            'connection to server at "127.0.0.1", port 1 failed: '
            "FATAL:  sorry, too many clients already (password=hunter2)"
        ),
    )


def test_a_refused_connection_is_retried_with_backoff(monkeypatch) -> None:
    """Out of connection slots: retried after 1, 2, ... s (jittered), and the call's result comes
    back once the database accepts it."""
    waits: list[float] = []
    monkeypatch.setattr(storage.time, "sleep", waits.append)
    calls = iter([_refused(), _refused(), "opened"])

    def call() -> str:
        answer = next(calls)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert storage.with_backoff("open", "postgresql://u:hunter2@h/db", call) == "opened"
    assert len(waits) == 2 and 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0


def test_a_database_that_keeps_refusing_is_one_line_without_the_password(monkeypatch) -> None:
    monkeypatch.setattr(storage.time, "sleep", lambda seconds: None)

    def call() -> None:
        raise _refused()

    with pytest.raises(SweepError) as info:
        storage.with_backoff("open", "postgresql://u:hunter2@h/db", call)
    message = str(info.value)
    assert "\n" not in message and "hunter2" not in message
    assert f"refused {storage.CONNECT_ATTEMPTS} connection attempts" in message
    assert "too many clients" in message and "postgresql://u:***@h/db" in message


def test_a_refused_connection_inside_an_optuna_call_is_retried_too(monkeypatch) -> None:
    """Optuna wraps a failed session in ``StorageInternalError``: mid-sweep calls still wait."""
    monkeypatch.setattr(storage.time, "sleep", lambda seconds: None)
    calls = iter([_refused(), "told"])

    def call() -> str:
        answer = next(calls)
        if isinstance(answer, Exception):
            raise optuna.exceptions.StorageInternalError("during the commit") from answer
        return answer

    assert storage.with_backoff("tell", "postgresql://u@h/db", call) == "told"


def test_other_database_errors_are_not_retried(monkeypatch) -> None:
    from sqlalchemy.exc import OperationalError

    monkeypatch.setattr(storage.time, "sleep", lambda seconds: pytest.fail("retried"))

    def call() -> None:
        raise OperationalError("connect", {}, Exception("password authentication failed"))

    with pytest.raises(OperationalError):
        storage.with_backoff("open", "postgresql://u@h/db", call)


def test_server_storages_hold_one_pooled_connection_per_worker() -> None:
    """64 workers' kept connections fit PostgreSQL's default max_connections (100); a nested
    session may open one more (a pool without it deadlocks in Optuna's schema check)."""
    pool = storage.SERVER_POOL
    assert 64 * pool["pool_size"] < 100 and pool["max_overflow"] == 1


@pytest.mark.parametrize(
    "url",
    ["postgresql://u:hunter2@127.0.0.1:1/db", "postgresql+psycopg://u:hunter2@127.0.0.1:1/db"],
)
def test_a_missing_database_driver_names_the_extra(monkeypatch, url: str) -> None:
    for driver in ("psycopg", "psycopg2"):
        monkeypatch.setitem(sys.modules, driver, None)  # as if not installed
    with pytest.raises(SweepError) as info:
        open_storage(url, heartbeat_seconds=5)
    message = str(info.value)
    assert "missing database driver psycopg" in message and "pose-sweeper[postgres]" in message
    assert "hunter2" not in message


@pytest.mark.services
def test_a_study_rides_out_a_database_restart(postgres) -> None:
    """Every storage call waits for a restarting server: a trial asked and told while PostgreSQL
    is down for 3 s completes once it is back, with nothing lost or doubled."""
    url = postgres.create_database("restart")
    patient = storage.open_storage(url, 60)
    study = optuna.create_study(study_name="restart", storage=patient)
    study.tell(study.ask(), 1.0)
    postgres.stop()
    back = threading.Timer(3.0, postgres.start)
    back.start()
    try:
        trial = study.ask()  # the server is down: this waits for it
        trial.report(0.5, step=0)
        study.tell(trial, 0.5)
    finally:
        back.join()
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.COMPLETE]
    assert study.trials[1].intermediate_values == {0: 0.5}
    patient.engine.dispose()


def test_a_store_set_up_held_too_long_is_one_line_and_a_free_lock_is_taken_in_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers set a new store up one at a time; one that waits past the limit gets one line naming
    the store and the lock file (once a filelock traceback, at 32 workers), not a hang."""
    from filelock import FileLock

    url = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setattr(storage, "INIT_LOCK_TIMEOUT_SECONDS", 0.2)
    with storage.init_lock(url):  # free: taken, and released after the block
        pass
    holder = FileLock(str(tmp_path / "mlruns" / "mlflow.db.lock"))
    expected = r"mlflow\.db: waited 0\.2 s .*mlflow\.db\.lock"
    with holder, pytest.raises(SweepError, match=expected), storage.init_lock(url):
        pytest.fail("entered a store another process is setting up")
    with storage.init_lock(url):  # released by its holder: the next one goes ahead
        pass
