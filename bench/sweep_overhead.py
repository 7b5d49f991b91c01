"""Sweep overhead: the share of each trial's wall time spent outside training (target: < 3 % for
one-minute trials).

Runs a real sweep in-process (``sweeper.sweep.run_sweep``: SQLite Optuna and MLflow stores in a temp
dir, trials forked from the fork server, TPE seed 0, no pruner, one trial at a time) on the built-in
synthetic example (``pose.data.synthetic``: resnet18 heatmap, 128x128, batch 8, imgaug dlc, random
init, validation every epoch), searching only the learning rate (log-uniform 3e-4..3e-3). Each trial
trains ``--epochs`` epochs; by default the epoch count is calibrated so that training takes about
``--trial-seconds``: a separate process trains 1 and then 3 epochs, and the difference gives the time
per epoch and the fixed cost (model build, final predictions) of ``pose.pipeline.train``.

Per trial, the sweep logs to the trial's MLflow run (read back here): ``sweeper/trial_seconds``, the
parent's wall time of the trial (sampling, config, MLflow run + params, starting the child from the
fork server, relaying epoch metrics, Optuna reports, artifact logging) and
``sweeper/engine_seconds``, the time the child spent in ``pose.pipeline.train``; overhead = trial -
engine. The fork server is launched when the trial loop starts and the first trial waits for it to
finish importing the engine, so the first trial's overhead is also shown beside the later trials'
median. The sweep's wall time is split into the time before the first trial (config and data check,
stores, MLflow parent run), the trials, the gaps between them (closing each trial's MLflow run,
asking for the next trial) and the time after the last one (study plots, parent artifacts). For reference, the cost the fork server saves each trial: the wall time of a fresh
``python -c "import pose.train, lightning"``.

    python bench/sweep_overhead.py [--trials 3] [--trial-seconds 60] [--epochs N] [--images 200]
    python bench/sweep_overhead.py --quick     # smoke run: 2 trials of 2 epochs on 64 images
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import REPO, machine, median  # noqa: E402

STUDY = "sweep-overhead"
TARGET = 0.03
LR_LOW, LR_HIGH = 3e-4, 3e-3
FRESH_IMPORT = "import pose.train, lightning"


def epoch_overrides(epochs: int) -> list[str]:
    return [
        f"training.max_epochs={epochs}",
        f"training.min_epochs={epochs}",
        "training.lr_scheduler_params.multisteplr.milestones=[]",  # must not exceed max_epochs
    ]


def calibrate(config: Path, out: Path) -> dict:
    """Seconds of ``pose.pipeline.train`` for 1 and for 3 epochs (run in its own process)."""
    from pose.config import load_config
    from pose.pipeline import train

    seconds = {}
    for epochs in (1, 3):
        cfg = load_config(config, epoch_overrides(epochs))
        start = time.perf_counter()
        train(cfg, out / f"calibrate-{epochs}", progress_bar=False)
        seconds[epochs] = time.perf_counter() - start
    return {"one": seconds[1], "three": seconds[3]}


def _calibrate_in_subprocess(config: Path, out: Path) -> dict:
    cmd = [sys.executable, __file__, "--part", "calibrate", "--config", str(config)]
    cmd += ["--out", str(out)]
    result = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(result.strip().splitlines()[-1])


def fresh_import_seconds(runs: int = 3) -> list[float]:
    """Wall time of starting a new interpreter that imports the engine (what a trial would pay
    without the fork server)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", FRESH_IMPORT], check=True, cwd=REPO)
        times.append(time.perf_counter() - start)
    return times


def _quiet_libraries() -> None:
    """As ``sweeper run`` does: no Optuna/MLflow info logs or experimental-API warnings."""
    import logging
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _versions() -> str:
    import lightning
    import mlflow
    import optuna
    import torch

    return (
        f"python {platform.python_version()}, torch {torch.__version__}, lightning "
        f"{lightning.__version__}, optuna {optuna.__version__}, mlflow {mlflow.__version__}"
    )


