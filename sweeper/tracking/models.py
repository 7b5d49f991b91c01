"""Find a trained model's ``config.yaml`` and ``best.ckpt``: a training output directory, an MLflow
run (``runs:/RUN_ID``) or a registered model (``models:/NAME@ALIAS``, ``models:/NAME/VERSION``)."""

from __future__ import annotations

import os
from pathlib import Path

from mlflow.exceptions import MlflowException

from sweeper.errors import SweepError
from sweeper.study.storage import redact

CONFIG, CHECKPOINT = "config.yaml", "best.ckpt"


def resolve_model(model: str, tracking_uri: str, download_dir: Path) -> tuple[Path, Path]:
    """``(config.yaml, best.ckpt)`` of ``model``, downloaded into ``download_dir`` when remote."""
    if model.startswith(("runs:/", "models:/")):
        return _from_mlflow(model, tracking_uri, download_dir)
    directory = Path(model)
    if not directory.is_dir():
        raise SweepError(
            f"model {model!r}: expected a training output directory, runs:/RUN_ID or "
            "models:/NAME@ALIAS"
        )
    config, checkpoint = directory / CONFIG, directory / CHECKPOINT
    for path in (config, checkpoint):
        if not path.is_file():
            raise SweepError(
                f"model {model}: {path.name} not found (not a training output directory)"
            )
    return config, checkpoint


def _from_mlflow(model: str, tracking_uri: str, download_dir: Path) -> tuple[Path, Path]:
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        if model.startswith("runs:/"):  # a trial's run: fetch just the two files
            run_id, _, folder = model.removeprefix("runs:/").strip("/").partition("/")
            root = download_dir / "run"
            root.mkdir(parents=True, exist_ok=True)
            client = mlflow.MlflowClient(tracking_uri=tracking_uri)
            for name in (CONFIG, CHECKPOINT):
                client.download_artifacts(run_id, f"{folder}/{name}" if folder else name, str(root))
            root = root / folder if folder else root
        else:
            root = Path(
                mlflow.artifacts.download_artifacts(artifact_uri=model, dst_path=str(download_dir))
            )
    except (MlflowException, OSError) as err:
        message = getattr(err, "message", str(err)).splitlines()[0]
        raise SweepError(f"model {model} in {redact(tracking_uri)}: {message}") from None
    for base in (root, root / "artifacts"):  # a run's files, or a pyfunc model's artifacts
        if (base / CONFIG).is_file() and (base / CHECKPOINT).is_file():
            return base / CONFIG, base / CHECKPOINT
    if (root / "artifacts" / "ensemble.json").is_file():
        raise SweepError(
            f"model {model} is an ensemble: load it with mlflow.pyfunc.load_model, or predict "
            "videos with `sweeper ensemble STUDY VIDEOS`"
        )
    raise SweepError(f"model {model}: no {CONFIG} and {CHECKPOINT} among its artifacts")
