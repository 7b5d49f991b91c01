"""Many workers on real services: one PostgreSQL study, one MLflow tracking server, under faults.

The services are real (``tests/services.py``): a throwaway PostgreSQL cluster with password
authentication and ``mlflow server`` backed by it, both on 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from sweeper.study.storage import open_storage
from sweeper.sweep import SURPLUS_REASON
from tests import services
from tests.conftest import REPO
from tests.sweeper.conftest import write_space
from tests.sweeper.test_sweep import LR_SPACE, _runs, _sweep_command

pytestmark = [pytest.mark.services, pytest.mark.slow]

N_TRIALS = 12
OUTAGE_SECONDS = 5
EPOCHS = 3  # SWEEP_FAST's


_STORAGES: dict[str, RDBStorage] = {}


def _study(url: str, name: str) -> optuna.Study:
    """The study, through one storage per URL: polling with a new engine each time would hold a
    connection per poll until garbage collection, and run PostgreSQL out of them."""
    if url not in _STORAGES:
        _STORAGES[url] = open_storage(url, heartbeat_seconds=60)
    return optuna.load_study(study_name=name, storage=_STORAGES[url])


@dataclass
class ScaledSweep:
    storage: str
    tracking_uri: str
    study: optuna.Study
    killed_trial: int
    outputs: list[str]  # every worker's stdout + stderr
    server: services.MlflowServer
    work: Path


@pytest.fixture(scope="module")
def scaled_sweep(
    postgres: services.Postgres, sweep_data_module: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ScaledSweep]:
    """Four ``sweeper run`` workers on one PostgreSQL study of 12 tiny (waiting) trials, logging to
    an MLflow server; one worker is SIGKILLed mid-trial, then the server is down for 5 s plus its restart (about 20 s)
    while the other three train on, and they finish the study."""
    work = tmp_path_factory.mktemp("scale-out")
    storage = postgres.create_database("scaleout")
    server = services.MlflowServer(
        postgres.create_database("scaleout_mlflow"), work / "artifacts", work / "mlflow.log"
    )
    server.start()
    space = write_space(work / "space.yaml", LR_SPACE)
    command = _sweep_command(
        sweep_data_module,
        space,
        "scaled",
        N_TRIALS,
        "--storage",
        storage,
        "--tracking-uri",
        server.uri,
        "--heartbeat",
        "2",
        "--gpus",
        "",
    )
    # trials wait 2 s per epoch instead of training (bench/scaling.py's engine): the stores, the
    # heartbeats, the runs and the artifacts are all real, and the study ends in a minute, not two
    env = {**os.environ, "PYTHONPATH": str(REPO), "SWEEPER_TRIAL_ENGINE": "wait:6"}
    workers = [
        subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    try:
        killed = _kill_one_mid_trial(workers[0], storage)
        # then the tracking server goes away while the other three train, and comes back; the
        # survivors finish their trials together and may all be between trials when the kill is
        # seen, so wait for one to be mid-trial again
        _wait_mid_trial(storage)
        server.stop()
        time.sleep(OUTAGE_SECONDS)
        server.start()  # same port; its own start-up adds to the outage
        outputs = []
        for worker in workers[1:]:
            out, err = worker.communicate(timeout=900)
            outputs.append(out.decode() + err.decode())
            assert worker.returncode == 0, outputs[-1][-3000:]
        yield ScaledSweep(
            storage, server.uri, _study(storage, "scaled"), killed, outputs, server, work
        )
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        server.stop()
        for engine in [s.engine for s in _STORAGES.values()]:
            engine.dispose()
        _STORAGES.clear()


def _mid_trial(trial: optuna.trial.FrozenTrial) -> bool:
    """It has reported an epoch (so it has params and a run) and has epochs left."""
    return 0 < len(trial.intermediate_values) < EPOCHS


def _kill_one_mid_trial(worker: subprocess.Popen[bytes], storage: str) -> int:
    """SIGKILL ``worker`` once each of the four workers runs a trial that has reported an epoch
    (so the victim's trial has params, a run and epochs left); the victim's trial number."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            trials = _study(storage, "scaled").trials
        except KeyError:
            continue
        running = [t for t in trials if t.state == TrialState.RUNNING]
        if len(running) == 4 and all(_mid_trial(t) for t in running):
            before = {t.number for t in running}
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            break
    else:
        pytest.fail("the four workers never ran four trials at once")
    # the victim's trial is the one its heartbeat stops for: found stale by the others
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        trials = _study(storage, "scaled").trials
        stale = [t for t in trials if t.number in before and t.state == TrialState.FAIL]
        if stale:
            return stale[0].number
        time.sleep(1)
    pytest.fail("no trial of the killed worker was failed by heartbeat")


def _wait_mid_trial(storage: str) -> None:
    """Until a trial is mid-trial (:func:`_mid_trial`)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        running = _study(storage, "scaled").get_trials(states=(TrialState.RUNNING,))
        if any(_mid_trial(t) for t in running):
            return
        time.sleep(0.2)
    pytest.fail("no trial ran mid-epoch after the kill")


def test_killed_worker_trial_is_retried_and_the_study_ends_with_exactly_n(
    scaled_sweep: ScaledSweep,
) -> None:
    """Exactly N complete trials, the killed worker's trial failed by heartbeat and retried once
    with its params, one FINISHED run per complete trial with every epoch's metrics (those sent
    while the server was down included), the killed one's run KILLED, none left RUNNING."""
    trials = scaled_sweep.study.trials
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == N_TRIALS
    killed = trials[scaled_sweep.killed_trial]
    other_failures = [
        t
        for t in trials
        if t.state == TrialState.FAIL
        and t.number != killed.number
        and t.user_attrs.get("reason") != SURPLUS_REASON
    ]
    assert killed.state == TrialState.FAIL and not other_failures
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert retry.state == TrialState.COMPLETE and retry.params == killed.params
    assert retry.system_attrs["retry_history"] == [killed.number]
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]

    _, runs = _runs(MlflowClient(scaled_sweep.tracking_uri), "scaled")
    by_number: dict[int, list] = {}
    for run in runs:
        by_number.setdefault(int(run.data.tags["sweeper.trial_number"]), []).append(run)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    client = MlflowClient(scaled_sweep.tracking_uri)
    for trial in complete:  # one FINISHED run per complete trial, never two
        (run,) = by_number[trial.number]
        assert run.info.status == "FINISHED"
        history = client.get_metric_history(run.info.run_id, "train/loss")
        assert [m.step for m in history] == list(range(EPOCHS))
    (killed_run,) = by_number[killed.number]
    assert killed_run.info.status == "KILLED"
    assert "stopped sending heartbeats" in killed_run.data.tags["sweeper.reason"]
    (retry_run,) = by_number[retry.number]
    assert retry_run.data.tags["sweeper.retry_of"] == str(killed.number)
    assert retry_run.data.tags["sweeper.retries"] == "1"
    # the artifacts went through the server to its store: every complete trial has its model
    for trial in complete:
        names = {f.path for f in client.list_artifacts(by_number[trial.number][0].info.run_id)}
        assert "best.ckpt" in names and "config.yaml" in names


