"""``sweeper run``: keep a study topped up to N finished trials, a few at a time, tracked in MLflow.

Several processes (on one machine, or many sharing one RDB storage and one tracking server) may run
the same study: each asks Optuna for trials while finished + running < N, records a heartbeat for
its own running trials, and fails and re-queues (with the same params) trials whose worker died.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from pose.config import build_config, read_config_file
from sweeper.errors import SweepError
from sweeper.space import load_space
from sweeper.study.heartbeat import Heartbeat
from sweeper.study.samplers import PRUNERS, SAMPLERS
from sweeper.study.storage import DEFAULT_ROOT, default_storage_url, open_storage, redact
from sweeper.study.study import (
    ATTR_INPUTS,
    ATTR_REASON,
    ATTR_RUN_ID,
    Objective,
    best_complete_trial,
    fingerprint,
    finished,
    open_study,
    state_counts,
)
from sweeper.trial.process import wait_until_ready, warm_up

# The label reader (pandas), MLflow (a second), the trial runner (torch, Lightning) and the plots
# are imported where they are used, after the checks that need none of them: bad input answers at once
if TYPE_CHECKING:
    from sweeper.trial.runner import TrialContext, TrialOutcome, TrialStatus

MAX_CONSECUTIVE_FAILURES = 3
_log = logging.getLogger(__name__)
SURPLUS_REASON = (
    "not run: other workers asked at the same instant and the study already had its n_trials"
)
NOT_QUEUED_REASON = "not run: only the queued trials were to run, and another worker took them"
# study names become MLflow run names and search filters: keep them to a safe alphabet
STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) stopped the sweep after its running trials were marked.

    A KeyboardInterrupt, so that a program running a sweep in-process (a test session, a notebook)
    stops as it would have without the sweep, instead of carrying on past the signal.
    """


@dataclass
class SweepOptions:
    base_config: Path
    spaces: list[Path]
    n_trials: int
    study_name: str | None = None
    storage: str | None = None
    tracking_uri: str | None = None
    experiment: str | None = None
    sampler: str = "tpe"
    pruner: str = "median"
    pruner_startup_trials: int = 5
    pruner_warmup_epochs: int = 0
    seed: int | None = None
    timeout: float | None = None
    overrides: list[str] = field(default_factory=list)
    parallel: int | None = None
    gpus: list[int] | None = None
    metric: str = "val/pixel_error"
    direction: str = "minimize"
    root: Path = DEFAULT_ROOT
    heartbeat_seconds: int = 30
    keep_outputs: bool = False
    # run only the study's queued (enqueued) trials, then stop; never sample (ensemble --seeds)
    queued_only: bool = False


@dataclass
class SweepView:
    """A snapshot for the live view (refreshed by the sweep loop)."""

    study: str
    target: int
    counts: dict[str, int]
    best: FrozenTrial | None
    running: list[TrialStatus]
    metric: str
    ended: list[FrozenTrial]  # complete, pruned and failed trials, all workers
    started: float | None = None  # when this worker's loop began (time.monotonic())
    slots: int = 1  # trials this worker runs at once


@dataclass
class SweepSummary:
    study: str
    counts: dict[str, int]
    best: FrozenTrial | None
    parent_run_id: str
    tracking_uri: str
    storage: str
    trials_page: str | None = None  # the MLflow UI's ranked trials, after the server's "/"


def _check_options(opts: SweepOptions) -> None:
    if opts.n_trials < 1:
        raise SweepError(f"--n-trials: expected a positive integer, got {opts.n_trials}")
    if opts.sampler not in SAMPLERS:
        raise SweepError(f"--sampler: {SAMPLERS.unknown_message(opts.sampler)}")
    if opts.pruner not in PRUNERS:
        raise SweepError(f"--pruner: {PRUNERS.unknown_message(opts.pruner)}")
    if opts.parallel is not None and opts.parallel < 1:
        raise SweepError(f"--parallel: expected a positive integer, got {opts.parallel}")
    if opts.timeout is not None and opts.timeout <= 0:
        raise SweepError(f"--timeout: expected a positive number of seconds, got {opts.timeout}")
    if opts.study_name is not None and not STUDY_NAME.fullmatch(opts.study_name):
        raise SweepError(
            f"--study-name {opts.study_name!r}: expected letters, digits, '.', '_' or '-' "
            "(at most 100 characters)"
        )
    if opts.heartbeat_seconds < 1:
        raise SweepError(f"--heartbeat: expected at least 1 second, got {opts.heartbeat_seconds}")


