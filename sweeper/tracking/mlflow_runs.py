"""MLflow bookkeeping of a sweep: one parent run per study, one nested child run per trial.

Everything goes through :class:`mlflow.MlflowClient` with explicit run ids, so parallel trials in
threads never share MLflow's per-thread "active run" state.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException

from pose.predict import flat_predictions, is_predictions_csv, read_predictions
from sweeper.errors import SweepError
from sweeper.study.storage import DEFAULT_ROOT, init_lock, prepare_sqlite, redact, scrub
from sweeper.tracking.ui_view import (
    KIND_TAG,
    MAX_TAG_VALUE,
    MODEL_TRAINING,
    NOTE_PART_PREFIX,
    NOTE_TAG,
    VIEW_TAG_PREFIX,
    column,
    kind_unset,
    note,
    runs_path,
    study_paragraph,
    view_key,
    view_state,
    written_by_sweeps,
)

TAG_STUDY = "sweeper.study"
TAG_ROLE = "sweeper.role"
TAG_TRIAL = "sweeper.trial_number"
TAG_STATE = "sweeper.state"
TAG_REASON = "sweeper.reason"
TAG_PARENT = "mlflow.parentRunId"
TAG_RETRY_OF = "sweeper.retry_of"  # the trial number whose worker died, which this run retries
TAG_RETRIES = "sweeper.retries"  # how many times those params have been retried
TAG_RESUMED_FROM = "sweeper.resumed_from"  # the dead trial's checkpoint a retry went on from
# a trial retraining another's params with another model seed (`sweeper ensemble --seeds`)
TAG_MODEL_SEED = "sweeper.model_seed"
TAG_SEED_OF = "sweeper.seed_of"
# an ensemble's run (role "ensemble"): its members' trial numbers and runs, best first
TAG_MEMBERS = "sweeper.members"
TAG_MEMBER_RUNS = "sweeper.member_runs"
TAG_CENTRE = "sweeper.centre"
TAG_SMOOTHER = "sweeper.smoother"
TAG_SMOOTHED_MEMBERS = "sweeper.smoothed_members"  # + ".<video stem>": the inliers EKS used
CHECKPOINT_DIR = "checkpoints"  # periodic checkpoints, logged while the trial trains
TAG_LAST_CHECKPOINT = "sweeper.last_checkpoint"  # the newest of them uploaded whole
# Optuna trial state -> MLflow run status
RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
_BATCH = 100  # MLflow's limit of params per log_batch call
_log = logging.getLogger(__name__)
PREVIEW_DIR = "preview"


def default_tracking_uri(root: Path = DEFAULT_ROOT) -> str:
    return f"sqlite:///{(root / 'mlflow.db').resolve()}"


def default_artifact_root(root: Path = DEFAULT_ROOT) -> Path:
    return (root / "artifacts").resolve()


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys; lists and scalars are leaves."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _role_filter(study: str, role: str) -> str:
    """MLflow's search filter for the study's runs of ``role`` (``parent`` or ``trial``)."""
    return f"tags.`{TAG_STUDY}` = '{study}' and tags.`{TAG_ROLE}` = '{role}'"


def _chunks(items: list[Any], size: int = _BATCH) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def study_views(tracking_uri: str) -> list[tuple[str, str]]:
    """(study, UI page of its trials ranked by the objective) for every study in the store, by
    experiment; a study of a sweep older than the ranked view gets the plain runs table."""
    client = MlflowClient(tracking_uri=tracking_uri)
    views = []
    for experiment in client.search_experiments(order_by=["name ASC"]):
        parents = client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`{TAG_ROLE}` = 'parent'",
            max_results=1000,
        )
        for study in sorted({run.data.tags.get(TAG_STUDY, "") for run in parents} - {""}):
            key = view_key(study)
            shown = f"{VIEW_TAG_PREFIX}{key}" in experiment.tags
            views.append((study, runs_path(experiment.experiment_id, key if shown else None)))
    return views


@dataclass(frozen=True)
class _Ranking:
    """What the study's trials rank by in the MLflow UI."""

    study: str
    objective: str  # the objective's name, e.g. val/pixel_error
    direction: str  # minimize or maximize
    metric: str  # the trial runs' metric holding the objective value, e.g. val_pixel_error