def _load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def _trial_rows(tracking_uri: str) -> list[dict]:
    """The study's trial runs in MLflow, in trial order, with their timing metrics."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(STUDY)
    if experiment is None:
        sys.exit(f"no MLflow experiment {STUDY!r} at {tracking_uri}")
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`sweeper.study` = '{STUDY}' and tags.`sweeper.role` = 'trial'",
    )
    rows = []
    for run in runs:
        m, tags = run.data.metrics, run.data.tags
        rows.append(
            {
                "number": int(tags["sweeper.trial_number"]),
                "state": tags.get("sweeper.state", "?"),
                "reason": tags.get("sweeper.reason"),
                "epochs": m.get("epochs_run"),
                "trial": m.get("sweeper/trial_seconds"),
                "engine": m.get("sweeper/engine_seconds"),
                "fraction": m.get("sweeper/overhead_fraction"),
                "frames": [m.get(f"num_{s}_frames") for s in ("train", "val", "test")],
                "end": (run.info.end_time or 0) / 1000,
            }
        )
    return sorted(rows, key=lambda r: r["number"])


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=None, help="trials (default 3; --quick 2)")
    parser.add_argument(
        "--trial-seconds",
        type=float,
        default=60.0,
        help="training time per trial the epoch calibration aims at (default 60)",
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="epochs per trial (default: calibrated; --quick 2)"
    )
    parser.add_argument(
        "--images",
        type=int,
        default=None,
        help="synthetic labeled images (default 200; --quick 64)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 trials of 2 epochs")
    parser.add_argument(
        "--part", choices=["calibrate"], help=argparse.SUPPRESS
    )  # internal: the calibration process
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part == "calibrate":
        print(json.dumps(calibrate(args.config, args.out)))
        return
    trials = args.trials or (2 if args.quick else 3)
    images = args.images or (64 if args.quick else 200)
    epochs = args.epochs or (2 if args.quick else None)

    print(f"machine:  {machine()}", flush=True)
    print(f"versions: {_versions()}", flush=True)
    load_before = _load()

    from pose.data.synthetic import make_example_dataset
    from sweeper.sweep import SweepOptions, run_sweep

    _quiet_libraries()
    with tempfile.TemporaryDirectory(prefix="sweep-overhead-") as tmp:
        tmp_dir = Path(tmp)
        config = make_example_dataset(tmp_dir / "data", n_images=images, seed=0)
        space = tmp_dir / "space.yaml"
        space.write_text(
            f"training.optimizer_params.learning_rate: {{low: {LR_LOW}, high: {LR_HIGH}, log: true}}\n"
        )
        if epochs is None:
            cal = _calibrate_in_subprocess(config, tmp_dir / "calibration")
            per_epoch = max((cal["three"] - cal["one"]) / 2, 1e-3)
            fixed = max(cal["one"] - per_epoch, 0.0)
            epochs = max(1, round((args.trial_seconds - fixed) / per_epoch))
            how = (
                f"calibrated for {args.trial_seconds:.0f} s of training: 1 epoch {cal['one']:.1f} s, "
                f"3 epochs {cal['three']:.1f} s -> {per_epoch:.2f} s/epoch + {fixed:.1f} s fixed"
            )
            if cal["one"] < per_epoch:  # one epoch cannot cost less than an epoch: noise
                how += "; noisy (busy machine?): pass --epochs for a set length"
        else:
            how = "--quick" if args.quick and not args.epochs else "--epochs"
        print(f"epochs:   {epochs} per trial ({how})", flush=True)

        opts = SweepOptions(
            base_config=config,
            spaces=[space],
            n_trials=trials,
            study_name=STUDY,
            root=tmp_dir / "mlruns",
            overrides=epoch_overrides(epochs),
            pruner="none",
            seed=0,
        )
        wall_start = time.time()
        start = time.perf_counter()
        summary = run_sweep(opts)
        wall = time.perf_counter() - start
        wall_end = wall_start + wall
        load_after = _load()

        import optuna

        study = optuna.load_study(study_name=STUDY, storage=summary.storage)
        asked = {t.number: t.datetime_start for t in study.trials}
        rows = _trial_rows(summary.tracking_uri)

    fresh = fresh_import_seconds()

    frames = next((r["frames"] for r in rows if None not in r["frames"]), None)
    split = (
        f" ({int(frames[0])} train, {int(frames[1])} val, {int(frames[2])} test frames)"
        if frames
        else ""
    )
    print(
        f"data:     synthetic example, {images} labeled images{split}; resnet18 heatmap 128x128, "
        f"batch 8, imgaug dlc, random init, validation every epoch"
    )
    print(
        f"sweep:    {trials} trials, 1 at a time, TPE seed 0, pruner none, learning rate "
        f"log-uniform [{LR_LOW:g}, {LR_HIGH:g}]; SQLite Optuna + MLflow stores in a temp dir"
    )
    print(
        f"load:     1-min load average {load_before} before the sweep, {load_after} after "
        f"({os.cpu_count()} cores; anything else running shares them)"
    )
    if max(float(load_before), float(load_after)) > (os.cpu_count() or 1):
        print(
            "          busy machine: other processes slowed training and the sweep's own work "
            "alike; the calibration and the timings vary with them"
        )
    print()
    print(
        f"{'trial':>5}  {'state':<9}{'epochs':>7}{'trial s':>9}{'engine s':>10}"
        f"{'overhead s':>12}{'overhead %':>12}"
    )
    overheads, fractions = [], []
    for r in rows:
        overhead = None
        if r["trial"] is not None and r["engine"] is not None:
            overhead = r["trial"] - r["engine"]
            overheads.append(overhead)
            fractions.append(overhead / r["trial"])
        pct = None if overhead is None else 100 * overhead / r["trial"]
        print(
            f"{r['number']:>5}  {r['state']:<9}{_fmt(r['epochs'], '.0f'):>7}"
            f"{_fmt(r['trial'], '.1f'):>9}{_fmt(r['engine'], '.1f'):>10}"
            f"{_fmt(overhead, '.2f'):>12}{_fmt(pct, '.2f'):>10} %"
        )
        if r["reason"] and r["state"] != "COMPLETE":
            print(f"       reason: {r['reason']}")
    print()
    if fractions:
        med = median(fractions)
        verdict = "met" if med < TARGET else "NOT met"
        print(
            f"overhead: median {med:.2%} of trial time over {len(fractions)} trials (median "
            f"{median(overheads):.2f} s per trial; median trial "
            f"{median([r['trial'] for r in rows if r['trial'] is not None]):.1f} s); "
            f"target < {TARGET:.0%}: {verdict}"
        )
        if len(overheads) >= 2 and rows[0]["number"] == 0 and rows[0]["engine"] is not None:
            later = median(overheads[1:])
            print(
                f"          trial 0: {overheads[0]:.2f} s overhead vs {later:.2f} s median of the "
                f"later trials (the fork server's one-off import is waited for before trial 0 and "
                f"counted in sweep setup below)"
            )
    else:
        print("overhead: no trial completed, nothing measured")

    first = asked.get(0)
    before_first = first.timestamp() - wall_start if first else float("nan")
    last_end = max((r["end"] for r in rows), default=wall_end)
    after_last = wall_end - last_end
    in_trials = sum(r["trial"] or 0.0 for r in rows)
    between = wall - before_first - in_trials - after_last
    print(
        f"sweep:    {wall:.1f} s wall = {before_first:.1f} s before the first trial (config + data "
        f"check, stores, MLflow parent run) + {in_trials:.1f} s in trials + "
        f"{between:.1f} s between them (MLflow run close, next ask) + {after_last:.1f} s after the "
        f"last (study plots, parent artifacts)"
    )
    print(
        f'fork server: a fresh `python -c "{FRESH_IMPORT}"` takes {median(fresh):.2f} s '
        f"(median of {len(fresh)}: {', '.join(f'{t:.2f}' for t in fresh)}) vs "
        f"{_fmt(median(overheads) if overheads else None, '.2f')} s median overhead per trial"
    )


if __name__ == "__main__":
    main()
