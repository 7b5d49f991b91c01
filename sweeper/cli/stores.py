"""What the commands on a sweep's stores share: the store options, the embedded default's URL and
quiet library logs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pose.errors import PoseError
from sweeper.workers import STORAGE_ENV, TRACKING_ENV


def quiet_libraries() -> None:
    """Optuna's and MLflow's info logs and experimental-API warnings would bury the live view."""
    import logging
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
    warnings.filterwarnings("ignore", message="All-NaN slice encountered")  # pruning a NaN trial
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage",
        envvar=STORAGE_ENV,
        help="Optuna storage URL, e.g. postgresql://user@host/db (default sqlite mlruns/optuna.db); "
        f"${STORAGE_ENV} keeps a password out of the command line.",
    ),
]
TrackingOpt = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        envvar=TRACKING_ENV,
        help=f"MLflow tracking URI, e.g. http://host:5000 (default sqlite mlruns/mlflow.db); ${TRACKING_ENV}.",
    ),
]
RootOpt = Annotated[
    Path,
    typer.Option("--root", help="Directory of the embedded stores.", show_default=True),
]
StudyArg = Annotated[str, typer.Argument(help="Optuna study name.", show_default=False)]


def storage_url(storage: str | None, root: Path) -> str:
    """``--storage`` or the embedded store under ``root``, which must exist (a typo in a study
    command must not create an empty store)."""
    from sweeper.study.storage import default_storage_url, sqlite_path  # Optuna: when needed

    url = storage or default_storage_url(root)
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        raise PoseError(
            f"no sweep store at {path}; run `sweeper run` first or pass --storage/--root"
        )
    return url
