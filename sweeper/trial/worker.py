"""The trial process: train one config with the engine, talking to the sweep over a pipe.

Runs in a child forked from a fork server that has already imported torch, Lightning and the engine,
so a trial starts in milliseconds instead of seconds. A crash or out-of-memory kill ends this process
only. The child never touches Optuna or MLflow: it sends epoch metrics and its outcome to the parent,
which reports them (so a sweep has one writer per store, and the child needs no credentials).
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import signal
import sys
import time
import traceback
from multiprocessing.connection import Connection

import lightning as L
from lightning.pytorch.callbacks import Callback

from pose.config import PoseConfig, build_config
from pose.errors import PoseError
from pose.pipeline import TrainResult, train
from sweeper.trial.child import exit_when_parent_dies, redirect_output
from sweeper.trial.request import TrialRequest


class TrialPrunedSignal(Exception):
    """Raised inside training when the sweep's pruner stops this trial."""


class EpochReporter(Callback):
    """Send each epoch's metrics to the sweep; after a validation epoch, wait for its prune verdict."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._val: dict[str, float] = {}
        self.epochs_sent = 0

    @staticmethod
    def _scalars(trainer: L.Trainer, prefix: str) -> dict[str, float]:
        out = {}
        for name, value in trainer.callback_metrics.items():
            if name.startswith(prefix) and not name.endswith("_step"):
                out[name.removesuffix("_epoch")] = float(value)
        return out

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._val = self._scalars(trainer, "val/")

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = {**self._scalars(trainer, "train/"), **self._val}
        validated, self._val = bool(self._val), {}
        self.epochs_sent += 1
        self.conn.send(
            {
                "type": "epoch",
                "epoch": trainer.current_epoch,
                "max_epochs": _planned_epochs(trainer),
                "metrics": metrics,
                "validated": validated,
            }
        )
        if validated:
            verdict = self.conn.recv()
            if verdict.get("prune"):
                raise TrialPrunedSignal(verdict.get("reason") or "pruned")


def _train(cfg: PoseConfig, request: TrialRequest, reporter: EpochReporter) -> TrainResult:
    """Train, going on from ``request.resume_from`` when given. A checkpoint that cannot be
    restored (unreadable, not a training state, or refused by Lightning's restore) must not cost
    the retry its trial: it trains from epoch 0 instead. A failure after the resumed run has
    trained an epoch is the training's own and is raised."""
    run = functools.partial(
        train, cfg, request.output_dir, extra_callbacks=[reporter], progress_bar=False
    )
    if request.resume_from is None:
        return run()
    try:
        return run(resume_from=request.resume_from)
    except Exception as err:  # noqa: BLE001 - whatever the restore raised, see above
        if reporter.epochs_sent or isinstance(err, TrialPrunedSignal):
            raise
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        print(
            f"warning: not resuming from {request.resume_from.name} ({first}); training from "
            "the start",
            file=sys.stderr,
        )
    shutil.rmtree(request.output_dir, ignore_errors=True)  # what the failed restore wrote
    return run()


def _planned_epochs(trainer: L.Trainer) -> int | None:
    """The epochs the run will take: ``max_epochs``, or when it trains for ``max_steps`` (its
    ``max_epochs`` is -1), those steps over one epoch's optimizer steps; None when unknown."""
    if trainer.max_epochs is not None and trainer.max_epochs > 0:
        return trainer.max_epochs
    batches = trainer.num_training_batches
    if trainer.max_steps <= 0 or not math.isfinite(batches):
        return None
    per_epoch = int(batches) // max(1, trainer.accumulate_grad_batches)
    return math.ceil(trainer.max_steps / per_epoch) if per_epoch > 0 else None


def run_trial(request: TrialRequest, conn: Connection, alive: Connection) -> None:
    """Child entry point: train, then send ``done``, ``pruned`` or ``error`` and exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the sweep's to handle
    exit_when_parent_dies(alive)
    os.environ.update(request.env)
    if request.cuda_devices is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = request.cuda_devices
    redirect_output(request.log_file)
    if request.torch_threads:
        import torch

        torch.set_num_threads(request.torch_threads)
    try:
        started = time.perf_counter()
        cfg = build_config(request.raw_config, source=request.source)
        reporter = EpochReporter(conn)
        result = _train(cfg, request, reporter)
        engine_seconds = time.perf_counter() - started
        conn.send({"type": "done", "metrics": result.metrics, "engine_seconds": engine_seconds})
    except TrialPrunedSignal as signal_:
        conn.send({"type": "pruned", "reason": str(signal_)})
    except PoseError as err:
        print(f"error: {err}", file=sys.stderr)
        conn.send({"type": "error", "reason": str(err)})
    except BaseException as err:  # noqa: BLE001 - any crash must reach the sweep as this trial's failure
        text = traceback.format_exc()
        print(text, file=sys.stderr)
        last = text.strip().splitlines()[-1] if text.strip() else type(err).__name__
        conn.send({"type": "error", "reason": f"{last} (traceback in trial.log)"})
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
