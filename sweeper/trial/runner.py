"""Run one Optuna trial end to end: sample, build the config, train in a child process, record.

The parent side of a trial: it relays the child's epoch metrics to MLflow and to Optuna's pruner,
turns the child's outcome (done, pruned, error, or death) into the trial's state, and logs the
trial's files as MLflow artifacts.
"""

from __future__ import annotations

import math
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from pose.config import build_config, config_to_dict, untrainable_reason
from pose.errors import PoseError
from sweeper.space import SearchSpace, apply_values
from sweeper.study.study import ATTR_REASON, ATTR_RUN_ID, Objective
from sweeper.tracking.mlflow_runs import Tracker
from sweeper.trial.process import TrialProcess
from sweeper.trial.worker import TrialRequest

LOG_FILE = "trial.log"


@dataclass
class TrialStatus:
    """What the live view shows about a running trial."""

    number: int
    params: dict[str, str]
    epoch: int = -1
    max_epochs: int | None = None
    last_value: float | None = None


@dataclass
class TrialOutcome:
    state: str  # COMPLETE | PRUNED | FAIL
    value: float | None = None
    reason: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False  # stopped by Ctrl-C: MLflow status KILLED
    engine_seconds: float | None = None  # time inside pose.train.train, measured by the child


@dataclass
class TrialContext:
    """What every trial of one sweep process shares."""

    study: optuna.Study
    space: SearchSpace
    objective: Objective
    tracker: Tracker
    parent_run_id: str
    work_dir: Path
    keep_outputs: bool
    stopping: threading.Event
    on_status: Callable[[TrialStatus | None, int], None]  # (status or None when done, number)


def _death_reason(code: int | None) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"trial process killed by {name}{hint}; see trial.log"
    return f"trial process exited with code {code} before reporting a result; see trial.log"


def _scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in _scalar_metrics(value).items()})
        elif (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        ):
            out[key] = float(value)
    return out


def run_one_trial(
    ctx: TrialContext, trial: optuna.Trial, cuda_devices: str | None, torch_threads: int | None
) -> TrialOutcome:
    """Run ``trial`` and tell Optuna (first) and MLflow (second) how it ended."""
    started = time.perf_counter()
    values = ctx.space.sample(trial)
    labels = ctx.space.labels(values)
    status = TrialStatus(trial.number, labels)
    ctx.on_status(status, trial.number)
    out = ctx.work_dir / f"trial-{trial.number:04d}"
    log_file = ctx.work_dir / f"trial-{trial.number:04d}.log"  # beside: train() wants an empty dir
    run_id: str | None = None
    try:
        raw = apply_values(ctx.space.base_raw, values)
        if cuda_devices is not None:
            raw.setdefault("training", {})["num_gpus"] = 1
        cfg = build_config(raw, source=f"trial {trial.number}")
        resolved = config_to_dict(cfg)
        run_id = ctx.tracker.start_child(
            ctx.parent_run_id, ctx.study.study_name, trial.number, labels, resolved
        )
        trial.set_user_attr(ATTR_RUN_ID, run_id)
        reason = untrainable_reason(cfg)
        if reason:
            outcome = TrialOutcome("FAIL", reason=reason)
        else:
            if out.exists():
                shutil.rmtree(out)
            request = TrialRequest(
                raw_config=resolved,
                output_dir=out,
                log_file=log_file,
                source=f"trial {trial.number}",
                cuda_devices=cuda_devices,
                torch_threads=torch_threads,
            )
            outcome = _train_in_child(ctx, trial, request, run_id, status)
    except PoseError as err:  # the combination of sampled values is not a valid config
        outcome = TrialOutcome("FAIL", reason=str(err))

    trial.set_user_attr(ATTR_REASON, outcome.reason)
    state = TrialState[outcome.state]
    ctx.study.tell(trial, outcome.value if state == TrialState.COMPLETE else None, state=state)
    if run_id is not None:
        logged = True
        try:
            if out.is_dir():
                ctx.tracker.log_artifacts(run_id, out)
            if log_file.is_file():
                ctx.tracker.log_file(run_id, log_file, LOG_FILE)
        except Exception as err:  # keep the files when they could not be logged
            logged = False
            outcome.reason = f"{outcome.reason or ''} (artifacts not logged: {err})".strip()
        if outcome.engine_seconds is not None:
            total = time.perf_counter() - started
            outcome.metrics["sweeper/trial_seconds"] = total
            outcome.metrics["sweeper/engine_seconds"] = outcome.engine_seconds
            outcome.metrics["sweeper/overhead_fraction"] = (total - outcome.engine_seconds) / total
        ctx.tracker.finish_child(
            run_id, outcome.state, outcome.reason, outcome.metrics, outcome.interrupted
        )
        if logged and not ctx.keep_outputs:
            shutil.rmtree(out, ignore_errors=True)
            log_file.unlink(missing_ok=True)
    ctx.on_status(None, trial.number)
    return outcome