def _check_without_engine(opts: SweepOptions, base_raw: dict[str, Any]) -> None:
    """The overrides, the spaces (all but names the engine's registries hold) and the labeled data,
    with light imports: bad input answers in well under a second, before the fork server starts."""
    source = str(opts.base_config)
    plain = load_space(opts.spaces, base_raw, opts.overrides, source, registries=False)
    from pose.data import check_labeled_images  # pandas: not for the checks above

    check_labeled_images(build_config(plain.base_raw, source=source, registries=False))


# what a Linux machine with GPUs torch can use has: NVIDIA's driver (its control device, or WSL2's
# GPU device, or a Jetson's), or ROCm's kernel driver
GPU_DRIVER_PATHS = (
    "/proc/driver/nvidia",
    "/dev/nvidiactl",
    "/dev/dxg",
    "/dev/nvhost-ctrl-gpu",
    "/dev/kfd",
)


def gpu_driver_present() -> bool:
    """False only where no GPU can be visible: on Linux, none of these drivers' files exist."""
    return sys.platform != "linux" or any(Path(p).exists() for p in GPU_DRIVER_PATHS)


def visible_gpus() -> list[int]:
    """The ids of the GPUs torch sees (none on a CPU-only machine).

    Without a GPU driver there are none, and importing torch to be told so would cost every
    worker seconds of start-up."""
    if not gpu_driver_present():
        return []
    import torch

    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []


