"""Promote a study's best completed trial, or one of its ensembles, to the MLflow model registry
under an alias."""

from __future__ import annotations

import json
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import mlflow
import yaml
from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput, Run
from mlflow.exceptions import MlflowException

import pose
from pose.config import load_config
from sweeper.errors import SweepError
from sweeper.promote.pyfunc import (
    ENSEMBLE_ARTIFACT,
    ENSEMBLE_PARTS,
    member_artifacts,
    signature,
)
from sweeper.study.storage import redact
from sweeper.study.study import ATTR_METRIC, ATTR_RUN_ID, best_complete_trial, load_existing_study
from sweeper.tracking.mlflow_runs import (
    TAG_CENTRE,
    TAG_MEMBER_RUNS,
    TAG_MEMBERS,
    TAG_ROLE,
    TAG_STUDY,
)
from sweeper.tracking.models import resolve_model

MODEL_CODE = Path(__file__).with_name("model_code.py")
ENSEMBLE_MODEL_CODE = Path(__file__).with_name("ensemble_model_code.py")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,255}")


def _check_names(model_name: str, alias: str) -> None:
    """MLflow's rules, checked before anything is logged or registered."""
    if not _NAME.fullmatch(model_name):
        raise SweepError(f"--model-name {model_name!r}: expected letters, digits, '.', '_' or '-'")
    if (
        not re.fullmatch(r"[A-Za-z0-9_-]{1,255}", alias)
        or alias.lower() == "latest"
        or re.fullmatch(r"[vV]\d+", alias)
    ):
        raise SweepError(
            f"--alias {alias!r}: expected letters, digits, '_' or '-', and not 'latest' or v<number> "
            "(MLflow reserves those)"
        )


@dataclass
class Promotion:
    model_name: str
    version: str
    alias: str
    what: str  # what was promoted, e.g. "trial 3 (0.412)" or "the ensemble of trials 3, 0, 1"
    run_id: str
    tracking_uri: str

    @property
    def uri(self) -> str:
        return f"models:/{self.model_name}@{self.alias}"

    @property
    def load_snippet(self) -> str:
        """Python that loads the promoted model in a fresh process: the store's URI comes first,
        since MLflow's default store is a new ``mlflow.db`` in the current directory. Passwords are
        redacted."""
        shown = redact(self.tracking_uri)
        hidden = shown != self.tracking_uri
        return (
            "import mlflow\n"
            + ("# put the password in place of *** (it is never printed)\n" if hidden else "")
            + f"mlflow.set_tracking_uri({shown!r})\n"
            f"model = mlflow.pyfunc.load_model({self.uri!r})"
        )


def _log_pyfunc(
    client: MlflowClient,
    run: Run,
    code: Path,
    artifacts: dict[str, str],
    keypoints: list[str],
    tags: dict[str, str],
    parts: tuple[str, ...] | None = None,
) -> str:
    """Log a pyfunc model (``code``, with ``artifacts``) as an MLflow 3 logged model linked to the
    finished run it came from; its id.

    The run is never resumed (``start_run(run_id=...)`` would reset its status and end time to the
    moment of promotion): the model names the run as its source, and the run lists the model among
    its outputs, which touches neither the run's info nor its metrics, params or tags.
    """
    run_id = run.info.run_id
    model = mlflow.initialize_logged_model(
        name="model",
        source_run_id=run_id,
        experiment_id=run.info.experiment_id,
        tags=tags,
        params=dict(run.data.params),  # what log_model copies from a run it logs into
    )
    with warnings.catch_warnings():
        # an input example would need an image file; the signature documents the input
        warnings.filterwarnings("ignore", message=".*input example was not provided")
        mlflow.pyfunc.log_model(
            name="model",
            python_model=str(code),  # code, not a pickle
            artifacts=artifacts,
            signature=signature(keypoints) if parts is None else signature(keypoints, parts),
            pip_requirements=[f"pose-sweeper=={pose.__version__}"],
            model_id=model.model_id,
        )
    client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=0)])
    return model.model_id


def promote_best(
    study_name: str, storage_url: str, tracking_uri: str, model_name: str, alias: str
) -> Promotion:
    """Log the best trial's model as a pyfunc linked to its run, register it, point ``alias`` at it."""
    _check_names(model_name, alias)
    from sweeper.study.storage import open_storage

    study = load_existing_study(study_name, open_storage(storage_url, heartbeat_seconds=60))
    best = best_complete_trial(study)
    if best is None or best.value is None:
        raise SweepError(f"study {study_name!r} has no completed trial to promote yet")
    run_id = best.user_attrs.get(ATTR_RUN_ID)
    if not run_id:
        raise SweepError(f"trial {best.number} of study {study_name!r} has no MLflow run")
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    metric = str(study.user_attrs.get(ATTR_METRIC, "value"))
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise SweepError(
            f"MLflow run {run_id} of trial {best.number} is not in {redact(tracking_uri)}; "
            "pass the --tracking-uri the sweep logged to"
        ) from None
    tags = {
        "sweeper.study": study_name,
        "sweeper.trial_number": str(best.number),
        "sweeper.metric": metric,
        "sweeper.value": f"{best.value:.6g}",
        "sweeper.params": json.dumps(best.params, default=str),
    }
    mlflow.set_tracking_uri(tracking_uri)  # for the fluent logging below
    mlflow.set_registry_uri(tracking_uri)
    with tempfile.TemporaryDirectory(prefix="sweeper-promote-") as tmp:
        try:
            config, checkpoint = resolve_model(f"runs:/{run_id}", tracking_uri, Path(tmp))
        except SweepError as err:
            raise SweepError(f"trial {best.number}: {err}") from None
        _refuse_multiview(config, f"trial {best.number}", run_id)
        artifacts = {"config": str(config), "checkpoint": str(checkpoint)}
        keypoints = load_config(str(config)).data.keypoint_names or []
        model_id = _log_pyfunc(client, run, MODEL_CODE, artifacts, keypoints, tags)
    version = _register(client, model_id, model_name, alias, tags)
    what = f"trial {best.number} ({best.value:.4g})"
    return Promotion(model_name, version, alias, what, run_id, tracking_uri)


