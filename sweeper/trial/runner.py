"""Run one Optuna trial end to end: sample, build the config, train in a child process, record.

The parent side of a trial: it relays the child's epoch metrics to MLflow and to Optuna's pruner,
turns the child's outcome (done, pruned, error, or death) into the trial's state, and logs the
trial's files as MLflow artifacts.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from pose.config import build_config, config_to_dict, untrainable_reason
from pose.errors import PoseError
from sweeper.space import SearchSpace, apply_values
from sweeper.study.study import ATTR_MODEL_SEED, ATTR_REASON, ATTR_RUN_ID, ATTR_SEED_OF, Objective
from sweeper.tracking.mlflow_runs import (
    TAG_MODEL_SEED,
    TAG_RETRIES,
    TAG_RETRY_OF,
    TAG_SEED_OF,
    Tracker,
)
from sweeper.trial.process import TrialProcess
from sweeper.trial.request import TrialRequest
from sweeper.trial.resume import (
    CheckpointUploader,
    ResumePoint,
    carry_over,
    drop_checkpoints,
    find_resume_point,
)

LOG_FILE = "trial.log"


@dataclass
class TrialStatus:
    """What the live view shows about a running trial."""

    number: int
    params: dict[str, str]
    epoch: int = -1
    max_epochs: int | None = None
    last_value: float | None = None
    started: float = field(default_factory=time.monotonic)  # time.monotonic() seconds
    epoch_ended: float | None = None  # when the last reported epoch ended (monotonic)


@dataclass
class TrialOutcome:
    state: str  # COMPLETE | PRUNED | FAIL
    value: float | None = None
    reason: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False  # stopped by Ctrl-C: MLflow status KILLED
    engine_seconds: float | None = None  # time inside pose.pipeline.train, measured by the child


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
    """Run ``trial``, log its files to MLflow, then tell Optuna, then end its MLflow run.

    Artifacts go first so that a trial Optuna counts as complete always has its checkpoint. Any
    error ends this trial as FAIL (traceback in its log); the sweep goes on.
    """
    started = time.perf_counter()
    out = ctx.work_dir / f"trial-{trial.number:04d}"
    log_file = ctx.work_dir / f"trial-{trial.number:04d}.log"  # beside: train() wants an empty dir
    resume_dir = ctx.work_dir / f"{out.name}.resume"  # a dead trial's checkpoint, downloaded
    status = TrialStatus(trial.number, {})
    ctx.on_status(status, trial.number)
    run_id: str | None = None
    resume: ResumePoint | None = None
    try:
        values = ctx.space.sample(trial)
        status.params = ctx.space.labels(values)
        raw = apply_values(ctx.space.base_raw, values)
        model_seed = trial.user_attrs.get(ATTR_MODEL_SEED)
        if model_seed is not None:  # a retraining of another trial's params (ensemble --seeds)
            raw.setdefault("training", {})["rng_seed_model_pt"] = int(model_seed)
        if cuda_devices is not None:
            raw.setdefault("training", {})["num_gpus"] = 1
        cfg = build_config(raw, source=f"trial {trial.number}")
        resolved = config_to_dict(cfg)
        tags = _retry_tags(trial)
        resume = find_resume_point(ctx.tracker, trial) if tags else None
        if model_seed is not None:
            tags[TAG_MODEL_SEED] = str(model_seed)
            tags[TAG_SEED_OF] = str(trial.user_attrs.get(ATTR_SEED_OF))
        run_id = ctx.tracker.start_child(
            ctx.parent_run_id,
            ctx.study.study_name,
            trial.number,
            status.params,
            resolved,
            tags,
        )
        trial.set_user_attr(ATTR_RUN_ID, run_id)
        resume_from = (
            carry_over(ctx.tracker, trial, resume, run_id, resume_dir)
            if resume is not None
            else None
        )
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
                resume_from=resume_from,
            )
            outcome = _train_in_child(ctx, trial, request, run_id, status)
    except PoseError as err:  # the combination of sampled values is not a valid config
        outcome = TrialOutcome("FAIL", reason=str(err))
    except Exception:  # a bug or an unreachable store: this trial fails, not the sweep
        text = traceback.format_exc()
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("a") as log:
            log.write(text)
        outcome = TrialOutcome(
            "FAIL", reason=f"sweep error: {text.strip().splitlines()[-1]} (traceback in trial.log)"
        )

    shutil.rmtree(resume_dir, ignore_errors=True)
    logged = _log_files(ctx, run_id, out, log_file, outcome)
    if outcome.engine_seconds is not None:
        total = time.perf_counter() - started
        outcome.metrics["sweeper/trial_seconds"] = total
        outcome.metrics["sweeper/engine_seconds"] = outcome.engine_seconds
        outcome.metrics["sweeper/overhead_fraction"] = (total - outcome.engine_seconds) / total
    failed_elsewhere = _tell(ctx, trial, outcome)
    if run_id is not None and not failed_elsewhere:  # else its retry may be resuming from them
        drop_checkpoints(ctx.tracker, run_id, *([resume.run_id] if resume is not None else []))
    if run_id is not None:
        with contextlib.suppress(Exception):  # the run stays RUNNING; the files stay on disk
            ctx.tracker.finish_child(
                run_id, outcome.state, outcome.reason, outcome.metrics, outcome.interrupted
            )
    if logged and not ctx.keep_outputs:
        shutil.rmtree(out, ignore_errors=True)
        log_file.unlink(missing_ok=True)
    ctx.on_status(None, trial.number)
    return outcome


def _retry_tags(trial: optuna.Trial) -> dict[str, str]:
    """MLflow tags of a trial that retries a dead worker's trial (Optuna's retry attributes)."""
    attrs = trial.storage.get_trial_system_attrs(trial._trial_id)
    if "failed_trial" not in attrs:
        return {}
    return {
        TAG_RETRY_OF: str(attrs["failed_trial"]),
        TAG_RETRIES: str(len(attrs.get("retry_history", [])) or 1),
    }


def _log_files(
    ctx: TrialContext, run_id: str | None, out: Path, log_file: Path, outcome: TrialOutcome
) -> bool:
    """Log the trial's outputs and log file; False (files kept on disk) when that failed."""
    if run_id is None:
        return False
    try:
        if out.is_dir():
            ctx.tracker.log_artifacts(run_id, out)
        if log_file.is_file():
            ctx.tracker.log_file(run_id, log_file, LOG_FILE)
    except Exception as err:
        outcome.reason = f"{outcome.reason or ''} (artifacts not logged, kept in {out}: {err})"
        return False
    return True