def _slots(opts: SweepOptions) -> list[str | None]:
    """One entry per parallel trial: its CUDA_VISIBLE_DEVICES, or None on CPU.

    With GPUs (all visible ones unless ``--gpus`` picks some; ``--gpus ""`` means CPU), each trial
    gets one GPU and runs with ``training.num_gpus=1``.
    """
    gpus = opts.gpus
    if gpus is None:
        gpus = visible_gpus()
    if opts.gpus:
        import torch

        visible = torch.cuda.device_count()
        bad = [g for g in opts.gpus if g < 0 or g >= visible]
        if bad:
            raise SweepError(f"--gpus: GPU {bad[0]} does not exist ({visible} visible)")
    if gpus:
        parallel = opts.parallel or len(gpus)
        if parallel > len(gpus):
            raise SweepError(
                f"--parallel {parallel}: one trial per GPU, and only {len(gpus)} GPU(s) are in use"
            )
        # a child's CUDA_VISIBLE_DEVICES names GPUs as this process's own variable does
        inherited = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")]
        inherited = [d for d in inherited if d]
        return [inherited[g] if g < len(inherited) else str(g) for g in gpus[:parallel]]
    return [None] * (opts.parallel or 1)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Let SIGTERM stop a sweep the way Ctrl-C does (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _signals_ignored() -> Iterator[None]:
    """Ignore SIGINT and SIGTERM while a stopping sweep marks its trials (bounded: each trial's
    child gets SIGTERM, then SIGKILL after 10 s); main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class Sweep:
    """One worker process of a study."""

    def __init__(self, opts: SweepOptions) -> None:
        _check_options(opts)
        self.opts = opts
        self.objective = Objective.parse(opts.metric, opts.direction)
        base_raw = read_config_file(opts.base_config)
        _check_without_engine(opts, base_raw)
        # the fork server imports the engine while this process checks the names the engine's
        # registries hold (from the torch-free pose.config.catalog), counts GPUs and opens the stores
        warm_up()
        from sweeper.tracking.mlflow_runs import (
            Tracker,
            default_artifact_root,
            default_tracking_uri,
        )

        self.space = load_space(opts.spaces, base_raw, opts.overrides, str(opts.base_config))
        self.slots = _slots(opts)
        self.study_name = opts.study_name or default_study_name(opts.base_config)
        self.storage_url = opts.storage or default_storage_url(opts.root)
        self.tracking_uri = opts.tracking_uri or default_tracking_uri(opts.root)
        local_store = opts.tracking_uri is None
        self.tracker = Tracker(
            self.tracking_uri,
            opts.experiment or self.study_name,
            default_artifact_root(opts.root) if local_store else None,
        )
        self.storage = open_storage(
            self.storage_url, opts.heartbeat_seconds, on_stale_trial=self._on_stale_trial
        )
        grid = self.space.grid() if opts.sampler == "grid" else None
        conditional = [p.key for p in self.space.params if p.when]
        if grid is not None and conditional:
            raise SweepError(
                f"--sampler grid: {conditional[0]} has a 'when' condition; the grid would train "
                "identical configs for its inactive points (use tpe or random)"
            )
        self.target = opts.n_trials
        if grid is not None and not opts.queued_only:
            self.target = min(self.target, math.prod(len(values) for values in grid.values()))
        study_fp = fingerprint(
            json.dumps(_without_paths(self.space.base_raw), sort_keys=True, default=str),
            json.dumps([p.describe() for p in self.space.params], sort_keys=True, default=str),
            self.objective.name,
        )
        self._retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3)
        self.study = open_study(
            self.study_name,
            self.storage,
            SAMPLERS.get(opts.sampler)(opts.seed, grid),
            PRUNERS.get(opts.pruner)(opts.pruner_startup_trials, opts.pruner_warmup_epochs),
            self.objective,
            study_fp,
        )
        inputs = sweep_inputs(opts)
        if self.study.user_attrs.get(ATTR_INPUTS) != inputs:  # one write per new set of paths
            self.study.set_user_attr(ATTR_INPUTS, inputs)
        if opts.seed is not None and self.study.trials:
            # a resumed study gets a fresh sampler stream (the same seed would replay old proposals)
            self.study.sampler = SAMPLERS.get(opts.sampler)(
                opts.seed + len(self.study.trials), grid
            )
        self.parent_run_id = self.tracker.parent_run(
            self.study_name,
            {
                "sweeper.storage": redact(self.storage_url),
                "sweeper.sampler": opts.sampler,
                "sweeper.pruner": opts.pruner,
                "sweeper.metric": f"{self.objective.name} ({self.objective.direction})",
                "sweeper.base_config": str(opts.base_config),
            }
            | ({} if opts.queued_only else {"sweeper.n_trials": str(self.target)}),
        )
        # the MLflow UI's page of the trials ranked by the objective (after the server's "/")
        self.trials_page = self.tracker.show_trials(
            self.study_name,
            self.objective.name,
            self.objective.direction,
            self.objective.run_metric,
            [p.key for p in self.space.params],
        )
        self.work_dir = opts.root / "trials" / self.study_name
        self.stopping = threading.Event()
        self._running: dict[int, TrialStatus] = {}
        self._lock = threading.Lock()
        self._consecutive_failures = 0
        self._last_failure: str | None = None
        self._started: float | None = None

    # ---- callbacks ---------------------------------------------------------------------------
    def _on_stale_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """A dead worker's trial: queue the same params again, then end its MLflow run KILLED
        (an unreachable tracking server must not lose the retry or stop this worker)."""
        self._retry(study, trial)
        reason = "its worker stopped sending heartbeats (killed?); retried with the same params"
        try:
            # by its tags, not its run-id attribute: a retry killed before it made its run still
            # holds the attribute it inherited from the trial it retries
            run_id = self.tracker.active_trial_run(self.study_name, trial.number)
            if run_id is None and not self.tracker.trial_runs(self.study_name, trial.number):
                # killed before the trial made its run: make one, so MLflow lists every trial
                sampled = self.space.labels(trial.params)
                run_id = self.tracker.start_child(
                    self.parent_run_id, self.study_name, trial.number, sampled, {}
                )
            if run_id and self.tracker.run_is_active(run_id):
                # KILLED in MLflow (the trial did not fail, its worker died); FAIL in Optuna
                self.tracker.finish_child(run_id, "FAIL", reason, {}, interrupted=True)
        except Exception as err:  # noqa: BLE001 - the retry is queued; the run is cosmetic here
            _log.warning("trial %d's MLflow run not ended: %s", trial.number, err)

    def _on_status(self, status: TrialStatus | None, number: int) -> None:
        with self._lock:
            if status is None:
                self._running.pop(number, None)
            else:
                self._running[number] = status

    # ---- the loop ----------------------------------------------------------------------------
    def view(self) -> SweepView:
        trials = self.study.get_trials(deepcopy=False)
        counts = dict(Counter(t.state.name for t in trials))
        ended = [t for t in trials if t.state.is_finished()]
        with self._lock:
            running = sorted(self._running.values(), key=lambda s: s.number)
        return SweepView(
            self.study_name,
            self.target,
            counts,
            best_complete_trial(self.study),
            running,
            self.objective.name,
            ended,
            self._started,
            len(self.slots),
        )

    def run(self, on_tick: Callable[[SweepView], None] | None = None) -> SweepSummary:
        """Run trials until the study has ``n_trials`` finished ones (or timeout / Ctrl-C)."""
        from sweeper.trial.runner import run_one_trial

        wait_until_ready()
        started = self._started = time.monotonic()
        last_stale_check = 0.0
        threads = self._threads_per_trial()
        ctx = self._context()
        free = list(self.slots)
        futures: dict[Future, tuple[optuna.Trial, str | None]] = {}
        interrupted = False
        beats = Heartbeat(self.storage, self.opts.heartbeat_seconds / 3)
        with ThreadPoolExecutor(len(self.slots), thread_name_prefix="trial") as pool, beats:
            try:
                with _sigterm_as_interrupt():
                    while True:
                        now = time.monotonic()
                        if now - last_stale_check >= self.opts.heartbeat_seconds / 3:
                            optuna.storages.fail_stale_trials(self.study)
                            last_stale_check = now
                        for future in [f for f in futures if f.done()]:
                            trial, slot = futures.pop(future)
                            beats.discard(trial._trial_id)
                            free.append(slot)
                            self._record(future.result())
                        view = self.view()  # one read of the study per tick
                        counts = view.counts
                        done = finished(counts)
                        timed_out = (
                            self.opts.timeout is not None and now - started > self.opts.timeout
                        )
                        stop = (
                            done >= self.target
                            or timed_out
                            or self._consecutive_failures >= MAX_CONSECUTIVE_FAILURES
                            or (self.opts.queued_only and not counts.get("WAITING", 0))
                        )
                        if on_tick:
                            on_tick(view)
                        if stop and not futures:
                            break
                        can_start = (
                            not stop and free and done + counts.get("RUNNING", 0) < self.target
                        )
                        if can_start:
                            trial = self.study.ask()
                            beats.add(trial._trial_id)
                            if self._surplus(trial) or self._not_queued(trial):
                                beats.discard(trial._trial_id)
                                continue
                            slot = free.pop(0)
                            future = pool.submit(run_one_trial, ctx, trial, slot, threads)
                            futures[future] = (trial, slot)
                            continue
                        if futures:
                            wait(futures, timeout=1.0, return_when=FIRST_COMPLETED)
                        else:
                            time.sleep(1.0)  # other workers' trials are running
            except KeyboardInterrupt:
                interrupted = True
                self._stop_trials(futures)
            except BaseException:
                self._stop_trials(futures)  # mark this process's trials before the error surfaces
                raise
        summary = self._finish()
        if on_tick:
            on_tick(self.view())
        if interrupted:
            raise SweepInterrupted(
                f"stopped; running trials were marked failed. Rerun the same command to resume "
                f"study {self.study_name!r}."
            )
        if self._consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
            raise SweepError(
                f"stopped after {MAX_CONSECUTIVE_FAILURES} failed trials in a row; last reason: "
                f"{self._last_failure}"
            )
        return summary

    def _surplus(self, trial: optuna.Trial) -> bool:
        """True (and the trial ended as FAIL, never run) when other workers asked at the same
        instant and the trials numbered before this one already make up the target: a study
        never gets more than ``n_trials`` finished trials, however many workers share it."""
        # WAITING: a dead worker's params queued again, which the next ask() takes first
        states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
        claimed = self.study.get_trials(deepcopy=False, states=states)
        if sum(t.number < trial.number for t in claimed) < self.target:
            return False
        trial.set_user_attr(ATTR_REASON, SURPLUS_REASON)
        self.study.tell(trial, state=TrialState.FAIL)
        return True

    def _not_queued(self, trial: optuna.Trial) -> bool:
        """True (and the trial ended as FAIL, never run) when only queued trials are to run and
        another worker took the last one first, so that ask() sampled a new one."""
        if not self.opts.queued_only:
            return False
        if "fixed_params" in trial.storage.get_trial_system_attrs(trial._trial_id):
            return False
        trial.set_user_attr(ATTR_REASON, NOT_QUEUED_REASON)
        self.study.tell(trial, state=TrialState.FAIL)
        return True

    def _stop_trials(self, futures: dict[Future, tuple[optuna.Trial, str | None]]) -> None:
        """Stop this process's trials and wait until each has marked itself (the heartbeat
        thread beats on); a second Ctrl-C or SIGTERM meanwhile must not cut the marking short."""
        self.stopping.set()
        with _signals_ignored():
            wait(futures)

    def _threads_per_trial(self) -> int | None:
        cpu_trials = sum(slot is None for slot in self.slots)
        if cpu_trials <= 1:
            return None
        return max(1, (os.cpu_count() or 1) // cpu_trials)

    def _context(self) -> TrialContext:
        from sweeper.trial.runner import TrialContext

        return TrialContext(
            study=self.study,
            space=self.space,
            objective=self.objective,
            tracker=self.tracker,
            parent_run_id=self.parent_run_id,
            work_dir=self.work_dir,
            keep_outputs=self.opts.keep_outputs,
            stopping=self.stopping,
            on_status=self._on_status,
        )

    def _record(self, outcome: TrialOutcome) -> None:
        if outcome.state == "FAIL":
            self._consecutive_failures += 1
            self._last_failure = outcome.reason
        else:
            self._consecutive_failures = 0

    def _finish(self) -> SweepSummary:
        """Log the sweep's spaces, best trial and Optuna plots to the parent run."""
        from sweeper.tracking.plots import write_study_plots

        counts = dict(state_counts(self.study))
        best = best_complete_trial(self.study)
        metrics: dict[str, float] = {
            f"trials_{state.lower()}": float(n) for state, n in counts.items()
        }
        tags: dict[str, str] = {}
        with tempfile.TemporaryDirectory(prefix="sweeper-") as tmp:
            tmp_dir = Path(tmp)
            artifacts: list[tuple[Path, str | None]] = [(p, "spaces") for p in self.space.files]
            if best is not None and best.value is not None:
                metrics["best_value"] = best.value
                tags["sweeper.best_trial"] = str(best.number)
                best_file = tmp_dir / "best_trial.yaml"
                best_file.write_text(
                    yaml.safe_dump(
                        {
                            "number": best.number,
                            "value": best.value,
                            "metric": self.objective.name,
                            "params": best.params,
                            "mlflow_run_id": best.user_attrs.get(ATTR_RUN_ID),
                        },
                        sort_keys=False,
                    )
                )
                artifacts.append((best_file, None))
            artifacts += [
                (path, "plots")
                for path in write_study_plots(self.study, tmp_dir, self.objective.name)
            ]
            still_running = counts.get("RUNNING", 0) > 0
            self.tracker.finish_parent(self.parent_run_id, metrics, tags, artifacts, still_running)
        return SweepSummary(
            self.study_name,
            counts,
            best,
            self.parent_run_id,
            self.tracking_uri,
            self.storage_url,
            self.trials_page,
        )