class Tracker:
    """Parent/child runs of one study in one MLflow experiment."""

    def __init__(self, tracking_uri: str, experiment: str, artifact_root: Path | None) -> None:
        self.tracking_uri = tracking_uri
        self._ranking: _Ranking | None = None  # set by show_trials
        self._describing = threading.Lock()  # trial threads end at once: one rewrite at a time
        prepare_sqlite(tracking_uri)
        try:
            with init_lock(tracking_uri):  # creating the client creates and migrates the database
                self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
                self.experiment_id = self._experiment(experiment, artifact_root)
        except MlflowException as err:
            reason = scrub(str(err.message).splitlines()[0], tracking_uri)
            raise SweepError(
                f"--tracking-uri {redact(tracking_uri)}: cannot use MLflow experiment {experiment!r}: {reason}"
            ) from None

    def _experiment(self, name: str, artifact_root: Path | None) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                raise SweepError(
                    f"MLflow experiment {name!r} is deleted; restore it or pass another --experiment"
                )
            if kind_unset(found.tags):  # an older sweep's: the UI would open it on GenAI pages
                self.client.set_experiment_tag(found.experiment_id, KIND_TAG, MODEL_TRAINING)
            return str(found.experiment_id)
        location = (artifact_root / name).as_uri() if artifact_root is not None else None
        try:
            return str(
                self.client.create_experiment(
                    name, artifact_location=location, tags={KIND_TAG: MODEL_TRAINING}
                )
            )
        except MlflowException:  # another worker created it first
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return str(found.experiment_id)

    # ---- parent run -------------------------------------------------------------------------
    def parent_run(self, study: str, tags: Mapping[str, str]) -> str:
        """The study's parent run (the earliest one if workers raced), reopened for this worker."""
        runs = self._parent_runs(study)
        if not runs:
            created = self.client.create_run(
                self.experiment_id,
                run_name=study,
                tags={TAG_STUDY: study, TAG_ROLE: "parent", **tags},
            )
            runs = self._parent_runs(study)
            if runs and runs[0].info.run_id != created.info.run_id:
                self.client.delete_run(created.info.run_id)  # lost the race: use the first one
        run_id = runs[0].info.run_id
        self.client.update_run(run_id, status="RUNNING")
        for key, value in tags.items():
            self.client.set_tag(run_id, key, value)
        return run_id

    def _parent_runs(self, study: str) -> list[Any]:
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=_role_filter(study, "parent"),
        )
        # every worker must pick the same one, even when two were created in the same millisecond
        return sorted(runs, key=lambda run: (run.info.start_time, run.info.run_id))

    def finish_parent(
        self,
        run_id: str,
        metrics: Mapping[str, float],
        tags: Mapping[str, str],
        artifacts: Iterable[tuple[Path, str | None]],
        still_running: bool,
    ) -> None:
        now = int(time.time() * 1000)
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        for path, artifact_path in artifacts:
            self.client.log_artifact(run_id, str(path), artifact_path)
        if not still_running:
            self.client.set_terminated(run_id, "FINISHED")
        self.describe()

    # ---- what the MLflow UI shows of the study ----------------------------------------------
    def show_trials(
        self, study: str, objective: str, direction: str, metric: str, params: Sequence[str]
    ) -> str | None:
        """Rank the study's trials in the MLflow UI: a shared view of the runs table sorted by
        ``metric`` (the trial runs' metric holding the objective value), showing it, the sampled
        ``params`` and each trial's state, and the study's paragraph of the experiment's
        description. Returns the view's page (see :func:`runs_path`), None if the store refused it."""
        key = view_key(study)
        search = _role_filter(study, "trial")
        columns = [
            column("metrics", metric),
            *(column("params", name) for name in params),
            column("tags", TAG_STATE),
        ]
        state = view_state(search, metric, direction == "minimize", columns)
        self._ranking = _Ranking(study, objective, direction, metric)
        try:
            self.client.set_experiment_tag(self.experiment_id, f"{VIEW_TAG_PREFIX}{key}", state)
        except (MlflowException, OSError) as err:  # the UI's view never stops a sweep
            _log.warning("MLflow view of the ranked trials not saved: %s", err)
            return None
        self.describe()
        return runs_path(self.experiment_id, key)

    def best_trial_run(self) -> Any | None:
        """The complete trial run with the best objective value (None before :meth:`show_trials`
        or the first complete trial)."""
        ranking = self._ranking
        if ranking is None:
            return None
        order = "ASC" if ranking.direction == "minimize" else "DESC"
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"{_role_filter(ranking.study, 'trial')} and tags.`{TAG_STATE}` = 'COMPLETE'",
            order_by=[f"metrics.`{ranking.metric}` {order}"],
            max_results=1,
        )
        return runs[0] if runs and ranking.metric in runs[0].data.metrics else None

    def describe(self) -> None:
        """Rewrite the study's paragraph of the experiment's description (its objective and best
        trial so far); a description someone edited in the UI stays as it is. Best effort: the UI's
        text never fails a trial or a sweep."""
        with self._describing:
            try:
                self._describe()
            except (MlflowException, OSError) as err:
                _log.warning("MLflow experiment description not updated: %s", err)

    def _describe(self) -> None:
        ranking = self._ranking
        if ranking is None:
            return
        run = self.best_trial_run()
        best = None
        if run is not None:
            best = (run.data.tags.get(TAG_TRIAL, "?"), run.data.metrics[ranking.metric])
        paragraph = study_paragraph(
            ranking.study, ranking.objective, ranking.direction, ranking.metric, best
        )
        part = f"{NOTE_PART_PREFIX}{view_key(ranking.study)}"
        self.client.set_experiment_tag(self.experiment_id, part, paragraph)
        tags = self.client.get_experiment(self.experiment_id).tags
        if not written_by_sweeps(tags.get(NOTE_TAG, "")):
            return  # someone wrote their own description in the UI
        text = note({k: v for k, v in tags.items() if k.startswith(NOTE_PART_PREFIX)})
        self.client.set_experiment_tag(self.experiment_id, NOTE_TAG, text[:MAX_TAG_VALUE])

    # ---- child runs -------------------------------------------------------------------------
    def start_child(
        self,
        parent_id: str,
        study: str,
        trial_number: int,
        sampled: Mapping[str, str],
        config: Mapping[str, Any],
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """A nested run logging the sampled params and the rest of the resolved config."""
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"{study}-trial-{trial_number}",
            tags={
                TAG_PARENT: parent_id,
                TAG_STUDY: study,
                TAG_ROLE: "trial",
                TAG_TRIAL: str(trial_number),
                TAG_STATE: "RUNNING",
                **(tags or {}),
            },
        )
        run_id = run.info.run_id
        params = {k: str(v) for k, v in sampled.items()}
        for key, value in flatten(config).items():
            if not any(key == s or key.startswith(f"{s}.") for s in sampled):
                params[key] = "null" if value is None else str(value)
        for chunk in _chunks([Param(k, v) for k, v in params.items()]):
            self.client.log_batch(run_id, params=chunk)
        return run_id

    def log_epoch(self, run_id: str, epoch: int, metrics: Mapping[str, float]) -> None:
        now = int(time.time() * 1000)
        self.client.log_batch(
            run_id, metrics=[Metric(k, float(v), now, epoch) for k, v in metrics.items()]
        )

    def log_artifacts(self, run_id: str, directory: Path) -> None:
        """A trial's output files, its ``logs/`` and its ``video_preds/`` (CSVs, labeled videos);
        periodic checkpoints stay out (``best.ckpt`` is the model)."""
        for path in sorted(directory.iterdir()):
            if path.is_file():
                self.client.log_artifact(run_id, str(path))
        for folder in ("logs", "video_preds"):
            if (directory / folder).is_dir():
                self.client.log_artifacts(run_id, str(directory / folder), folder)
        self._log_previews(run_id, directory)

    def _log_previews(self, run_id: str, directory: Path) -> None:
        """One-header-row copies of the labeled frames' DLC predictions under ``preview/``: MLflow's
        artifact viewer reads the first row as the header and garbles DLC's three."""
        try:
            tables = [p for p in sorted(directory.glob("*.csv")) if is_predictions_csv(p)]
            if not tables:
                return
            with tempfile.TemporaryDirectory(prefix="sweeper-") as tmp:
                for path in tables:
                    flat_predictions(read_predictions(path)).to_csv(Path(tmp) / path.name)
                self.client.log_artifacts(run_id, tmp, PREVIEW_DIR)
        except Exception as err:  # noqa: BLE001 - a preview never fails a trial whose files are logged
            _log.warning("preview tables of run %s not logged: %s", run_id, err)

    def log_checkpoint(self, run_id: str, path: Path) -> None:
        """A periodic checkpoint, under ``checkpoints/``: what a retry of the trial resumes from.
        The tag names it once the upload is whole (a worker killed mid-upload leaves a part)."""
        self.client.log_artifact(run_id, str(path), CHECKPOINT_DIR)
        self.client.set_tag(run_id, TAG_LAST_CHECKPOINT, f"{CHECKPOINT_DIR}/{path.name}")

    def delete_checkpoint(self, run_id: str, name: str) -> None:
        """Delete one periodic checkpoint of a run (``name``: its file name)."""
        self._artifacts(run_id).delete_artifacts(f"{CHECKPOINT_DIR}/{name}")

    def delete_checkpoints(self, run_id: str) -> None:
        """Delete a run's periodic checkpoints and the tag naming the last of them."""
        tags = self.client.get_run(run_id).data.tags
        if TAG_LAST_CHECKPOINT not in tags:
            return  # it never logged one
        self._artifacts(run_id).delete_artifacts(CHECKPOINT_DIR)
        self.client.delete_tag(run_id, TAG_LAST_CHECKPOINT)

    def _artifacts(self, run_id: str) -> Any:
        """The run's artifact repository, resolved against this tracker's URI (not MLflow's
        process-wide one)."""
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        uri = self.client.get_run(run_id).info.artifact_uri
        return get_artifact_repository(uri, tracking_uri=self.tracking_uri)

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self.client.set_tag(run_id, key, value)

    def last_checkpoint(self, run_id: str) -> str | None:
        """The artifact path of the last periodic checkpoint a run logged whole, if any."""
        return self.client.get_run(run_id).data.tags.get(TAG_LAST_CHECKPOINT)

    def download(self, run_id: str, artifact: str, directory: Path) -> Path:
        """Download one artifact of a run into ``directory``; its local path."""
        directory.mkdir(parents=True, exist_ok=True)
        return Path(self.client.download_artifacts(run_id, artifact, str(directory)))

    def copy_epochs(self, source: str, target: str, last_epoch: int) -> None:
        """Copy ``source``'s per-epoch metrics through ``last_epoch`` into ``target``, so a resumed
        trial's run shows its whole curves."""
        metrics = []
        for key in self.client.get_run(source).data.metrics:
            metrics += [
                m for m in self.client.get_metric_history(source, key) if m.step <= last_epoch
            ]
        for chunk in _chunks(metrics, 1000):
            self.client.log_batch(target, metrics=chunk)

    def log_file(self, run_id: str, path: Path, name: str) -> None:
        """Log ``path`` as the top-level artifact ``name``."""
        with tempfile.TemporaryDirectory(prefix="sweeper-") as tmp:
            target = Path(tmp) / name
            shutil.copyfile(path, target)
            self.client.log_artifact(run_id, str(target))

    def finish_child(
        self,
        run_id: str,
        state: str,
        reason: str | None,
        metrics: Mapping[str, float],
        interrupted: bool = False,
    ) -> None:
        """End a trial's run with the MLflow status of its Optuna state, and the reason."""
        now = int(time.time() * 1000)
        tags = [RunTag(TAG_STATE, state)]
        if reason:
            tags.append(RunTag(TAG_REASON, reason[:5000]))
        self.client.log_batch(
            run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()], tags=tags
        )
        status = "KILLED" if interrupted else RUN_STATUS.get(state, "FAILED")
        self.client.set_terminated(run_id, status)
        if state == "COMPLETE":
            self.describe()  # perhaps a new best trial

    def trial_runs(self, study: str, trial_number: int) -> list[Any]:
        """Every run of trial ``trial_number`` of ``study``, found by its tags."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{TAG_TRIAL}` = '{int(trial_number)}'",
            max_results=1000,
        )
        return [run for run in runs if run.data.tags.get(TAG_STUDY) == study]

    def active_trial_run(self, study: str, trial_number: int) -> str | None:
        """The still-running run of trial ``trial_number``, found by its tags: a worker killed
        after creating the run but before Optuna recorded its id leaves nothing else to go by."""
        for run in self.trial_runs(study, trial_number):
            if run.info.status == "RUNNING":
                return str(run.info.run_id)
        return None

    def run_is_active(self, run_id: str) -> bool:
        try:
            return self.client.get_run(run_id).info.status == RunStatus.to_string(RunStatus.RUNNING)
        except MlflowException:
            return False