def _tell(ctx: TrialContext, trial: optuna.Trial, outcome: TrialOutcome) -> bool:
    """Tell the study; a trial another worker already failed as stale (this process stalled
    past the grace period) keeps that state, the outcome says so, and this returns True."""
    state = TrialState[outcome.state]
    try:
        if outcome.reason:  # complete trials carry no reason attribute at all
            trial.set_user_attr(ATTR_REASON, outcome.reason)
        already = trial.storage.get_trial(trial._trial_id).state.is_finished()
        if not already:
            value = outcome.value if state == TrialState.COMPLETE else None
            # skip_if_finished: it may be failed between that read and this write
            told = ctx.study.tell(trial, value, state=state, skip_if_finished=True)
            already = told.state != state
    except optuna.exceptions.UpdateFinishedTrialError:
        already = True
    if already:
        outcome.reason = f"{outcome.reason or ''} (already failed by another worker)".strip()
    return already


def _train_in_child(
    ctx: TrialContext,
    trial: optuna.Trial,
    request: TrialRequest,
    run_id: str,
    status: TrialStatus,
) -> TrialOutcome:
    process = TrialProcess(request)
    uploader = CheckpointUploader(ctx.tracker, run_id, request.output_dir / "checkpoints")
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
            status.epoch_ended = time.monotonic()
            if message["validated"]:  # answer first: the child waits for the verdict
                prune = _report(ctx, trial, message, status)
                reason = _prune_reason(ctx, message["epoch"], status.last_value) if prune else None
                process.reply({"prune": prune, "reason": reason})
            ctx.tracker.log_epoch(run_id, message["epoch"], last_epoch)
            uploader.after_epoch(message["epoch"])
        code = process.exit_code()
    finally:
        if process.process.is_alive():
            process.stop()
        process.close()
        uploader.close(wait=not ctx.stopping.is_set())
    if result is None:
        return TrialOutcome("FAIL", reason=_death_reason(code))
    if result["type"] == "pruned":
        return TrialOutcome("PRUNED", reason=result["reason"], metrics=last_epoch)
    if result["type"] == "error":
        return TrialOutcome("FAIL", reason=result["reason"])
    metrics = result["metrics"]
    value = ctx.objective.final(metrics, last_epoch)
    if value is None:
        diverged = any(isinstance(v, float) and math.isnan(v) for v in last_epoch.values())
        why = (
            "is NaN (the trial diverged)"
            if diverged
            else "was not measured (no validation frames?)"
        )
        return TrialOutcome(
            "FAIL", reason=f"metric {ctx.objective.name} {why}", metrics=_scalar_metrics(metrics)
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
    if ATTR_MODEL_SEED in trial.user_attrs and math.isfinite(value):
        return False  # a seed of a chosen config is an ensemble member, not a search point
    return trial.should_prune()