def sweep_inputs(opts: SweepOptions) -> dict[str, Any]:
    """What defines the study's trials, as absolute paths (never a storage or tracking URL)."""
    return {
        "base_config": str(opts.base_config.resolve()),
        "spaces": [str(p.resolve()) for p in opts.spaces],
        "overrides": list(opts.overrides),
        "metric": opts.metric,
        "direction": opts.direction,
        "sampler": opts.sampler,
        "pruner": opts.pruner,
        "pruner_startup_trials": opts.pruner_startup_trials,
        "pruner_warmup_epochs": opts.pruner_warmup_epochs,
        "experiment": opts.experiment,
    }


def _without_paths(raw: dict[str, Any]) -> dict[str, Any]:
    """The base config minus machine-specific paths, so workers on other machines may join."""
    out = json.loads(json.dumps(raw, default=str))
    for section, key in (
        ("data", "data_dir"),
        ("data", "video_dir"),
        ("eval", "test_videos_directory"),
    ):
        if isinstance(out.get(section), dict):
            out[section].pop(key, None)
    return out


def default_study_name(base_config: Path) -> str:
    """The base config's file name, or its folder's name for the generic ``config.yaml``."""
    stem = base_config.stem
    if stem == "config" and base_config.resolve().parent.name:
        stem = base_config.resolve().parent.name
    return re.sub(r"[^A-Za-z0-9._-]", "-", stem).lstrip("._-")[:100] or "sweep"


def run_sweep(
    opts: SweepOptions, on_tick: Callable[[SweepView], None] | None = None
) -> SweepSummary:
    """Build a :class:`Sweep` from ``opts`` and run it."""
    return Sweep(opts).run(on_tick)
