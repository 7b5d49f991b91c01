"""Sweep commands: run a sweep, report a study, promote its best model, serve the MLflow UI."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.text import Text

from pose.errors import PoseError
from sweeper.cli.app import (
    ConfigArg,
    OverrideOpt,
    command,
    console,
    err_console,
    user_errors,
)
from sweeper.cli.stores import (
    RootOpt,
    StorageOpt,
    StudyArg,
    TrackingOpt,
    quiet_libraries,
    storage_url,
)
from sweeper.workers import STORAGE_ENV, TRACKING_ENV


@command()
@user_errors
def run(
    base_config: ConfigArg,
    space: Annotated[
        list[Path],
        typer.Option("--space", "-s", help="Search-space YAML file (repeatable; files merge)."),
    ],
    n_trials: Annotated[
        int,
        typer.Option(
            "--n-trials", "-n", help="Finished (complete or pruned) trials the study should reach."
        ),
    ],
    study_name: Annotated[
        str | None,
        typer.Option("--study-name", help="Optuna study (default: the base config's file name)."),
    ] = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    experiment: Annotated[
        str | None, typer.Option("--experiment", help="MLflow experiment (default: study name).")
    ] = None,
    sampler: Annotated[str, typer.Option(help="tpe, random, grid or cmaes.")] = "tpe",
    pruner: Annotated[str, typer.Option(help="median, hyperband or none.")] = "median",
    pruner_startup_trials: Annotated[
        int, typer.Option(min=0, help="Trials that finish before the pruner may stop any.")
    ] = 5,
    pruner_warmup_epochs: Annotated[
        int, typer.Option(min=0, help="Epochs each trial runs before it may be pruned.")
    ] = 0,
    metric: Annotated[
        str, typer.Option(help="Objective: val/pixel_error (original pixels), val/loss, ...")
    ] = "val/pixel_error",
    direction: Annotated[str, typer.Option(help="minimize or maximize.")] = "minimize",
    seed: Annotated[int | None, typer.Option(help="Sampler seed.")] = None,
    timeout: Annotated[
        float | None, typer.Option(help="Start no new trial after this many seconds.")
    ] = None,
    override: OverrideOpt = None,
    parallel: Annotated[
        int | None,
        typer.Option(help="Trials at once in this process (default: 1 on CPU, one per GPU)."),
    ] = None,
    gpus: Annotated[
        str | None, typer.Option(help="GPU ids to use, one trial per GPU, e.g. 0,1.")
    ] = None,
    heartbeat: Annotated[
        int,
        typer.Option(
            min=1, help="Seconds between trial heartbeats; a trial silent for 2x is retried."
        ),
    ] = 30,
    keep_outputs: Annotated[
        bool, typer.Option(help="Keep each trial's files under ROOT/trials after logging.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Start K local worker processes on this study, one trial each at a time (with "
            "GPUs, worker i takes GPU i mod G); logs in ROOT/workers/STUDY/.",
        ),
    ] = None,
    root: RootOpt = Path("mlruns"),
) -> None:
    """Sweep a base config over search spaces: Optuna trials, each tracked as an MLflow run."""
    command_started = time.monotonic()
    from rich.live import Live

    from sweeper.cli.progress import ended_line, render
    from sweeper.sweep import SweepInterrupted, SweepOptions, SweepView, run_sweep

    quiet_libraries()
    gpu_ids = None
    if gpus is not None:
        try:
            gpu_ids = [int(g) for g in gpus.split(",") if g.strip()]
        except ValueError:
            raise PoseError(
                f"--gpus {gpus!r}: expected comma-separated GPU ids, e.g. 0,1"
            ) from None
    if workers is not None:
        if parallel is not None:
            raise PoseError(
                "--workers and --parallel: each worker runs one trial at a time; pass one"
            )
        _run_local_workers(
            workers,
            gpu_ids,
            study_name,
            base_config,
            storage,
            tracking_uri,
            root,
            metric,
            command_started,
        )
        return
    for variable in (STORAGE_ENV, TRACKING_ENV):  # read; the trials' processes get no credentials
        os.environ.pop(variable, None)
    opts = SweepOptions(
        base_config=base_config,
        spaces=list(space),
        n_trials=n_trials,
        study_name=study_name,
        storage=storage,
        tracking_uri=tracking_uri,
        experiment=experiment,
        sampler=sampler,
        pruner=pruner,
        pruner_startup_trials=pruner_startup_trials,
        pruner_warmup_epochs=pruner_warmup_epochs,
        seed=seed,
        timeout=timeout,
        overrides=list(override or []),
        parallel=parallel,
        gpus=gpu_ids,
        metric=metric,
        direction=direction,
        root=root,
        heartbeat_seconds=heartbeat,
        keep_outputs=keep_outputs,
    )
    seen: set[int] = set()
    first = True

    with Live(console=console, refresh_per_second=2, transient=True) as live:

        def on_tick(view: SweepView) -> None:
            nonlocal first
            for trial in view.ended:
                if trial.number not in seen:
                    seen.add(trial.number)
                    if not first:
                        live.console.print(ended_line(trial, view))
            first = False
            live.update(render(view))

        try:
            summary = run_sweep(opts, on_tick)
        except SweepInterrupted as err:
            live.stop()
            err_console.print(Text.assemble(("interrupted", "bold yellow"), f": {err}"))
            raise typer.Exit(130) from None
    _print_outcome(
        summary.study,
        summary.counts,
        summary.best,
        opts.metric,
        command_started,
        storage,
        tracking_uri,
        root,
        summary.trials_page,
    )


def _counts_text(c: Mapping[str, int]) -> str:
    return (
        f"{c.get('COMPLETE', 0)} complete, {c.get('PRUNED', 0)} pruned, {c.get('FAIL', 0)} failed"
    )


def _print_outcome(
    study: str,
    c: dict[str, int],
    best: Any,
    metric: str,
    command_started: float,
    storage: str | None,
    tracking_uri: str | None,
    root: Path,
    trials_page: str | None,
) -> None:
    """The lines a finished sweep prints: counts, the best trial, where to compare and promote."""
    from sweeper.cli.progress import duration
    from sweeper.space.params import value_label
    from sweeper.study.storage import redact

    console.print(
        f"[bold green]study {escape(study)}[/]: {_counts_text(c)} "
        f"in {duration(time.monotonic() - command_started)}"
    )
    if best is not None:
        console.print(f"best trial {best.number}: {metric} = {best.value:.4g}", highlight=False)
        for key, value in best.params.items():
            console.print(Text(f"  {key}: {value_label(value)}"), highlight=False)
    if tracking_uri is None:
        ui = "sweeper ui, then open the page it prints for this study"
    elif tracking_uri.startswith(("http://", "https://")) and trials_page:
        ui = f"{redact(tracking_uri).rstrip('/')}/{trials_page}"
    else:
        ui = f"open {redact(tracking_uri)}"
    console.print(Text(f"compare trials: {ui}"), soft_wrap=True)
    where = "".join(
        f" {flag} {value}"
        for flag, value in (
            ("--storage", storage and redact(storage)),
            ("--tracking-uri", tracking_uri and redact(tracking_uri)),
            ("--root", None if root == Path("mlruns") else root),
        )
        if value
    )
    console.print(
        f"promote the best: sweeper promote {escape(study)} --model-name NAME" + escape(where)
    )


def _run_local_workers(
    count: int,
    gpu_ids: list[int] | None,
    study_name: str | None,
    base_config: Path,
    storage: str | None,
    tracking_uri: str | None,
    root: Path,
    metric: str,
    command_started: float,
) -> None:
    """``--workers K``: start K ``sweeper run`` processes on the study, show its progress, wait."""
    import sys

    from rich.live import Live

    from sweeper.study.storage import default_storage_url, open_storage
    from sweeper.study.study import best_complete_trial, state_counts
    from sweeper.sweep import default_study_name, visible_gpus
    from sweeper.workers import last_line, plan_workers, run_workers

    quiet_libraries()
    if gpu_ids is None:
        gpu_ids = visible_gpus()
    name = study_name or default_study_name(base_config)
    url = storage or default_storage_url(root)
    log_dir = root / "workers" / name
    workers = plan_workers(sys.argv[1:], count, gpu_ids, log_dir)
    where = f"GPUs {','.join(map(str, gpu_ids))}" if gpu_ids else "CPU"
    console.print(f"starting {count} workers on study {escape(name)} ({where}); logs in {log_dir}/")
    study = None
    store = None

    def load() -> Any:
        import optuna

        nonlocal study, store
        if study is None:
            store = store or open_storage(url, 60)  # once: a new engine per tick would leak
            try:
                study = optuna.load_study(study_name=name, storage=store)
            except KeyError:
                return None  # the workers have not created it yet
        return study

    with Live(console=console, refresh_per_second=1, transient=True) as live:

        def on_tick() -> None:
            current = load()
            if current is None:
                live.update(Text(f"{count} workers starting"))
                return
            c = state_counts(current)
            live.update(
                Text(
                    f"study {name}: {_counts_text(c)}, {c.get('RUNNING', 0)} running "
                    f"({count} workers)"
                )
            )

        codes = run_workers(workers, on_tick)
    failed = [(w, code) for w, code in zip(workers, codes, strict=True) if code not in (0, 130)]
    for worker, code in failed:
        err_console.print(
            f"worker {worker.index} exited with {code}: {escape(last_line(worker.log))}"
        )
    current = load()
    if current is not None:
        _print_outcome(
            name,
            dict(state_counts(current)),
            best_complete_trial(current),
            metric,
            command_started,
            storage,
            tracking_uri,
            root,
            None,
        )
    if failed:
        raise typer.Exit(failed[0][1])
    if 130 in codes:
        raise typer.Exit(130)


@command()
@user_errors
def report(
    study: StudyArg,
    storage: StorageOpt = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write an HTML report with Optuna's plots.")
    ] = None,
    rank_by: Annotated[
        str | None,
        typer.Option(
            "--rank-by",
            metavar="METRIC",
            help="Rank the complete trials by a label-free metric they logged (e.g. "
            "video.temporal_jump_rate, video.pca_singleview_error, ensemble.distance_px) and show "
            "how each such metric agrees with the validation error (Spearman).",
            show_default=False,
        ),
    ] = None,
    tracking_uri: TrackingOpt = None,
    root: RootOpt = Path("mlruns"),
) -> None:
    """Print a table of a study's trials: number, state, params, metric, duration; with --rank-by,
    the trials ranked by a label-free metric."""
    url = storage_url(storage, root)  # a missing store answers before the imports below
    quiet_libraries()
    from sweeper.study.report import trials_table, write_html_report
    from sweeper.study.storage import open_storage
    from sweeper.study.study import load_existing_study

    loaded = load_existing_study(study, open_storage(url, 60))
    if rank_by is not None:  # a bad metric name answers before anything is printed
        from mlflow import MlflowClient

        from sweeper.study.study import ATTR_INPUTS
        from sweeper.tracking.mlflow_runs import default_tracking_uri
        from sweeper.tracking.ranking import rank_trials, ranking_tables, study_scores

        client = MlflowClient(tracking_uri=tracking_uri or default_tracking_uri(root))
        inputs = loaded.user_attrs.get(ATTR_INPUTS) or {}
        scores = study_scores(client, study, inputs.get("experiment"))  # --experiment, if given
        tables = ranking_tables(rank_trials(scores, rank_by), study)
    console.print(trials_table(loaded))
    if rank_by is not None:
        for table in tables:
            console.print(table)
    if html is not None:
        write_html_report(loaded, html)
        console.print(f"HTML report: [bold]{escape(str(html))}[/]")


@command()
@user_errors
def promote(
    study: StudyArg,
    model_name: Annotated[
        str, typer.Option("--model-name", help="Registered model name in the MLflow registry.")
    ],
    alias: Annotated[str, typer.Option(help="Alias to point at the new version.")] = "champion",
    ensemble: Annotated[
        str | None,
        typer.Option(
            "--ensemble",
            metavar="RUN_ID",
            help="Promote this `sweeper ensemble` run instead of the best trial: one model whose "
            "predict returns the members' centre, likelihood and variance per keypoint.",
            show_default=False,
        ),
    ] = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    root: RootOpt = Path("mlruns"),
) -> None:
    """Register the study's best completed trial's model (or one of its ensembles) in the MLflow
    model registry."""
    quiet_libraries()
    from sweeper.promote import promote_best, promote_ensemble
    from sweeper.tracking.mlflow_runs import default_tracking_uri

    uri = tracking_uri or default_tracking_uri(root)
    if ensemble is not None:
        promoted = promote_ensemble(study, uri, ensemble, model_name, alias)
    else:
        promoted = promote_best(study, storage_url(storage, root), uri, model_name, alias)
    console.print(
        f"[bold green]promoted[/] {escape(promoted.what)} as "
        f"{escape(promoted.model_name)} version {promoted.version}, alias {escape(promoted.alias)}"
    )
    console.print("load it with:")
    # code to paste: no markup, highlighting or wrapping that would change it
    console.print(promoted.load_snippet, markup=False, highlight=False, emoji=False, soft_wrap=True)


@command()
@user_errors
def ui(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 5000,
    root: RootOpt = Path("mlruns"),
) -> None:
    """Serve the MLflow UI for the embedded store, on 127.0.0.1 only; print each study's page of
    its trials ranked by the objective."""
    import os
    import sys

    db = (root / "mlflow.db").resolve()
    if not db.is_file():  # before MLflow's import: a wrong --root answers at once
        raise PoseError(f"no MLflow store at {db}; run `sweeper run` first or pass --root")

    from mlflow.exceptions import MlflowException

    from sweeper.tracking.mlflow_runs import (
        default_artifact_root,
        default_tracking_uri,
        study_views,
    )

    base = f"http://127.0.0.1:{port}"
    console.print(f"MLflow UI on {base} (Ctrl-C to stop)")
    try:
        views = study_views(default_tracking_uri(root))
    except MlflowException:  # the server reports what is wrong with the store
        views = []
    for study, page in views:
        console.print(Text(f"  trials of {study}: {base}/{page}"), soft_wrap=True)  # one line
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        default_tracking_uri(root),
        "--default-artifact-root",
        default_artifact_root(root).as_uri(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    sys.stdout.flush()
    os.execv(sys.executable, command)  # the server replaces this process: signals reach it