def _refuse_multiview(config: Path, what: str, run_id: str) -> None:
    csv_file = (yaml.safe_load(config.read_text()) or {}).get("data", {}).get("csv_file")
    if isinstance(csv_file, list):
        raise SweepError(
            f"{what} is a multiview model ({len(csv_file)} cameras): its pyfunc predicts single "
            "images, so multiview models cannot be promoted yet; predict its videos with "
            f"`sweeper predict runs:/{run_id} VIDEO_DIR`"
        )


def _register(
    client: MlflowClient, model_id: str, model_name: str, alias: str, tags: dict[str, str]
) -> str:
    """Register the logged model as a new version of ``model_name`` and point ``alias`` at it."""
    try:
        # the version records the run through the logged model's source_run_id
        version = mlflow.register_model(f"models:/{model_id}", model_name, tags=tags)
        client.set_registered_model_alias(model_name, alias, str(version.version))
    except MlflowException as err:
        raise SweepError(f"cannot register model {model_name!r}: {err.message}") from None
    return str(version.version)


def _ensemble_run(client: MlflowClient, study_name: str, run_id: str, tracking_uri: str) -> Run:
    """The finished ensemble run ``run_id`` of ``study_name``; a one-line error for anything else."""
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise SweepError(
            f"--ensemble {run_id}: no such MLflow run in {redact(tracking_uri)}; pass the run id "
            "`sweeper ensemble` printed and the --tracking-uri it logged to"
        ) from None
    tags = run.data.tags
    if tags.get(TAG_ROLE) != "ensemble" or tags.get(TAG_STUDY) != study_name:
        role = tags.get(TAG_ROLE, "no sweeper")
        raise SweepError(
            f"--ensemble {run_id}: not an ensemble of study {study_name!r} (a {role} run of "
            f"study {tags.get(TAG_STUDY, '?')!r}); pass a run id `sweeper ensemble` printed"
        )
    if run.info.status != "FINISHED":
        raise SweepError(
            f"--ensemble {run_id}: the ensemble run is {run.info.status}, not FINISHED"
        )
    return run


def promote_ensemble(
    study_name: str, tracking_uri: str, run_id: str, model_name: str, alias: str
) -> Promotion:
    """Log the ensemble run's members as one pyfunc (members' centre, likelihood and variance per
    keypoint) linked to that run, register it, point ``alias`` at it."""
    _check_names(model_name, alias)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    run = _ensemble_run(client, study_name, run_id, tracking_uri)
    tags_of_run = run.data.tags
    numbers = tags_of_run[TAG_MEMBERS].split(",")
    member_runs = tags_of_run[TAG_MEMBER_RUNS].split(",")
    labels = [f"trial-{n}" for n in numbers]
    centre = tags_of_run.get(TAG_CENTRE, "median")
    tags = {
        "sweeper.study": study_name,
        "sweeper.ensemble_run": run_id,
        "sweeper.members": tags_of_run[TAG_MEMBERS],
        "sweeper.centre": centre,
    }
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    with tempfile.TemporaryDirectory(prefix="sweeper-promote-") as tmp:
        artifacts: dict[str, str] = {}
        keypoints: list[str] = []
        for label, member_run in zip(labels, member_runs, strict=True):
            try:
                config, checkpoint = resolve_model(
                    f"runs:/{member_run}", tracking_uri, Path(tmp) / label
                )
            except SweepError as err:
                raise SweepError(f"ensemble member {label}: {err}") from None
            _refuse_multiview(config, f"ensemble member {label}", member_run)
            names = load_config(str(config)).data.keypoint_names or []
            if keypoints and names != keypoints:
                raise SweepError(
                    f"ensemble member {label} predicts keypoints {names}, the others {keypoints}"
                )
            keypoints = names
            for name, path in zip(member_artifacts(label), (config, checkpoint), strict=True):
                artifacts[name] = str(path)
        spec = Path(tmp) / "ensemble.json"
        spec.write_text(json.dumps({"members": labels, "centre": centre}))
        artifacts[ENSEMBLE_ARTIFACT] = str(spec)
        model_id = _log_pyfunc(
            client, run, ENSEMBLE_MODEL_CODE, artifacts, keypoints, tags, ENSEMBLE_PARTS
        )
    version = _register(client, model_id, model_name, alias, tags)
    what = f"the ensemble of trials {', '.join(numbers)} ({centre})"
    return Promotion(model_name, version, alias, what, run_id, tracking_uri)