def test_the_storage_password_appears_nowhere(scaled_sweep: ScaledSweep) -> None:
    """Not in the MLflow store (params, tags, metrics' names), the artifact store, the workers'
    output or the trial logs; the storage URL is logged redacted."""
    secret = services.PASSWORD
    parents, children = _runs(MlflowClient(scaled_sweep.tracking_uri), "scaled")
    runs = parents + children
    assert len(runs) > N_TRIALS  # the parent and every trial
    for run in runs:
        text = repr(run.data.params) + repr(run.data.tags) + repr(run.data.metrics)
        assert secret not in text, run.info.run_id
    parent = parents[0]
    assert parent.data.tags["sweeper.storage"].startswith("postgresql+psycopg://sweeper:***@")
    for output in scaled_sweep.outputs:
        assert secret not in output
    files = [p for p in scaled_sweep.work.rglob("*") if p.is_file() and p.name != "mlflow.log"]
    assert any(p.name == "best.ckpt" for p in files)  # the artifact store is among them
    for path in files:
        assert secret.encode() not in path.read_bytes(), path


def test_a_sweep_rides_out_a_database_restart(
    postgres: services.Postgres, sweep_data_module: Path, tmp_path: Path
) -> None:
    """PostgreSQL stopped for 5 s while a worker's trial reports epochs: the loop, the trial and
    its heartbeats wait for it with backoff, and the sweep ends with all its trials complete."""
    storage = postgres.create_database("restart_sweep")
    space = write_space(tmp_path / "space.yaml", LR_SPACE)
    command = _sweep_command(
        sweep_data_module, space, "restart", 3, "--storage", storage, "--gpus", ""
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "SWEEPER_TRIAL_ENGINE": "wait:4"}
    worker = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and worker.poll() is None:
            try:
                trials = _study(storage, "restart").trials
            except KeyError:
                trials = []
            if any(t.intermediate_values for t in trials):
                break
            time.sleep(0.3)
        else:
            pytest.fail("no trial reported an epoch")
        postgres.stop()
        time.sleep(OUTAGE_SECONDS)
        postgres.start()
        out, _ = worker.communicate(timeout=300)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, out.decode()[-3000:]
    states = [t.state for t in _study(storage, "restart").trials]
    assert states == [TrialState.COMPLETE] * 3
    for engine in [s.engine for s in _STORAGES.values()]:
        engine.dispose()
    _STORAGES.clear()