def _train_in_child(
    ctx: TrialContext,
    trial: optuna.Trial,
    request: TrialRequest,
    run_id: str,
    status: TrialStatus,
) -> TrialOutcome:
    process = TrialProcess(request)
    last_epoch: dict[str, float] = {}
    result: dict[str, Any] | None = None
    try:
        for message in process.messages():
            if ctx.stopping.is_set():
                process.stop()
                return TrialOutcome(
                    "FAIL", reason="interrupted: the sweep was stopped (Ctrl-C)", interrupted=True
                )
            if message is None:
                continue
            if message["type"] != "epoch":
                result = message
                break
            last_epoch = message["metrics"]
            status.epoch, status.max_epochs = message["epoch"], message["max_epochs"]
            if message["validated"]:  # answer first: the child waits for the verdict
                prune = _report(ctx, trial, message, status)
                reason = _prune_reason(ctx, message["epoch"], status.last_value) if prune else None
                process.reply({"prune": prune, "reason": reason})
            ctx.tracker.log_epoch(run_id, message["epoch"], last_epoch)
        code = process.exit_code()
    finally:
        if process.process.is_alive():
            process.stop()
        process.close()
    if result is None:
        return TrialOutcome("FAIL", reason=_death_reason(code))
    if result["type"] == "pruned":
        return TrialOutcome("PRUNED", reason=result["reason"], metrics=last_epoch)
    if result["type"] == "error":
        return TrialOutcome("FAIL", reason=result["reason"])
    metrics = result["metrics"]
    value = ctx.objective.final(metrics, last_epoch)
    if value is None:
        return TrialOutcome(
            "FAIL",
            reason=f"metric {ctx.objective.name} was not measured (no validation frames?)",
            metrics=_scalar_metrics(metrics),
        )
    return TrialOutcome(
        "COMPLETE",
        value=value,
        metrics=_scalar_metrics(metrics),
        engine_seconds=result.get("engine_seconds"),
    )


def _prune_reason(ctx: TrialContext, epoch: int, value: float | None) -> str:
    name = ctx.objective.epoch_name
    if value is not None and math.isnan(value):
        return f"pruned after epoch {epoch + 1}: {name} is NaN (the trial diverged)"
    return (
        f"pruned after epoch {epoch + 1}: {name} {value:.4g} was worse than the pruner's threshold"
    )


def _report(ctx: TrialContext, trial: optuna.Trial, message: dict, status: TrialStatus) -> bool:
    """Report the epoch's objective value to Optuna; True when the pruner stops the trial."""
    name = ctx.objective.epoch_name
    value = message["metrics"].get(name) if name else None
    if value is None:
        return False
    status.last_value = value  # NaN included: Optuna's pruners stop diverged trials
    trial.report(value, message["epoch"])
    return trial.should_prune()
