"""Promote a study's best completed trial to the MLflow model registry under an alias."""

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
from sweeper.promote.pyfunc import signature
from sweeper.study.storage import redact
from sweeper.study.study import ATTR_METRIC, ATTR_RUN_ID, best_complete_trial, load_existing_study
from sweeper.tracking.models import resolve_model

MODEL_CODE = Path(__file__).with_name("model_code.py")
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
    trial_number: int
    value: float
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
    client: MlflowClient, run: Run, config: Path, checkpoint: Path, tags: dict[str, str]
) -> str:
    """Log the pyfunc model as an MLflow 3 logged model linked to the finished trial run; its id.

    The run is never resumed (``start_run(run_id=...)`` would reset its status and end time to the
    moment of promotion): the model names the run as its source, and the run lists the model among
    its outputs, which touches neither the run's info nor its metrics, params or tags.
    """
    run_id = run.info.run_id
    keypoints = load_config(str(config)).data.keypoint_names or []
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
            python_model=str(MODEL_CODE),  # code, not a pickle
            artifacts={"config": str(config), "checkpoint": str(checkpoint)},
            signature=signature(keypoints),
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
        csv_file = (yaml.safe_load(config.read_text()) or {}).get("data", {}).get("csv_file")
        if isinstance(csv_file, list):
            raise SweepError(
                f"trial {best.number} is a multiview model ({len(csv_file)} cameras): its pyfunc "
                "predicts single images, so multiview models cannot be promoted yet; predict its "
                f"videos with `sweeper predict runs:/{run_id} VIDEO_DIR`"
            )
        model_id = _log_pyfunc(client, run, config, checkpoint, tags)
    try:
        # the version records the run through the logged model's source_run_id
        version = mlflow.register_model(f"models:/{model_id}", model_name, tags=tags)
        client.set_registered_model_alias(model_name, alias, str(version.version))
    except MlflowException as err:
        raise SweepError(f"cannot register model {model_name!r}: {err.message}") from None
    return Promotion(
        model_name, str(version.version), alias, best.number, best.value, run_id, tracking_uri
    )
